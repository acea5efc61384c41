"""Spread allocation and paired ΔMPL."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.econ import (
    DeltaMPL,
    EconInputError,
    allocate,
    allocate_ledger,
    customer_share,
    delta_mpl,
    shares_from_deltas,
    window_ledger,
)

money = st.floats(-50, 200, allow_nan=False)
pos = st.floats(0.01, 100, allow_nan=False)


def test_hand_numbers():
    a = allocate(28.474, 18.0, 1.0, delta_mpl_cust=0.3, delta_mpl_total=1.0)
    assert a.spread[0] == pytest.approx(10.474)
    assert a.spread_value[0] == pytest.approx(10.474)
    assert a.s_cust[0] == pytest.approx(0.3) and a.s_plat[0] == pytest.approx(0.7)
    assert a.rebate[0] == pytest.approx(3.1422)
    assert a.capture[0] == pytest.approx(7.3318)
    # two hours double the value, not the spread per hour
    b = allocate(28.474, 18.0, 2.0, 0.3, 1.0)
    assert b.spread[0] == pytest.approx(10.474) and b.spread_value[0] == pytest.approx(20.948)


def test_parity_threshold_gates_the_full_gap():
    a = allocate([18.0 * 1.04, 18.0 * 1.06, 17.0], 18.0, 1.0)
    assert a.spread[0] == 0.0 and not a.above_threshold[0]
    assert a.spread[1] == pytest.approx(18.0 * 0.06)  # the full gap, not the gap above 5%
    assert a.spread[2] == 0.0
    # no customer data: the platform's share is 1
    assert a.s_plat[1] == 1.0 and a.capture[1] == pytest.approx(a.spread_value[1])
    assert allocate(18.0 * 1.04, 18.0, 1.0, eps_parity=0.0).spread[0] == pytest.approx(0.72)


def test_customer_share_edge_cases():
    s_cust, s_plat = customer_share([0.5, 2.0, -1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0, -2.0])
    np.testing.assert_allclose(s_cust, [0.5, 1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(s_cust + s_plat, 1.0)


@settings(max_examples=200, deadline=None)
@given(w=st.lists(money, min_size=1, max_size=20), w_h=pos, h=pos,
       cust=st.floats(-10, 10, allow_nan=False), total=st.floats(-10, 10, allow_nan=False),
       eps=st.floats(0, 0.5))
def test_identities(w, w_h, h, cust, total, eps):
    a = allocate(np.array(w), w_h, h, cust, total, eps)
    np.testing.assert_allclose(a.spread_value, a.rebate + a.capture, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(a.s_cust + a.s_plat, 1.0)
    assert ((0 <= a.s_cust) & (a.s_cust <= 1)).all()
    assert (a.spread >= 0).all() and (a.rebate >= 0).all() and (a.capture >= 0).all()
    assert (a.spread[~a.above_threshold] == 0).all()


def test_allocate_ledger_and_per_window_deltas():
    led = window_ledger([100.0, 50.0], [2.0, 0.0], 1.0, 0.3, 1.0, 0.0, 18.0)
    a = allocate_ledger(led, delta_mpl_cust=[1.0, 0.0], delta_mpl_total=[4.0, 4.0])
    np.testing.assert_allclose(a.s_cust, [0.25, 0.0])
    assert a.spread[0] == pytest.approx(28.0 - 18.0) and a.spread[1] == 0.0


@pytest.mark.parametrize("kwargs, name", [
    ({"human_wage": 0.0}, "human_wage"), ({"hours": -1.0}, "hours"),
    ({"implied_wage": np.nan}, "implied_wage"), ({"eps_parity": -0.1}, "eps_parity"),
    ({"delta_mpl_total": [1.0, 2.0, 3.0]}, "delta_mpl"),
])
def test_allocate_bad_input(kwargs, name):
    args = {"implied_wage": [20.0, 30.0], "human_wage": 18.0, "hours": 1.0}
    args.update(kwargs)
    with pytest.raises(EconInputError, match=name):
        allocate(**args)


def test_delta_mpl_hand_numbers():
    d = delta_mpl([1, 2, 3, 4], [2, 4, 4, 6])
    assert isinstance(d, DeltaMPL)
    assert d.mean == pytest.approx(1.5)
    assert d.se == pytest.approx(0.5773503 / 2)
    half = 3.1824463 * d.se  # t(0.975, df=3)
    assert d.ci_low == pytest.approx(1.5 - half, rel=1e-6)
    assert d.ci_high == pytest.approx(1.5 + half, rel=1e-6)


def test_common_random_numbers_cancel_episode_noise():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 8, 50)  # episode noise, sd ≈ the prototype's 7-9 units/h
    before, after = 100 + noise, 102 + noise + rng.normal(0, 0.5, 50)
    paired = delta_mpl(before, after)
    assert paired.significant_gain and paired.ci_high - paired.ci_low < 1.0
    unpaired = delta_mpl(before, 102 + rng.normal(0, 8, 50))
    assert unpaired.ci_high - unpaired.ci_low > 3.0


def test_delta_mpl_bad_input():
    with pytest.raises(EconInputError, match="mp_after"):
        delta_mpl([1, 2, 3], [1, 2])
    with pytest.raises(EconInputError, match="at least 2"):
        delta_mpl([1.0], [2.0])
    with pytest.raises(EconInputError, match="mp_before"):
        delta_mpl([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(EconInputError, match="confidence"):
        delta_mpl([1, 2], [2, 3], confidence=1.5)


def test_shares_from_deltas_ignore_noise():
    total = delta_mpl([1, 2, 3, 4], [2, 4, 4, 6])
    noisy = delta_mpl([1, 2, 3, 4], [3, 1, 4, 4])  # CI spans 0
    assert shares_from_deltas(noisy, total) == (0.0, 1.0)
    loose = shares_from_deltas(noisy, total, require_significant=False)
    assert loose[0] == pytest.approx(0.5 / 1.5)
    assert shares_from_deltas(0.75, 1.5) == (0.5, 0.5)
