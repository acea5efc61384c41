"""Per-window labor accounting of a robot, vectorised over N windows.

A window is usually one episode of H hours. From its counts of good and broken
units (per dish type) we derive what a labor economist would ask about a
worker: marginal product, error rate, the wage the robot's output could pay,
profit, and how both compare with a human doing the same job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from robolabor.econ._checks import (
    EconInputError,
    as_float_array,
    check_nonneg,
    per_window,
)
from robolabor.econ.output import human_real_output, laspeyres_quantity, unit_labor_cost

__all__ = ["EconInputError", "Ledger", "window_ledger", "prototype_implied_wage"]


@dataclass(frozen=True)
class Ledger:
    """Per-window accounts; every field is an (N,) float64 array.

    ``implied_wage`` and ``profit_per_hour`` are $/h; ``profit`` is total $ for
    the window. ``real_output`` is the window's good output at base-period prices
    (``Σ_k p_{k,0}·S_k``, base-period $) and ``human_real_output`` the real output
    of one human hour ($/h at base prices); ``ulc_human_items = w_h / MP_h`` ($ per
    item) and ``ulc_human_real = w_h / Q_h`` ($ per $ of real output) are the
    human's unit labor cost on the two output measures. ``human_wage`` and
    ``human_mp`` are carried so pricing can be computed from a ledger alone.
    """

    attempts: np.ndarray
    good: np.ndarray
    broken: np.ndarray
    hours: np.ndarray
    mp: np.ndarray
    error_rate: np.ndarray
    implied_wage: np.ndarray
    operating_cost_per_hour: np.ndarray
    profit_per_hour: np.ndarray
    profit: np.ndarray
    wage_parity: np.ndarray
    productivity_parity: np.ndarray
    ulc_human_items: np.ndarray
    ulc_human_real: np.ndarray
    real_output: np.ndarray
    human_real_output: np.ndarray
    human_wage: np.ndarray
    human_mp: np.ndarray
    revenue_per_good_unit: np.ndarray  # Σ p_k S_k / Σ S_k (0 with no good units)

    @property
    def n(self) -> int:
        return int(self.mp.shape[0])

    def to_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def mean(self) -> dict[str, float]:
        return {k: float(np.mean(v)) if v.size else float("nan") for k, v in self.to_dict().items()}


def _counts(good, broken) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) arrays of good and broken units; (N,) and scalars become K = 1."""
    g = check_nonneg("good", as_float_array("good", good, ndim=(0, 1, 2)))
    b = check_nonneg("broken", as_float_array("broken", broken, ndim=(0, 1, 2)))
    if g.shape != b.shape:
        raise EconInputError(f"broken: shape {b.shape} does not match good's shape {g.shape}")
    if g.ndim == 0:
        g, b = g.reshape(1, 1), b.reshape(1, 1)
    elif g.ndim == 1:
        g, b = g[:, None], b[:, None]
    return g, b


def _per_type(name: str, x, k: int) -> np.ndarray:
    arr = check_nonneg(name, as_float_array(name, x))
    if arr.ndim == 1 and arr.shape[0] != k:
        raise EconInputError(f"{name}: expected a scalar or shape ({k},) for {k} dish type(s), "
                             f"got shape {arr.shape}")
    return np.full(k, float(arr)) if arr.ndim == 0 else arr


def window_ledger(good, broken, hours, prices, damage_costs, operating_cost, human_wage,
                  human_mp=60.0, base_prices=None, human_mix=None) -> Ledger:
    """Accounts of N windows.

    good, broken: (N,) or (N, K) counts (fractional expected counts allowed).
    hours: scalar or (N,) > 0. prices, damage_costs: (K,) or scalar, $ per unit.
    operating_cost: total $ per window, scalar or (N,). human_wage: $/h > 0,
    scalar or (N,). human_mp: units/h > 0, scalar or (N,). base_prices: (K,) $ per
    unit of the base period for real output (default: ``prices``). human_mix: (K,)
    item mix of the human benchmark (default: the robot's own mix in each window,
    i.e. no quality adjustment, so ρ on real output equals the item-count ρ).

    MP and the item-count ULC count every item as one unit; real output values the
    good units at base prices: ``Q = Σ_k p_{k,0}·S_k``, and the human's hour yields
    ``Q_h = MP_h·Σ_k m_k p_{k,0}`` (``robolabor.econ.output``).

    The implied wage charges every broken unit its damage cost:
    ``(Σ p_k S_k − Σ c_k E_k) / H``. The prototype's ``p·MP − c·err·MP``
    under-counted breakage by the factor (1 − err); see ``prototype_implied_wage``.
    """
    g, b = _counts(good, broken)
    n, k = g.shape
    h = per_window("hours", hours, n, sign=">0")
    p = _per_type("prices", prices, k)
    c = _per_type("damage_costs", damage_costs, k)
    op = per_window("operating_cost", operating_cost, n, sign=">=0")
    w_h = per_window("human_wage", human_wage, n, sign=">0")
    mp_h = per_window("human_mp", human_mp, n, sign=">0")

    if k == 1:  # the common case, without a matrix product
        good_n, broken_n = g[:, 0], b[:, 0]
        revenue, damage = good_n * p[0], broken_n * c[0]
    else:
        good_n, broken_n = g.sum(axis=1), b.sum(axis=1)
        revenue, damage = np.einsum("nk,k->n", g, p), np.einsum("nk,k->n", b, c)
    attempts = good_n + broken_n
    mp = good_n / h
    error_rate = np.divide(broken_n, attempts, out=np.zeros(n), where=attempts > 0)
    implied_wage = (revenue - damage) / h
    op_per_hour = op / h
    profit_per_hour = implied_wage - op_per_hour
    rev_per_unit = np.divide(revenue, good_n, out=np.zeros(n), where=good_n > 0)
    p0 = p if base_prices is None else _per_type("base_prices", base_prices, k)
    real = laspeyres_quantity(g, p0)
    if human_mix is None:  # the robot's own mix; uniform where it produced nothing
        mix = np.where(good_n[:, None] > 0, g, 1.0)
    else:
        mix = _per_type("human_mix", human_mix, k)
    q_h = human_real_output(mp_h, mix, p0)
    q_h = np.broadcast_to(q_h, (n,)).copy()
    return Ledger(
        attempts=attempts,
        good=good_n,
        broken=broken_n,
        hours=h,
        mp=mp,
        error_rate=error_rate,
        implied_wage=implied_wage,
        operating_cost_per_hour=op_per_hour,
        profit_per_hour=profit_per_hour,
        profit=profit_per_hour * h,
        wage_parity=implied_wage / w_h,
        productivity_parity=mp / mp_h,
        ulc_human_items=unit_labor_cost(w_h, mp_h),
        ulc_human_real=unit_labor_cost(w_h, q_h),
        real_output=real,
        human_real_output=q_h,
        human_wage=w_h,
        human_mp=mp_h,
        revenue_per_good_unit=rev_per_unit,
    )


def prototype_implied_wage(good, broken, hours, price, damage_cost) -> np.ndarray:
    """The prototype's ``p·MP_r − c·err·MP_r`` (single dish type), kept only to reproduce
    its published numbers. It exceeds the correct wage by exactly ``c·err·E/H``."""
    g, b = _counts(good, broken)
    if g.shape[1] != 1:
        raise EconInputError("good: the prototype formula has a single dish type")
    h = per_window("hours", hours, g.shape[0], sign=">0")
    p = _per_type("price", price, 1)[0]
    c = _per_type("damage_cost", damage_cost, 1)[0]
    good_n, broken_n = g[:, 0], b[:, 0]
    attempts = good_n + broken_n
    err = np.divide(broken_n, attempts, out=np.zeros_like(attempts), where=attempts > 0)
    mp = good_n / h
    return p * mp - c * err * mp
