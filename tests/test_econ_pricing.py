"""Customer pricing rules and their identities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.econ import RULES, EconInputError, allocate_ledger, price_windows, window_ledger


def priced(rule, good, broken, w_h=18.0, price=0.3, damage=1.0, s_cust=0.35, hours=1.0,
           op=0.1, mp_h=60.0, eps=0.05, fee=0.0):
    led = window_ledger(good, broken, hours, price, damage, op, w_h, mp_h)
    alloc = allocate_ledger(led, s_cust, 1.0, eps)
    return led, alloc, price_windows(rule, led, alloc, base_fee=fee)


OPT = ([102.6934], [2.3339])  # the classic optimum (1, 0.93), one hour


def test_split_at_classic_optimum_by_hand():
    led, a, p = priced("split", *OPT)
    w = 0.3 * 102.6934 - 2.3339  # 28.4741
    c = 0.65 * (w - 18.0)
    assert p.price[0] == pytest.approx(18.0 + c)
    assert p.customer_payment[0] == pytest.approx(18.0 + c)
    assert p.customer_gain[0] == pytest.approx(a.rebate[0])
    assert p.platform_premium[0] == pytest.approx(a.capture[0])
    assert p.capture_realised[0] == pytest.approx(c) and p.capture_unrealised[0] == pytest.approx(0)
    assert p.platform_margin[0] == pytest.approx(18.0 + c - 0.1)
    assert p.cs_per_hour[0] == 0.0 and p.cs_per_hour_signed[0] == pytest.approx(-c)
    assert p.rho_hour[0] == pytest.approx((18.0 + c) / 18.0)  # > 1 per hour ...
    assert p.ulc_robot_items[0] == pytest.approx((18.0 + c) / 102.6934)
    assert p.rho_ulc_items[0] == pytest.approx((18.0 + c) / 102.6934 / 0.3)  # ... < 1 per unit
    assert p.rho_ulc_items[0] < 1 and p.cs_per_unit[0] > 0
    assert p.guarantees == RULES["split"].guarantees


def test_capped_pins_price_at_human_wage_and_leaves_capture_unrealised():
    led, a, p = priced("capped", *OPT)
    assert p.price[0] == 18.0 and p.rho_hour[0] == 1.0  # the prototype's ρ ≡ 1
    assert p.capture_realised[0] == 0.0
    assert p.capture_unrealised[0] == pytest.approx(a.capture[0])
    assert p.customer_gain[0] == pytest.approx(a.spread_value[0])  # all of SV, not R
    assert p.rho_ulc_items[0] == pytest.approx(60 / 102.6934)


def test_below_parity_and_in_the_band():
    # ŵ = 0.3·40 = 12 < 18: both rules charge ŵ, CS = 6 $/h
    for rule in RULES:
        _, _, p = priced(rule, [40.0], [0.0])
        assert p.price[0] == pytest.approx(12.0) and p.cs_per_hour[0] == pytest.approx(6.0)
    # parity 1.03: no spread counted, the customer pays w_h and keeps the small gap
    for rule in RULES:
        _, a, p = priced(rule, [61.8], [0.0])
        assert a.spread_value[0] == 0 and p.price[0] == pytest.approx(18.0)
        assert p.customer_gain[0] == pytest.approx(0.3 * 61.8 - 18.0)


def test_capped_base_fee_and_zero_output():
    _, _, p = priced("capped", [40.0], [0.0], fee=2.0)
    assert p.price[0] == pytest.approx(14.0)
    _, _, p = priced("capped", [0.0], [5.0], fee=1.0)  # nothing good, still a fee
    assert p.price[0] == 1.0 and p.ulc_robot_items[0] == np.inf
    _, _, p = priced("capped", [0.0], [5.0])
    assert p.price[0] == 0.0 and p.ulc_robot_items[0] == 0.0


def test_bad_rule_and_mismatched_inputs():
    led = window_ledger([100.0], [1.0], 1.0, 0.3, 1.0, 0.0, 18.0)
    alloc = allocate_ledger(led)
    with pytest.raises(EconInputError, match="rule"):
        price_windows("free", led, alloc)
    with pytest.raises(EconInputError, match="base_fee"):
        price_windows("split", led, alloc, base_fee=1.0)
    with pytest.raises(EconInputError, match="base_fee"):
        price_windows("capped", led, alloc, base_fee=-1.0)
    other = allocate_ledger(window_ledger([1.0, 2.0], [0.0, 0.0], 1.0, 0.3, 1.0, 0.0, 18.0))
    with pytest.raises(EconInputError, match="allocation"):
        price_windows("split", led, other)
    with pytest.raises(EconInputError, match="ledger"):
        price_windows("split", {"mp": [1.0]}, alloc)
    cols = led.to_dict()
    from_cols = price_windows("split", cols, alloc)
    assert from_cols.price[0] == price_windows("split", led, alloc).price[0]
    cols["hours"] = np.array([-1.0])
    with pytest.raises(EconInputError, match="ledger.hours"):
        price_windows("split", cols, alloc)


def test_rules_state_their_guarantees():
    assert "claim1_per_hour" in RULES["capped"].guarantees
    assert "claim1_per_hour" in RULES["split"].does_not_guarantee
    assert "claim2_cash" in RULES["split"].guarantees
    assert "claim2_cash" in RULES["capped"].does_not_guarantee
    for rule in RULES.values():
        assert "claim1_per_unit" in rule.conditional


counts = st.floats(0, 300, allow_nan=False, allow_subnormal=False)
windows = st.lists(st.tuples(counts, st.floats(0, 30, allow_nan=False, allow_subnormal=False),
                             st.floats(0.05, 8)), min_size=1, max_size=12)


def _arrays(ws):
    g, b, h = (np.array(x) for x in zip(*ws, strict=True))
    return g, b, h


@settings(max_examples=150, deadline=None)
@given(ws=windows, w_h=st.floats(5, 60), price=st.floats(0.01, 1.0), damage=st.floats(0, 5),
       s_cust=st.floats(0, 1), eps=st.floats(0, 0.3), fee=st.floats(0, 10))
def test_capped_never_charges_more_than_the_human_wage(ws, w_h, price, damage, s_cust, eps, fee):
    g, b, h = _arrays(ws)
    _, _, p = priced("capped", g, b, w_h, price, damage, s_cust, h, eps=eps, fee=fee)
    assert (p.price <= p.human_wage).all()
    assert (p.cs_per_hour_signed >= 0).all()


@settings(max_examples=150, deadline=None)
@given(ws=windows, w_h=st.floats(5, 60), price=st.floats(0.01, 1.0), damage=st.floats(0, 5),
       s_cust=st.floats(0, 1), eps=st.floats(0, 0.3))
def test_split_passes_exactly_r_to_customer_and_c_to_platform(ws, w_h, price, damage, s_cust,
                                                              eps):
    g, b, h = _arrays(ws)
    _, a, p = priced("split", g, b, w_h, price, damage, s_cust, h, eps=eps)
    tol = 1e-9 * np.maximum(1.0, a.spread_value)
    up = a.above_threshold
    np.testing.assert_array_less(np.abs(a.spread_value - a.rebate - a.capture), tol + 1e-12)
    assert (np.abs(p.customer_gain - a.rebate)[up] <= tol[up]).all()
    assert (np.abs(p.platform_premium - a.capture)[up] <= tol[up]).all()
    # per hour: the platform's premium over w_h is C/H
    assert (np.abs(p.price - p.human_wage - a.capture / h)[up] <= 1e-9 * p.price[up]).all()
    assert (p.capture_unrealised <= tol).all()


@settings(max_examples=150, deadline=None)
@given(ws=windows, mp_h=st.floats(10, 120), price=st.floats(0.01, 1.0), damage=st.floats(0, 5),
       s_cust=st.floats(0, 1), eps=st.floats(0, 0.3), markup=st.floats(1.0, 3.0),
       rule=st.sampled_from(sorted(RULES)))
def test_per_unit_cost_never_above_human_when_benchmark_is_value_consistent(
        ws, mp_h, price, damage, s_cust, eps, markup, rule):
    """w_h ≥ p·MP_h (the human is paid at least the value of a unit per unit): ULC_r ≤ ULC_h
    under both rules, whatever the parity, the split and the breakage."""
    g, b, h = _arrays(ws)
    w_h = markup * price * mp_h
    _, _, p = priced(rule, g, b, w_h, price, damage, s_cust, h, mp_h=mp_h, eps=eps)
    assert (p.ulc_robot_items <= p.ulc_human_items * (1 + 1e-9)).all()


def test_per_unit_claim_needs_the_value_consistent_benchmark():
    # p = 1 $/unit but the human costs 0.30 $/unit: a 30-unit/h robot at parity 1.67
    for rule in RULES:
        _, _, p = priced(rule, [30.0], [0.0], price=1.0, s_cust=0.0)
        if rule == "split":
            assert p.ulc_robot_items[0] == pytest.approx(1.0) and p.rho_ulc_items[0] > 1
        else:
            assert p.ulc_robot_items[0] == pytest.approx(0.6) and p.rho_ulc_items[0] > 1
