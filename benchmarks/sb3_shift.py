"""Our SAC against Stable-Baselines3 SAC on the shift task, side by side in one run.

Both learners see the same environment (``robolabor/DishwashingShift-v0``) and the
same reward: the step's profit minus λ*·(errors − e*·attempts) with λ fixed at the
exact shadow price, so the comparison is SAC against SAC (no dual ascent on
either side). SB3 runs with its defaults (MlpPolicy 256-256, batch 256, UTD 1,
learning_starts 100); ours runs ``configs/shift_state.yaml`` with λ fixed. Both
are scored the same way: deterministic episodes on common evaluation seeds,
% of the exact optimal expected profit, error rate against the SLA.

    python benchmarks/sb3_shift.py --steps 10000 --seeds 0 1 2 [--set KEY=VALUE ...] [--json]

``--set`` overrides our config (as ``robolabor train --set``); a budget that ends
inside our uniform warm-up (``sac.learning_starts``) is refused.

Needs the ``bench`` extra (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import emit

from robolabor.envs.optimum import optimum_for_env
from robolabor.envs.wrappers import FixedLagrangianReward
from robolabor.experiments.config import RunConfig, load_config, parse_overrides
from robolabor.experiments.rollout import ledger_from_tallies, make_env, run_episodes
from robolabor.experiments.trainer import start_run

ENV_ID = "robolabor/DishwashingShift-v0"


def score(act, episodes: int, seed: int, optimum) -> dict[str, float]:
    env = make_env(ENV_ID)
    tallies = run_episodes(env, act, episodes, seed)
    led = ledger_from_tallies(tallies, env.unwrapped.econ)
    profits = np.array([t.profit for t in tallies])
    return {"pct_of_optimum": float(100 * profits.mean() / optimum.expected_profit),
            "error_rate": float(led.broken.sum() / led.attempts.sum())}


def run_sb3(steps: int, seed: int, lam: float, optimum, episodes: int) -> dict[str, float]:
    from stable_baselines3 import SAC as SB3SAC

    torch.set_num_threads(1)
    env = FixedLagrangianReward(make_env(ENV_ID), lam)
    model = SB3SAC("MlpPolicy", env, seed=seed, verbose=0, device="cpu")
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - t0
    out = score(lambda o: model.predict(o, deterministic=True)[0], episodes, 10_000, optimum)
    return out | {"wall_seconds": wall, "seconds_per_10k": wall * 10_000 / steps}


def our_config(config: str, steps: int, seed: int, lam: float, episodes: int,
               overrides: dict) -> RunConfig:
    cfg = load_config(config, overrides | {
        "train.total_steps": steps, "train.seed": seed, "train.eval_every": steps,
        "train.checkpoint_every": steps, "train.eval_episodes": episodes,
        "train.progress": False, "lagrange.lr": 0.0, "lagrange.init": lam})
    if cfg.sac.learning_starts >= steps:
        raise SystemExit(f"--steps {steps} ends inside our uniform warm-up "
                         f"(sac.learning_starts={cfg.sac.learning_starts}): no update would be "
                         f"made; raise --steps or --set sac.learning_starts=N")
    return cfg


def run_ours(cfg: RunConfig) -> dict[str, float]:
    steps = cfg.train.total_steps
    with tempfile.TemporaryDirectory() as tmp:
        final = start_run(cfg, Path(tmp) / "run")
    wall = final["wall_seconds"]
    return {"pct_of_optimum": final["pct_of_optimum"], "error_rate": final["pooled_error_rate"],
            "wall_seconds": wall, "seconds_per_10k": wall * 10_000 / steps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--episodes", type=int, default=20, help="evaluation episodes")
    p.add_argument("--config", default="configs/shift_state.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override our config (repeatable)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    overrides = parse_overrides(args.set)
    torch.set_num_threads(1)
    optimum = optimum_for_env(make_env(ENV_ID))
    lam = optimum.lambda_star
    rows = {"ours": [], "sb3": []}
    for seed in args.seeds:
        cfg = our_config(args.config, args.steps, seed, lam, args.episodes, overrides)
        rows["ours"].append(run_ours(cfg))
        rows["sb3"].append(run_sb3(args.steps, seed, lam, optimum, args.episodes))
        if not args.json:
            print(f"seed {seed}: ours {rows['ours'][-1]}  sb3 {rows['sb3'][-1]}")
    summary = {"env": ENV_ID, "steps": args.steps, "seeds": args.seeds, "lambda": lam,
               "overrides": overrides}
    for name, rs in rows.items():
        for key in ("pct_of_optimum", "error_rate", "seconds_per_10k"):
            summary[f"{name}_{key}_median"] = statistics.median(r[key] for r in rs)
            summary[f"{name}_{key}"] = [r[key] for r in rs]
    summary["speedup_wall_per_10k"] = (summary["sb3_seconds_per_10k_median"]
                                       / summary["ours_seconds_per_10k_median"])
    emit(summary, args.json)


if __name__ == "__main__":
    main()
