"""Leave-one-out and truncated Monte-Carlo Shapley values of a few packs on one run.

Every subset a permutation reaches is trained once per seed (``data.valuation.
value_packs``: the run's checkpoint continued with the subset's packs in the replay)
and scored by its mean MP on the same evaluation episodes; LOO = U(all) − U(all \\ i),
Shapley = mean marginal contribution over sampled permutations (CI over permutations).

    OMP_NUM_THREADS=1 python benchmarks/pack_subsets.py runs/base-state-s0 \\
        --packs kitchen-optimum,bar-optimum,bad-shuffled-rewards --store runs/packs-library --json
"""

from __future__ import annotations

import argparse
import time

from _report import emit

from robolabor.data.valuation import value_packs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--packs", required=True, help="comma-separated pack names")
    ap.add_argument("--store", default=None)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--permutations", type=int, default=6)
    ap.add_argument("--truncation", type=float, default=0.0, help="items/h")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = value_packs(args.run_dir, args.packs.split(","), seeds=args.seeds,
                         steps=args.steps, episodes=args.episodes, store=args.store,
                         workers=args.workers, permutations=args.permutations,
                         truncation=args.truncation)
    result["wall_seconds"] = time.perf_counter() - t0
    emit(result, args.json)


if __name__ == "__main__":
    main()
