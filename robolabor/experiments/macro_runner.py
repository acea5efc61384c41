"""Sector simulations (ECONOMICS.md §6) from scenario files, with their outputs on disk.

``run_macro`` turns one scenario into a folder::

    OUT/
      macro.parquet        monthly series, one row per (seed, month)
      macro.png            adoption, wages, ρ, prices, TFP, platform cash flow (seed 0)
      sensitivity.parquet  NPV over the grid of discount rate × utilisation × churn, per seed
      sensitivity.md       the same grid, NPV averaged over seeds, as a Markdown table
      macro.json           summary: scenario, learning curve and its source, NPV, end state

The robot's learning curve is the scenario's own unless ``run_dirs`` are given:
then it is fitted to the evaluation checkpoints of those training runs (evaluated
MP vs env steps), and the scenario's ``env_steps_per_month`` converts steps to
months. Seeds (establishment draws) and scenario sweeps fan out over the same
sweep backends as training.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.econ import (
    EconInputError,
    LearningCurve,
    MacroResult,
    Scenario,
    fit_learning_curve,
    load_scenario,
    macro_figure,
    simulate,
)
from robolabor.errors import UserError
from robolabor.experiments.runs import read_table, write_table
from robolabor.experiments.sweep import get_backend

__all__ = ["learning_curve_from_runs", "run_macro", "sweep_macro"]


def _run_human_mp(run_dir: Path) -> float | None:
    """The human benchmark MP of the run's own task (None when the run has no config)."""
    if not (run_dir / "config.yaml").is_file():
        return None
    from robolabor.experiments.config import load_config
    from robolabor.experiments.rollout import make_env

    cfg = load_config(run_dir / "config.yaml")
    return float(make_env(cfg.env.id, cfg.env.config).unwrapped.econ.human_mp)


def learning_curve_from_runs(run_dirs: Sequence, human_mp: float | None = None
                             ) -> LearningCurve:
    """Fit ``mp(steps)`` to every evaluation checkpoint of the runs, pooled (with seeds on a
    common schedule this is the fit to the across-seed mean).

    With ``human_mp`` (the scenario's), each run's MP is first expressed in the scenario's
    units through productivity parity, ``MP_r · human_mp / MP_h(run's task)``: a task that
    counts items where the scenario counts plates keeps its robot-to-human ratio.
    """
    steps, mp = [], []
    for d in run_dirs:
        rows = read_table(Path(d) / "evals.parquet")
        if not rows:
            raise EconInputError(f"{d}: no evaluation rows (evals.parquet missing or empty)")
        run_mp = _run_human_mp(Path(d)) if human_mp is not None else None
        scale = human_mp / run_mp if run_mp else 1.0
        steps += [float(r["step"]) for r in rows]
        mp += [float(r["mp"]) * scale for r in rows]
    if not steps:
        raise EconInputError("run_dirs: need at least one run directory to fit a learning curve")
    return fit_learning_curve(np.array(steps), np.array(mp))


def _curve_dict(curve: LearningCurve) -> dict:
    return {"mp_0": curve.mp_0, "mp_inf": curve.mp_inf, "tau": curve.tau, "unit": curve.unit,
            "rmse": curve.rmse, "n_points": curve.n_points}


def _simulate_job(scenario: dict, curve: dict | None, seed: int) -> dict:
    """One seed; plain data in and out, so it crosses process boundaries."""
    lc = LearningCurve(**curve) if curve else None
    res = simulate(Scenario.from_dict(scenario), lc, seed=seed)
    return {"seed": int(seed), "series": {k: np.asarray(v) for k, v in res.series.items()},
            "npv": float(res.npv), "sensitivity": res.sensitivity_table(),
            "curve": _curve_dict(res.learning_curve)}


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _sensitivity_markdown(rows: list[dict], scenario: Scenario) -> str:
    grid: dict[tuple, list[float]] = {}
    for r in rows:
        grid.setdefault((r["discount_rate_annual"], r["utilisation"], r["churn_monthly"]),
                        []).append(r["npv"])
    lines = [f"# NPV sensitivity — scenario `{scenario.name}`", "",
             f"Platform robot-backed cash flows over {scenario.months} months, nominal $, "
             f"mean over {len(next(iter(grid.values())))} seed(s). Base case: discount "
             f"{scenario.discount_rate_annual:g}/yr, utilisation {scenario.utilisation:g}, "
             f"churn {scenario.churn_monthly:g}/month.", "",
             "| discount rate (annual) | utilisation | churn (monthly) | NPV ($M) |",
             "|---:|---:|---:|---:|"]
    for (r, u, c), v in sorted(grid.items()):
        lines.append(f"| {r:g} | {u:g} | {c:g} | {np.mean(v) / 1e6:,.3f} |")
    return "\n".join(lines) + "\n"


def run_macro(scenario_path, out_dir, run_dirs: Sequence | None = None, seeds: int = 1,
              backend: str = "local", workers: int | None = None) -> dict[str, Any]:
    """Simulate one scenario for ``seeds`` establishment draws (0..seeds−1) and write the
    folder described in the module docstring; returns the ``macro.json`` summary."""
    if int(seeds) < 1:
        raise UserError(f"seeds: must be >= 1, got {seeds}")
    scenario = load_scenario(scenario_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_dirs = [str(Path(d)) for d in (run_dirs or [])]
    curve = learning_curve_from_runs(run_dirs, scenario.human_mp) if run_dirs else None
    jobs = [{"scenario": scenario.to_dict(), "curve": _curve_dict(curve) if curve else None,
             "seed": s} for s in range(int(seeds))]
    results = get_backend(backend, workers).map(_simulate_job, jobs)

    series_rows, sens_rows = [], []
    for r in results:
        cols = r["series"]
        n = len(cols["month"])
        series_rows += [{"seed": r["seed"], **{k: float(v[t]) if k != "month" else int(v[t])
                                               for k, v in cols.items()}} for t in range(n)]
        sens = r["sensitivity"]
        sens_rows += [{"seed": r["seed"], **{k: float(v[i]) for k, v in sens.items()}}
                      for i in range(len(sens["npv"]))]
    files = {"series": out / "macro.parquet", "figure": out / "macro.png",
             "sensitivity": out / "sensitivity.parquet",
             "sensitivity_md": out / "sensitivity.md", "summary": out / "macro.json"}
    write_table(files["series"], series_rows)
    write_table(files["sensitivity"], sens_rows)
    files["sensitivity_md"].write_text(_sensitivity_markdown(sens_rows, scenario))
    first = results[0]
    used = LearningCurve(**first["curve"])
    macro_figure(MacroResult(scenario=scenario, seed=first["seed"], learning_curve=used,
                             series=first["series"], npv=first["npv"],
                             sensitivity=first["sensitivity"]), files["figure"])

    def end(key: str) -> float:
        return float(np.mean([r["series"][key][-1] for r in results]))

    adoption = np.mean([r["series"]["adoption_share"] for r in results], axis=0)
    half = np.flatnonzero(adoption >= 0.5)
    npvs = [r["npv"] for r in results]
    summary = {
        "scenario": scenario.name, "scenario_path": str(scenario_path),
        "assumptions": scenario.to_dict(), "seeds": int(seeds),
        "learning_curve": {**first["curve"],
                           "source": "fitted to training runs" if run_dirs else "scenario",
                           "run_dirs": run_dirs},
        "npv": {"base_case": _finite(float(np.mean(npvs))), "per_seed": [_finite(v) for v in npvs],
                "min": _finite(min(npvs)), "max": _finite(max(npvs)),
                "discount_rate_annual": scenario.discount_rate_annual,
                "utilisation": scenario.utilisation, "churn_monthly": scenario.churn_monthly},
        "final_month": {k: _finite(end(k)) for k in (
            "adoption_share", "robot_output_share", "rho_ulc", "rho_hour", "wage_index",
            "real_wage", "labor_demand_index", "tfp", "robot_mp", "wage_parity")},
        "sector_price_change": _finite(float(np.mean(
            [r["series"]["sector_price"][-1] / r["series"]["sector_price"][0] - 1.0
             for r in results]))),
        "month_half_adoption": int(half[0]) if half.size else None,
        "files": {k: str(v) for k, v in files.items()},
    }
    files["summary"].write_text(json.dumps(summary, indent=2, allow_nan=False))
    return summary


def sweep_macro(scenario_paths: Sequence, out_dir, backend: str = "local",
                run_dirs: Sequence | None = None, seeds: int = 1,
                workers: int | None = None) -> dict[str, Any]:
    """``run_macro`` for each scenario in its own sub-folder (named after the file), fanned
    out over a sweep backend; writes ``sweep.json`` and a comparison ``sweep.md``."""
    paths = [Path(p) for p in scenario_paths]
    if not paths:
        raise UserError("scenario_paths: need at least one scenario file")
    for p in paths:
        load_scenario(p)  # fail before fanning out, with the file's own message
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names, seen = [], {}
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
        names.append(p.stem if seen[p.stem] == 1 else f"{p.stem}-{seen[p.stem]}")
    jobs = [{"scenario_path": str(p), "out_dir": str(out / n),
             "run_dirs": [str(d) for d in (run_dirs or [])], "seeds": int(seeds),
             "backend": "local", "workers": 1} for p, n in zip(paths, names, strict=True)]
    summaries = get_backend(backend, workers).map(run_macro, jobs)
    table = {n: s for n, s in zip(names, summaries, strict=True)}
    lines = ["# Scenario sweep", "",
             "| scenario | NPV base case ($M) | adoption at end | ρ_ULC at end | ρ_hour at end "
             "| month of 50% adoption | real wage at end ($/h) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    def num(x, spec=".3f", scale=1.0):
        return "—" if x is None else format(x / scale if scale != 1.0 else x, spec)

    for n, s in table.items():
        f = s["final_month"]
        lines.append(f"| {n} | {num(s['npv']['base_case'], ',.3f', 1e6)} "
                     f"| {num(f['adoption_share'])} | {num(f['rho_ulc'])} "
                     f"| {num(f['rho_hour'])} | {num(s['month_half_adoption'], 'd')} "
                     f"| {num(f['real_wage'], '.2f')} |")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    result = {"scenarios": table, "files": {"summary": str(out / "sweep.json"),
                                            "markdown": str(out / "sweep.md")}}
    (out / "sweep.json").write_text(json.dumps(result, indent=2, allow_nan=False))
    return result
