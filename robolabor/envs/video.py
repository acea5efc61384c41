"""Video twins of the state environments: same dynamics, frames as the observation.

A video env is a *subclass* of its state twin (``VideoObservationMixin`` first in
the MRO; ``video_env_class`` builds one for any env with ``render_state()``), not
a wrapper around it, so everything the rest of robolabor reads from
``env.unwrapped`` (``econ``, ``sla``, ``horizon``, ``state``, ``render_state()``,
...) is the base env's own attribute, rewards, ``info``, ``terminated`` and
``truncated`` are the base env's, and ``isinstance(env.unwrapped, DishwashingShiftEnv)``
holds. Only the observation changes: a stack of the last ``frames`` RGB frames
drawn by ``render.render_frame``,

    Box(0, 255, (frames, 3, 64, 64), uint8), oldest first, newest last,

with the first frame repeated ``frames`` times at reset. The base env's own
observation of the same step is kept in ``env.unwrapped.state_obs`` (for logging
and for checks that compare the two modalities on the same trajectory).

Registered ids (kwargs pass through to the base env, plus ``frames=8``)::

    gym.make("robolabor/DishwashingShiftVideo-v0", frames=8, render_mode="rgb_array")
    gym.make("robolabor/DishwashingClassicVideo-v0")
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium import spaces

from robolabor.envs.classic import DishwashingClassicEnv
from robolabor.envs.render import H, W, render_frame
from robolabor.envs.shift import DishwashingShiftEnv

DEFAULT_FRAMES = 8


class VideoObservationMixin:
    """Placed before a state env in the MRO; turns its observation into frames."""

    def __init__(self, *args: Any, frames: int = DEFAULT_FRAMES, render_mode: str | None = None,
                 **kwargs: Any) -> None:
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise ValueError(f"frames must be a positive integer, got {frames!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        super().__init__(*args, **kwargs)
        self.render_mode = render_mode
        self.frames = frames
        self.state_observation_space = self.observation_space
        self.observation_space = spaces.Box(0, 255, (frames, 3, H, W), np.uint8)
        self._stack = np.zeros((frames, 3, H, W), np.uint8)
        self._frame = np.zeros((H, W, 3), np.uint8)
        self.state_obs = None

    def _draw(self) -> None:
        render_frame(self.render_state(), out=self._frame)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.state_obs, info = super().reset(seed=seed, options=options)
        self._draw()
        self._stack[:] = self._frame.transpose(2, 0, 1)
        return self._stack.copy(), info

    def step(self, action):
        self.state_obs, reward, terminated, truncated, info = super().step(action)
        self._draw()
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = self._frame.transpose(2, 0, 1)
        return self._stack.copy(), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The newest frame, (64, 64, 3) uint8, when ``render_mode="rgb_array"``."""
        return None if self.render_mode is None else self._frame.copy()


@functools.cache
def video_env_class(base_cls: type) -> type:
    """The video twin of any state env class that has a ``render_state()`` method."""
    if not callable(getattr(base_cls, "render_state", None)):
        raise TypeError(f"{base_cls.__name__} has no render_state(); it cannot be drawn")
    name = base_cls.__name__.removesuffix("Env") + "VideoEnv"
    metadata = {**getattr(base_cls, "metadata", {}), "render_modes": ["rgb_array"],
                "render_fps": 8}
    doc = f"{base_cls.__name__} observed as a stack of rendered RGB frames."
    return type(name, (VideoObservationMixin, base_cls), {"metadata": metadata, "__doc__": doc})


class DishwashingShiftVideoEnv(VideoObservationMixin, DishwashingShiftEnv):
    """The shift task (backlog, rush hour, dish types, SLA) observed as frames."""


class DishwashingClassicVideoEnv(VideoObservationMixin, DishwashingClassicEnv):
    """The prototype's bandit observed as frames (clock, counters and last action only)."""
