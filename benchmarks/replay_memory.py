"""Replay memory for video: our frame-once store against storing full stacks.

Why it matters: an (8, 3, 64, 64) uint8 stack is 98,304 bytes, so a replay that
keeps obs and next_obs as stacks (what Stable-Baselines3 and most SAC code do)
needs ~19.7 GB per 100k transitions; ``ReplayBuffer(frame_stack=8)`` keeps each
frame once and rebuilds stacks by index.

Reported per 100k transitions:

* ``frames_allocated``: ``ReplayBuffer.nbytes`` of a frame-stack buffer with
  capacity 100k (numpy allocates lazily, so nothing is touched);
* ``frames_linear``: the same from two small buffers, scaled linearly (a check
  of the first; the frame store's fixed overhead is a few frames);
* ``full_stack``: ``nbytes`` of a buffer without frame storage (obs + next_obs),
  from a small capacity scaled linearly (a 100k one would reserve 19.7 GB);
* ``full_stack_shared_next``: obs only, next_obs read from the next slot (SB3's
  ``optimize_memory_usage``), half of ``full_stack``;
* ``frames_used_per_transition``: frames real episodes of the video env store
  per transition (first stack of each episode + one frame a step), and
  ``frames_used_bytes_per_100k``: what 100k transitions at that rate hold (the
  allocation keeps ~6% spare frames for episode starts).

    python benchmarks/replay_memory.py [--frames 8] [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from robolabor.agents.replay import ReplayBuffer
from robolabor.experiments.rollout import make_env

PER = 100_000


def nbytes(capacity: int, obs_shape: tuple[int, ...], frame_stack: int | None) -> int:
    return ReplayBuffer(capacity, obs_shape, np.uint8, action_dim=2,
                        frame_stack=frame_stack).nbytes


def frames_used(frames: int, episodes: int = 2, seed: int = 0) -> dict[str, float]:
    """Fill a buffer from random-action episodes; count the frames it actually stored."""
    env = make_env("robolabor/DishwashingShiftVideo-v0", frames=frames)
    buf = ReplayBuffer(episodes * env.unwrapped.horizon + 1, env.observation_space.shape,
                       np.uint8, 2, frame_stack=frames)
    env.action_space.seed(seed)
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            a = env.action_space.sample()
            nxt, r, term, trunc, _ = env.step(a)
            buf.add(obs, a, r, 0.0, nxt, term, trunc)
            obs, done = nxt, term or trunc
    return {"sample_transitions": buf.added, "sample_frames_stored": buf.frames_added,
            "frames_used_per_transition": buf.frames_added / buf.added}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=8, help="frames per stack (T)")
    p.add_argument("--size", type=int, default=64, help="frame height and width")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    shape = (args.frames, 3, args.size, args.size)
    stack_bytes = int(np.prod(shape))

    allocated = nbytes(PER, shape, args.frames)
    small_a, small_b = 1_000, 2_000
    a, b = nbytes(small_a, shape, args.frames), nbytes(small_b, shape, args.frames)
    per_transition = (b - a) / (small_b - small_a)
    linear = round(a + per_transition * (PER - small_a))
    full_a, full_b = nbytes(small_a, shape, None), nbytes(small_b, shape, None)
    full = round(full_a + (full_b - full_a) / (small_b - small_a) * (PER - small_a))
    scalars = full - PER * 2 * stack_bytes  # action, reward, cost, flags
    out = {
        "obs_shape": list(shape), "stack_bytes": stack_bytes, "transitions": PER,
        "frames_allocated_bytes": allocated,
        "frames_linear_bytes": linear,
        "full_stack_bytes": full,
        "full_stack_shared_next_bytes": PER * stack_bytes + scalars,
        "ratio_full_over_frames": full / allocated,
        "frames_allocated_gb": allocated / 1e9, "full_stack_gb": full / 1e9,
    }
    if args.size == 64:  # the env draws 64x64 frames only
        out.update(frames_used(args.frames))
        out["frames_used_bytes_per_100k"] = round(
            out["frames_used_per_transition"] * PER * stack_bytes / args.frames
            + (allocated - ReplayBuffer(PER, shape, np.uint8, 2, args.frames).frames.nbytes))
    if not args.json:
        for key, value in out.items():
            if isinstance(value, float):
                value = f"{value:.4g}"
            elif isinstance(value, int):
                value = f"{value:,}"
            print(f"{key:>32}: {value}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
