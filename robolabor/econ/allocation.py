"""The spread over the human wage and its split between customer and platform.

The split follows the customer's share of the productivity gain, ``ΔMPL_cust /
ΔMPL_total``. Both deltas must come from *policy checkpoints evaluated with
common random numbers* (``delta_mpl``): the prototype differenced two noisy
training episodes, so its split was noise and the platform took 100% whenever
MP happened to dip.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from robolabor.econ._checks import (
    EconInputError,
    as_float_array,
    clipped_share,
    per_window,
    scalar,
)
from robolabor.econ.ledger import Ledger
from robolabor.econ.stats import mean_interval

__all__ = ["Allocation", "allocate", "allocate_ledger", "customer_share", "DeltaMPL",
           "delta_mpl", "shares_from_deltas"]


@dataclass(frozen=True)
class Allocation:
    """Per-window split of the spread; (N,) arrays, $ unless noted.

    ``spread`` is $/h, ``spread_value`` (SV), ``rebate`` (R) and ``capture`` (C) are $
    per window, with ``SV = R + C`` exactly because ``s_plat = 1 − s_cust``.
    ``above_threshold`` marks windows whose parity exceeds ``1 + eps_parity``.
    """

    spread: np.ndarray
    spread_value: np.ndarray
    s_cust: np.ndarray
    s_plat: np.ndarray
    rebate: np.ndarray
    capture: np.ndarray
    above_threshold: np.ndarray
    hours: np.ndarray
    eps_parity: float

    def to_dict(self) -> dict[str, np.ndarray]:
        return {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name != "eps_parity"}


def customer_share(delta_mpl_cust, delta_mpl_total) -> tuple[np.ndarray, np.ndarray]:
    """``s_cust = clip(ΔMPL_cust / ΔMPL_total, 0, 1)`` when ``ΔMPL_total > 0``, else 0.

    No fudge term in the denominator (the prototype added 1e-6): when the policy
    did not improve there is no gain to attribute, and the customer's share is 0.
    """
    s_cust = clipped_share("delta_mpl_cust", delta_mpl_cust, "delta_mpl_total", delta_mpl_total)
    return s_cust, 1.0 - s_cust


def allocate(implied_wage, human_wage, hours, delta_mpl_cust=0.0, delta_mpl_total=0.0,
             eps_parity=0.05) -> Allocation:
    """Spread ``max(0, ŵ_r − w_h)`` $/h, counted only where ``ŵ_r / w_h > 1 + eps_parity``.

    Where counted, the full gap is allocated (as in the specification); between
    parity 1 and ``1 + eps_parity`` no spread is counted and no split happens.
    The deltas may be scalars or (N,) arrays; with no customer data ΔMPL_cust = 0
    and the platform's share is 1.
    """
    w = as_float_array("implied_wage", implied_wage, ndim=(0, 1))
    n = 1 if w.ndim == 0 else w.shape[0]
    w = np.full(n, float(w)) if w.ndim == 0 else w
    w_h = per_window("human_wage", human_wage, n, sign=">0")
    h = per_window("hours", hours, n, sign=">0")
    eps = scalar("eps_parity", eps_parity, sign=">=0")
    s_cust, s_plat = customer_share(delta_mpl_cust, delta_mpl_total)
    if s_cust.ndim == 1 and s_cust.shape[0] != n:
        raise EconInputError(f"delta_mpl_total: expected a scalar or shape ({n},), "
                             f"got shape {s_cust.shape}")
    s_cust = np.broadcast_to(s_cust, (n,)).copy()
    s_plat = 1.0 - s_cust
    above = w > w_h * (1.0 + eps)
    spread = np.where(above, np.maximum(0.0, w - w_h), 0.0)
    sv = spread * h
    rebate = s_cust * sv
    capture = sv - rebate  # = s_plat·SV, written so SV = R + C holds to the last bit
    return Allocation(spread=spread, spread_value=sv, s_cust=s_cust, s_plat=s_plat,
                      rebate=rebate, capture=capture, above_threshold=above, hours=h,
                      eps_parity=eps)


def allocate_ledger(ledger: Ledger, delta_mpl_cust=0.0, delta_mpl_total=0.0,
                    eps_parity=0.05) -> Allocation:
    """``allocate`` on a ledger's implied wage, human wage and hours."""
    return allocate(ledger.implied_wage, ledger.human_wage, ledger.hours, delta_mpl_cust,
                    delta_mpl_total, eps_parity)


@dataclass(frozen=True)
class DeltaMPL:
    """Paired change in MP between two checkpoints (units/h) with a t-interval."""

    mean: float
    ci_low: float
    ci_high: float
    se: float
    n: int
    confidence: float
    diffs: np.ndarray

    @property
    def significant_gain(self) -> bool:
        """The whole confidence interval lies above zero."""
        return self.ci_low > 0


def delta_mpl(mp_before, mp_after, confidence: float = 0.95) -> DeltaMPL:
    """Paired difference ``mp_after − mp_before`` of per-episode MP.

    Episode i of both arrays must share its random numbers (same env seed), so
    the environment's noise cancels in the difference and the interval measures
    the policies, not the dice. Use it both for ΔMPL_total (checkpoint t vs t−1)
    and ΔMPL_cust (trained with vs without the customer's data pack).
    """
    before = as_float_array("mp_before", mp_before, ndim=(1,))
    after = as_float_array("mp_after", mp_after, ndim=(1,))
    if before.shape != after.shape:
        raise EconInputError(f"mp_after: shape {after.shape} does not match mp_before's "
                             f"{before.shape}; pair episode i of both checkpoints")
    if before.shape[0] < 2:
        raise EconInputError(f"mp_before: need at least 2 paired episodes, got {before.shape[0]}")
    conf = scalar("confidence", confidence)
    if not 0 < conf < 1:
        raise EconInputError(f"confidence: must lie in (0, 1), got {conf}")
    d = after - before
    mean, lo, hi, se = mean_interval(d, conf)
    return DeltaMPL(mean=mean, ci_low=lo, ci_high=hi, se=se, n=int(d.shape[0]),
                    confidence=conf, diffs=d)


def shares_from_deltas(cust: DeltaMPL | float, total: DeltaMPL | float,
                       require_significant: bool = True) -> tuple[float, float]:
    """(s_cust, s_plat) from measured deltas.

    With ``require_significant`` a gain whose interval includes 0 counts as no
    gain: a share of noise is not attributed to anyone (s_cust = 0).
    """
    def _mean(d, name):
        if isinstance(d, DeltaMPL):
            return d.mean, d.ci_low > 0
        v = scalar(name, d)
        return v, v > 0

    c_mean, c_sig = _mean(cust, "cust")
    t_mean, t_sig = _mean(total, "total")
    if require_significant and not (t_sig and c_sig):
        t_mean = t_mean if t_sig else 0.0
        c_mean = c_mean if c_sig else 0.0
    s_cust, s_plat = customer_share(c_mean, t_mean)
    return float(s_cust), float(s_plat)
