"""Real output over several products, and unit labor cost on it.

A glass, a plate and a pot are different products. Counting each as one unit
makes output depend on the unit each product is counted in (pots one by one or
in pairs) and makes a shift towards fewer, more valuable items look like a
fall in output. Official statistics aggregate products with a quantity index
at constant prices instead; so do we.

Quantities ``q[t, k]`` of product ``k`` in period (or window) ``t``, prices
``p[t, k]`` ($ per unit of product k), base period 0:

* fixed-base Laspeyres quantity: ``Q^L_t = Σ_k p_{k,0}·q_{k,t}``, output valued
  at base-period prices ($ of the base period);
* chained Törnqvist index: ``ln(I_t / I_{t−1}) = Σ_k ½(s_{k,t} + s_{k,t−1})·
  ln(q_{k,t} / q_{k,t−1})`` with value shares ``s_{k,t} = p_{k,t}q_{k,t} /
  Σ_j p_{j,t}q_{j,t}``, ``I_0 = 1``; as a level ``Q^T_t = Q^L_0·I_t``;
* unit labor cost ``ULC = labor cost / real output``; for the robot the labor
  cost of a window is what the customer pays for it, ``P·H``; for the human
  benchmark ``ULC_h = w_h / Q_h`` with ``Q_h = MP_h·Σ_k m_k p_{k,0}`` the real
  output of one human hour on the item mix ``m`` (shares summing to 1);
* ``ρ_ULC = ULC_r / ULC_h``.

Both indexes are invariant to the unit a product is counted in (counting pots
in pairs halves q_pot and doubles p_pot: value and value shares are unchanged,
and so are the log changes of q), and with one product both reduce to the item
count times a constant, so ρ_ULC on real output equals the item-count ρ.
"""

from __future__ import annotations

import numpy as np

from robolabor.econ._checks import EconInputError, as_float_array, check_nonneg, check_positive

__all__ = ["laspeyres_quantity", "laspeyres_index", "tornqvist_index", "tornqvist_quantity",
           "human_real_output", "unit_labor_cost", "ulc_ratio"]


def _quantities(q) -> np.ndarray:
    arr = check_nonneg("quantities", as_float_array("quantities", q, ndim=(1, 2)))
    return arr[None, :] if arr.ndim == 1 else arr


def _prices(p, t: int, k: int, name: str = "prices") -> np.ndarray:
    """(T, K) prices from a (K,) constant vector or a (T, K) path."""
    arr = check_nonneg(name, as_float_array(name, p, ndim=(1, 2)))
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (t, arr.shape[0]))
    if arr.shape != (t, k):
        raise EconInputError(f"{name}: expected shape ({k},) or ({t}, {k}), got {arr.shape}")
    return arr


def laspeyres_quantity(quantities, base_prices) -> np.ndarray:
    """``Q^L_t = Σ_k p_{k,0}·q_{k,t}``: output of each period at base-period prices.

    quantities: (T, K) or (K,); base_prices: (K,) $ per unit. Returns (T,) in
    base-period $.
    """
    q = _quantities(quantities)
    p0 = _prices(base_prices, 1, q.shape[1], "base_prices")[0]
    return q @ p0


def laspeyres_index(quantities, base_prices, base: int = 0) -> np.ndarray:
    """``Q^L_t / Q^L_base``: the fixed-base Laspeyres quantity index (1 in the base period)."""
    level = laspeyres_quantity(quantities, base_prices)
    if not 0 <= base < level.shape[0]:
        raise EconInputError(f"base: must index one of {level.shape[0]} periods, got {base}")
    if level[base] <= 0:
        raise EconInputError(f"quantities: the base period {base} has no output to index on")
    return level / level[base]


def tornqvist_index(quantities, prices) -> np.ndarray:
    """Chained Törnqvist quantity index, ``I_0 = 1``:
    ``ln(I_t/I_{t−1}) = Σ_k ½(s_{k,t} + s_{k,t−1})·ln(q_{k,t}/q_{k,t−1})``.

    quantities: (T, K); prices: (K,) or (T, K); ``s`` are value shares. A product
    absent in both of two adjacent periods drops out of that link; one that appears
    or vanishes between them has no log change, which is an error (use Laspeyres).
    """
    q = _quantities(quantities)
    t, k = q.shape
    p = _prices(prices, t, k)
    value = p * q
    total = value.sum(axis=1)
    if (total <= 0).any():
        bad = int(np.flatnonzero(total <= 0)[0])
        raise EconInputError(f"quantities: period {bad} has no output value; a Törnqvist "
                             "index needs positive output in every period")
    s = value / total[:, None]
    if t == 1:
        return np.ones(1)
    q0, q1 = q[:-1], q[1:]
    both = (q0 > 0) & (q1 > 0)
    neither = (q0 == 0) & (q1 == 0)
    if not (both | neither).all():
        link, prod = np.argwhere(~(both | neither))[0]
        raise EconInputError(f"quantities: product {int(prod)} appears or vanishes between "
                             f"periods {int(link)} and {int(link) + 1}; its log change is "
                             "undefined")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(both, np.log(np.where(both, q1, 1.0) / np.where(both, q0, 1.0)), 0.0)
    links = (0.5 * (s[1:] + s[:-1]) * logs).sum(axis=1)
    return np.exp(np.concatenate([[0.0], np.cumsum(links)]))


def tornqvist_quantity(quantities, prices) -> np.ndarray:
    """``Q^T_t = Q^L_0·I_t``: the chained Törnqvist index as a level in base-period $."""
    q = _quantities(quantities)
    p = _prices(prices, q.shape[0], q.shape[1])
    return laspeyres_quantity(q[:1], p[0])[0] * tornqvist_index(q, p)


def human_real_output(human_mp, mix, base_prices) -> np.ndarray:
    """``Q_h = MP_h·Σ_k m_k p_{k,0} / Σ_k m_k``: real output of one human hour.

    human_mp: items/h, scalar or (N,); mix: the item mix the human washes, (K,) or
    (N, K) non-negative weights (normalised here); base_prices: (K,). Returns (N,)
    base-period $ per hour (N = 1 for scalars).
    """
    mp = np.atleast_1d(check_positive("human_mp", as_float_array("human_mp", human_mp)))
    m = _quantities(mix)
    p0 = _prices(base_prices, 1, m.shape[1], "base_prices")[0]
    weight = m.sum(axis=1)
    check_positive("mix (sum of weights)", weight)
    per_item = (m @ p0) / weight
    if not (mp.shape[0] == per_item.shape[0] or 1 in (mp.shape[0], per_item.shape[0])):
        raise EconInputError(f"mix: {per_item.shape[0]} rows do not match human_mp's "
                             f"{mp.shape[0]}")
    return mp * per_item


def unit_labor_cost(labor_cost, output) -> np.ndarray:
    """``ULC = labor cost / output``; ``inf`` for a positive cost with no output, 0 for
    no cost. labor_cost: $ (≥ 0 is not required: a negative price is a negative cost);
    output: ≥ 0, same shape (or scalar)."""
    c = np.atleast_1d(as_float_array("labor_cost", labor_cost, ndim=(0, 1, 2, 3)))
    y = np.atleast_1d(check_nonneg("output", as_float_array("output", output,
                                                            ndim=(0, 1, 2, 3))))
    c, y = np.broadcast_arrays(c, y)
    fill = np.where(c > 0, np.inf, 0.0)
    with np.errstate(over="ignore"):
        return np.divide(c, y, out=fill.astype(float), where=y > 0)


def ulc_ratio(robot_cost, robot_output, human_wage, human_output_per_hour) -> np.ndarray:
    """``ρ_ULC = (P·H / Q_r) / (w_h / Q_h)``: the robot's unit labor cost relative to the
    human's, both on the same output measure (items, or real output at base prices)."""
    ulc_r = unit_labor_cost(robot_cost, robot_output)
    ulc_h = unit_labor_cost(human_wage, human_output_per_hour)
    check_positive("human unit labor cost", ulc_h)
    return ulc_r / ulc_h
