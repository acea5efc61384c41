"""Frames per second of ``render_frame`` on one core (target: >= 20,000).

    python benchmarks/renderer.py [--frames 50000] [--json]

With ``--env`` it also measures full steps/s of the shift video env (dynamics,
drawing and the 8-frame stack), which is what a rollout actually pays.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def random_states(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [dict(minute=int(rng.integers(480)), shift_minutes=480,
                 backlog=int(rng.integers(0, 41)), backlog_cap=40,
                 dish_type=int(rng.integers(3)), n_types=3, arrival_rate=float(rng.uniform(0, 3)),
                 peak_arrival_rate=3.0, good_this_step=int(rng.integers(0, 6)),
                 errors_this_step=int(rng.integers(0, 2)), errors_so_far=int(rng.integers(0, 30)),
                 attempts_so_far=int(rng.integers(1, 800)), sla=0.03,
                 last_action=(float(rng.uniform()), float(rng.uniform())))
            for _ in range(n)]


def bench_render(n_frames: int) -> dict:
    from robolabor.envs.render import render_frame

    states = random_states(1000)
    out = np.empty((64, 64, 3), np.uint8)
    result = {}
    for name, kwargs in (("new_array", {}), ("into_buffer", {"out": out})):
        for s in states[:100]:  # warm-up
            render_frame(s, **kwargs)
        t0 = time.perf_counter()
        for i in range(n_frames):
            render_frame(states[i % 1000], **kwargs)
        result[f"frames_per_s_{name}"] = round(n_frames / (time.perf_counter() - t0))
    return result


def bench_env(n_steps: int) -> dict:
    import gymnasium as gym

    import robolabor  # noqa: F401

    env = gym.make("robolabor/DishwashingShiftVideo-v0").unwrapped
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(0, 1, (n_steps, 2)).astype(np.float32)
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return {"video_env_steps_per_s": round(n_steps / (time.perf_counter() - t0))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000, help="frames to draw per variant")
    parser.add_argument("--env", action="store_true", help="also time the shift video env")
    parser.add_argument("--env-steps", type=int, default=5_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    result = {"frames": args.frames, **bench_render(args.frames)}
    if args.env:
        result.update(bench_env(args.env_steps))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>28}: {v:,}")


if __name__ == "__main__":
    main()
