"""The non-share price of a data pack: what its measured ΔMPL is worth, discounted for doubt.

A customer who sells a pack outright (instead of sharing in the spread through
``s_cust``) is paid

    P = p · κ · E[ΔMPL] · H · S,     κ = clip(CI_low / E[ΔMPL], 0, 1)

with ``p`` the $ value of one unit of output, ``E[ΔMPL]`` the pack's measured
counterfactual gain in units/h (mean over training seeds), ``CI_low`` the lower end of
its confidence interval, ``H`` the robot-hours the policy works in the priced period and
``S`` the number of sites (robots) it is deployed at. κ charges the pack for the
uncertainty of its own measurement: a gain measured tightly (CI_low close to the mean)
is paid nearly in full, one whose interval reaches 0 is paid nothing. A gain that is
not positive is worth 0. A buyer who lets the pack be shared (pooled for other
customers) gets ``sharing_discount`` (15%) off.

Tiers name the size of the measured effect on the price list (``basic`` below 0.5
units/h, ``standard`` below 3, ``premium`` from 3 on); they do not change the formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robolabor.econ._checks import EconInputError, as_float_array, clipped_share, scalar

__all__ = ["TIER_BOUNDS", "TIERS", "SHARING_DISCOUNT", "PackPrice", "confidence_factor",
           "pack_tier", "pack_price"]

TIER_BOUNDS = (0.5, 3.0)          # units/h
TIERS = ("basic", "standard", "premium")
SHARING_DISCOUNT = 0.15


def confidence_factor(mean, ci_low) -> np.ndarray | float:
    """κ = clip(CI_low / mean, 0, 1) where mean > 0, else 0."""
    k = clipped_share("ci_low", ci_low, "mean", mean)
    lo, m = np.broadcast_arrays(as_float_array("ci_low", ci_low), as_float_array("mean", mean))
    if (lo > m).any():
        raise EconInputError("ci_low: a confidence interval's lower end cannot exceed its mean")
    return float(k) if k.ndim == 0 else k


def pack_tier(mean) -> str | np.ndarray:
    """``basic`` below 0.5 units/h, ``standard`` below 3, ``premium`` from 3 on."""
    m = as_float_array("mean", mean)
    idx = np.searchsorted(np.asarray(TIER_BOUNDS), m, side="right")
    tiers = np.asarray(TIERS)[idx]
    return str(tiers) if tiers.ndim == 0 else tiers


@dataclass(frozen=True)
class PackPrice:
    """The price of one pack (or of N packs, as arrays); $ unless noted."""

    price: float | np.ndarray        # after the sharing discount, if shared
    list_price: float | np.ndarray   # p·κ·E[ΔMPL]·H·S
    kappa: float | np.ndarray
    tier: str | np.ndarray
    discount: float                  # the fraction taken off (0 when not shared)


def pack_price(unit_value, mean, ci_low, hours, sites=1.0, shared: bool = False,
               sharing_discount: float = SHARING_DISCOUNT) -> PackPrice:
    """``P = p·κ·E[ΔMPL]·H·S`` (module docstring); ``(1 − sharing_discount)·P`` if shared."""
    p = as_float_array("unit_value", unit_value)
    h = as_float_array("hours", hours)
    s = as_float_array("sites", sites)
    for name, arr in (("unit_value", p), ("hours", h), ("sites", s)):
        if (arr < 0).any():
            raise EconInputError(f"{name}: must be >= 0")
    d = scalar("sharing_discount", sharing_discount)
    if not 0.0 <= d < 1.0:
        raise EconInputError(f"sharing_discount: must lie in [0, 1), got {d}")
    m = as_float_array("mean", mean)
    kappa = confidence_factor(m, ci_low)
    listed = p * np.asarray(kappa) * np.maximum(m, 0.0) * h * s
    off = d if shared else 0.0
    price = listed * (1.0 - off)

    def out(x):
        x = np.asarray(x, dtype=float)
        return float(x) if x.ndim == 0 else x

    return PackPrice(price=out(price), list_price=out(listed), kappa=kappa,
                     tier=pack_tier(m), discount=off)
