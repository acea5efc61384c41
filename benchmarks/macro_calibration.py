"""The calibrated sector against published estimates, and its sensitivity.

    python benchmarks/macro_calibration.py --json

Simulates ``configs/macro/calibrated.yaml`` and the same sector without robots, measures
the robots' effects as the papers do (``robolabor.econ.macro.exposure_effects``) and
compares them with Acemoglu & Restrepo (2020) and Graetz & Michaels (2018); then sweeps
the labor-demand elasticity and the cost-to-price pass-through around their stated
defaults (−0.4, 0.7).
"""

import argparse
import dataclasses
import json
from pathlib import Path

from robolabor.econ.macro import exposure_effects, simulate, without_robots
from robolabor.experiments.macro_runner import load_scenario

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {  # figure: (value, source)
    "employment_rate_pp_per_robot": (-0.2, "Acemoglu & Restrepo 2020, JPE"),
    "wage_pct_per_robot": (-0.42, "Acemoglu & Restrepo 2020, JPE"),
    "labor_productivity_growth_pp": (0.36, "Graetz & Michaels 2018, REStat"),
}


def measure(scenario, seed: int = 0) -> dict:
    return exposure_effects(simulate(scenario, seed=seed),
                            simulate(without_robots(scenario), seed=seed))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "configs" / "macro" / "calibrated.yaml"))
    ap.add_argument("--establishments", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    if args.establishments:
        sc = dataclasses.replace(sc, n_establishments=args.establishments)
    got = measure(sc)
    rows = [{"figure": k, "published": v, "source": src, "model": got[k],
             "relative_error": got[k] / v - 1.0} for k, (v, src) in PUBLISHED.items()]
    sens = []
    for eps in (-0.2, -0.4, -0.6):
        for pt in (0.5, 0.7, 0.9):
            m = measure(dataclasses.replace(sc, labor_demand_elasticity=eps,
                                            price_pass_through=pt))
            sens.append({"labor_demand_elasticity": eps, "price_pass_through": pt,
                         **{k: m[k] for k in PUBLISHED}})
    result = {"benchmark": "macro_calibration", "scenario": sc.name,
              "establishments": sc.n_establishments, "months": sc.months,
              "robots_per_1000_workers_added": got["robots_per_1000_workers_added"],
              "figures": rows, "sensitivity": sens}
    if not args.json:
        print("| figure | published | model | error |\n|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['figure']} ({r['source']}) | {r['published']:+.2f} | "
                  f"{r['model']:+.3f} | {100 * r['relative_error']:+.0f}% |")
        print("\n| ε labor demand | pass-through | emp/pop pp per robot | wage % per robot "
              "| productivity growth pp |\n|---:|---:|---:|---:|---:|")
        for r in sens:
            print(f"| {r['labor_demand_elasticity']:g} | {r['price_pass_through']:g} | "
                  f"{r['employment_rate_pp_per_robot']:+.3f} | {r['wage_pct_per_robot']:+.3f} | "
                  f"{r['labor_productivity_growth_pp']:+.3f} |")
    print(json.dumps(result) if args.json else "")


if __name__ == "__main__":
    main()
