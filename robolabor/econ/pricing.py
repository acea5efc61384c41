"""What the customer pays per robot-hour, and who ends up with the spread.

Two rules share one entry point, ``price_windows``:

* ``capped`` (the prototype's): ``P = min(max(0, ŵ_r − R/H) + base_fee, w_h)``.
  Above the parity threshold this is exactly ``w_h``: the customer pays the
  human wage whatever the rebate, keeps the whole spread as value, and the
  platform's capture ``C`` is never received as cash.
* ``split``: ``P = w_h + C/H`` when ``ŵ_r > w_h``, ``P = ŵ_r`` otherwise. The
  customer keeps exactly ``R/H`` per hour and the platform receives ``C/H``
  over the human wage. Per hour the customer may pay more than ``w_h``.

Consumer surplus is stored both as the specification's ``max(0, ·)`` and
signed: a ``max(0, ·)`` is never negative, so checking it (as the prototype
did) proves nothing; the claims in ``claims.py`` test the signed versions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from robolabor.econ._checks import (
    EconInputError,
    as_float_array,
    check_nonneg,
    check_positive,
    scalar,
)
from robolabor.econ.allocation import Allocation
from robolabor.econ.ledger import Ledger
from robolabor.econ.output import ulc_ratio, unit_labor_cost

__all__ = ["PricingRule", "RULES", "PricingLedger", "price_windows"]


@dataclass(frozen=True)
class PricingRule:
    """A customer-price rule and the §5 claims it guarantees by construction.

    ``conditional`` lists claims guaranteed only under a stated condition.
    """

    name: str
    formula: str
    guarantees: tuple[str, ...]
    conditional: dict[str, str]
    does_not_guarantee: dict[str, str]


_PER_UNIT_CONDITION = ("claim1_per_unit holds when base_fee = 0 and the revenue per good unit "
                       "Σp_k·S_k/ΣS_k is at most ULC_h = w_h/MP_h (the human benchmark is paid "
                       "at least its output's price per unit, as in the prototype: 0.30·60 = 18): "
                       "then P ≤ max(0, ŵ_r) ≤ p̄·MP_r, so ULC_r ≤ p̄ ≤ ULC_h")

RULES: dict[str, PricingRule] = {
    "capped": PricingRule(
        name="capped",
        formula="P = min(max(0, ŵ_r − R/H) + base_fee, w_h)",
        guarantees=("claim1_per_hour", "claim2_sv"),
        conditional={"claim1_per_unit": _PER_UNIT_CONDITION},
        does_not_guarantee={
            "claim2_cash": "above the threshold P = w_h, so C is never received as cash "
                           "(the customer keeps all of SV, not R)",
            "claim3": "the platform's cash premium is 0 above parity whatever MP_r is",
            "claim4": "empirical: needs learning runs",
        },
    ),
    "split": PricingRule(
        name="split",
        formula="P = w_h + C/H if ŵ_r > w_h else ŵ_r",
        guarantees=("claim2_sv", "claim2_cash"),
        conditional={"claim1_per_unit": _PER_UNIT_CONDITION},
        does_not_guarantee={
            "claim1_per_hour": "fails above the threshold whenever s_plat > 0: P = w_h + C/H > w_h",
            "claim3": "algebraic under count perturbation, empirical across policies",
            "claim4": "empirical: needs learning runs",
        },
    ),
}


@dataclass(frozen=True)
class PricingLedger:
    """Per-window prices and who gets what; (N,) arrays, $ unless noted.

    ``customer_payment = P·H``; ``customer_gain = (ŵ_r − P)·H``; ``platform_margin
    = (P − o)·H``; ``platform_premium = (P − w_h)·H``; ``capture_realised`` is the
    part of C received as cash (``clip(premium, 0, C)``), ``capture_unrealised =
    C − capture_realised``. ``cs_per_hour = max(0, w_h − P)`` ($/h), per unit
    ``max(0, ULC_h − ULC_r)`` on the item count ($/good item); ``*_signed`` drop the max.
    Unit labor cost on two output measures: the item count, ``ulc_robot_items = P / MP_r``
    and ``ulc_human_items = w_h / MP_h`` ($ per item, every item one unit), and real
    output at base-period prices, ``ulc_robot_real = P·H / Q`` and ``ulc_human_real =
    w_h / Q_h`` ($ per base-period $ of output); ``rho_ulc_items`` and ``rho_ulc_real``
    are their ratios (``inf`` if P > 0 with no output, 0 if P ≤ 0).
    """

    rule: str
    price: np.ndarray
    customer_payment: np.ndarray
    customer_gain: np.ndarray
    platform_margin: np.ndarray
    platform_premium: np.ndarray
    capture_realised: np.ndarray
    capture_unrealised: np.ndarray
    cs_per_hour: np.ndarray
    cs_per_hour_signed: np.ndarray
    cs_per_unit: np.ndarray
    cs_per_unit_signed: np.ndarray
    ulc_robot_items: np.ndarray
    ulc_human_items: np.ndarray
    rho_ulc_items: np.ndarray
    ulc_robot_real: np.ndarray
    ulc_human_real: np.ndarray
    rho_ulc_real: np.ndarray
    rho_hour: np.ndarray
    # carried inputs, so claims and figures need nothing else
    implied_wage: np.ndarray
    human_wage: np.ndarray
    mp: np.ndarray
    error_rate: np.ndarray
    hours: np.ndarray
    revenue_per_good_unit: np.ndarray
    real_output: np.ndarray
    spread_value: np.ndarray
    rebate: np.ndarray
    capture: np.ndarray
    s_plat: np.ndarray
    above_threshold: np.ndarray
    base_fee: float

    @property
    def guarantees(self) -> tuple[str, ...]:
        return RULES[self.rule].guarantees

    def to_dict(self) -> dict[str, np.ndarray]:
        return {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in ("rule", "base_fee")}


def _ledger_from_columns(cols: Mapping) -> Ledger:
    """A Ledger from a mapping with every Ledger column (e.g. ``Ledger.to_dict()`` read back)."""
    names = [f.name for f in dataclasses.fields(Ledger)]
    missing = [k for k in names if k not in cols]
    if missing:
        raise EconInputError(f"ledger: the mapping lacks column(s) {missing}")
    arrays = {k: as_float_array(f"ledger.{k}", cols[k], ndim=(1,)) for k in names}
    n = arrays["mp"].shape[0]
    for k, v in arrays.items():
        if v.shape != (n,):
            raise EconInputError(f"ledger.{k}: shape {v.shape}, expected ({n},)")
    check_positive("ledger.hours", arrays["hours"])
    check_positive("ledger.human_wage", arrays["human_wage"])
    check_nonneg("ledger.mp", arrays["mp"])
    return Ledger(**arrays)


def price_windows(rule: str, ledger: Ledger | Mapping, allocation: Allocation,
                  base_fee: float = 0.0) -> PricingLedger:
    """Price N windows with ``rule`` ('capped' or 'split') from their ledger (or a mapping
    with every Ledger column) and their allocation."""
    if rule not in RULES:
        raise EconInputError(f"rule: unknown pricing rule {rule!r}; choose from {sorted(RULES)}")
    if isinstance(ledger, Mapping):
        ledger = _ledger_from_columns(ledger)
    if not isinstance(ledger, Ledger):
        raise EconInputError(f"ledger: expected a Ledger or a mapping of its columns, "
                             f"got {type(ledger).__name__}")
    if not isinstance(allocation, Allocation):
        raise EconInputError(f"allocation: expected an Allocation, got {type(allocation).__name__}")
    n = ledger.n
    if allocation.spread.shape != (n,):
        raise EconInputError(f"allocation: has {allocation.spread.shape[0]} windows, "
                             f"the ledger has {n}")
    if not np.array_equal(allocation.hours, ledger.hours):
        raise EconInputError("allocation: its hours differ from the ledger's; "
                             "allocate from the same windows")
    fee = scalar("base_fee", base_fee, sign=">=0")
    w, w_h, h = ledger.implied_wage, ledger.human_wage, ledger.hours
    if rule == "capped":
        price = np.minimum(np.maximum(0.0, w - allocation.rebate / h) + fee, w_h)
    else:
        if fee != 0.0:
            raise EconInputError("base_fee: the split rule has no base fee (it would break "
                                 "the identity customer gain = R); use 'capped' or set 0")
        price = np.where(w > w_h, w_h + allocation.capture / h, w)

    premium = (price - w_h) * h
    realised = np.where(allocation.above_threshold,
                        np.clip(premium, 0.0, allocation.capture), 0.0)
    mp = ledger.mp
    ulc_r = unit_labor_cost(price * h, ledger.good)  # = P / MP_r; inf with no good unit
    ulc_h = ledger.ulc_human_items
    ulc_r_real = unit_labor_cost(price * h, ledger.real_output)
    with np.errstate(invalid="ignore"):  # no priced output at all: ρ on real output is NaN
        rho_items = ulc_ratio(price * h, ledger.good, w_h, ledger.human_mp)
        rho_real = ulc_ratio(price * h, ledger.real_output, w_h, ledger.human_real_output)
    cs_hour_signed = w_h - price
    cs_unit_signed = ulc_h - ulc_r
    return PricingLedger(
        rule=rule,
        price=price,
        customer_payment=price * h,
        customer_gain=(w - price) * h,
        platform_margin=(price - ledger.operating_cost_per_hour) * h,
        platform_premium=premium,
        capture_realised=realised,
        capture_unrealised=allocation.capture - realised,
        cs_per_hour=np.maximum(0.0, cs_hour_signed),
        cs_per_hour_signed=cs_hour_signed,
        cs_per_unit=np.maximum(0.0, cs_unit_signed),
        cs_per_unit_signed=cs_unit_signed,
        ulc_robot_items=ulc_r,
        ulc_human_items=ulc_h,
        rho_ulc_items=rho_items,
        ulc_robot_real=ulc_r_real,
        ulc_human_real=ledger.ulc_human_real,
        rho_ulc_real=rho_real,
        rho_hour=price / w_h,
        implied_wage=w,
        human_wage=w_h,
        mp=mp,
        error_rate=ledger.error_rate,
        hours=h,
        revenue_per_good_unit=ledger.revenue_per_good_unit,
        real_output=ledger.real_output,
        spread_value=allocation.spread_value,
        rebate=allocation.rebate,
        capture=allocation.capture,
        s_plat=allocation.s_plat,
        above_threshold=allocation.above_threshold,
        base_fee=fee,
    )
