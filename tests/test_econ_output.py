"""Real output (Laspeyres, chained Törnqvist) and unit labor cost on it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.econ import EconInputError, allocate_ledger, price_windows, window_ledger
from robolabor.econ.output import (
    human_real_output,
    laspeyres_index,
    laspeyres_quantity,
    tornqvist_index,
    tornqvist_quantity,
    ulc_ratio,
    unit_labor_cost,
)

counts = st.floats(1.0, 500.0, allow_nan=False)
prices = st.floats(0.01, 2.0, allow_nan=False)


def test_hand_computed_example():
    # two periods, plates and pots; prices constant at (0.1, 0.3)
    q = np.array([[100.0, 10.0], [80.0, 30.0]])
    p = np.array([0.1, 0.3])
    # Laspeyres: 0.1·100 + 0.3·10 = 13; 0.1·80 + 0.3·30 = 17
    np.testing.assert_allclose(laspeyres_quantity(q, p), [13.0, 17.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(laspeyres_index(q, p), [1.0, 17.0 / 13.0], rtol=0, atol=1e-12)
    # value shares: (10/13, 3/13) and (8/17, 9/17)
    s0, s1 = np.array([10, 3]) / 13.0, np.array([8, 9]) / 17.0
    link = 0.5 * (s0[0] + s1[0]) * np.log(0.8) + 0.5 * (s0[1] + s1[1]) * np.log(3.0)
    # by hand: 0.6199095·ln 0.8 + 0.3800905·ln 3
    assert link == pytest.approx(0.2792432838, abs=1e-9)
    np.testing.assert_allclose(tornqvist_index(q, p), [1.0, np.exp(0.2792432838)], atol=1e-9)
    np.testing.assert_allclose(tornqvist_quantity(q, p), [13.0, 13.0 * np.exp(0.2792432838)],
                               atol=1e-8)
    # ULC: the robot is paid 18 $ an hour for 2 h → 36 / 17 per $ of real output
    assert unit_labor_cost(36.0, 17.0)[0] == pytest.approx(36.0 / 17.0, abs=1e-12)
    # human: 240 items/h of plates only → 24 $/h of real output; ULC_h = 18/24
    assert human_real_output(240.0, [1.0, 0.0], p)[0] == pytest.approx(24.0, abs=1e-12)
    assert ulc_ratio(36.0, 17.0, 18.0, 24.0)[0] == pytest.approx((36 / 17) / (18 / 24), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(counts, counts, counts), min_size=2, max_size=6),
       st.tuples(prices, prices, prices), st.integers(1, 4))
def test_indexes_invariant_to_the_unit_a_product_is_counted_in(rows, p, pack):
    """Counting pots in packs of ``pack`` divides their count and multiplies their price."""
    q = np.array(rows)
    p = np.array(p)
    scale = np.array([1.0, 1.0, float(pack)])
    q2, p2 = q / scale, p * scale
    np.testing.assert_allclose(laspeyres_quantity(q2, p2), laspeyres_quantity(q, p), rtol=1e-12)
    np.testing.assert_allclose(tornqvist_index(q2, p2), tornqvist_index(q, p), rtol=1e-10)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(counts, counts, counts, st.floats(0, 50)), min_size=1, max_size=5),
       st.tuples(prices, prices, prices), st.sampled_from(["capped", "split"]))
def test_rho_on_real_output_invariant_to_pots_in_pairs(rows, p, rule):
    arr = np.array(rows)
    good, broken = arr[:, :3], np.tile(arr[:, 3:], (1, 3)) * 0.1
    p = np.array(p)
    mix = np.array([0.5, 0.3, 0.2])  # human's item mix

    def rho(unit):
        scale = np.array([1.0, 1.0, unit])
        mix_u = mix / scale  # the human's items, re-counted
        led = window_ledger(good / scale, broken / scale, 2.0, p * scale, 0.05 * scale, 0.2,
                            18.0, human_mp=240.0 * mix_u.sum(), human_mix=mix_u)
        return price_windows(rule, led, allocate_ledger(led, 0.0, 0.0))

    one, pairs = rho(1.0), rho(2.0)
    np.testing.assert_allclose(pairs.rho_ulc_real, one.rho_ulc_real, rtol=1e-10)
    np.testing.assert_allclose(pairs.ulc_robot_real, one.ulc_robot_real, rtol=1e-10)


def test_item_count_rho_is_not_unit_invariant():
    """The reason for real output: the item count changes with the unit."""
    good, p = np.array([[100.0, 10.0, 10.0]]), np.array([0.1, 0.1, 0.4])
    a = window_ledger(good, 0 * good, 2.0, p, 0.0, 0.0, 18.0, human_mp=60.0)
    b = window_ledger(good / [1, 1, 2], 0 * good, 2.0, p * [1, 1, 2], 0.0, 0.0, 18.0,
                      human_mp=60.0)
    assert a.mp[0] != pytest.approx(b.mp[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(counts, min_size=2, max_size=8), prices, st.floats(0, 0.5),
       st.sampled_from(["capped", "split"]))
def test_one_product_reduces_to_the_item_count(q, p, err, rule):
    q = np.array(q)
    np.testing.assert_allclose(laspeyres_index(q[:, None], [p]), q / q[0], rtol=1e-12)
    np.testing.assert_allclose(tornqvist_index(q[:, None], [p]), q / q[0], rtol=1e-10)
    led = window_ledger(q, q * err, 2.0, p, 0.3, 0.1, 18.0, human_mp=60.0)
    priced = price_windows(rule, led, allocate_ledger(led, 0.0, 0.0))
    np.testing.assert_allclose(priced.rho_ulc_real, priced.rho_ulc_items, rtol=1e-10)


def test_without_a_human_mix_real_rho_equals_item_rho():
    good = np.array([[100.0, 10.0, 5.0], [50.0, 40.0, 30.0]])
    p = np.array([0.075, 0.1, 0.225])
    led = window_ledger(good, 0.02 * good, 2.0, p, p, 0.2, 18.0, human_mp=240.0)
    priced = price_windows("capped", led, allocate_ledger(led))
    np.testing.assert_allclose(priced.rho_ulc_real, priced.rho_ulc_items, rtol=1e-12)
    plate = window_ledger(good, 0.02 * good, 2.0, p, p, 0.2, 18.0, human_mp=240.0,
                          human_mix=[1.0, 0.0, 0.0])
    np.testing.assert_allclose(plate.human_real_output, 18.0)
    assert not np.allclose(price_windows("capped", plate, allocate_ledger(plate)).rho_ulc_real,
                           priced.rho_ulc_items)


def test_tornqvist_rejects_a_product_that_appears():
    with pytest.raises(EconInputError, match="appears or vanishes"):
        tornqvist_index([[10.0, 0.0], [10.0, 5.0]], [1.0, 1.0])
    np.testing.assert_allclose(tornqvist_index([[10.0, 0.0], [20.0, 0.0]], [1.0, 1.0]), [1, 2])
    with pytest.raises(EconInputError, match="no output value"):
        tornqvist_index([[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0])
    with pytest.raises(EconInputError, match="base_prices"):
        laspeyres_quantity([[1.0, 2.0]], [1.0, 2.0, 3.0])


def test_unit_labor_cost_edges():
    np.testing.assert_array_equal(unit_labor_cost([5.0, 0.0, 3.0], [0.0, 0.0, 2.0]),
                                  [np.inf, 0.0, 1.5])
