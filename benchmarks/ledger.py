"""Throughput of the per-window economics: ledger, allocation and pricing over N windows.

    python benchmarks/ledger.py --windows 1000000 --repeats 5 --json
"""

import argparse
import json
import statistics
import time

import numpy as np

from robolabor.econ import allocate_ledger, price_windows, window_ledger


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=1_000_000)
    ap.add_argument("--types", type=int, default=1, help="dish types K")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    shape = (args.windows,) if args.types == 1 else (args.windows, args.types)
    good = rng.poisson(100 / args.types, shape).astype(float)
    broken = rng.poisson(3 / args.types, shape).astype(float)
    prices = np.linspace(0.2, 0.4, args.types)
    damage = np.linspace(0.5, 1.5, args.types)
    wage = rng.uniform(16, 20, args.windows)

    window_ledger(good, broken, 1.0, prices, damage, 0.1, wage)  # warm the allocator
    ledger_s, full_s = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        led = window_ledger(good, broken, 1.0, prices, damage, 0.1, wage)
        t1 = time.perf_counter()
        price_windows("split", led, allocate_ledger(led, 0.3, 1.0))
        t2 = time.perf_counter()
        ledger_s.append(t1 - t0)
        full_s.append(t2 - t0)
    result = {
        "benchmark": "ledger",
        "windows": args.windows,
        "types": args.types,
        "repeats": args.repeats,
        "ledger_median_s": statistics.median(ledger_s),
        "ledger_windows_per_s": args.windows / statistics.median(ledger_s),
        "ledger_alloc_pricing_median_s": statistics.median(full_s),
        "ledger_alloc_pricing_windows_per_s": args.windows / statistics.median(full_s),
    }
    if not args.json:
        for k, v in result.items():
            print(f"{k:36s} {v:,.4g}" if isinstance(v, float) else f"{k:36s} {v}")
    print(json.dumps(result) if args.json else "")


if __name__ == "__main__":
    main()
