"""``robolabor demo``: the default recipe end to end, with a report, in minutes on a CPU.

Trains state SAC on the shift task with the default recipe exactly (the packaged
``configs/shift_state.yaml``, whatever the working directory; ``--steps`` shortens it
for a smoke test), then scores the final policy on ``FINAL_EPISODES`` fresh episodes
(``REPORT_EVAL_SEED`` on, never used for tuning) against the exact frontier, and
writes report.md / report.html / report.png into the run directory. The default seed
is the first reported training seed, so the demo's run is the recipe's seed-100 run
of BENCHMARKS.md §0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robolabor.experiments.config import DEFAULT_RECIPE, config_hash, load_config
from robolabor.experiments.evaluate import evaluate_run
from robolabor.experiments.protocol import REPORT_EVAL_SEED, REPORT_SEED_START
from robolabor.experiments.report import write_report
from robolabor.experiments.trainer import start_run

FINAL_EPISODES = 100
KEYS = ("pct_of_frontier", "pct_of_frontier_lo", "pct_of_frontier_hi", "pct_of_optimum",
        "pooled_error_rate", "pooled_error_rate_lo", "pooled_error_rate_hi", "sla_verdict",
        "sla", "mp", "wage_parity", "lambda", "lambda_star", "env_steps", "run_dir")


def run_demo(out: str | Path | None = None, steps: int | None = None,
             seed: int = REPORT_SEED_START, progress: bool = True,
             final_episodes: int = FINAL_EPISODES) -> dict[str, Any]:
    overrides: dict[str, Any] = {"train.seed": seed, "train.progress": progress}
    if steps is not None:  # a shortened smoke run: evaluations scale with it
        overrides |= {"train.total_steps": steps, "train.eval_every": max(steps // 4, 1),
                      "train.checkpoint_every": max(steps // 2, 1)}
    cfg = load_config(DEFAULT_RECIPE, overrides)
    if out is None:
        out = Path("runs") / f"demo-s{seed}-{config_hash(cfg)}"
    trained = start_run(cfg, out)
    final = evaluate_run(trained["run_dir"], episodes=final_episodes, seed=REPORT_EVAL_SEED)
    final["step"], final["wall_seconds"] = final["env_steps"], trained["wall_seconds"]
    paths = write_report(final["run_dir"], final)
    return {k: final[k] for k in KEYS} | {"final_episodes": final_episodes,
                                          "final_eval_seed": REPORT_EVAL_SEED,
                                          "train_wall_seconds": trained["wall_seconds"],
                                          "report": paths["markdown"]}
