"""``robolabor compare``: the same task learned from different observations, with CIs.

Each mode (``state``, ``video``, or a config path) is trained over K seeds
through a sweep backend, each run is scored against the exact optimum, and the
modes are compared with a two one-sided tests (TOST) equivalence test on the
final % of the exact frontier (``pct_of_frontier``: errors beyond the SLA are
charged) with a stated margin. Runs use the reported training seeds (100 on) and
final policies are scored afresh on ``final_episodes`` deterministic episodes from
``REPORT_EVAL_SEED`` (1,000,000 on), episodes nothing was tuned on and shared by every
mode (common random numbers: each mode meets the same arrivals and dishes), not on
each config's last periodic evaluation, whose size and noise differ by config
(on 10 episodes the exact optimum itself scores 97.3 ± 8.7%:
benchmarks/eval_noise.py). Run again into the same ``out``, compare continues
killed runs and reuses finished ones. The verdict is one of ``equivalent``
(the 90% CI of the difference lies inside ±margin), ``different`` (not
equivalent, and the 95% CI of the difference excludes 0) or ``inconclusive``
(neither: more seeds are needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from robolabor.econ import save_figure
from robolabor.errors import UserError
from robolabor.experiments.config import config_hash, load_config
from robolabor.experiments.protocol import REPORT_EVAL_SEED, report_seeds
from robolabor.experiments.rollout import mean_ci
from robolabor.experiments.runs import RunDir, RunDirError, read_table
from robolabor.experiments.sweep import get_backend

MODE_CONFIGS = {
    "state": "configs/shift_state.yaml",
    "video": "configs/shift_video.yaml",
    "classic": "configs/classic_state.yaml",
    "physics": "configs/physics_state.yaml",
    "physics_video": "configs/physics_video.yaml",
}
METRICS = ("pct_of_frontier", "pct_of_optimum", "mp", "pooled_error_rate", "wage_parity",
           "profit")

FINAL_EVAL_SEED = REPORT_EVAL_SEED  # fresh episodes: not the periodic evaluations' seeds


def train_job(config: str, seed: int, steps: int | None, out: str,
              overrides: dict[str, Any] | None = None, final_episodes: int = 0) -> dict[str, Any]:
    """One run, in whatever process the backend chose (top-level: picklable); with
    ``final_episodes`` its final policy is scored again on that many episodes from
    ``FINAL_EVAL_SEED`` and those figures replace the periodic evaluation's."""
    from robolabor.experiments.evaluate import evaluate_run
    from robolabor.experiments.trainer import resume_run, start_run

    ov = dict(overrides or {})
    ov["train.seed"] = seed
    ov["train.progress"] = False
    if steps is not None:
        ov["train.total_steps"] = steps
    cfg = load_config(config, ov)
    if Path(out).is_dir() and any(Path(out).iterdir()):
        # A compare run again into the same --out (after a kill, or to rescore): continue
        # or reuse the run, never train it twice, and never mix in another config's run.
        run = RunDir.open(Path(out))
        meta = run.read_meta()
        if meta.get("config_hash") != config_hash(cfg):
            raise RunDirError(f"{out} holds a run of another config (hash "
                              f"{meta.get('config_hash')}, this job {config_hash(cfg)}): "
                              f"pick a new --out")
        if meta.get("status") == "finished" and meta.get("env_steps") == cfg.train.total_steps:
            result = read_table(run.evals_path)[-1]  # its final evaluation: nothing to train
        else:
            result = resume_run(out)
    else:
        result = start_run(cfg, out)
    if final_episodes:
        wall = result["wall_seconds"]
        result = evaluate_run(out, episodes=final_episodes, seed=FINAL_EVAL_SEED)
        result["wall_seconds"] = wall
    return {k: v for k, v in result.items() if not isinstance(v, list)}


def _resolve_mode(mode: str) -> str:
    path = MODE_CONFIGS.get(mode, mode)
    if not Path(path).is_file():
        raise UserError(f"mode {mode!r}: config {path} not found (modes: "
                         f"{sorted(MODE_CONFIGS)} or a path to a YAML config)")
    return path


def tost(a: np.ndarray, b: np.ndarray, margin: float) -> dict[str, float | str]:
    """Welch two one-sided tests for |mean(a) − mean(b)| < margin."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    if se == 0:
        verdict = "equivalent" if abs(diff) < margin else "different"
        return {"diff": float(diff), "p_tost": 0.0 if verdict == "equivalent" else 1.0,
                "ci90_lo": float(diff), "ci90_hi": float(diff), "ci95_lo": float(diff),
                "ci95_hi": float(diff), "margin": margin, "verdict": verdict}
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    p_lower = 1 - stats.t.cdf((diff + margin) / se, dof)
    p_upper = stats.t.cdf((diff - margin) / se, dof)
    p = float(max(p_lower, p_upper))
    t90, t95 = stats.t.ppf(0.95, dof), stats.t.ppf(0.975, dof)
    lo95, hi95 = diff - t95 * se, diff + t95 * se
    if p < 0.05:
        verdict = "equivalent"
    elif lo95 > 0 or hi95 < 0:
        verdict = "different"
    else:
        verdict = "inconclusive"
    return {"diff": float(diff), "p_tost": p, "ci90_lo": float(diff - t90 * se),
            "ci90_hi": float(diff + t90 * se), "ci95_lo": float(lo95), "ci95_hi": float(hi95),
            "margin": margin, "verdict": verdict}


def learning_curve(run_dirs: list[str]) -> dict[str, list[float]]:
    """% of the frontier vs env steps (periodic evaluations), mean and 95% CI across seeds."""
    curves = [read_table(RunDir.open(Path(d)).evals_path) for d in run_dirs]
    grid = sorted({int(r["step"]) for c in curves for r in c})
    values = np.array([np.interp(grid, [r["step"] for r in c], [r["pct_of_frontier"] for r in c])
                       for c in curves])
    means, halves = zip(*(mean_ci(values[:, j]) for j in range(len(grid))), strict=True)
    return {"step": grid, "mean": list(means), "ci95": [float(np.nan_to_num(h)) for h in halves]}


def compare(modes: list[str], seeds: int, steps: int | None, out: str | Path,
            margin: float = 5.0, backend: str = "local", workers: int | None = None,
            overrides: dict[str, Any] | None = None,
            final_episodes: int = 100, first_seed: int | None = None) -> dict[str, Any]:
    if len(modes) < 1 or seeds < 2:
        raise UserError("compare needs at least one mode and --seeds >= 2 (for a CI)")
    if final_episodes < 0:
        raise UserError(f"final_episodes must be >= 0 (0: the last periodic evaluation), "
                         f"got {final_episodes}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    configs = {m: _resolve_mode(m) for m in modes}
    seed_list = report_seeds(seeds) if first_seed is None else report_seeds(seeds, first_seed)
    jobs = [{"config": configs[m], "seed": s, "steps": steps,
             "out": str(out / f"{Path(m).stem}-seed{s}"), "overrides": overrides,
             "final_episodes": final_episodes}
            for m in modes for s in seed_list]
    results = get_backend(backend, workers).map(train_job, jobs)
    table: dict[str, Any] = {}
    for m in modes:
        rows = [r for r, j in zip(results, jobs, strict=True) if j["config"] == configs[m]]
        entry: dict[str, Any] = {"runs": [r["run_dir"] for r in rows], "config": configs[m]}
        for key in METRICS:
            vals = np.array([r[key] for r in rows])
            entry[key], entry[f"{key}_ci95"] = mean_ci(vals)
            entry[f"{key}_seeds"] = vals.tolist()
        entry["sla_verdicts"] = [r["sla_verdict"] for r in rows]
        entry["wall_seconds"] = float(np.median([r["wall_seconds"] for r in rows]))
        entry["curve"] = learning_curve(entry["runs"])
        table[m] = entry
    summary: dict[str, Any] = {"modes": modes, "seeds": seeds, "training_seeds": seed_list,
                               "steps": steps,
                               "final_episodes": final_episodes,
                               "final_eval_seed": FINAL_EVAL_SEED if final_episodes else None,
                               "table": table}
    if len(modes) >= 2:
        a, b = modes[0], modes[1]
        summary["equivalence"] = {"a": a, "b": b, "metric": "pct_of_frontier",
                                  **tost(np.array(table[a]["pct_of_frontier_seeds"]),
                                         np.array(table[b]["pct_of_frontier_seeds"]), margin)}
    (out / "compare.json").write_text(json.dumps(summary, indent=2))
    _write_markdown(summary, out / "compare.md")
    _write_figure(summary, out / "compare.png")
    return summary


def _write_markdown(summary: dict[str, Any], path: Path) -> None:
    lines = ["| mode | % of frontier | % of V*(e*) | MP (/h) | error rate | parity | "
             "profit ($/ep) | SLA verdicts | wall s |", "|---|---|---|---|---|---|---|---|---|"]
    for m, e in summary["table"].items():
        cells = [f"{e[k]:.{d}f} ± {np.nan_to_num(e[k + '_ci95']):.{d}f}"
                 for k, d in zip(METRICS, (1, 1, 1, 4, 3, 2), strict=True)]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {', '.join(e['sla_verdicts'])} | "
                     f"{e['wall_seconds']:.0f} |")
    text = (f"# Modality comparison ({summary['seeds']} seeds: {summary['training_seeds']}, "
            f"{summary['steps']} steps)\n\n")
    if summary["final_episodes"]:
        text += (f"Final policies scored on {summary['final_episodes']} deterministic episodes "
                 f"from seed {summary['final_eval_seed']}, the same for every mode.\n\n")
    else:
        text += "Final policies scored by each run's last periodic evaluation.\n\n"
    text += "\n".join(lines) + "\n"
    eq = summary.get("equivalence")
    if eq:
        text += (f"\nEquivalence ({eq['a']} − {eq['b']}, % of frontier, margin ±{eq['margin']} pp):"
                 f" difference {eq['diff']:.2f} pp, 90% CI [{eq['ci90_lo']:.2f}, "
                 f"{eq['ci90_hi']:.2f}], TOST p = {eq['p_tost']:.3f} → **{eq['verdict']}**\n")
    path.write_text(text)


def _write_figure(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for m, e in summary["table"].items():
        c = e["curve"]
        mean, half = np.array(c["mean"]), np.array(c["ci95"])
        ax.plot(c["step"], mean, label=m)
        ax.fill_between(c["step"], mean - half, mean + half, alpha=0.25)
    ax.axhline(100, color="k", ls="--", lw=1)
    ax.set(xlabel="env steps", ylabel="% of the exact frontier",
           title=f"mean ± 95% CI over {summary['seeds']} seeds")
    ax.legend()
    save_figure(fig, path)
