"""``robolabor/DishwashingPhysics-v0`` and ``…PhysicsVideo-v0``: the shift, handled in MuJoCo.

The shift task (:mod:`robolabor.envs.shift`) with its arrivals, backlog, rack capacity,
dish-type chain, prices, SLA, observation, reward and ``info`` keys unchanged; only how
many dishes a minute handles and how many of them break come from the scene of
:mod:`robolabor.envs.physics_scene` instead of the shift's rate and error formulas.

**One env step = one simulated minute of the shift** (so the ledger's hours per step, the
DP solver of a fitted shift task and every downstream tool read it as they read the
shift). During it the mocap gripper handles dishes of the type on the rack one after the
other, each taking its planned handling time (transfer, placement, grip, wash, search:
from 4.6 s for a plate flat out to 32 s for a pot handled slowly and carefully, so 0 to
~14 dishes a minute, never more than the backlog nor ``max_attempts_per_minute``). Time
spent on a dish that is still in hand when the minute ends carries over to the next
minute. For every dish handled, MuJoCo integrates its release (``timestep`` = 2 ms,
about 26 steps = 52 ms simulated per dish) and the dish breaks when the peak contact
force exceeds its Weibull strength: under random actions an env step handles 5.9
dishes and simulates 152 MuJoCo steps (0.3 s of contact dynamics for 60 s of shift;
``benchmarks/physics_speed.py``). ``info`` adds ``sim_steps`` (MuJoCo steps this minute), ``sim_s``
(seconds simulated) and ``peak_force`` (the largest impact, N); ``p_err`` is the
minute's broken share (the probability is not known in closed form here) and
``rate_per_min`` the planned rate 60 / (handling time + mean search).

Common random numbers: the shift's own streams (first type, arrivals, chain) are the
same as the shift env's for the same seed, so both meet the same arrivals and dish
sequence; one more stream, drawn at reset, holds a row of uniforms per (minute, dish
slot): search time, strength, release gap, sway, tilt. Same seed and same actions give
the same counts and the same frames.

The video twin observes ``(frames, 3, 64, 64)`` uint8 renders of the scene (the dish on
the rack, red when it broke, the gripper, one red block per breakage this minute, and
bars for the backlog in the sink coloured by the next dish type, the clock, the arrival
rate now and in ten minutes, the error budget and the attempts so far).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from robolabor.envs.params import params_from
from robolabor.envs.physics_fit import fitted_shift_params
from robolabor.envs.physics_scene import (
    NOISE_COLS,
    PhysicsParams,
    Scene,
    plan_motion,
    release_of,
    search_time,
    strength_of,
)
from robolabor.envs.shift import LOOKAHEAD_MINUTES, DishwashingShiftEnv
from robolabor.envs.video import VideoObservationMixin

SECONDS_PER_STEP = 60.0


class DishwashingPhysicsEnv(DishwashingShiftEnv):
    """The shift task whose handling and breakage come from MuJoCo (module docstring)."""

    _observes_frames = False  # the video twin needs a GL backend even without render_mode

    def __init__(self, params: PhysicsParams | None = None, config: dict | None = None,
                 render_mode: str | None = None):
        self.physics = params_from(PhysicsParams, params, config)
        # ``params`` is the shift task fitted to this scene where a fit is stored (its DP
        # optimum is the approximate optimum every score uses), else ``physics.shift``.
        # The step reads only fields the fit leaves alone (arrivals, rack, chain, SLA).
        fitted = fitted_shift_params(self.physics)
        self.fitted_model = fitted is not None
        super().__init__(params=fitted or self.physics.shift, render_mode=render_mode)
        self.scene = Scene(self.physics, gl=self._observes_frames or render_mode is not None)
        self._carry_s = 0.0
        self._shown = (0, False, False)  # (model type, a dish shown, it broke)

    def _noise_streams(self, n_streams: int) -> list[np.random.Generator]:
        streams = super()._noise_streams(n_streams + 1)
        self._dish_rng = streams[n_streams]
        return streams[:n_streams]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = super().reset(seed=seed, options=options)
        p = self.params
        self._u_dish = self._dish_rng.random((self.horizon, p.max_attempts_per_minute,
                                              NOISE_COLS))
        self._carry_s = 0.0
        self._shown = (self._type, False, False)
        self.scene.reset()
        return obs, info

    def _handle(self, k: int, t: int, b: int, speed: float, care: float
                ) -> tuple[int, int, float, float, dict]:
        phys = self.physics
        body = phys.dishes[k]
        motion = plan_motion(phys, k, speed, care)
        cap = min(b, self.params.max_attempts_per_minute)
        avail = SECONDS_PER_STEP + self._carry_s
        n = broken = steps = 0
        peak = 0.0
        last_broke = False
        while n < cap:
            u = self._u_dish[t, n]
            need = motion.plan_s + search_time(phys, u[0])
            if need > avail:
                break
            avail -= need
            out = self.scene.simulate_release(k, release_of(phys, motion, u))
            steps += out.steps
            peak = max(peak, out.peak_force)
            last_broke = out.peak_force > strength_of(body, u[1])
            broken += last_broke
            n += 1
        # the dish in hand keeps the time spent on it; an emptied sink or the cap idles
        self._carry_s = avail if n < cap else 0.0
        if n:
            self._shown = (k, True, last_broke)
        else:
            self._shown = (self._shown[0], False, False)
        rate = SECONDS_PER_STEP / (motion.plan_s + phys.search_mean_s)
        extra = {"sim_steps": steps, "sim_s": steps * phys.timestep, "peak_force": peak}
        return n, broken, (broken / n if n else 0.0), rate, extra

    # -- frames
    def scene_frame(self) -> np.ndarray:
        """The 64x64 RGB frame of the current state (see the module docstring)."""
        p = self.params
        t = min(self._minute, self.horizon - 1)
        k_shown, shown, broke = self._shown
        view = {
            "backlog": self._backlog / p.rack_capacity,
            "rush": self._arrival[t] / self._peak,
            "rush_next": self._arrival[t + LOOKAHEAD_MINUTES] / self._peak,
            "budget": self._errors / (2.0 * max(1.0, p.sla * self._attempts)),
            "attempts": self._attempts / self._expected_arrivals,
            "next_type": self._type, "clock": self._minute / self.horizon,
            "dish_shown": shown, "dish_broken": broke, "broken": self._errs_step,
        }
        return self.scene.frame(k_shown, view)

    def render(self) -> np.ndarray | None:
        return None if self.render_mode is None else self.scene_frame()

    def close(self) -> None:
        self.scene.close()
        super().close()


# The scripted baseline: a fixed (speed, care) per dish type, as an engineer would set
# them by hand (robust pots fast, fragile glasses slow and careful), a little faster
# when the sink is more than half full. Chosen before any calibration or training.
SCRIPTED = {"plate": (0.6, 0.6), "glass": (0.35, 0.9), "pot": (0.9, 0.4)}
SCRIPTED_RUSH = (0.2, -0.1)


def scripted_action(type_name: str, backlog: int, capacity: int) -> np.ndarray:
    """The scripted baseline's action for the dish type on the rack and the backlog."""
    speed, care = SCRIPTED.get(type_name, (0.5, 0.7))
    if backlog > capacity // 2:
        speed, care = speed + SCRIPTED_RUSH[0], care + SCRIPTED_RUSH[1]
    return np.clip(np.array([speed, care], np.float32), 0.0, 1.0)


def scripted_policy(env: Any) -> Callable[[Any], np.ndarray]:
    """obs -> action of the scripted baseline on ``env`` (reads the env's state)."""
    u = env.unwrapped
    names = u.econ.type_names
    return lambda _obs: scripted_action(names[u.state[2]], u.state[1], u.params.rack_capacity)


class DishwashingPhysicsVideoEnv(VideoObservationMixin, DishwashingPhysicsEnv):
    """The physics shift observed as a stack of rendered MuJoCo frames."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}
    _observes_frames = True

    def _draw(self) -> None:
        self._frame[:] = self.scene_frame()
