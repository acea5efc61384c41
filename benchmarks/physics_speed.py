"""Physics env speed on one core: env steps/s with one 64x64 frame per step, the MuJoCo
cost per step, the render cost per frame.

    python benchmarks/physics_speed.py --steps 2400 --repeats 3 --json

Runs ``robolabor/DishwashingPhysicsVideo-v0`` (every step renders one frame) under
uniformly random actions, episodes reset as they end (the reset is timed too), and the
state twin for comparison. The physics and render shares are timed by wrapping the
scene's ``simulate_release`` and ``frame`` in the same runs. Pinned to one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit  # noqa: E402
from env_throughput import pin_one_core  # noqa: E402

import robolabor  # noqa: E402,F401  (registers the envs)


def timed_run(env_id: str, steps: int, seed: int) -> dict:
    env = gym.make(env_id).unwrapped
    scene = env.scene
    clock = {"release_s": 0.0, "releases": 0, "mj_steps": 0, "frame_s": 0.0, "frames": 0}
    sim, draw = scene.simulate_release, scene.frame

    def sim_timed(k, rel):
        t = time.perf_counter()
        out = sim(k, rel)
        clock["release_s"] += time.perf_counter() - t
        clock["releases"] += 1
        clock["mj_steps"] += out.steps
        return out

    def frame_timed(k, view):
        t = time.perf_counter()
        img = draw(k, view)
        clock["frame_s"] += time.perf_counter() - t
        clock["frames"] += 1
        return img

    scene.simulate_release, scene.frame = sim_timed, frame_timed
    actions = np.random.default_rng(seed).random((steps, 2)).astype(np.float32)
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(actions[i])
        if term or trunc:
            env.reset()
    wall = time.perf_counter() - t0
    env.close()
    return {"steps_per_s": steps / wall, "ms_per_step": 1e3 * wall / steps,
            "physics_ms_per_step": 1e3 * clock["release_s"] / steps,
            "mj_step_us": 1e6 * clock["release_s"] / max(clock["mj_steps"], 1),
            "mj_steps_per_env_step": clock["mj_steps"] / steps,
            "dishes_per_env_step": clock["releases"] / steps,
            "render_ms": 1e3 * clock["frame_s"] / max(clock["frames"], 1)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2400, help="env steps per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    pin_one_core()
    result: dict = {"steps": args.steps, "repeats": args.repeats, "seed": args.seed,
                    "gl_backend": None, "policy": "uniform random actions"}
    for env_id, tag in (("robolabor/DishwashingPhysicsVideo-v0", "video"),
                        ("robolabor/DishwashingPhysics-v0", "state")):
        runs = [timed_run(env_id, args.steps, args.seed + r) for r in range(args.repeats)]
        for key in runs[0]:
            if tag == "state" and key == "render_ms":
                continue
            result[f"{tag}_{key}"] = round(statistics.median(r[key] for r in runs), 4)
    result["gl_backend"] = os.environ.get("MUJOCO_GL")
    result["target_steps_per_s"] = 100
    result["meets_target"] = result["video_steps_per_s"] >= 100
    emit(result, args.json)
    return result


if __name__ == "__main__":
    main()
