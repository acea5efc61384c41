"""Ledgers of training runs: every evaluation checkpoint of a run, priced once.

A run's ``evals.parquet`` keeps, per checkpoint, the raw per-episode counts by
dish type of deterministic evaluation episodes (on the same seeds at every
checkpoint, unless the run is a fresh-episode control). ``price_run`` turns
them into per-episode windows → ΔMPL between consecutive checkpoints (paired
by episode, with a 95% interval) → spread allocation → the customer price of a
pricing rule, and keeps the result in a ``PricedRun`` that the claims runner,
the report and the macro loop take as it is (nothing is priced twice).

Real output values good units at the task's own prices (the base period is the
task's price list, constant over a run); the human benchmark's hour is
``human_mp`` items of the task's benchmark mix (``human_mix_of``).

Customer-data attribution (``data_value.json`` in the run directory, written by
a data-value layer)::

    {"delta_mpl_cust": {"<step>": 1.25,
                        "<step>": {"mean": 0.8, "ci_low": 0.1, "ci_high": 1.5}}}

Each key is a checkpoint's ``step``; the value is the part of ΔMPL_total(step)
(units/h, from the previous checkpoint) that the customer's data caused. Absent
means 0; a value whose interval includes 0 counts as 0, and so does a
ΔMPL_total whose interval includes 0: a share of noise is attributed to nobody.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from robolabor.econ import (
    RULES,
    EconInputError,
    Ledger,
    PricingLedger,
    allocate_ledger,
    delta_mpl,
    price_windows,
    window_ledger,
)
from robolabor.econ.output import (
    human_real_output,
    laspeyres_quantity,
    tornqvist_quantity,
    ulc_ratio,
    unit_labor_cost,
)
from robolabor.experiments import runs
from robolabor.experiments.config import RunConfig
from robolabor.experiments.runs import RunDir, read_table, write_table

__all__ = ["DATA_VALUE_FILE", "LEDGER_FILE", "MEASURES", "TaskEconomics", "task_economics",
           "human_mix_of", "load_data_value", "PricedCheckpoint", "PricedRun", "price_run",
           "price_runs", "concat_pricing", "rho_series", "rho_of_totals", "episode_ledger",
           "checkpoint_ledgers", "write_ledgers", "open_record",
           "make_task_env"]

DATA_VALUE_FILE = "data_value.json"
LEDGER_FILE = "ledger_evals.parquet"
_LIST_COLUMNS = ("good_by_type_episodes", "broken_by_type_episodes", "hours_episodes",
                 "operating_cost_episodes")
MEASURES = ("items", "laspeyres", "tornqvist")


def open_record(run_dir) -> tuple[RunDir, RunConfig]:
    """A run's directory and sealed config (the hash is checked by ``runs.open_run``)."""
    opened = runs.open_run(run_dir, load_agent=False)
    return opened.run, opened.cfg


def make_task_env(cfg: RunConfig):
    from robolabor.experiments.rollout import make_env

    return make_env(cfg.env.id, cfg.env.config)


def human_mix_of(params) -> np.ndarray:
    """The item mix of the task's human benchmark.

    The shift task states its benchmark as ``human_mp`` plates an hour (a plate-only
    hour, paid its value: 240 × $0.075 = $18); the classic task has one product.
    Hence a one-hot vector on the type named ``plate`` (the first type otherwise).
    """
    types = getattr(params, "dish_types", None)
    if not types:
        return np.ones(1)
    names = [t.name for t in types]
    mix = np.zeros(len(names))
    mix[names.index("plate") if "plate" in names else 0] = 1.0
    return mix


@dataclass(frozen=True)
class TaskEconomics:
    """Prices, damage costs and the human benchmark of a run's own task."""

    prices: np.ndarray
    damage_costs: np.ndarray
    human_wage: float
    human_mp: float
    human_mix: np.ndarray
    type_names: tuple[str, ...]
    arrival_mix: np.ndarray
    sla: float
    hours_per_step: float


def task_economics(cfg: RunConfig, human_mix=None) -> TaskEconomics:
    env = make_task_env(cfg)
    try:
        u = env.unwrapped
        econ, params = u.econ, u.params
        shares = (np.asarray(params.type_shares, float) if hasattr(params, "type_shares")
                  else np.ones(1))
        mix = human_mix_of(params) if human_mix is None else np.asarray(human_mix, float)
        return TaskEconomics(np.asarray(econ.prices, float), np.asarray(econ.damage_costs, float),
                             float(econ.human_wage), float(econ.human_mp), mix,
                             tuple(econ.type_names), shares, float(u.sla),
                             float(econ.hours_per_step))
    finally:
        env.close()


def load_data_value(run_dir) -> dict[int, float]:
    """ΔMPL_cust per checkpoint step from ``data_value.json`` (module docstring); {} when
    the run has no customer data. Values not credibly above 0 become 0."""
    path = Path(run_dir) / DATA_VALUE_FILE
    if not path.is_file():
        return {}
    try:
        blob = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise EconInputError(f"{path}: not valid JSON ({exc})") from None
    table = blob.get("delta_mpl_cust") if isinstance(blob, dict) else None
    if not isinstance(table, dict):
        raise EconInputError(f"{path}: expected an object with a 'delta_mpl_cust' mapping "
                             "of checkpoint step -> value")
    out: dict[int, float] = {}
    for key, value in table.items():
        try:
            step = int(key)
        except ValueError:
            raise EconInputError(f"{path}: delta_mpl_cust key {key!r} is not a step") from None
        low = None
        if isinstance(value, dict):
            if "mean" not in value:
                raise EconInputError(f"{path}: delta_mpl_cust[{key}] needs a 'mean'")
            low = value.get("ci_low")
            value = value["mean"]
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise EconInputError(f"{path}: delta_mpl_cust[{key}] must be a finite number, "
                                 f"got {value!r}")
        significant = value > 0 and (low is None or float(low) > 0)
        out[step] = float(value) if significant else 0.0
    return out


def episode_ledger(good, broken, hours, operating_cost, task: TaskEconomics) -> Ledger:
    """Windows of per-episode counts ((N, K) good and broken) on the task's economics."""
    return window_ledger(good=np.asarray(good, float), broken=np.asarray(broken, float),
                         hours=np.asarray(hours, float), prices=task.prices,
                         damage_costs=task.damage_costs,
                         operating_cost=np.asarray(operating_cost, float),
                         human_wage=task.human_wage, human_mp=task.human_mp,
                         human_mix=task.human_mix)


def _row_ledger(row: dict, task: TaskEconomics) -> Ledger:
    missing = [k for k in _LIST_COLUMNS if row.get(k) is None]
    if missing:
        raise EconInputError(f"evals row at step {row.get('step')}: missing per-episode "
                             f"column(s) {missing}; re-evaluate the run with a current trainer")
    return episode_ledger(row["good_by_type_episodes"], row["broken_by_type_episodes"],
                          row["hours_episodes"], row["operating_cost_episodes"], task)


@dataclass(frozen=True)
class PricedCheckpoint:
    step: int
    ledger: Ledger
    pricing: PricingLedger
    good_by_type: np.ndarray    # (N, K) per-episode good units
    broken_by_type: np.ndarray  # (N, K) per-episode broken units
    row: dict                 # means of the ledger and the pricing (``checkpoint_ledgers``)


@dataclass(frozen=True)
class PricedRun:
    run_dir: str
    seed: int
    config: RunConfig
    task: TaskEconomics
    pricing_rule: str
    eps_parity: float
    base_fee: float
    checkpoints: tuple[PricedCheckpoint, ...]
    control: str | None

    @property
    def steps(self) -> list[int]:
        return [c.step for c in self.checkpoints]


def _mean(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(x.mean()) if x.size else float("nan")


def _summary(step, seed, led, priced, alloc, rule, eps, fee, d, cust_val, cust_source) -> dict:
    c_total = float(priced.capture.sum())
    cost = float((priced.price * priced.hours).sum())
    return {
        "step": int(step), "seed": int(seed), "n_episodes": led.n,
        "pricing": rule, "eps_parity": float(eps), "base_fee": float(fee),
        "mp": _mean(led.mp), "error_rate": _mean(led.error_rate),
        "pooled_error_rate": float(led.broken.sum() / max(led.attempts.sum(), 1.0)),
        "implied_wage": _mean(led.implied_wage), "wage_parity": _mean(led.wage_parity),
        "profit_per_hour": _mean(led.profit_per_hour), "human_wage": _mean(led.human_wage),
        "real_output_per_hour": float(led.real_output.sum() / led.hours.sum()),
        "price": _mean(priced.price), "customer_payment": _mean(priced.customer_payment),
        "customer_gain": _mean(priced.customer_gain),
        "platform_margin": _mean(priced.platform_margin),
        "platform_premium": _mean(priced.platform_premium),
        "capture_realised": _mean(priced.capture_realised),
        "capture_unrealised": _mean(priced.capture_unrealised),
        "capture_realised_fraction": (float(priced.capture_realised.sum()) / c_total
                                      if c_total > 0 else float("nan")),
        "cs_per_hour": _mean(priced.cs_per_hour),
        "cs_per_hour_signed": _mean(priced.cs_per_hour_signed),
        "cs_per_unit": _mean(priced.cs_per_unit),
        "cs_per_unit_signed": _mean(priced.cs_per_unit_signed),
        # checkpoint unit labor costs: total labor cost over total output of the evaluation
        "ulc_robot_items": float(unit_labor_cost(cost, led.good.sum())[0]),
        "ulc_human_items": _mean(led.ulc_human_items),
        "ulc_robot_real": float(unit_labor_cost(cost, led.real_output.sum())[0]),
        "ulc_human_real": _mean(led.ulc_human_real),
        "rho_ulc_items": float(ulc_ratio(cost, led.good.sum(), led.human_wage[0],
                                         led.human_mp[0])[0]),
        "rho_ulc_real": float(ulc_ratio(cost, led.real_output.sum(), led.human_wage[0],
                                        led.human_real_output[0])[0]),
        "rho_hour": _mean(priced.rho_hour),
        "spread_value": _mean(priced.spread_value), "rebate": _mean(priced.rebate),
        "capture": _mean(priced.capture),
        "s_cust": _mean(alloc.s_cust), "s_plat": _mean(alloc.s_plat),
        "share_above_threshold": _mean(priced.above_threshold),
        "delta_mpl_total": d[0], "delta_mpl_total_ci_low": d[1],
        "delta_mpl_total_ci_high": d[2], "delta_mpl_total_significant": bool(d[3]),
        "delta_mpl_cust": float(cust_val), "delta_mpl_cust_source": cust_source,
        "s_cust_reason": s_cust_reason(cust_source != "none", cust_val, bool(d[3]),
                                       bool(np.any(alloc.above_threshold))),
    }


def s_cust_reason(has_data: bool, cust_val: float, total_significant: bool,
                  above_threshold: bool) -> str:
    """Why a checkpoint's customer share is what it is, in one phrase for the ledger."""
    if not has_data:
        return f"no customer data pack measured for this run (no {DATA_VALUE_FILE}): s_cust = 0"
    if cust_val <= 0:
        return ("no credible customer gain at this checkpoint (none measured, or its "
                "interval reaches 0): s_cust = 0")
    if not total_significant:
        return "ΔMPL_total at this checkpoint is not above 0 beyond noise: no gain to split"
    if not above_threshold:
        return "parity below the threshold: no spread to split"
    return "measured customer ΔMPL over measured ΔMPL_total"


def price_run(run_dir, pricing: str | None = None, eps_parity: float | None = None,
              base_fee: float | None = None, human_mix=None) -> PricedRun:
    """Every evaluation checkpoint of a run, priced with ``pricing`` (default: the run's own
    ``econ.pricing``; likewise ``econ.eps_parity`` and ``econ.base_fee``).

    Per checkpoint t: ``ΔMPL_total(t)`` is the paired change in per-episode MP from t−1
    (common seeds), counted only when its 95% interval lies above 0; ``s_cust =
    clip(ΔMPL_cust/ΔMPL_total, 0, 1)``; then the allocation and the price of each window.
    """
    run, cfg = open_record(run_dir)
    rule = cfg.econ.pricing if pricing is None else pricing
    eps = cfg.econ.eps_parity if eps_parity is None else float(eps_parity)
    fee = cfg.econ.base_fee if base_fee is None else float(base_fee)
    if rule not in RULES:
        raise EconInputError(f"pricing: unknown rule {rule!r}; choose from {sorted(RULES)}")
    rows = sorted(read_table(run.evals_path), key=lambda r: r["step"])
    task = task_economics(cfg, human_mix)
    cust = load_data_value(run.path)
    fresh = bool(cfg.train.eval_fresh_episodes)
    out: list[PricedCheckpoint] = []
    prev: Ledger | None = None
    for row in rows:
        led = _row_ledger(row, task)
        d = (float("nan"), float("nan"), float("nan"), False)
        if prev is not None and prev.n == led.n and led.n >= 2 and not fresh:
            dm = delta_mpl(prev.mp, led.mp)
            d = (dm.mean, dm.ci_low, dm.ci_high, dm.significant_gain)
        cust_val = cust.get(int(row["step"]), 0.0)
        alloc = allocate_ledger(led, delta_mpl_cust=cust_val,
                                delta_mpl_total=d[0] if d[3] else 0.0, eps_parity=eps)
        priced = price_windows(rule, led, alloc, fee)
        summary = _summary(row["step"], cfg.train.seed, led, priced, alloc, rule, eps, fee, d,
                           cust_val, DATA_VALUE_FILE if cust else "none")
        out.append(PricedCheckpoint(int(row["step"]), led, priced,
                                    np.asarray(row["good_by_type_episodes"], float),
                                    np.asarray(row["broken_by_type_episodes"], float), summary))
        prev = led
    control = run.read_meta().get("control")
    return PricedRun(str(run.path), int(cfg.train.seed), cfg, task, rule, eps, fee, tuple(out),
                     control)


def price_runs(run_dirs, pricing: str | None = None, eps_parity: float | None = None,
               base_fee: float | None = None, human_mix=None) -> list[PricedRun]:
    runs = []
    for d in run_dirs:
        r = price_run(d, pricing, eps_parity, base_fee, human_mix)
        if not r.checkpoints:
            raise EconInputError(f"{d}: no evaluation rows in evals.parquet")
        runs.append(r)
    rules = {r.pricing_rule for r in runs}
    if len(rules) > 1:
        raise EconInputError(f"runs: priced with different rules {sorted(rules)}; pass one")
    return runs


def concat_pricing(ledgers) -> PricingLedger:
    """Windows of several priced sets (one rule, one base fee) as one."""
    first = ledgers[0]
    cols = {f.name: np.concatenate([np.asarray(getattr(p, f.name)) for p in ledgers])
            for f in fields(PricingLedger) if f.name not in ("rule", "base_fee")}
    return PricingLedger(rule=first.rule, base_fee=first.base_fee, **cols)


def rho_series(runs: list[PricedRun], measure: str = "laspeyres"):
    """(steps, ρ_ULC, ρ_hour) on the checkpoints every run evaluated: (n_runs, n_steps)."""
    if measure not in MEASURES:
        raise EconInputError(f"measure: must be one of {MEASURES}, got {measure!r}")
    common = sorted(set.intersection(*(set(r.steps) for r in runs))) if runs else []
    rho, hour = [], []
    for r in runs:
        cks = [c for c in r.checkpoints if c.step in common]
        rho.append(_rho_for_run(cks, r.task, measure) if cks else np.zeros(0))
        hour.append([c.row["rho_hour"] for c in cks])
    n = len(runs)
    return common, np.array(rho, float).reshape(n, len(common)), \
        np.array(hour, float).reshape(n, len(common))


def _rho_for_run(cks, task: TaskEconomics, measure: str) -> np.ndarray:
    cost = np.array([float((c.pricing.price * c.pricing.hours).sum()) for c in cks])
    return rho_of_totals(cost, np.stack([c.good_by_type.sum(axis=0) for c in cks]), task,
                         measure)


def rho_of_totals(cost, good_by_type, task: TaskEconomics, measure: str) -> np.ndarray:
    """ρ_ULC of T evaluations on one output measure, from their totals: labor cost
    ``Σ_i P_i H_i`` (T,) and good units by type (T, K):
    ``ρ_t = (cost_t / Q_t) / (w_h / Q_h)`` with Q_t the good items and Q_h = MP_h
    (``items``), or Q_t the real output at base prices (``laspeyres``) or the chained
    Törnqvist level across the T evaluations (``tornqvist``), and Q_h the real output of
    a human hour."""
    qk = np.asarray(good_by_type, float)
    if measure == "items":
        q, q_h = qk.sum(axis=1), task.human_mp
    else:
        q = (laspeyres_quantity(qk, task.prices) if measure == "laspeyres"
             else tornqvist_quantity(qk, task.prices))
        q_h = float(human_real_output(task.human_mp, task.human_mix, task.prices)[0])
    return ulc_ratio(np.asarray(cost, float), q, task.human_wage, q_h)


def checkpoint_ledgers(run_dir, pricing: str | None = None, eps_parity: float | None = None,
                       base_fee: float | None = None) -> list[dict]:
    """One dict of ledger means per evaluation checkpoint of a run, oldest first.

    Money is $ per episode window unless the name says per hour/unit; ``rho_*`` and
    ``s_*`` are ratios; ``rho_ulc_items`` and ``rho_ulc_real`` are the checkpoint's unit
    labor cost (total paid / total output) over the human's, on items and on real output.
    ``delta_mpl_total`` is the paired change in MP from the previous checkpoint (NaN at
    the first, when the episode counts differ, or on fresh-episode evaluations) with its
    95% interval; ``capture_realised`` is the part of C received as cash.
    """
    return [c.row for c in price_run(run_dir, pricing, eps_parity, base_fee).checkpoints]


def write_ledgers(run_dir, pricing: str | None = None, eps_parity: float | None = None,
                  base_fee: float | None = None) -> Path:
    """Write ``ledger_evals.parquet`` (one row per checkpoint) into the run directory."""
    rows = checkpoint_ledgers(run_dir, pricing, eps_parity, base_fee)
    path = Path(run_dir) / LEDGER_FILE
    write_table(path, rows)
    return path
