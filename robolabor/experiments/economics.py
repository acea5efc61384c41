"""The economics of real training runs: per-checkpoint ledgers and the four claims.

A run's ``evals.parquet`` keeps, per evaluation checkpoint, the raw per-episode
counts of deterministic episodes played on the *same* seeds at every checkpoint
(common random numbers). From those counts alone this module rebuilds every
ledger of ECONOMICS.md: per-episode windows → ΔMPL between consecutive
checkpoints (paired by episode, with a CI) → spread allocation → the customer
price of a pricing rule. Nothing is read from the training episodes: two noisy
training episodes are exactly the comparison the prototype got wrong.

Customer-data attribution contract (``data_value.json`` in the run directory,
written by the data-value layer)::

    {"delta_mpl_cust": {"<step>": 1.25,
                        "<step>": {"mean": 0.8, "ci_low": 0.1, "ci_high": 1.5}}}

Each key is an evaluation checkpoint's ``step``; the value is the part of
ΔMPL_total(step) (units/h, from the previous checkpoint to this one) that the
customer's data pack caused, as a number or a mean with an optional interval.
A step that is absent, or a file that is absent, means ΔMPL_cust = 0. A value
whose interval includes 0 counts as 0, and a ΔMPL_total whose interval
includes 0 counts as no gain (as in ``robolabor.econ.shares_from_deltas``): a share
of noise is attributed to nobody, so the platform's share is then 1.

The negative control for claim 4 is ``frozen_control_run``: the same pipeline
with learning switched off.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.econ import (
    RULES,
    ClaimResult,
    EconInputError,
    Ledger,
    PricingLedger,
    allocate_ledger,
    check_pricing_claims,
    claim_revenue_by_intervention,
    claim_structural_deflation,
    claims_figure,
    delta_mpl,
    price_windows,
    window_ledger,
)
from robolabor.experiments.config import RunConfig
from robolabor.experiments.runs import CheckpointError, RunDir, open_run, read_table, write_table

__all__ = ["DATA_VALUE_FILE", "LEDGER_FILE", "checkpoint_ledgers", "write_ledgers",
           "load_data_value", "claim_speed_intervention", "claims_for_runs",
           "write_claims_report", "frozen_control_run"]

DATA_VALUE_FILE = "data_value.json"
LEDGER_FILE = "ledger_evals.parquet"
_LIST_COLUMNS = ("good_by_type_episodes", "broken_by_type_episodes", "hours_episodes",
                 "operating_cost_episodes")


# --------------------------------------------------------------------------- inputs

def _open(run_dir) -> tuple[RunDir, RunConfig]:
    opened = open_run(run_dir, load_agent=False)
    return opened.run, opened.cfg


def _env_econ(cfg: RunConfig):
    """The run's prices, damage costs and human benchmark, from its own environment."""
    from robolabor.experiments.rollout import make_env

    env = make_env(cfg.env.id, cfg.env.config)
    try:
        return env.unwrapped.econ
    finally:
        env.close()


def load_data_value(run_dir) -> dict[int, float]:
    """ΔMPL_cust per checkpoint step from ``data_value.json`` (see the module docstring);
    {} when the run has no customer data. Values not credibly above 0 become 0."""
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


def _episode_ledger(row: dict, econ) -> Ledger:
    missing = [k for k in _LIST_COLUMNS if row.get(k) is None]
    if missing:
        raise EconInputError(f"evals row at step {row.get('step')}: missing per-episode "
                             f"column(s) {missing}; re-evaluate the run with a current trainer")
    return window_ledger(
        good=np.asarray(row["good_by_type_episodes"], dtype=float),
        broken=np.asarray(row["broken_by_type_episodes"], dtype=float),
        hours=np.asarray(row["hours_episodes"], dtype=float),
        prices=np.asarray(econ.prices, dtype=float),
        damage_costs=np.asarray(econ.damage_costs, dtype=float),
        operating_cost=np.asarray(row["operating_cost_episodes"], dtype=float),
        human_wage=float(econ.human_wage),
        human_mp=float(econ.human_mp),
    )


@dataclass(frozen=True)
class _Checkpoint:
    step: int
    ledger: Ledger
    pricing: PricingLedger
    row: dict


def _mean(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(x.mean()) if x.size else float("nan")


def _priced_checkpoints(run_dir, pricing: str, eps_parity: float,
                        base_fee: float) -> list[_Checkpoint]:
    """Every evaluation checkpoint of a run, priced; the per-episode arrays are kept."""
    if pricing not in RULES:
        raise EconInputError(f"pricing: unknown rule {pricing!r}; choose from {sorted(RULES)}")
    run, cfg = _open(run_dir)
    rows = sorted(read_table(run.evals_path), key=lambda r: r["step"])
    if not rows:
        return []
    econ = _env_econ(cfg)
    cust = load_data_value(run.path)
    out: list[_Checkpoint] = []
    prev: Ledger | None = None
    for row in rows:
        led = _episode_ledger(row, econ)
        d_mean = d_lo = d_hi = float("nan")
        d_sig = False
        if prev is not None and prev.n == led.n and led.n >= 2:
            d = delta_mpl(prev.mp, led.mp)
            d_mean, d_lo, d_hi, d_sig = d.mean, d.ci_low, d.ci_high, d.significant_gain
        # a gain whose interval includes 0 is no gain; then nothing is attributed
        total_eff = d_mean if d_sig else 0.0
        cust_val = cust.get(int(row["step"]), 0.0)
        alloc = allocate_ledger(led, delta_mpl_cust=cust_val, delta_mpl_total=total_eff,
                                eps_parity=eps_parity)
        priced = price_windows(pricing, led, alloc, base_fee)
        c_total = float(priced.capture.sum())
        summary = {
            "step": int(row["step"]), "seed": int(cfg.train.seed), "n_episodes": led.n,
            "pricing": pricing, "eps_parity": float(eps_parity), "base_fee": float(base_fee),
            "mp": _mean(led.mp), "error_rate": _mean(led.error_rate),
            "implied_wage": _mean(led.implied_wage), "wage_parity": _mean(led.wage_parity),
            "profit_per_hour": _mean(led.profit_per_hour), "human_wage": _mean(led.human_wage),
            "price": _mean(priced.price),
            "customer_payment": _mean(priced.customer_payment),
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
            "ulc_robot": _mean(priced.ulc_robot), "ulc_human": _mean(priced.ulc_human),
            "rho_ulc": _mean(priced.rho_ulc), "rho_hour": _mean(priced.rho_hour),
            "spread_value": _mean(priced.spread_value), "rebate": _mean(priced.rebate),
            "capture": _mean(priced.capture),
            "s_cust": _mean(alloc.s_cust), "s_plat": _mean(alloc.s_plat),
            "share_above_threshold": _mean(priced.above_threshold),
            "delta_mpl_total": d_mean, "delta_mpl_total_ci_low": d_lo,
            "delta_mpl_total_ci_high": d_hi, "delta_mpl_total_significant": bool(d_sig),
            "delta_mpl_cust": float(cust_val),
            "delta_mpl_cust_source": DATA_VALUE_FILE if cust else "none",
        }
        out.append(_Checkpoint(int(row["step"]), led, priced, summary))
        prev = led
    return out


# --------------------------------------------------------------------------- ledgers

def checkpoint_ledgers(run_dir, pricing: str = "capped", eps_parity: float = 0.05,
                       base_fee: float = 0.0) -> list[dict]:
    """One dict of ledger means per evaluation checkpoint of a run, oldest first.

    Money is $ per episode window unless the name says per hour/unit; ``rho_*`` and
    ``s_*`` are ratios. ``delta_mpl_total`` is the paired change in MP from the
    previous checkpoint (NaN at the first, or when the episode counts differ) with
    its 95% interval; ``capture_realised`` is the part of C received as cash.
    """
    return [c.row for c in _priced_checkpoints(run_dir, pricing, eps_parity, base_fee)]


def write_ledgers(run_dir, pricing: str = "capped", eps_parity: float = 0.05,
                  base_fee: float = 0.0) -> Path:
    """Write ``ledger_evals.parquet`` (one row per checkpoint) into the run directory."""
    rows = checkpoint_ledgers(run_dir, pricing, eps_parity, base_fee)
    path = Path(run_dir) / LEDGER_FILE
    write_table(path, rows)
    return path


# --------------------------------------------------------------------------- claim 3

def _iso_error_care(params, speed: np.ndarray, care: np.ndarray,
                    new_speed: np.ndarray) -> np.ndarray:
    """Care that keeps the speed-induced error risk ``s^q_s·(1 − e·c)^q_c`` unchanged at a
    new speed, so two policies differ in speed and not in quality (e = care_effect; the
    classic task has e = 1). Clipped to [0, 1]; the claim checks the error rates anyway."""
    q_s, q_c = float(params.q_speed), float(params.q_care)
    e = float(getattr(params, "care_effect", 1.0))
    if e <= 0:
        return care
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(new_speed > 0, speed / np.maximum(new_speed, 1e-12), 1.0)
    keep = (1.0 - e * care) * ratio ** (q_s / q_c)
    return np.clip((1.0 - keep) / e, 0.0, 1.0)


def _load_agent(run: RunDir, cfg: RunConfig, env, checkpoint: str | None):
    opened = open_run(run.path, checkpoint)
    return opened.agent, opened.checkpoint.name, int(opened.state["step"])


def _arm_totals(tallies, econ, s_plat, pricing, eps_parity, base_fee):
    led = window_ledger(np.stack([t.good for t in tallies]), np.stack([t.broken for t in tallies]),
                        np.array([t.steps * econ.hours_per_step for t in tallies]),
                        np.asarray(econ.prices, float), np.asarray(econ.damage_costs, float),
                        np.array([t.operating_cost for t in tallies]), float(econ.human_wage),
                        float(econ.human_mp))
    alloc = allocate_ledger(led, 1.0 - s_plat, 1.0, eps_parity)
    priced = price_windows(pricing, led, alloc, base_fee)
    arm = {"good": np.stack([t.good for t in tallies]),
           "broken": np.stack([t.broken for t in tallies]), "hours": led.hours}
    return arm, priced


def claim_speed_intervention(run_dir, pricing: str = "capped", slow_factor: float = 0.8,
                             episodes: int = 64, seed: int | None = None,
                             eps_parity: float = 0.05, base_fee: float = 0.0,
                             checkpoint: str | None = None) -> ClaimResult:
    """Claim 3 by intervention on a run's final (or named) policy checkpoint.

    ``faster`` is the run's deterministic policy; ``base`` is the same policy with its
    speed multiplied by ``slow_factor`` and its care re-solved so the error probability
    is unchanged. Both play the same episode seeds (default: the run's eval seeds, so
    the arms share their random numbers). The platform's share is the run's own at
    that checkpoint (1 without customer data). The numbers add the change in C
    actually received as cash under ``pricing`` (0 above parity under ``capped``).
    """
    from robolabor.experiments.rollout import make_env, run_episodes

    if not 0 < slow_factor < 1:
        raise EconInputError(f"slow_factor: must lie in (0, 1), got {slow_factor}")
    if episodes < 2:
        raise EconInputError(f"episodes: need at least 2 paired episodes, got {episodes}")
    run, cfg = _open(run_dir)
    import torch

    torch.set_num_threads(cfg.train.threads)
    env = make_env(cfg.env.id, cfg.env.config)
    params = getattr(env.unwrapped, "params", None)
    if params is None or not hasattr(params, "q_speed") or not hasattr(params, "q_care"):
        return ClaimResult("claim3", "not_supported", {"run_dir": str(run.path)}, None,
                           f"{cfg.env.id} has no speed/care error model to hold quality fixed.")
    agent, ckpt_name, ckpt_step = _load_agent(run, cfg, env, checkpoint)
    econ = env.unwrapped.econ

    def faster(obs):
        return agent.act(obs, deterministic=True)

    def slower(obs):
        a = np.asarray(agent.act(obs, deterministic=True), dtype=np.float64)
        s, c = a[..., 0], a[..., 1]
        s_new = s * slow_factor
        out = a.copy()
        out[..., 0], out[..., 1] = s_new, _iso_error_care(params, s, c, s_new)
        return out.astype(np.float32)

    first = cfg.train.eval_seed if seed is None else int(seed)
    t_fast = run_episodes(env, faster, episodes, first)
    t_slow = run_episodes(env, slower, episodes, first)
    env.close()
    rows = _priced_checkpoints(run.path, pricing, eps_parity, base_fee)
    match = [c for c in rows if c.step == ckpt_step] or rows[-1:]
    s_plat = float(match[0].row["s_plat"]) if match else 1.0
    base, p_base = _arm_totals(t_slow, econ, s_plat, pricing, eps_parity, base_fee)
    fast, p_fast = _arm_totals(t_fast, econ, s_plat, pricing, eps_parity, base_fee)
    res = claim_revenue_by_intervention(base, fast, np.asarray(econ.prices, float),
                                        np.asarray(econ.damage_costs, float),
                                        float(econ.human_wage), s_plat, eps_parity=eps_parity)
    extra = {
        "run_dir": str(run.path), "checkpoint": ckpt_name, "checkpoint_step": ckpt_step,
        "slow_factor": float(slow_factor), "episodes": int(episodes), "first_seed": first,
        "s_plat": s_plat, "pricing": pricing,
        "speed_base": float(np.mean([t.speed_sum / t.steps for t in t_slow])),
        "speed_faster": float(np.mean([t.speed_sum / t.steps for t in t_fast])),
        "care_base": float(np.mean([t.care_sum / t.steps for t in t_slow])),
        "care_faster": float(np.mean([t.care_sum / t.steps for t in t_fast])),
        "capture_realised_base": _mean(p_base.capture_realised),
        "capture_realised_faster": _mean(p_fast.capture_realised),
        "delta_capture_realised": _mean(p_fast.capture_realised - p_base.capture_realised),
    }
    return replace(res, numbers={**res.numbers, **extra})


# --------------------------------------------------------------------------- claims

def _concat(ledgers: Sequence[PricingLedger]) -> PricingLedger:
    """Windows of several priced sets (one rule, one base fee) as one."""
    first = ledgers[0]
    cols = {f.name: np.concatenate([np.asarray(getattr(p, f.name)) for p in ledgers])
            for f in fields(PricingLedger) if f.name not in ("rule", "base_fee")}
    return PricingLedger(rule=first.rule, base_fee=first.base_fee, **cols)


def _rho_matrix(per_run: list[list[_Checkpoint]]):
    """(n_runs, n_common_checkpoints) ρ_ULC and ρ_hour on the steps every run evaluated."""
    common = set.intersection(*({c.step for c in cks} for cks in per_run)) if per_run else set()
    steps = sorted(common)
    rho = np.array([[c.row["rho_ulc"] for c in cks if c.step in common] for cks in per_run])
    hour = np.array([[c.row["rho_hour"] for c in cks if c.step in common] for cks in per_run])
    return steps, rho.reshape(len(per_run), len(steps)), hour.reshape(len(per_run), len(steps))


def _claim4(per_run, label: str) -> tuple[ClaimResult, dict]:
    if not per_run:
        return ClaimResult(label, "not_supported", {}, None, "no runs given."), {}
    steps, rho, hour = _rho_matrix(per_run)
    series = {"steps": steps, "rho_ulc": rho.tolist(), "rho_hour": hour.tolist()}
    try:
        res = claim_structural_deflation(rho, steps, rho_hour=hour)
    except EconInputError as exc:
        return ClaimResult(label, "not_supported", {"n_runs": len(per_run),
                                                    "n_common_checkpoints": len(steps)},
                           None, f"the trend test cannot run: {exc}"), series
    return replace(res, claim=label), series


def _load_runs(run_dirs, pricing, eps_parity, base_fee) -> list[list[_Checkpoint]]:
    per_run = []
    for d in run_dirs:
        cks = _priced_checkpoints(d, pricing, eps_parity, base_fee)
        if not cks:
            raise EconInputError(f"{d}: no evaluation rows in evals.parquet")
        per_run.append(cks)
    return per_run


def claims_for_runs(run_dirs: Sequence, pricing: str = "capped",
                    control_dirs: Sequence | None = None, *, eps_parity: float = 0.05,
                    base_fee: float = 0.0, intervention_run=None, slow_factor: float = 0.8,
                    intervention_episodes: int = 64) -> dict:
    """The four claims of ECONOMICS.md §5 on real runs (JSON-able; non-finite → null).

    Claims 1–2: every evaluation episode of every checkpoint of every run, priced
    with ``pricing``. Claim 3: ``claim_speed_intervention`` on ``intervention_run``
    (default: the first run); a run without a loadable checkpoint gives
    ``not_supported``. Claim 4: ρ_ULC per checkpoint across runs (seeds) on their
    common steps, and the same test on ``control_dirs`` (frozen policies) as
    ``claim4_control``. If the control does not come out ``not_supported`` the test
    does not tell learning from no learning, and claim 4 is reported ``not_supported``.
    """
    run_dirs = [str(Path(d)) for d in run_dirs]
    if not run_dirs:
        raise EconInputError("run_dirs: need at least one run directory")
    control_dirs = [str(Path(d)) for d in (control_dirs or [])]
    per_run = _load_runs(run_dirs, pricing, eps_parity, base_fee)
    pooled = _concat([c.pricing for cks in per_run for c in cks])
    claims = {r.claim: r for r in check_pricing_claims(pooled)}

    target = str(intervention_run) if intervention_run is not None else run_dirs[0]
    try:
        claims["claim3"] = claim_speed_intervention(target, pricing, slow_factor,
                                                    intervention_episodes,
                                                    eps_parity=eps_parity, base_fee=base_fee)
    except (CheckpointError, OSError, KeyError, RuntimeError) as exc:
        claims["claim3"] = ClaimResult("claim3", "not_supported", {"run_dir": target}, None,
                                       f"no policy to intervene on: {exc}")

    c4, series = _claim4(per_run, "claim4")
    out_series = {"runs": series}
    if control_dirs:
        control = _load_runs(control_dirs, pricing, eps_parity, base_fee)
        c4c, cseries = _claim4(control, "claim4_control")
        out_series["control"] = cseries
        claims["claim4_control"] = c4c
        if c4c.verdict != "not_supported":
            c4 = ClaimResult("claim4", "not_supported",
                             {**c4.numbers, "verdict_before_control": c4.verdict,
                              "control_verdict": c4c.verdict}, None,
                             f"the negative control (frozen policy) came out {c4c.verdict!r}: "
                             "the trend test does not separate learning from no learning.")
        else:
            c4 = replace(c4, numbers={**c4.numbers, "control_verdict": c4c.verdict})
    claims["claim4"] = c4
    order = ["claim1_per_hour", "claim1_per_unit", "claim2", "claim3", "claim4",
             "claim4_control"]
    result = {
        "pricing": pricing, "eps_parity": float(eps_parity), "base_fee": float(base_fee),
        "rule": {"formula": RULES[pricing].formula, "guarantees": list(RULES[pricing].guarantees),
                 "conditional": dict(RULES[pricing].conditional),
                 "does_not_guarantee": dict(RULES[pricing].does_not_guarantee)},
        "run_dirs": run_dirs, "control_dirs": control_dirs,
        "seeds": [cks[0].row["seed"] for cks in per_run],
        "n_windows": int(pooled.price.shape[0]),
        "claims": {k: claims[k].to_dict() for k in order if k in claims},
        "claim4_series": out_series,
        "checkpoints": {d: [c.row for c in cks] for d, cks in zip(run_dirs, per_run,
                                                                  strict=True)},
    }
    return _jsonable(result)


def _jsonable(x: Any) -> Any:
    """Plain JSON types; NaN and ±inf become None (strict JSON has no such numbers)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    return x


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return "—" if v is None else str(v)


def _markdown(result: dict) -> str:
    lines = [f"# Claims of ECONOMICS.md §5 — pricing rule `{result['pricing']}`", "",
             f"Rule: `{result['rule']['formula']}`; guarantees by construction: "
             f"{', '.join(result['rule']['guarantees']) or 'none'}. ε_parity = "
             f"{result['eps_parity']:g}, base fee = {result['base_fee']:g} $/h.", "",
             f"Runs: {len(result['run_dirs'])} ({result['n_windows']} evaluation windows); "
             f"negative-control runs: {len(result['control_dirs'])}.", "",
             "| claim | verdict | detail |", "|---|---|---|"]
    for name, c in result["claims"].items():
        lines.append(f"| {name} | **{c['verdict']}** | {c['detail'].replace('|', '/')} |")
    for name, c in result["claims"].items():
        lines += ["", f"## {name}: {c['verdict']}", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in c["numbers"].items()]
        if c["counterexample"]:
            lines += ["", "Counterexample: " + ", ".join(f"{k} = {_fmt(v)}"
                                                         for k, v in c["counterexample"].items())]
    return "\n".join(lines) + "\n"


def write_claims_report(result: dict, out_dir) -> dict[str, str]:
    """``claims.json``, ``claims.md`` and the 4-panel ``claims.png`` of a
    ``claims_for_runs`` result. The figure's windows are re-priced from the runs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "claims.json", "markdown": out / "claims.md",
             "figure": out / "claims.png"}
    paths["json"].write_text(json.dumps(result, indent=2, allow_nan=False))
    paths["markdown"].write_text(_markdown(result))
    per_run = _load_runs(result["run_dirs"], result["pricing"], result["eps_parity"],
                         result["base_fee"])
    arrays = _concat([c.pricing for cks in per_run for c in cks]).to_dict()
    rho = result["claim4_series"]["runs"].get("rho_ulc")
    if rho and len(rho[0]) and all(v is not None for row in rho for v in row):
        arrays["rho_ulc_checkpoints"] = np.asarray(rho, dtype=float)
    results = [ClaimResult(c["claim"], c["verdict"], c["numbers"], c["counterexample"],
                           c["detail"]) for c in result["claims"].values()]
    claims_figure(results, arrays, paths["figure"])
    return {k: str(v) for k, v in paths.items()}


# --------------------------------------------------------------------------- control

def frozen_control_run(config_path_or_cfg, out, seed: int = 0, steps: int | None = None,
                       overrides: dict[str, Any] | None = None) -> dict:
    """Train the negative control: the same config, seed and pipeline, but no learning.

    ``sac.learning_starts`` is set above ``train.total_steps``, so the trainer takes
    uniform-random actions and never updates the agent (nor λ, which only the policy's
    own episodes move), while replay, evaluation schedule, eval seeds and checkpoints
    run unchanged. Evaluation acts with the
    untrained deterministic actor, which never changes, so with common random
    numbers every checkpoint scores the same episodes: any trend claim 4 finds here
    is a flaw of the test. ``overrides`` uses dotted keys (``{"train.eval_every": 60}``).
    The run's ``meta.json`` records ``control: "frozen"``.
    """
    from robolabor.experiments.config import config_from_dict, load_config
    from robolabor.experiments.trainer import start_run
    from robolabor.schema import to_dict

    extra = dict(overrides or {}, **{"train.seed": int(seed)})
    if steps is not None:
        extra["train.total_steps"] = int(steps)
    if isinstance(config_path_or_cfg, RunConfig):
        data = to_dict(config_path_or_cfg)
        for dotted, value in extra.items():
            section, key = dotted.split(".", 1)
            data.setdefault(section, {})[key] = value
        cfg = config_from_dict(data)
    else:
        cfg = load_config(config_path_or_cfg, extra)
    data = to_dict(cfg)
    data["sac"]["learning_starts"] = int(cfg.train.total_steps) + 1
    cfg = config_from_dict(data)
    result = start_run(cfg, out, name="frozen")
    RunDir.open(Path(result["run_dir"])).update_meta(
        control="frozen", control_note="sac.learning_starts > train.total_steps: no update")
    return result
