"""Time of the exact solver (DP + Lagrangian bisection + baselines) on one core.

    python benchmarks/dp_solve.py --grid 41 --repeats 3 --json

Each repeat solves from scratch (the solver's cache is cleared). ``--json`` prints
one JSON object as the last line, with the solver's own numbers.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from robolabor.envs import optimum  # noqa: E402
from robolabor.envs.params import ClassicParams, ShiftParams  # noqa: E402

TASKS = {"shift": ShiftParams, "classic": ClassicParams}


def main(argv: list[str] | None = None) -> dict:
    os.environ["ROBOLABOR_CACHE_DIR"] = "off"  # time real solves, not cache reads
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=sorted(TASKS) + ["all"], default="all")
    ap.add_argument("--grid", type=int, default=41, help="actions per axis")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    if args.grid < 2 or args.repeats < 1:
        ap.error("--grid must be >= 2 and --repeats >= 1")
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    tasks = sorted(TASKS) if args.task == "all" else [args.task]
    result = {"grid": args.grid, "repeats": args.repeats, "tasks": {}}
    for name in tasks:
        times, opt = [], None
        for _ in range(args.repeats):
            optimum._CACHE.clear()  # the disk cache is switched off in main()
            t0 = time.perf_counter()
            opt = optimum.solve(TASKS[name](), grid=args.grid)
            times.append(time.perf_counter() - t0)
        summary = opt.to_json()
        summary.update(median_seconds=statistics.median(times), min_seconds=min(times))
        result["tasks"][name] = summary
        if not args.json:
            print(f"{name:8s} solve {statistics.median(times):6.2f}s  profit "
                  f"{opt.expected_profit:8.2f}  lambda* {opt.lambda_star:.3f}  parity "
                  f"{opt.parity:.3f}  random parity {opt.random_parity:.3f}  best constant "
                  f"{opt.best_constant_ratio:.1%}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
