"""Learning benchmark: one recipe over several seeds, scored against the exact frontier.

Trains one run per seed (local processes), then scores each final policy on
``--episodes`` deterministic episodes and reports, per seed and as medians: % of the
exact frontier (bootstrap 95% CI), % of the optimum at the SLA, the pooled error rate
with its CI and SLA verdict, learned λ against λ*, the best periodic evaluation (how
much the final policy drifted from the run's best) and the env steps at which the
periodic evaluations first reached 90% and 95% of the frontier with the SLA not broken.

Reporting protocol (``robolabor.experiments.protocol``): reported figures use training
seeds >= 100 and final episodes from 1,000,000; ``--tuning`` is for choosing settings:
seeds < 100, final episodes on the configs' periodic-evaluation seeds.

    python benchmarks/train_seeds.py configs/shift_state.yaml --seeds 100 101 102 --json
    python benchmarks/train_seeds.py configs/shift_state.yaml \
        --variant configs/variants/heldout_fragile.yaml --seeds 100 101 102 --json
    python benchmarks/train_seeds.py configs/shift_state.yaml --tuning --seeds 0 1 \
        --set lagrange.lr_rel=0.1 --json

The run directories are kept (``--out``), so the same runs feed ``robolabor claims``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import yaml
from _report import git_commit

from robolabor.experiments.compare import train_job
from robolabor.experiments.config import load_config, parse_overrides
from robolabor.experiments.evaluate import evaluate_run
from robolabor.experiments.protocol import REPORT_EVAL_SEED, TUNING_SEEDS, report_seeds
from robolabor.experiments.report import steps_to_reach
from robolabor.experiments.runs import read_table
from robolabor.experiments.sweep import get_backend


def variant_overrides(path: str | None) -> dict:
    """The ``env`` section of a variant file as overrides of the base recipe."""
    if path is None:
        return {}
    env = (yaml.safe_load(Path(path).read_text()) or {}).get("env")
    if not isinstance(env, dict) or set(env) - {"id", "config"}:
        raise SystemExit(f"{path}: a variant file holds only an env section (id, config)")
    return {f"env.{k}": v for k, v in env.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--variant", default=None, help="a configs/variants/*.yaml task")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="training seeds (default: 100 101 102, or 0 1 2 with --tuning)")
    p.add_argument("--tuning", action="store_true",
                   help="tuning run: seeds < 100, final episodes on the tuning seeds")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--episodes", type=int, default=100, help="final evaluation episodes")
    p.add_argument("--out", default="runs/bench")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.tuning:
        seeds = args.seeds or [0, 1, 2]
        if any(s not in TUNING_SEEDS for s in seeds):
            raise SystemExit(f"--tuning uses seeds in {TUNING_SEEDS}, got {seeds}")
    else:
        seeds = args.seeds or report_seeds(3)
        report_seeds(len(seeds), min(seeds))  # refuses a tuning seed
    overrides = {**parse_overrides(args.set), **variant_overrides(args.variant)}
    cfg = load_config(args.config, {**overrides, "train.total_steps": args.steps}
                      if args.steps else overrides)
    eval_seed = cfg.train.eval_seed if args.tuning else REPORT_EVAL_SEED
    out = Path(args.out)
    jobs = [{"config": args.config, "seed": s, "steps": args.steps,
             "out": str(out / f"seed{s}"), "overrides": overrides} for s in seeds]
    get_backend("local", args.workers).map(train_job, jobs)
    rows = []
    for job in jobs:
        ev = evaluate_run(job["out"], episodes=args.episodes, seed=eval_seed)
        evals = read_table(Path(job["out"]) / "evals.parquet")
        s90, _ = steps_to_reach(evals, 90.0)
        s95, _ = steps_to_reach(evals, 95.0)
        best = max(evals, key=lambda r: r["pct_of_frontier"])
        rows.append({"seed": job["seed"], "run_dir": job["out"], "config_hash": ev["config_hash"],
                     **{k: ev[k] for k in ("pct_of_frontier", "pct_of_frontier_lo",
                                           "pct_of_frontier_hi", "pct_of_optimum",
                                           "pooled_error_rate", "pooled_error_rate_lo",
                                           "pooled_error_rate_hi", "sla_verdict", "sla",
                                           "lambda", "lambda_star", "parity", "mp",
                                           "env_steps")},
                     "lambda_gap_pct": (100 * (ev["lambda"] - ev["lambda_star"])
                                        / ev["lambda_star"] if ev["lambda_star"] else None),
                     "best_periodic_pct_of_frontier": best["pct_of_frontier"],
                     "best_periodic_step": int(best["step"]),
                     "wall_seconds": evals[-1]["wall_seconds"],
                     "steps_to_90": s90, "steps_to_95": s95})
        if not args.json:
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()})
    summary = {"config": args.config, "variant": args.variant,
               "overrides": parse_overrides(args.set), "commit": git_commit(),
               "tuning": args.tuning, "seeds": seeds, "episodes": args.episodes,
               "eval_seed": eval_seed, "runs": rows}
    for key in ("pct_of_frontier", "pct_of_optimum", "pooled_error_rate", "lambda", "parity",
                "wall_seconds"):
        summary[f"median_{key}"] = statistics.median(r[key] for r in rows)
    summary["lambda_star"] = rows[0]["lambda_star"]
    summary["sla_verdicts"] = [r["sla_verdict"] for r in rows]
    summary["sla_broken_any"] = "broken" in summary["sla_verdicts"]
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
