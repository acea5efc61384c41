"""Ablation: uniform against novelty-weighted replay on the state shift task.

Trains each seed twice from the same recipe, once with uniform replay and once with
``replay.prioritised`` (sampling ∝ (novelty + ε)^α by the latent DDPM, importance
weights with β annealed to 1), then scores both final policies on the same
``--episodes`` deterministic episodes (common random numbers; from 1,000,000 unless
``--tuning``). Reports per seed and arm the % of the exact frontier with its bootstrap
CI and the training wall-clock, and the paired difference (prioritised − uniform) with
a 95% t-interval over seeds.

    OMP_NUM_THREADS=1 python benchmarks/prioritised_replay.py --seeds 100 101 102 --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _report import git_commit

from robolabor.experiments.compare import train_job
from robolabor.experiments.config import parse_overrides
from robolabor.experiments.evaluate import evaluate_run
from robolabor.experiments.protocol import REPORT_EVAL_SEED, TUNING_SEEDS, report_seeds
from robolabor.experiments.rollout import mean_ci
from robolabor.experiments.runs import read_table
from robolabor.experiments.sweep import get_backend

ARMS = {"uniform": {"replay.prioritised": False}, "novelty": {"replay.prioritised": True}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/shift_state.yaml")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="training seeds (default 100 101 102, or 0 1 2 with --tuning)")
    p.add_argument("--tuning", action="store_true", help="seeds < 100, tuning episodes")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--learning-starts", type=int, default=3_000)
    p.add_argument("--episodes", type=int, default=50, help="final evaluation episodes")
    p.add_argument("--out", default="runs/prioritised")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="overrides of both arms (e.g. replay.alpha=0.4)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.tuning:
        seeds = args.seeds or [0, 1, 2]
        if any(s not in TUNING_SEEDS for s in seeds):
            raise SystemExit(f"--tuning uses seeds in {TUNING_SEEDS}, got {seeds}")
    else:
        seeds = args.seeds or report_seeds(3)
        report_seeds(len(seeds), min(seeds))  # refuses a tuning seed
    common = {**parse_overrides(args.set), "sac.learning_starts": args.learning_starts,
              "train.eval_every": args.steps, "train.checkpoint_every": args.steps,
              "train.eval_episodes": 10}
    out = Path(args.out)
    jobs = [{"config": args.config, "seed": s, "steps": args.steps,
             "out": str(out / f"{arm}-s{s}"), "overrides": {**common, **ov}}
            for s in seeds for arm, ov in ARMS.items()]
    get_backend("local", args.workers).map(train_job, jobs)
    eval_seed = None if args.tuning else REPORT_EVAL_SEED
    runs = []
    for job, (s, arm) in zip(jobs, [(s, a) for s in seeds for a in ARMS], strict=True):
        ev = evaluate_run(job["out"], episodes=args.episodes, seed=eval_seed)
        evals = read_table(Path(job["out"]) / "evals.parquet")
        runs.append({"seed": s, "arm": arm, "run_dir": job["out"],
                     "config_hash": ev["config_hash"],
                     **{k: ev[k] for k in ("pct_of_frontier", "pct_of_frontier_lo",
                                           "pct_of_frontier_hi", "pooled_error_rate",
                                           "sla_verdict", "mp", "env_steps")},
                     "wall_seconds": evals[-1]["wall_seconds"]})
        if not args.json:
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in runs[-1].items()})
    by = {(r["seed"], r["arm"]): r for r in runs}
    summary: dict = {"config": args.config, "overrides": common, "commit": git_commit(),
                     "tuning": args.tuning, "seeds": seeds, "episodes": args.episodes,
                     "eval_seed": eval_seed if eval_seed is not None else "config eval_seed",
                     "runs": runs}
    for arm in ARMS:
        for key in ("pct_of_frontier", "wall_seconds"):
            m, h = mean_ci(np.array([by[(s, arm)][key] for s in seeds]))
            summary[f"{arm}_{key}"], summary[f"{arm}_{key}_ci95"] = m, h
    for key in ("pct_of_frontier", "wall_seconds"):
        d = np.array([by[(s, "novelty")][key] - by[(s, "uniform")][key] for s in seeds])
        m, h = mean_ci(d)
        summary[f"delta_{key}"], summary[f"delta_{key}_ci95"] = m, h
        summary[f"delta_{key}_per_seed"] = d.tolist()
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
