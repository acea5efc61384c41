"""Episode media: an env's rendered frames as a GIF, an MP4 or a PNG contact sheet.

Why: the video agents learn from these 64x64 frames, so looking at an episode
is the quickest check that a frame carries what the policy needs (and that a
policy does something sensible). Frames come from ``env.render()`` with
``render_mode="rgb_array"``, the same drawing the video envs observe, scaled up
by an integer factor with nearest-neighbour repetition so no pixel is blurred.

    robolabor render shift --out episode.gif [--seed 0] [--steps 60] [--policy optimal]

GIF is written with Pillow (always present: matplotlib needs it). MP4 needs
``imageio`` with its ffmpeg plugin; without it the error says so and suggests
a GIF. Pillow merges identical consecutive GIF frames (adding up their
durations), so a GIF can hold fewer frames than the episode had (the summary's
``gif_frames``) while playing for the same time. A PNG is a contact sheet: up
to ``SHEET_MAX`` frames evenly spaced over the episode (first and last
included), in rows of ``SHEET_COLS``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.errors import UserError

ALIASES = {
    "shift": "robolabor/DishwashingShift-v0",
    "classic": "robolabor/DishwashingClassic-v0",
    "physics": "robolabor/DishwashingPhysics-v0",
}
FORMATS = (".gif", ".mp4", ".png")
POLICIES = ("random", "optimal", "scripted")
SCALE = 4
SHEET_COLS = 8
SHEET_MAX = 64
SHEET_GAP = 4  # pixels between tiles, background colour
SHEET_BG = (12, 12, 16)


def resolve_env_id(name: str) -> str:
    """``shift`` / ``classic`` or any robolabor id (state or video twin)."""
    import gymnasium as gym

    import robolabor  # noqa: F401  (registers the ids)

    known = sorted(k for k in gym.registry if k.startswith("robolabor/"))
    env_id = ALIASES.get(name, name)
    if env_id not in known:
        raise UserError(f"unknown env {name!r}; choose shift, classic, physics or one of {known}")
    return env_id


def upscale(frame: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """(H, W, 3) -> (scale·H, scale·W, 3), each pixel a scale x scale block."""
    if scale == 1:
        return frame
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


def scripted_policy(env, policy: str, seed: int) -> Callable[[Any], np.ndarray]:
    """``random``, the exact ``optimal`` policy of ``env`` (of its fitted shift model for
    the physics env) or the physics env's ``scripted`` baseline, as obs -> action."""
    if policy == "random":
        env.action_space.seed(seed)
        return lambda _obs: env.action_space.sample()
    if policy == "optimal":
        from robolabor.envs.optimum import optimum_for_env

        opt = optimum_for_env(env)
        return lambda _obs: np.asarray(opt.action(env.unwrapped.state), dtype=np.float32)
    if policy == "scripted":
        from robolabor.envs import physics

        if not isinstance(env.unwrapped, physics.DishwashingPhysicsEnv):
            raise UserError("--policy scripted is the physics env's baseline: use it with "
                            "`render physics`")
        return physics.scripted_policy(env)
    raise UserError(f"--policy must be one of {POLICIES}, got {policy!r}")


def collect_frames(env_id: str, seed: int = 0, steps: int | None = None,
                   policy: str = "random", env_config: dict | None = None
                   ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The reset frame plus one frame per step of one episode (at most ``steps`` steps).

    Returns the raw (64, 64, 3) frames and a summary of the episode
    (steps, profit, errors, attempts).
    """
    from robolabor.experiments.rollout import make_env

    if steps is not None and steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}")
    env = make_env(env_id, env_config, render_mode="rgb_array")
    try:
        act = scripted_policy(env, policy, seed)
        obs, _ = env.reset(seed=seed)
        frames = [env.render()]
        profit, errors, attempts, n = 0.0, 0, 0, 0
        done = False
        while not done and (steps is None or n < steps):
            obs, _, terminated, truncated, info = env.step(act(obs))
            frames.append(env.render())
            profit += float(info["profit"])
            errors += int(info["broken"])
            attempts += int(info["attempts"])
            n += 1
            done = terminated or truncated
    finally:
        env.close()
    return frames, {"steps": n, "episode_done": done, "profit": profit, "errors": errors,
                    "attempts": attempts}


def sheet_indices(n: int, limit: int = SHEET_MAX) -> list[int]:
    """At most ``limit`` indices of ``n`` frames, evenly spaced, first and last kept."""
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def contact_sheet(frames: Sequence[np.ndarray], cols: int = SHEET_COLS,
                  gap: int = SHEET_GAP) -> np.ndarray:
    """Tile equally sized (H, W, 3) frames row by row, ``gap`` pixels apart."""
    n = len(frames)
    h, w = frames[0].shape[:2]
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    sheet = np.empty((rows * h + (rows + 1) * gap, cols * w + (cols + 1) * gap, 3), np.uint8)
    sheet[:] = SHEET_BG
    for i, f in enumerate(frames):
        r, c = divmod(i, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        sheet[y:y + h, x:x + w] = f
    return sheet


def save_gif(frames: Sequence[np.ndarray], path: Path, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    # One shared adaptive palette would be nicer, but the renderer uses few colours,
    # so each frame's own conversion is exact.
    images[0].save(path, save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), loop=0, optimize=False, disposal=1)


def _mp4_writer() -> Any:
    """imageio's v2 API when imageio and its ffmpeg plugin are importable."""
    try:
        iio = importlib.import_module("imageio.v2")
        importlib.import_module("imageio_ffmpeg")
    except ImportError:
        raise UserError("writing .mp4 needs imageio with ffmpeg (pip install -e "
                        "'.[media]'); write a .gif instead (--out FILE.gif)") from None
    return iio


def save_mp4(frames: Sequence[np.ndarray], path: Path, fps: float) -> None:
    _mp4_writer().mimwrite(path, list(frames), fps=fps, macro_block_size=1)


def save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(image).save(path)


def render_episode(env: str, out: str | Path, seed: int = 0, steps: int | None = None,
                   policy: str = "random", scale: int = SCALE, fps: float | None = None,
                   env_config: dict | None = None) -> dict[str, Any]:
    """Write one episode of ``env`` to ``out`` (.gif, .mp4 or .png); returns a summary."""
    out = Path(out)
    fmt = out.suffix.lower()
    if fmt not in FORMATS:
        raise UserError(f"--out must end in one of {', '.join(FORMATS)}, got {out.name!r}")
    if policy not in POLICIES:
        raise UserError(f"--policy must be one of {POLICIES}, got {policy!r}")
    if scale < 1:
        raise UserError(f"scale must be >= 1, got {scale}")
    env_id = resolve_env_id(env)
    if fmt == ".mp4":
        _mp4_writer()  # fail before the episode is run
    frames, episode = collect_frames(env_id, seed, steps, policy, env_config)
    if fps is None:
        from robolabor.envs.classic import DishwashingBase

        fps = float(DishwashingBase.metadata["render_fps"])
    big = [upscale(f, scale) for f in frames]
    out.parent.mkdir(parents=True, exist_ok=True)
    h, w = big[0].shape[:2]
    summary: dict[str, Any] = {
        "out": str(out), "format": fmt[1:], "env": env_id, "policy": policy, "seed": seed,
        "frames": len(big), "frames_shown": len(big), "frame_size": [w, h], "scale": scale,
        **episode,
    }
    if fmt == ".png":
        idx = sheet_indices(len(big))
        image = contact_sheet([big[i] for i in idx])
        save_png(image, out)
        summary.update(frames_shown=len(idx), sheet_cols=min(SHEET_COLS, len(idx)),
                       image_size=[int(image.shape[1]), int(image.shape[0])])
    elif fmt == ".gif":
        from PIL import Image

        save_gif(big, out, fps)
        with Image.open(out) as im:
            summary.update(fps=fps, gif_frames=int(im.n_frames))
    else:
        save_mp4(big, out, fps)
        summary["fps"] = fps
    return summary
