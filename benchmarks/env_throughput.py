"""Env steps per second on one core, for both dishwashing envs (median of repeats).

    python benchmarks/env_throughput.py --steps 20000 --repeats 5 --json

Random actions, episodes reset as they end; the reset time is included because a
training loop pays it too. ``--json`` prints one JSON object as the last line.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import robolabor  # noqa: E402,F401  (registers the envs)

ENV_IDS = ("robolabor/DishwashingClassic-v0", "robolabor/DishwashingShift-v0")


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[0]})


def steps_per_second(env_id: str, steps: int, seed: int) -> float:
    env = gym.make(env_id).unwrapped  # the env itself, without checker wrappers
    rng = np.random.default_rng(seed)
    actions = rng.random((steps, 2)).astype(np.float32)
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(actions[i])
        if term or trunc:
            env.reset()
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000, help="steps per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be >= 1")
    if not args.no_pin:
        pin_one_core()
    result = {"steps": args.steps, "repeats": args.repeats, "envs": {}}
    for env_id in ENV_IDS:
        runs = [steps_per_second(env_id, args.steps, args.seed + r) for r in range(args.repeats)]
        result["envs"][env_id] = {"median_steps_per_s": statistics.median(runs),
                                  "min": min(runs), "max": max(runs)}
        if not args.json:
            print(f"{env_id:40s} {statistics.median(runs):10.0f} steps/s "
                  f"(min {min(runs):.0f}, max {max(runs):.0f})")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
