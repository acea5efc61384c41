"""Does a pack's data agree with the task it says it came from?

A pack records the env id and parameters it was collected in. For the shift task the
generative model is known exactly (``robolabor.envs.shift``), so every transition can
be checked against it. Three checks, each with a named reason when it fails:

* **identities** (exact): what the model makes certain. The attempts fit the rack
  (``attempts <= min(backlog, n_max)``), ``broken <= attempts``, the reward is the
  step's profit ``price_k·(attempts - broken) - damage_k·broken - energy`` for the type
  k on the rack, and the next observation's counters moved by what the row says
  (its "errors in the last step" reads ``broken``; its attempts-so-far moved by
  ``attempts`` unless clipped). The fraction of rows breaking any identity must be 0.
* **fit** (a test with a known null): the log-likelihood ℓ_i of each row's outcome
  (attempts, then broken) given its state and recorded action, under the model:
  attempts ~ min(Poisson(r_k(a)), cap) and broken | attempts ~ Binomial(attempts, p_k(a)).
  Its exact mean μ_i and variance σ²_i given (s_i, a_i) are summed over every outcome,
  and ``z = Σ(ℓ_i - μ_i) / sqrt(Σ σ²_i)``. Each minute's outcome uses fresh random
  numbers, so the terms are martingale differences whatever policy chose the actions
  and z is asymptotically N(0, 1) on honest data; data whose recorded actions did not
  cause their outcomes are less likely than the model expects, so the pack fails when
  ``z < Φ⁻¹(alpha)`` (one-sided; ``alpha`` is the false-positive rate per pack).
* **duplicates**: the fraction of rows that repeat another row exactly (obs, action,
  reward, next obs). Continuous actions on a noisy task make honest repeats rare;
  the pack fails above ``max_duplicates``.

Only the shift task (``robolabor/DishwashingShift-v0``) has a model to check against:
a video pack records frames, not the state the model needs, and the physics scene
draws its outcomes from MuJoCo, not from this model. For those the duplicate check runs
and the others are listed under ``skipped`` with the reason. An audit is a screen on
what a pack claims, not a value: counterfactual ΔMPL (``data.valuation``) says what an
honest pack is worth.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

from robolabor.errors import UserError

__all__ = ["MODEL_ENV", "audit_transitions", "audit_pack", "audit_summary",
           "duplicate_fraction", "outcome_loglik", "screened_price"]

MODEL_ENV = "robolabor/DishwashingShift-v0"
_CHUNK = 2048  # rows per batch of the exact moments (chunk × (n_max+1)² floats)


def duplicate_fraction(tr) -> float:
    """1 − distinct (obs, action, reward, next_obs) rows / rows (a video pack's stacks
    by the frames they end at)."""
    obs, nxt = (tr.obs.last[:, None], tr.next_obs.last[:, None]) if tr.is_video \
        else (tr.obs, tr.next_obs)
    rows = np.concatenate([obs, tr.action, tr.reward[:, None], nxt], axis=1)
    return 1.0 - len(np.unique(rows, axis=0)) / max(len(rows), 1)


def _outcome_logp(n, broken, cap, rate, perr) -> np.ndarray:
    """log P(attempts = n, broken) under the censored-Poisson × Binomial model
    (-inf where impossible); arrays broadcast together."""
    n, broken, cap = (np.asarray(x, np.float64) for x in (n, broken, cap))
    attempts = np.where(n < cap, stats.poisson.logpmf(n, rate),
                        stats.poisson.logsf(cap - 1, rate))   # P(N >= cap) at the cap
    attempts = np.where(cap == 0, np.where(n == 0, 0.0, -np.inf), attempts)
    attempts = np.where(n > cap, -np.inf, attempts)
    with np.errstate(divide="ignore", invalid="ignore"):
        breaks = stats.binom.logpmf(broken, n, perr)
    breaks = np.where(broken > n, -np.inf, breaks)
    return attempts + np.nan_to_num(breaks, nan=-np.inf)


def outcome_loglik(attempts, broken, cap, rate, perr, n_max: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the outcome's log-likelihood ℓ and its exact mean and variance under the
    model given (cap, rate, p_err), summed over every (attempts, broken) ≤ n_max."""
    ll = _outcome_logp(attempts, broken, cap, rate, perr)
    mean = np.empty(len(ll))
    var = np.empty(len(ll))
    grid_n = np.arange(n_max + 1, dtype=np.float64)
    for lo in range(0, len(ll), _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        c, r, p = (np.asarray(x, np.float64)[sl, None, None] for x in (cap, rate, perr))
        logp = _outcome_logp(grid_n[None, :, None], grid_n[None, None, :], c, r, p)
        prob = np.exp(logp)
        first = special.xlogy(prob, prob).sum(axis=(1, 2))              # Σ p·log p
        second = (prob * np.where(prob > 0, logp, 0.0) ** 2).sum(axis=(1, 2))
        mean[sl], var[sl] = first, np.maximum(second - first ** 2, 0.0)
    return ll, mean, var


def _shift_checks(tr, params, alpha: float) -> dict[str, Any]:
    from robolabor.envs.params import shift_rate_and_perr

    k_types = params.n_types
    obs, nxt = np.asarray(tr.obs, np.float64), np.asarray(tr.next_obs, np.float64)
    if obs.shape[1] != 7 + k_types:
        return {"skipped": {"identities": f"observations have {obs.shape[1]} entries, the "
                            f"shift task with {k_types} dish types has {7 + k_types}",
                            "fit": "as identities"}}
    n = np.asarray(tr.attempts, np.int64)
    broken = np.asarray(tr.broken, np.int64)
    n_max = params.max_attempts_per_minute
    k = np.argmax(obs[:, 4:4 + k_types], axis=1)
    backlog = np.rint(obs[:, 3] * params.rack_capacity)
    cap = np.minimum(backlog, n_max)
    action = np.clip(np.asarray(tr.action, np.float64), 0.0, 1.0)
    rate, perr = shift_rate_and_perr(params, action[:, 0], action[:, 1])
    rows = np.arange(len(n))
    rate, perr = rate[k, rows], perr[k, rows]

    price = params.type_array("price")[k]
    damage = params.type_array("damage_cost")[k]
    profit = price * (n - broken) - damage * broken - params.energy_cost_per_hour / 60.0
    reward = np.asarray(tr.reward, np.float64)
    base = 4 + k_types
    counted = nxt[:, base + 1] - obs[:, base + 1]
    unclipped = nxt[:, base + 1] < 1.0
    failures = {
        "attempts exceed min(backlog, n_max)": n > cap,
        "broken exceed attempts": broken > n,
        "reward is not the step's profit": ~np.isclose(reward, profit, rtol=1e-5, atol=1e-4),
        "next observation's last-step errors differ from broken":
            ~np.isclose(nxt[:, base + 2] * n_max, broken, atol=1e-3),
        "next observation's attempts so far moved by another count":
            unclipped & ~np.isclose(counted * params.expected_arrivals, n, atol=1e-2),
    }
    broken_rows = np.zeros(len(n), bool)
    for bad in failures.values():
        broken_rows |= bad
    out: dict[str, Any] = {
        "identity_failures": {name: float(bad.mean()) for name, bad in failures.items()},
        "identity_fraction": float(broken_rows.mean())}
    ok = ~broken_rows
    if ok.sum() == 0:
        out["fit_z"] = None
        out["skipped"] = {"fit": "no row passes the identities"}
        return out
    ll, mean, var = outcome_loglik(n[ok], broken[ok], cap[ok], rate[ok], perr[ok], n_max)
    finite = np.isfinite(ll)
    out["impossible_fraction"] = float(1.0 - finite.mean())
    total_var = float(var[finite].sum())
    out["fit_z"] = float((ll[finite] - mean[finite]).sum() / np.sqrt(total_var)) \
        if total_var > 0 else 0.0
    out["fit_threshold"] = float(stats.norm.ppf(alpha))   # z below it fails
    return out


def audit_transitions(tr, env_id: str, env_params: dict, alpha: float = 1e-3,
                      max_duplicates: float = 0.05) -> dict[str, Any]:
    """The audit of transitions said to come from ``env_id`` with ``env_params``
    (module docstring): the checks' statistics, ``consistent`` and the ``reasons`` it
    is not."""
    if not 0.0 < alpha < 0.5:
        raise UserError(f"--alpha: must be in (0, 0.5), got {alpha}")
    if not 0.0 <= max_duplicates < 1.0:
        raise UserError(f"--max-duplicates: must be in [0, 1), got {max_duplicates}")
    out: dict[str, Any] = {"transitions": len(tr), "alpha": alpha,
                           "max_duplicates": max_duplicates,
                           "duplicate_fraction": duplicate_fraction(tr), "skipped": {}}
    if env_id == MODEL_ENV and not tr.is_video:
        from robolabor.envs.params import ShiftParams, params_from

        checks = _shift_checks(tr, params_from(ShiftParams, None, env_params), alpha)
        out["skipped"].update(checks.pop("skipped", {}))
        out.update(checks)
    else:
        why = ("a video pack records frames, not the state the model needs"
               if tr.is_video else f"{env_id} has no outcome model to check against "
               f"(only {MODEL_ENV} does)")
        out["skipped"].update({"identities": why, "fit": why})
    reasons = []
    if out["duplicate_fraction"] > max_duplicates:
        reasons.append(f"{out['duplicate_fraction']:.1%} of rows repeat another row "
                       f"(at most {max_duplicates:.0%})")
    if out.get("identity_fraction", 0.0) > 0:
        worst = max(out["identity_failures"], key=out["identity_failures"].get)
        reasons.append(f"{out['identity_fraction']:.1%} of rows break the task's "
                       f"identities (most often: {worst})")
    if out.get("impossible_fraction", 0.0) > 0:
        reasons.append(f"{out['impossible_fraction']:.1%} of rows have an outcome the "
                       "model gives probability 0")
    if out.get("fit_z") is not None and out["fit_z"] < out["fit_threshold"]:
        reasons.append(f"outcomes fit their recorded actions worse than chance allows "
                       f"(z = {out['fit_z']:.1f} < {out['fit_threshold']:.2f})")
    out["consistent"] = not reasons
    out["reasons"] = reasons
    return out


def audit_pack(ref: str, store=None, alpha: float = 1e-3, max_duplicates: float = 0.05
               ) -> dict[str, Any]:
    """Open pack ``ref`` (verified against its manifest) and audit it against its env."""
    from robolabor.data.packs import open_pack

    pack = open_pack(ref, store)
    return {"pack": pack.ref, "env_id": pack.meta["env_id"],
            **audit_transitions(pack.transitions, pack.meta["env_id"],
                                pack.meta["env_params"], alpha, max_duplicates)}


def audit_summary(audit: dict[str, Any]) -> dict[str, Any]:
    """The audit's verdict and statistics, without the per-identity breakdown."""
    keys = ("consistent", "reasons", "fit_z", "identity_fraction", "impossible_fraction",
            "duplicate_fraction", "alpha", "skipped")
    return {k: audit[k] for k in keys if k in audit}


def screened_price(price: dict[str, Any], audit: dict[str, Any] | None) -> dict[str, Any]:
    """A pack that fails its audit is refused: no price, whatever its measured ΔMPL (the
    counterfactual still says what its data did, which is worth knowing)."""
    if audit is None or audit["consistent"]:
        return price
    return {**price, "per_robot_hour": 0.0, "per_robot_hour_shared": 0.0, "tier": "refused",
            "refused": "; ".join(audit["reasons"])}
