"""The non-share price of a data pack: P = p·κ·E[ΔMPL]·H·S, tiers, the sharing discount."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.econ import EconInputError
from robolabor.econ.data_price import confidence_factor, pack_price, pack_tier


def test_price_by_hand():
    # $0.075 per item, +2 items/h with CI low 1.5: κ = 0.75; 160 h at 3 sites
    p = pack_price(0.075, 2.0, 1.5, hours=160, sites=3)
    assert p.kappa == pytest.approx(0.75) and p.tier == "standard"
    assert p.price == pytest.approx(0.075 * 0.75 * 2.0 * 160 * 3) == p.list_price
    shared = pack_price(0.075, 2.0, 1.5, hours=160, sites=3, shared=True)
    assert shared.price == pytest.approx(0.85 * p.price) and shared.discount == 0.15


def test_an_interval_reaching_zero_or_a_loss_is_worth_nothing():
    assert pack_price(0.1, 2.0, -0.3, 100).price == 0.0
    assert pack_price(0.1, -1.0, -2.0, 100).price == 0.0
    assert confidence_factor(0.0, 0.0) == 0.0


def test_tiers_at_their_bounds():
    assert list(pack_tier(np.array([0.0, 0.49, 0.5, 2.99, 3.0, 10.0]))) == \
        ["basic", "basic", "standard", "standard", "premium", "premium"]


def test_bad_inputs_name_the_argument():
    with pytest.raises(EconInputError, match="hours"):
        pack_price(0.1, 1.0, 0.5, -1)
    with pytest.raises(EconInputError, match="ci_low"):
        pack_price(0.1, 1.0, 1.5, 10)
    with pytest.raises(EconInputError, match="sharing_discount"):
        pack_price(0.1, 1.0, 0.5, 10, shared=True, sharing_discount=1.0)
    with pytest.raises(EconInputError, match="finite"):
        pack_price(0.1, float("nan"), 0.5, 10)


pos = st.floats(0.0, 100.0)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(-10.0, 10.0), st.floats(0.0, 20.0), pos, pos)
def test_price_is_bounded_by_the_certain_value(p, mean, width, hours, sites):
    lo = mean - width
    price = pack_price(p, mean, lo, hours, sites)
    assert 0.0 <= price.kappa <= 1.0
    assert 0.0 <= price.price <= p * max(mean, 0.0) * hours * sites + 1e-9


@settings(max_examples=100, deadline=None)
@given(st.floats(0.01, 1.0), st.floats(0.1, 10.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0),
       st.floats(1.0, 100.0))
def test_a_tighter_interval_never_lowers_the_price(p, mean, f1, f2, hours):
    lo1, lo2 = mean * min(f1, f2), mean * max(f1, f2)
    assert pack_price(p, mean, lo2, hours).price >= pack_price(p, mean, lo1, hours).price


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 1.0), st.floats(0.1, 10.0), st.floats(0.0, 1.0), st.floats(1.0, 100.0),
       st.floats(1.0, 10.0))
def test_price_is_linear_in_hours_and_sites(p, mean, f, hours, k):
    one = pack_price(p, mean, f * mean, hours, 1.0).price
    assert pack_price(p, mean, f * mean, k * hours, 2.0).price == pytest.approx(2 * k * one)
