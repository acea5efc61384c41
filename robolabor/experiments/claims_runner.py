"""The four claims on real training runs, each with its control.

``claims_for_runs`` prices every run once (``ledgers.price_runs``) and passes the
priced runs down:

* claims 1 and 2 on every evaluation window of every run (claim 1 per hour, per
  item and per unit of real output); their control plants a violation in a copy
  of the windows and checks that the test reports ``fails``;
* claim 3 by intervention on the first run's final policy (``claim_speed_intervention``),
  with the pre-registered number of pairs ``CLAIM3_PAIRS`` and its power;
* claim 4 on three output measures (item count, Laspeyres and chained Törnqvist
  real output), each carrying a negative control (frozen policies evaluated on
  fresh episodes at every checkpoint: ``controls.frozen_control_config``) and a
  positive control (the final policy slowed by a rising schedule of speed
  factors, so MP rises by construction: ``positive_control``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.econ import (
    RULES,
    ClaimResult,
    EconInputError,
    allocate_ledger,
    check_pricing_claims,
    claim_consumer_surplus,
    claim_decomposition,
    claim_revenue_by_intervention,
    claim_structural_deflation,
    price_windows,
)
from robolabor.econ.claims import (
    null_control_rate,
    paired_power,
    paired_sample_size,
    with_controls,
)
from robolabor.econ.output import laspeyres_quantity
from robolabor.experiments.controls import POSITIVE_SPEED_FACTORS, speed_schedule_episodes
from robolabor.experiments.ledgers import (
    MEASURES,
    PricedRun,
    concat_pricing,
    episode_ledger,
    make_task_env,
    price_runs,
    rho_of_totals,
    rho_series,
)

__all__ = ["CLAIM3_PAIRS", "CLAIM3_EFFECT", "CLAIM3_PILOT_SD", "load_policy",
           "claim_speed_intervention", "positive_control", "negative_control_rate",
           "claims_for_runs", "jsonable"]

# Pre-registered design of claim 3 (docs/economics.md, "Claim 3"): detect a rise of
# CLAIM3_EFFECT $ of capture per shift window (≈ 2% of the optimal policy's profit of
# $54.19 a shift) with 80% power in a two-sided paired t-test at 5%, given the standard
# deviation of the paired change in C measured in a pilot of 100 pairs on seeds
# CLAIM3_PILOT_SEED… (disjoint from the evaluation's) on the seed-100 state run
# (BENCHMARKS.md §8): sd 7.71 $ → 469 pairs.
CLAIM3_EFFECT = 1.0
CLAIM3_PILOT_SD = 7.71
CLAIM3_PILOT_SEED = 50_000
CLAIM3_PAIRS = paired_sample_size(CLAIM3_EFFECT, CLAIM3_PILOT_SD)
POSITIVE_CONTROL_SEED = 200_000
PLACEBO_SEED = 300_000


def load_policy(run_dir, checkpoint: str | None = None):
    """The deterministic policy of a run's checkpoint (default: the latest valid one), as
    ``(act, checkpoint name, step)``. The one place the economics loads an agent."""
    from robolabor.experiments.runs import open_run, warn

    opened = open_run(run_dir, checkpoint)
    for message in opened.warnings:
        warn(message)
    agent = opened.agent
    return ((lambda obs: agent.act(obs, deterministic=True)), opened.checkpoint.name,
            int(opened.state["step"]))


def _tally_arm(tallies, task):
    good = np.stack([t.good for t in tallies])
    broken = np.stack([t.broken for t in tallies])
    hours = np.array([t.steps * task.hours_per_step for t in tallies])
    cost = np.array([t.operating_cost for t in tallies])
    return {"good": good, "broken": broken, "hours": hours}, episode_ledger(good, broken, hours,
                                                                             cost, task)


def claim_speed_intervention(run: PricedRun, episodes: int = CLAIM3_PAIRS,
                             slow_factor: float = 0.8, seed: int | None = None,
                             checkpoint: str | None = None, policy=None,
                             placebo: bool = True) -> ClaimResult:
    """Claim 3 by intervention on a run's final (or named) policy.

    ``faster`` is the run's deterministic policy; ``base`` the same policy with its speed
    multiplied by ``slow_factor`` and its care re-solved for the same error risk
    (``iso_error_care``). Both play the same ``episodes`` seeds. s_plat is the run's own
    at that checkpoint (1 without customer data). Quality counts as fixed when the error
    rates differ by less than the SLA's 95% interval on one evaluation of the run
    (``sla_tolerance(sla, attempts per episode × eval_episodes)``). The numbers add the
    power of the test for ``CLAIM3_EFFECT`` at the measured spread of the paired ΔC, and
    the change in C received as cash under the run's pricing rule.

    With ``placebo`` the claim carries a negative control: the unchanged policy on fresh
    seeds (``PLACEBO_SEED…``) taken as the "faster" arm against its own episodes, which
    differs from them only by noise; the same test must come out ``not_supported``.
    """
    from robolabor.envs.params import iso_error_care
    from robolabor.experiments.rollout import run_episodes

    if not 0 < slow_factor < 1:
        raise EconInputError(f"slow_factor: must lie in (0, 1), got {slow_factor}")
    if episodes < 2:
        raise EconInputError(f"episodes: need at least 2 paired episodes, got {episodes}")
    env = make_task_env(run.config)
    params = getattr(env.unwrapped, "params", None)
    if params is None or not hasattr(params, "q_speed") or not hasattr(params, "q_care"):
        return ClaimResult("claim3", "not_supported", {"run_dir": run.run_dir}, None,
                           f"{run.config.env.id} has no speed/care error model to hold "
                           "quality fixed.")
    if policy is None:
        act, ckpt_name, ckpt_step = load_policy(run.run_dir, checkpoint)
    else:
        act, ckpt_name, ckpt_step = policy

    def slower(obs):
        a = np.asarray(act(obs), dtype=np.float64)
        s_new = a[..., 0] * slow_factor
        out = a.copy()
        out[..., 0], out[..., 1] = s_new, iso_error_care(params, a[..., 0], a[..., 1], s_new)
        return out.astype(np.float32)

    first = run.config.train.eval_seed if seed is None else int(seed)
    t_fast = run_episodes(env, act, episodes, first)
    t_slow = run_episodes(env, slower, episodes, first)
    t_placebo = run_episodes(env, act, episodes, PLACEBO_SEED) if placebo else None
    env.close()
    match = [c for c in run.checkpoints if c.step == ckpt_step] or list(run.checkpoints[-1:])
    s_plat = float(match[0].row["s_plat"]) if match else 1.0
    base, l_base = _tally_arm(t_slow, run.task)
    fast, l_fast = _tally_arm(t_fast, run.task)
    attempts = float(l_base.attempts.mean()) * run.config.train.eval_episodes
    def test(a, b):
        return claim_revenue_by_intervention(a, b, run.task.prices, run.task.damage_costs,
                                             run.task.human_wage, s_plat,
                                             eps_parity=run.eps_parity, sla=run.task.sla,
                                             sla_attempts=attempts)

    res = test(base, fast)
    if t_placebo is not None:
        res = with_controls(res, negative=test(fast, _tally_arm(t_placebo, run.task)[0]))
    cash = []
    for led in (l_base, l_fast):
        alloc = allocate_ledger(led, 1.0 - s_plat, 1.0, run.eps_parity)
        cash.append(price_windows(run.pricing_rule, led, alloc, run.base_fee).capture_realised)
    sd = res.numbers["sd_delta_capture"]
    extra = {
        "run_dir": run.run_dir, "checkpoint": ckpt_name, "checkpoint_step": ckpt_step,
        "slow_factor": float(slow_factor), "episodes": int(episodes), "first_seed": first,
        "s_plat": s_plat, "pricing": run.pricing_rule, "sla": run.task.sla,
        "sla_attempts": attempts,
        "effect_to_detect": CLAIM3_EFFECT,
        "power_at_effect": paired_power(episodes, CLAIM3_EFFECT, sd) if sd > 0 else None,
        "speed_base": float(np.mean([t.speed_sum / t.steps for t in t_slow])),
        "speed_faster": float(np.mean([t.speed_sum / t.steps for t in t_fast])),
        "care_base": float(np.mean([t.care_sum / t.steps for t in t_slow])),
        "care_faster": float(np.mean([t.care_sum / t.steps for t in t_fast])),
        "delta_capture_realised": float(np.mean(cash[1] - cash[0])),
    }
    return replace(res, numbers={**res.numbers, **extra})


def _episode_rho_parts(led, pricing, measure: str):
    """Per-episode labor cost P·H, output and the human ULC on one measure."""
    cost = pricing.price * pricing.hours
    if measure == "items":
        return cost, led.good, float(led.ulc_human_items[0])
    return cost, led.real_output, float(led.ulc_human_real[0])


def positive_control(run: PricedRun, measure: str, factors=POSITIVE_SPEED_FACTORS,
                     replicates: int = 3, episodes: int | None = None, policy=None,
                     tallies=None) -> tuple[ClaimResult, Any]:
    """Claim 4 on a schedule of policies whose MP rises by construction: the run's final
    policy with its speed multiplied by each factor (rising; care re-solved for equal
    risk), each ``replicates`` times on fresh episodes, one replicate per pseudo-seed.
    The trend test must come out ``holds``. Returns the result and the tallies (so the
    three output measures share one set of episodes)."""
    episodes = run.config.train.eval_episodes if episodes is None else int(episodes)
    if tallies is None:
        act = (policy or load_policy(run.run_dir))[0]
        env = make_task_env(run.config)
        tallies = [speed_schedule_episodes(env, act, factors, episodes,
                                           POSITIVE_CONTROL_SEED + r * 10_000)
                   for r in range(replicates)]
        env.close()
    rho = np.empty((replicates, len(factors)))
    for r, per_factor in enumerate(tallies):
        cost, qk = [], []
        for ts in per_factor:
            _, led = _tally_arm(ts, run.task)
            alloc = allocate_ledger(led, 0.0, 0.0, run.eps_parity)
            pricing = price_windows(run.pricing_rule, led, alloc, run.base_fee)
            cost.append(float((pricing.price * pricing.hours).sum()))
            qk.append(np.stack([t.good for t in ts]).sum(axis=0))
        rho[r] = rho_of_totals(cost, np.stack(qk), run.task, measure)
    res = claim_structural_deflation(rho, np.asarray(factors, float))
    res = replace(res, claim=f"claim4_positive_control_{measure}",
                  numbers={**res.numbers, "speed_factors": list(factors),
                           "replicates": replicates, "episodes": episodes})
    return res, tallies


def negative_control_rate(controls: list[PricedRun], measure: str, n_controls: int = 400,
                          n_checkpoints: int | None = None, seed: int = 0) -> dict:
    """False-positive rate of claim 4's test, simulated from the real evaluation noise of
    the frozen controls: every fresh evaluation episode of control run j is a draw from
    seed j's pool (``null_control_rate``)."""
    costs, outs, ulc_h = [], [], None
    for run in controls:
        c, o = [], []
        for ck in run.checkpoints:
            cost, out, ulc_h = _episode_rho_parts(ck.ledger, ck.pricing,
                                                  "items" if measure == "items" else "real")
            c.append(cost)
            o.append(out)
        costs.append(np.concatenate(c))
        outs.append(np.concatenate(o))
    n_ck = n_checkpoints or min(len(r.checkpoints) for r in controls)
    return null_control_rate(costs, outs, ulc_h, n_controls=n_controls, n_seeds=len(controls),
                             n_checkpoints=n_ck,
                             episodes=controls[0].config.train.eval_episodes, seed=seed)


def _claim4(runs: list[PricedRun], measure: str, label: str) -> tuple[ClaimResult, dict]:
    steps, rho, hour = rho_series(runs, measure)
    series = {"steps": steps, "rho_ulc": rho.tolist(), "rho_hour": hour.tolist()}
    try:
        res = claim_structural_deflation(rho, steps, rho_hour=hour)
    except EconInputError as exc:
        return ClaimResult(label, "not_supported", {"n_runs": len(runs),
                                                    "n_common_checkpoints": len(steps)},
                           None, f"the trend test cannot run: {exc}"), series
    return replace(res, claim=label, numbers={**res.numbers, "measure": measure}), series


def _planted(pricing, claim: str) -> ClaimResult:
    """The control of an accounting claim: the same windows with one violation planted
    (window 0 priced 1% above the human wage, or its capture off by 1%); the check must
    report ``fails``."""
    cols = {f.name: np.array(getattr(pricing, f.name), copy=True)
            for f in dataclasses.fields(pricing) if f.name not in ("rule", "base_fee")}
    if claim == "claim1_per_hour":
        cols["price"][0] = 1.01 * cols["human_wage"][0]
        return claim_consumer_surplus(type(pricing)(rule=pricing.rule, base_fee=pricing.base_fee,
                                                    **cols), "per_hour")
    if claim.startswith("claim1_per_"):
        version = claim.removeprefix("claim1_")
        col = "ulc_robot_items" if version == "per_item" else "ulc_robot_real"
        hcol = "ulc_human_items" if version == "per_item" else "ulc_human_real"
        cols[col][0] = 1.01 * cols[hcol][0] + 1e-6
        return claim_consumer_surplus(type(pricing)(rule=pricing.rule, base_fee=pricing.base_fee,
                                                    **cols), version)
    cols["capture"][0] = cols["capture"][0] * 1.01 + 1.0
    return claim_decomposition(type(pricing)(rule=pricing.rule, base_fee=pricing.base_fee,
                                             **cols))


def claims_for_runs(run_dirs: Sequence, pricing: str | None = None,
                    control_dirs: Sequence | None = None, *, eps_parity: float | None = None,
                    base_fee: float | None = None, intervention_run=None,
                    slow_factor: float = 0.8, intervention_episodes: int = CLAIM3_PAIRS,
                    positive: bool = True, n_null_controls: int = 400,
                    human_mix=None) -> tuple[dict, list[PricedRun]]:
    """The four claims on real runs, each with its control; returns (the JSON-able result,
    the priced runs, for the report). ``pricing``, ``eps_parity`` and ``base_fee`` default
    to the runs' own ``econ`` config. If a claim-4 control does not come out as it must
    (negative ``not_supported``, positive ``holds``) claim 4 is ``not_supported``."""
    run_dirs = [str(Path(d)) for d in run_dirs]
    if not run_dirs:
        raise EconInputError("run_dirs: need at least one run directory")
    control_dirs = [str(Path(d)) for d in (control_dirs or [])]
    runs = price_runs(run_dirs, pricing, eps_parity, base_fee, human_mix)
    rule, eps, fee = runs[0].pricing_rule, runs[0].eps_parity, runs[0].base_fee
    pooled = concat_pricing([c.pricing for r in runs for c in r.checkpoints])
    claims: dict[str, ClaimResult] = {}
    for res in check_pricing_claims(pooled):
        planted = _planted(pooled, res.claim)
        claims[res.claim] = replace(res, numbers={**res.numbers,
                                                  "control_planted_violation": planted.verdict})

    target = runs[0] if intervention_run is None else price_runs([intervention_run], rule, eps,
                                                                 fee, human_mix)[0]
    policy = None
    try:
        policy = load_policy(target.run_dir)
        claims["claim3"] = claim_speed_intervention(target, intervention_episodes, slow_factor,
                                                    policy=policy)
    except (OSError, KeyError, RuntimeError) as exc:
        claims["claim3"] = ClaimResult("claim3", "not_supported", {"run_dir": target.run_dir},
                                       None, f"no policy to intervene on: {exc}")

    controls = price_runs(control_dirs, rule, eps, fee, human_mix) if control_dirs else []
    series: dict[str, Any] = {}
    tallies = None
    for measure in MEASURES:
        c4, s = _claim4(runs, measure, f"claim4_{measure}")
        series[measure] = {"runs": s}
        neg = pos = None
        if controls:
            neg, cs = _claim4(controls, measure, f"claim4_negative_control_{measure}")
            series[measure]["control"] = cs
            neg = replace(neg, numbers={**neg.numbers, "false_positive_rate": (
                negative_control_rate(controls, measure, n_null_controls)
                if measure != "tornqvist" else None)})
            claims[neg.claim] = neg
        if positive and policy is not None:
            pos, tallies = positive_control(target, measure, policy=policy, tallies=tallies)
            claims[pos.claim] = pos
        claims[c4.claim] = with_controls(c4, neg, pos)
    order = ["claim1_per_hour", "claim1_per_item", "claim1_per_real_output", "claim2", "claim3"]
    order += [f"{p}{m}" for m in MEASURES for p in ("claim4_", "claim4_negative_control_",
                                                     "claim4_positive_control_")]
    result = {
        "pricing": rule, "eps_parity": eps, "base_fee": fee,
        "rule": {"formula": RULES[rule].formula, "guarantees": list(RULES[rule].guarantees),
                 "conditional": dict(RULES[rule].conditional),
                 "does_not_guarantee": dict(RULES[rule].does_not_guarantee)},
        "run_dirs": run_dirs, "control_dirs": control_dirs,
        "seeds": [r.seed for r in runs], "n_windows": int(pooled.price.shape[0]),
        "human_benchmark": {"human_mp": runs[0].task.human_mp,
                            "human_mix": runs[0].task.human_mix.tolist(),
                            "type_names": list(runs[0].task.type_names),
                            "real_output_per_human_hour": float(laspeyres_quantity(
                                runs[0].task.human_mix, runs[0].task.prices)[0]
                                * runs[0].task.human_mp)},
        "claims": {k: claims[k].to_dict() for k in order if k in claims},
        "claim4_series": series,
        "checkpoints": {r.run_dir: [c.row for c in r.checkpoints] for r in runs},
    }
    return jsonable(result), runs


def jsonable(x: Any) -> Any:
    """Plain JSON types; NaN and ±inf become None (strict JSON has no such numbers)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    return x
