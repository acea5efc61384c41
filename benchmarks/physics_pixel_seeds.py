"""Pixel SAC on the physics scene over seeds, against the scripted baseline and the
fitted model's DP policy on the very same evaluation episodes.

Reads the ``robolabor evaluate --json`` outputs of the pixel runs (one per training
seed), replays the scripted baseline and the fitted DP policy on the episodes each
evaluation used (same seeds: the physics env draws arrivals and breakage per episode
seed whatever the policy does, so the differences are paired), and reports per seed
the profit, its paired difference to both with a 95% CI over episodes, the SLA
verdict, and across seeds the mean profit ± 95% t-interval.

    python benchmarks/physics_pixel_seeds.py \
        benchmarks/results/physics/pixel_seed10{0,1,2}_eval.json --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit, git_commit  # noqa: E402

from robolabor.envs.optimum import optimum_for_env  # noqa: E402
from robolabor.envs.physics import DishwashingPhysicsEnv, scripted_policy  # noqa: E402
from robolabor.experiments.rollout import mean_ci, run_episodes  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("evaluations", nargs="+", help="`robolabor evaluate --json` outputs")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    env = DishwashingPhysicsEnv()
    opt = optimum_for_env(env)
    baselines = {"scripted": scripted_policy(env), "fitted_dp": lambda _o: opt.action(env.state)}
    cache: dict[tuple[str, int, int], np.ndarray] = {}
    seeds = []
    for path in args.evaluations:
        ev = json.loads(Path(path).read_text())
        sac = np.asarray(ev["profit_episodes"], float)
        row = {"seed": ev["seed"], "run_dir": ev["run_dir"], "config_hash": ev["config_hash"],
               "checkpoint": ev["checkpoint"], "episodes": ev["episodes"],
               "eval_seed": ev["eval_seed"], "profit": float(sac.mean()),
               "profit_ci95": mean_ci(sac)[1], "pooled_error_rate": ev["pooled_error_rate"],
               "pooled_error_rate_ci": [ev["pooled_error_rate_lo"], ev["pooled_error_rate_hi"]],
               "sla_verdict": ev["sla_verdict"], "pct_of_fitted_frontier": ev["pct_of_frontier"]}
        for name, act in baselines.items():
            key = (name, ev["eval_seed"], ev["episodes"])
            if key not in cache:
                cache[key] = np.array([t.profit for t in run_episodes(
                    env, act, ev["episodes"], ev["eval_seed"])])
            base = cache[key]
            diff_mean, diff_half = mean_ci(sac - base)
            row[f"{name}_profit"] = float(base.mean())
            row[f"minus_{name}"] = diff_mean
            row[f"minus_{name}_ci95"] = diff_half
            row[f"pct_of_{name}"] = 100 * float(sac.mean() / base.mean())
        seeds.append(row)
    profits = np.array([r["profit"] for r in seeds])
    mean, half = mean_ci(profits)
    dp = float(np.mean([r["fitted_dp_profit"] for r in seeds]))
    scripted = float(np.mean([r["scripted_profit"] for r in seeds]))
    result = {"commit": git_commit(), "fitted_dp_value": opt.expected_profit, "seeds": seeds,
              "profit_mean": mean, "profit_ci95_over_seeds": half,
              "scripted_profit_same_episodes": scripted,
              "fitted_dp_profit_same_episodes": dp,
              "pct_of_fitted_dp_profit": 100 * mean / dp,
              "sla_never_broken": all(r["sla_verdict"] != "broken" for r in seeds),
              "beats_scripted_every_seed": all(r["minus_scripted"] - r["minus_scripted_ci95"]
                                               > 0 for r in seeds)}
    emit(result, args.json)


if __name__ == "__main__":
    main()
