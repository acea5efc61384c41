"""Sector simulations from scenario files, with their outputs on disk.

``run_macro`` turns one scenario into a folder::

    OUT/
      macro.parquet        monthly series, one row per (seed, month)
      macro.png            adoption, wages, ρ, prices, TFP, platform cash flow (seed 0)
      sensitivity.parquet  NPV over the grid of discount rate × utilisation × churn, per seed
      sensitivity.md       the same grid, NPV averaged over seeds, as a Markdown table
      macro.json           summary: scenario, learning curve and its source, NPV, end state

Scenario files are validated by the same schema as run configs (an unknown key, a
wrong type or a value out of range is a ``ConfigError`` naming it). With
``run_dirs`` the robot is the runs' own (``scenario_from_runs``): their prices,
damage costs, dish mix and per-type error rates at the last common checkpoint, their
human benchmark (wage, items per hour, mix), operating cost, and a learning curve
fitted to their evaluated MP in the runs' own units, read from the last checkpoint's
step on (``initial_env_steps``), so month 0 is the trained robot. Seeds
(establishment draws) and scenario sweeps fan out over the sweep backends.
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
    macro_figure,
    simulate,
)
from robolabor.econ.stats import mean_interval
from robolabor.errors import UserError
from robolabor.experiments.runs import read_table, write_table
from robolabor.experiments.sweep import get_backend
from robolabor.schema import ConfigError, from_dict

__all__ = ["load_scenario", "scenario_from_dict", "learning_curve_from_runs",
           "scenario_from_runs", "runs_wage_parity", "run_macro", "sweep_macro"]


def scenario_from_dict(data: dict, where: str = "scenario") -> Scenario:
    """A Scenario validated by the run-config schema (types, ranges, unknown keys)."""
    try:
        sc = from_dict(Scenario, data)
        sc.check_types()
    except (ConfigError, EconInputError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return sc


def load_scenario(path) -> Scenario:
    """Read a scenario YAML file (``configs/macro/*.yaml``) into a validated Scenario."""
    from robolabor.experiments.config import read_yaml_mapping

    data = read_yaml_mapping(path, "scenario file", "scenario keys")
    return scenario_from_dict(data, str(path))


def learning_curve_from_runs(run_dirs: Sequence) -> LearningCurve:
    """Fit ``mp(steps)`` to every evaluation checkpoint of the runs, pooled (with seeds on a
    common schedule this is the fit to the across-seed mean), in the runs' own units."""
    steps, mp = [], []
    for d in run_dirs:
        rows = read_table(Path(d) / "evals.parquet")
        if not rows:
            raise EconInputError(f"{d}: no evaluation rows (evals.parquet missing or empty)")
        steps += [float(r["step"]) for r in rows]
        mp += [float(r["mp"]) for r in rows]
    if not steps:
        raise EconInputError("run_dirs: need at least one run directory to fit a learning curve")
    return fit_learning_curve(np.array(steps), np.array(mp))


def runs_wage_parity(runs) -> dict:
    """Wage parity of the runs' last common checkpoint: mean over seeds of each run's
    evaluation mean, with a 95% t-interval across seeds (one run: its episodes')."""
    last = min(r.steps[-1] for r in runs)
    per = [next(c for c in r.checkpoints if c.step == last) for r in runs]
    if len(per) >= 2:
        v = np.array([float(np.mean(c.ledger.wage_parity)) for c in per])
    else:
        v = np.asarray(per[0].ledger.wage_parity, float)
    m, lo, hi, _ = mean_interval(v)
    return {"step": int(last), "mean": m, "ci": [lo, hi], "n": int(len(v))}


def scenario_from_runs(scenario: Scenario, runs) -> tuple[Scenario, LearningCurve]:
    """The scenario with the runs' robot (module docstring) and its fitted learning curve.
    ``runs``: priced runs of one task (``ledgers.price_runs``)."""
    if not runs:
        raise EconInputError("runs: need at least one priced run")
    task = runs[0].task
    last = min(r.steps[-1] for r in runs)
    cks = [next(c for c in r.checkpoints if c.step == last) for r in runs]
    good = sum(c.good_by_type.sum(axis=0) for c in cks)
    broken = sum(c.broken_by_type.sum(axis=0) for c in cks)
    attempted = good + broken
    err = np.divide(broken, attempted, out=np.zeros_like(good), where=attempted > 0)
    op = float(np.mean([np.mean(c.ledger.operating_cost_per_hour) for c in cks]))
    steps = np.concatenate([[c.step for c in r.checkpoints] for r in runs]).astype(float)
    mp = np.concatenate([[float(np.mean(c.ledger.mp)) for c in r.checkpoints] for r in runs])
    curve = fit_learning_curve(steps, mp)
    changes = {
        "output_prices": [float(x) for x in task.prices],
        "damage_costs": [float(x) for x in task.damage_costs],
        "dish_mix": [float(x) for x in good / good.sum()],
        "error_rates": [float(x) for x in np.minimum(err, 0.99)],
        "human_mix": [float(x) for x in task.human_mix],
        "initial_human_wage": task.human_wage, "human_mp": task.human_mp,
        "robot_operating_cost": op, "initial_env_steps": float(last),
        "eps_parity": runs[0].eps_parity,
    }
    data = {**scenario.to_dict(), **changes}
    return scenario_from_dict(data, f"scenario {scenario.name!r} with the runs' robot"), curve


def _curve_dict(curve: LearningCurve) -> dict:
    return {"mp_0": curve.mp_0, "mp_inf": curve.mp_inf, "tau": curve.tau, "unit": curve.unit,
            "rmse": curve.rmse, "n_points": curve.n_points}


def _simulate_job(scenario: dict, curve: dict | None, seed: int) -> dict:
    """One seed; plain data in and out, so it crosses process boundaries."""
    lc = LearningCurve(**curve) if curve else None
    res = simulate(scenario_from_dict(scenario), lc, seed=seed)
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
    curve, parity = None, None
    if run_dirs:
        from robolabor.experiments.ledgers import price_runs

        runs = price_runs(run_dirs)
        scenario, curve = scenario_from_runs(scenario, runs)
        parity = runs_wage_parity(runs)
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
        "runs_wage_parity": parity,
        "month0_wage_parity": _finite(float(first["series"]["wage_parity"][0])),
        "npv": {"base_case": _finite(float(np.mean(npvs))), "per_seed": [_finite(v) for v in npvs],
                "min": _finite(min(npvs)), "max": _finite(max(npvs)),
                "discount_rate_annual": scenario.discount_rate_annual,
                "utilisation": scenario.utilisation, "churn_monthly": scenario.churn_monthly},
        "final_month": {k: _finite(end(k)) for k in (
            "adoption_share", "robot_output_share", "rho_ulc_items", "rho_ulc_real", "rho_hour",
            "wage_index",
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
             "| scenario | NPV base case ($M) | adoption at end | ρ_ULC (real output) at end "
             "| ρ_hour at end "
             "| month of 50% adoption | real wage at end ($/h) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    def num(x, spec=".3f", scale=1.0):
        return "—" if x is None else format(x / scale if scale != 1.0 else x, spec)

    for n, s in table.items():
        f = s["final_month"]
        lines.append(f"| {n} | {num(s['npv']['base_case'], ',.3f', 1e6)} "
                     f"| {num(f['adoption_share'])} | {num(f['rho_ulc_real'])} "
                     f"| {num(f['rho_hour'])} | {num(s['month_half_adoption'], 'd')} "
                     f"| {num(f['real_wage'], '.2f')} |")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    result = {"scenarios": table, "files": {"summary": str(out / "sweep.json"),
                                            "markdown": str(out / "sweep.md")}}
    (out / "sweep.json").write_text(json.dumps(result, indent=2, allow_nan=False))
    return result
