"""Labor economics of a robot, in pure numpy (formulas in each docstring; an overview in
docs/economics.md).

``output`` (real output: Laspeyres and chained Törnqvist quantity indexes, unit
labor cost) → ``ledger`` (per-window accounts) → ``allocation`` (spread, rebate,
capture) → ``pricing`` (what the customer pays, consumer surplus, unit labor cost
on items and on real output) → ``claims`` (the four claims, with verdicts that can
fail, their controls and power); ``wage_index`` (the human benchmark) and
``macro`` (a sector simulation that uses all of the above) sit beside them, and
``stats`` holds the one t-interval.
Nothing here imports torch or the rest of robolabor.
"""

from robolabor.econ._checks import EconInputError, save_figure
from robolabor.econ.allocation import (
    Allocation,
    DeltaMPL,
    allocate,
    allocate_ledger,
    customer_share,
    delta_mpl,
    shares_from_deltas,
)
from robolabor.econ.claims import (
    VERDICTS,
    ClaimResult,
    check_pricing_claims,
    claim_consumer_surplus,
    claim_decomposition,
    claim_revenue_by_intervention,
    claim_revenue_by_perturbation,
    claim_structural_deflation,
    claims_figure,
    mann_kendall,
    ols_slope,
)
from robolabor.econ.data_price import PackPrice, confidence_factor, pack_price, pack_tier
from robolabor.econ.ledger import Ledger, prototype_implied_wage, window_ledger
from robolabor.econ.macro import (
    LearningCurve,
    MacroResult,
    Scenario,
    fit_learning_curve,
    macro_figure,
    npv,
    npv_sensitivity,
    simulate,
)
from robolabor.econ.output import (
    human_real_output,
    laspeyres_index,
    laspeyres_quantity,
    tornqvist_index,
    tornqvist_quantity,
    ulc_ratio,
    unit_labor_cost,
)
from robolabor.econ.pricing import RULES, PricingLedger, PricingRule, price_windows
from robolabor.econ.wage_index import (
    WageIndex,
    WageIndexPath,
    indexed_prices,
    load_wage_csv,
    price_level,
    random_walk_wages,
    wage_index,
)

__all__ = [
    "EconInputError", "save_figure", "Ledger", "window_ledger", "prototype_implied_wage",
    "Allocation", "allocate", "allocate_ledger", "customer_share", "DeltaMPL", "delta_mpl",
    "shares_from_deltas", "RULES", "PricingRule", "PricingLedger", "price_windows",
    "WageIndex", "WageIndexPath", "wage_index", "price_level", "load_wage_csv",
    "random_walk_wages", "indexed_prices", "VERDICTS", "ClaimResult", "claim_consumer_surplus",
    "claim_decomposition", "claim_revenue_by_perturbation", "claim_revenue_by_intervention",
    "claim_structural_deflation", "check_pricing_claims", "mann_kendall", "ols_slope",
    "claims_figure", "Scenario", "LearningCurve", "laspeyres_quantity", "laspeyres_index",
    "tornqvist_index", "tornqvist_quantity", "human_real_output", "unit_labor_cost", "ulc_ratio",
    "fit_learning_curve", "MacroResult", "simulate", "npv", "npv_sensitivity", "macro_figure",
    "PackPrice", "pack_price", "pack_tier", "confidence_factor",
]
