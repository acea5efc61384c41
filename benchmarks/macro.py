"""Speed of the sector simulation: establishments × months per second.

    python benchmarks/macro.py --establishments 1000000 --months 120 --repeats 3 --json
"""

import argparse
import json
import statistics
import time

from robolabor.econ import Scenario, simulate
from robolabor.experiments.macro_runner import load_scenario, scenario_from_dict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=None,
                    help="a configs/macro/*.yaml file (default: Scenario defaults)")
    ap.add_argument("--establishments", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()

    base = load_scenario(args.scenario).to_dict() if args.scenario else Scenario().to_dict()
    base.update(n_establishments=args.establishments, months=args.months)
    sc = scenario_from_dict(base)
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        res = simulate(sc, seed=args.seed + r)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    result = {
        "benchmark": "macro",
        "scenario": sc.name,
        "establishments": args.establishments,
        "months": args.months,
        "repeats": args.repeats,
        "median_s": med,
        "establishment_months_per_s": args.establishments * args.months / med,
        "final_adoption_share": float(res.adoption_share[-1]),
        "npv": res.npv,
    }
    if not args.json:
        for k, v in result.items():
            print(f"{k:28s} {v:,.4g}" if isinstance(v, float) else f"{k:28s} {v}")
    print(json.dumps(result) if args.json else "")


if __name__ == "__main__":
    main()
