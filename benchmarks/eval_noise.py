"""How many evaluation episodes a score needs: the exact optimal policy scored like a run.

The optimal policy's true score is 100% of the optimal expected profit by
construction, so whatever it earns on N episodes from the evaluation seed is
pure episode noise (and, for a fixed seed, a fixed bias every evaluation with
that seed shares). This is why ``robolabor compare`` rescores final policies on
100 common episodes instead of a config's 10-episode periodic evaluation.

    python benchmarks/eval_noise.py --episodes 10 30 100 400 --json

Reported per N: the optimal policy's mean profit on episodes ``seed … seed+N-1``
as % of its expected profit, with the 95% CI half-width.
"""

from __future__ import annotations

import argparse

import numpy as np
from _report import emit

from robolabor.envs.optimum import optimum_for_env
from robolabor.experiments.compare import FINAL_EVAL_SEED
from robolabor.experiments.media import scripted_policy
from robolabor.experiments.rollout import make_env, mean_ci, run_episodes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="robolabor/DishwashingShift-v0")
    ap.add_argument("--episodes", type=int, nargs="+", default=[10, 30, 100, 400])
    ap.add_argument("--seed", type=int, default=FINAL_EVAL_SEED)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    env = make_env(args.env)
    opt = optimum_for_env(env)
    tallies = run_episodes(env, scripted_policy(env, "optimal", args.seed), max(args.episodes),
                           args.seed)
    pct = 100.0 * np.array([t.profit for t in tallies]) / opt.expected_profit
    result = {"env": args.env, "seed": args.seed, "optimal_expected_profit": opt.expected_profit}
    for n in sorted(args.episodes):
        mean, half = mean_ci(pct[:n])
        result[f"pct_of_optimum_{n}"], result[f"ci95_{n}"] = round(mean, 2), round(half, 2)
    emit(result, args.json)


if __name__ == "__main__":
    main()
