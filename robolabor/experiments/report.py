"""A small report of one run: learning curve, economics, and the constraint.

Everything in it is read from the run directory (evals.parquet, episodes.parquet,
optimum.json, meta.json), opened through ``runs.open_run`` (so a config changed
after the run is refused), so the report can be regenerated at any time and every
number names its run (config hash, seed) and the checkpoint it stands on.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.econ import save_figure
from robolabor.errors import UserError
from robolabor.experiments.runs import RunDir, open_run, read_table, warn


def _fmt(x: float, ci: float | None = None, digits: int = 2) -> str:
    if ci is None or not np.isfinite(ci):
        return f"{x:.{digits}f}"
    return f"{x:.{digits}f} ± {ci:.{digits}f}"


def steps_to_reach(evals: list[dict], pct: float) -> tuple[int | None, float | None]:
    """First evaluation at ``pct`` % of the frontier whose SLA verdict is not ``broken``."""
    for row in evals:
        if row["pct_of_frontier"] >= pct and row["sla_verdict"] != "broken":
            return int(row["step"]), float(row["wall_seconds"])
    return None, None


def _interval(row: dict, key: str, digits: int) -> str:
    lo, hi = row.get(f"{key}_lo", float("nan")), row.get(f"{key}_hi", float("nan"))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{row[key]:.{digits}f}"
    return f"{row[key]:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def make_figure(run: RunDir, evals: list[dict], episodes: list[dict], optimum: dict,
                path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([r["step"] for r in evals])
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    ax = axes[0, 0]
    pct = np.array([r["pct_of_frontier"] for r in evals])
    lo = np.array([r["pct_of_frontier_lo"] for r in evals])
    hi = np.array([r["pct_of_frontier_hi"] for r in evals])
    ax.plot(steps, pct, marker="o", label="SAC: % of frontier V*(max(e*, ê))")
    ax.fill_between(steps, np.where(np.isfinite(lo), lo, pct), np.where(np.isfinite(hi), hi, pct),
                    alpha=0.25)
    ax.plot(steps, [r["pct_of_optimum"] for r in evals], ls=":", color="grey",
            label="% of V*(e*), ignores the SLA")
    broken = np.array([r["sla_verdict"] == "broken" for r in evals])
    if broken.any():
        ax.scatter(steps[broken], pct[broken], marker="x", color="r", zorder=3,
                   label="SLA broken (CI above e*)")
    ax.axhline(100, color="k", lw=1, ls="--", label="exact frontier")
    ax.set(title="Learning curve", xlabel="env steps", ylabel="% of the exact frontier")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(steps, [r["wage_parity"] for r in evals], marker="o", label="robot / human wage")
    ax.axhline(optimum["parity"], color="g", ls="--", lw=1, label="optimal policy")
    ax.axhline(1.0, color="k", lw=1, label="parity")
    ax.set(title="Wage parity", xlabel="env steps", ylabel="ŵ_r / w_h")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    rate = np.array([r["pooled_error_rate"] for r in evals])
    ax.plot(steps, rate, marker="o", label="eval pooled error rate (95% CI)")
    ax.fill_between(steps, [r["pooled_error_rate_lo"] for r in evals],
                    [r["pooled_error_rate_hi"] for r in evals], alpha=0.25)
    ax.axhline(optimum["sla"], color="r", ls="--", lw=1, label="SLA e*")
    ax.set(title="Quality vs SLA", xlabel="env steps", ylabel="broken / attempts")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot([r["step"] for r in episodes], [r["lambda"] for r in episodes], label="learned λ")
    ax.axhline(optimum["lambda_star"], color="k", ls="--", lw=1, label="exact λ*")
    ax.set(title="Shadow price of quality", xlabel="env steps", ylabel="$ per broken unit")
    ax.legend(fontsize=8)
    meta = run.read_meta()
    fig.suptitle(f"{meta.get('env_id')} · encoder {meta.get('encoder')} · seed {meta.get('seed')}"
                 f" · config {meta.get('config_hash')}", fontsize=10)
    save_figure(fig, path)


def plot_frontier(frontier: list, sla: float, path: str | Path, title: str = "") -> str:
    """The exact throughput-quality frontier V*(e) with the SLA marked; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = np.asarray(frontier, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(pts[:, 0], pts[:, 1], marker="o", label="V*(e): optimal expected profit")
    ax.axvline(sla, color="r", ls="--", lw=1, label=f"SLA e* = {sla:.3f}")
    ax.set(title=f"Exact frontier {title}".strip(), xlabel="error-rate cap e (broken/attempts)",
           ylabel="$ per shift")
    ax.legend(fontsize=8)
    save_figure(fig, Path(path))
    return str(path)


def _pack_section(run_path: Path) -> str:
    """The run's pack table (``data.library``) when packs were valued for it; features
    come from the table's cache only (``robolabor pack table RUN`` computes them)."""
    from robolabor.data.library import VALUATIONS, format_pack_table, pack_table, plot_pack_values

    if not (run_path / VALUATIONS).is_dir():
        return ""
    table = pack_table(run_path, compute_features=False)
    table["rows"] = [r for r in table["rows"] if r["valued"]]  # this run's packs only
    fig = plot_pack_values(table, run_path / "pack_values.png")
    missing = sum(r["features"] is None for r in table["rows"])
    note = (f"- {missing} pack(s) without features (novelty, prediction): run "
            f"`robolabor pack table {run_path}` to compute them\n" if missing else "")
    return ("\n## Data packs valued for this run\n\n" + format_pack_table(table) + note
            + ("\n![predicted against measured ΔMPL](pack_values.png)\n" if fig else ""))


def write_report(run_dir: str | Path, final_eval: dict[str, Any] | None = None) -> dict[str, str]:
    """Write report.md, report.html and report.png into the run directory."""
    opened = open_run(run_dir, load_agent=False)
    for message in opened.warnings:
        warn(message)
    run, meta = opened.run, opened.meta
    evals = read_table(run.evals_path)
    episodes = read_table(run.episodes_path)
    if not evals:
        raise UserError(f"{run.evals_path}: no evaluation rows yet; nothing to report")
    optimum = opened.optimum()
    ckpt = opened.checkpoint.name if opened.checkpoint else "none valid"
    last = final_eval or evals[-1]
    png = run.path / "report.png"
    make_figure(run, evals, episodes, optimum, png)
    s90, w90 = steps_to_reach(evals, 90.0)
    s95, w95 = steps_to_reach(evals, 95.0)
    lam_gap = (abs(last["lambda"] - optimum["lambda_star"]) / optimum["lambda_star"] * 100
               if optimum["lambda_star"] > 0 else float("nan"))
    rows = [
        ("% of the exact frontier V*(max(e*, ê)) [95% CI]",
         _interval(last, "pct_of_frontier", 1), "100"),
        ("% of the optimum at the SLA V*(e*)",
         _fmt(last["pct_of_optimum"], last.get("pct_of_optimum_ci95"), 1), "100"),
        ("marginal product (units/h)", _fmt(last["mp"], last.get("mp_ci95"), 1),
         f"{optimum['mp']:.1f}"),
        ("wage parity ŵ_r / w_h", _fmt(last["wage_parity"], last.get("wage_parity_ci95")),
         f"{optimum['parity']:.2f}"),
        ("error rate (pooled) [95% CI]", _interval(last, "pooled_error_rate", 4),
         f"{optimum['error_rate']:.4f} (SLA {optimum['sla']:.3f})"),
        ("profit per episode ($)", _fmt(last["profit"], last.get("profit_ci95")),
         f"{optimum['expected_profit']:.2f}"),
        ("λ ($ per broken unit)", f"{last['lambda']:.3f}", f"{optimum['lambda_star']:.3f}"),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    reach = ""
    for pct, (s, w) in ((90, (s90, w90)), (95, (s95, w95))):
        reach += (f"- {pct}% of the frontier first reached at {s} env steps ({w:.0f} s), "
                  "counting only evaluations whose SLA verdict is not `broken`\n" if s
                  else f"- {pct}% of the frontier (SLA not broken) not reached in this run\n")
    md = f"""# robolabor run report

Run `{run.path}` · env `{meta.get('env_id')}` · encoder `{meta.get('encoder')}` ·
seed {meta.get('seed')} · config hash `{meta.get('config_hash')}` ·
{last['step']} env steps · {last['wall_seconds']:.0f} s wall-clock · checkpoint `{ckpt}`.
Evaluation: {len(last['profit_episodes'])} deterministic episodes, common random numbers,
mean ± 95% CI.

| metric | learned policy | exact optimum |
|---|---|---|
{table}

{reach}- SLA verdict: **{last['sla_verdict']}** (pooled error rate
  {_interval(last, 'pooled_error_rate', 4)} vs e* = {optimum['sla']:.3f}; met = the whole
  bootstrap 95% CI at or below e*, broken = the whole CI above it)
- learned λ is {lam_gap:.0f}% away from λ* (nan when λ* = 0)

![learning curve, parity, quality, λ](report.png)
"""
    packs_md = _pack_section(run.path)
    md += packs_md
    if opened.warnings:
        md += "\n" + "".join(f"- **warning**: {w}\n" for w in opened.warnings)
    (run.path / "report.md").write_text(md)
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td>"
                   f"<td>{html.escape(c)}</td></tr>" for a, b, c in rows)
    page = (f"<!doctype html><meta charset='utf-8'><title>robolabor report</title>"
            f"<h1>robolabor run report</h1><p>{html.escape(str(run.path))} · config "
            f"{html.escape(str(meta.get('config_hash')))} · seed {meta.get('seed')}</p>"
            f"<table border=1 cellpadding=4><tr><th>metric</th><th>learned</th>"
            f"<th>optimum</th></tr>{body}</table><pre>{html.escape(reach)}</pre>"
            f"<img src='report.png' alt='curves'>"
            + (f"<h2>Data packs</h2><pre>{html.escape(packs_md)}</pre>" if packs_md else ""))
    (run.path / "report.html").write_text(page)
    return {"markdown": str(run.path / "report.md"), "html": str(run.path / "report.html"),
            "figure": str(png), "checkpoint": ckpt, "checkpoint_warnings": opened.warnings}
