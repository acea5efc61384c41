"""What ASHA early stopping saves on a sweep, and what it costs in the choice it makes.

Runs a spec with ``early_stopping`` on a local Ray instance (one trial at a time by
default, so the decisions follow the grid's order), counts the env steps it trained
against the full sweep's, then resumes every stopped trial to its total_steps (a
resumed run equals an uninterrupted one, tests/test_sweep.py) to learn where the
trials ASHA stopped would have ended. Reported: env steps and wall-clock used, the
trial ASHA's sweep picks (best final pct_of_frontier among the finished trials, the
SLA verdict beside it) and its rank among all trials run to the end.

    python benchmarks/sweep_asha.py --json                      # configs/sweeps/asha_lr.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit, git_commit  # noqa: E402

from robolabor.experiments.files import read_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def _cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "robolabor.cli", *args],
                         capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        raise SystemExit(f"robolabor {' '.join(args[:2])} failed ({out.returncode}):\n"
                         f"{out.stderr[-4000:]}")
    return out.stdout


def _final(run: Path) -> dict:
    evals = read_table(run / "evals.parquet")
    return {"pct_of_frontier": evals[-1]["pct_of_frontier"],
            "sla_verdict": evals[-1]["sla_verdict"], "step": evals[-1]["step"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default=str(ROOT / "configs" / "sweeps" / "asha_lr.yaml"))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--keep", default=None, help="work folder to keep (default: temporary)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="rl-asha-bench-"))
    storage = work / "asha"
    try:
        t0 = time.perf_counter()
        summary = json.loads(_cli("sweep", args.spec, "--backend", "ray", "--workers",
                                  str(args.workers), "--storage", str(storage), "--json"))
        sweep_s = time.perf_counter() - t0
        trials = summary["trials"]
        total = {t["trial"]: json.loads((storage / t["trial"] / "meta.json").read_text())
                 ["config"]["train"]["total_steps"] for t in trials}
        used = sum(t["env_steps"] for t in trials)
        rows = []
        for t in trials:
            run = storage / t["trial"]
            row = {"trial": t["trial"], "point": t["point"], "status": t["status"],
                   "stopped_at": t["env_steps"] if t["status"] == "stopped" else None,
                   "asha_final": _final(run)}
            rows.append(row)
        t0 = time.perf_counter()
        for row in rows:
            if row["status"] == "stopped":
                _cli("train", "--resume", str(storage / row["trial"]), "--no-progress")
        resume_s = time.perf_counter() - t0
        for row in rows:
            row["full_final"] = _final(storage / row["trial"])
        finished = [r for r in rows if r["status"] == "finished"]
        picked = max(finished, key=lambda r: r["asha_final"]["pct_of_frontier"])
        ranking = sorted(rows, key=lambda r: -r["full_final"]["pct_of_frontier"])
        result = {
            "commit": git_commit(), "spec": os.path.relpath(args.spec, ROOT),
            "trials": len(rows), "stopped": sum(r["status"] == "stopped" for r in rows),
            "env_steps_used": used, "env_steps_full": sum(total.values()),
            "env_steps_used_pct": 100 * used / sum(total.values()),
            "sweep_wall_s": sweep_s, "resume_stopped_wall_s": resume_s,
            "picked": picked["trial"], "picked_point": picked["point"],
            "picked_pct_of_frontier": picked["asha_final"]["pct_of_frontier"],
            "picked_sla_verdict": picked["asha_final"]["sla_verdict"],
            "picked_rank_among_full_runs": 1 + ranking.index(picked),
            "best_full_run": ranking[0]["trial"], "best_full_point": ranking[0]["point"],
            "best_full_pct_of_frontier": ranking[0]["full_final"]["pct_of_frontier"],
            "best_full_was_stopped": ranking[0]["status"] == "stopped",
            "rows": rows}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    emit(result, args.json)


if __name__ == "__main__":
    main()
