"""``robolabor demo``: a short end-to-end run with a report, a few minutes on 2 CPU cores.

Trains state SAC on the shift task with the default recipe (the packaged
``configs/shift_state.yaml``, whatever the working directory) on a shortened budget
(``DEMO_STEPS``; only the step budget and the evaluation/checkpoint cadence that
scales with it differ), evaluates it against the exact optimum and writes report.md /
report.html / report.png into the run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robolabor.experiments.config import DEFAULT_RECIPE, config_hash, load_config
from robolabor.experiments.report import write_report
from robolabor.experiments.trainer import start_run

DEMO_STEPS = 12_000


def run_demo(out: str | Path | None = None, steps: int | None = None, seed: int = 0,
             progress: bool = True) -> dict[str, Any]:
    steps = DEMO_STEPS if steps is None else steps
    every = max(steps // 8, 1)
    cfg = load_config(DEFAULT_RECIPE, {
        "train.total_steps": steps, "train.seed": seed, "train.eval_every": every,
        "train.checkpoint_every": every * 2, "train.eval_episodes": 20,
        "train.progress": progress})
    if out is None:
        out = Path("runs") / f"demo-s{seed}-{config_hash(cfg)}"
    final = start_run(cfg, out)
    paths = write_report(final["run_dir"], final)
    keys = ("pct_of_optimum", "pct_of_optimum_ci95", "mp", "wage_parity", "pooled_error_rate",
            "sla", "lambda", "lambda_star", "step", "wall_seconds", "run_dir")
    return {k: final[k] for k in keys} | {"report": paths["markdown"]}
