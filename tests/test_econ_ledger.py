"""Per-window ledger: hand-computed numbers, the implied-wage fix, bad input."""

import dataclasses
import time

import numpy as np
import pytest

from robolabor.econ import EconInputError, Ledger, prototype_implied_wage, window_ledger


def classic_counts(speed, care):
    """Expected counts per hour of the prototype's classic task."""
    r = 2.0 * (0.5 + 0.5 * speed) * (1.0 - 0.25 * care)
    attempts = 60.0 * (r + np.exp(-r))
    p_err = 0.02 + 0.12 * speed**1.2 * (1.0 - care) ** 1.5
    return attempts * (1 - p_err), attempts * p_err, attempts, p_err


def test_classic_optimum_matches_prototype_table_and_fix():
    good, broken, attempts, p_err = classic_counts(1.0, 0.93)
    led = window_ledger([good], [broken], 1.0, 0.30, 1.0, 0.10, 18.0)
    assert attempts == pytest.approx(105.03, abs=0.01)
    assert led.mp[0] == pytest.approx(102.69, abs=0.01)
    assert led.error_rate[0] == pytest.approx(0.02222, abs=1e-5)
    # prototype formula p·MP − c·err·MP: the published 28.53 $/h and parity 1.585
    proto = prototype_implied_wage([good], [broken], 1.0, 0.30, 1.0)[0]
    assert proto == pytest.approx(28.53, abs=0.01)
    assert proto / 18.0 == pytest.approx(1.585, abs=0.001)
    # the fix charges every broken unit: (p·S − c·E)/H
    assert led.implied_wage[0] == pytest.approx(0.30 * good - broken, rel=1e-12)
    assert led.implied_wage[0] == pytest.approx(28.474, abs=0.001)
    assert led.wage_parity[0] == pytest.approx(1.5819, abs=1e-4)
    # the prototype over-states the wage by exactly c·err·E/H
    assert proto - led.implied_wage[0] == pytest.approx(1.0 * p_err * broken, rel=1e-9)
    assert led.profit_per_hour[0] == pytest.approx(led.implied_wage[0] - 0.10)
    assert led.productivity_parity[0] == pytest.approx(102.69 / 60, abs=1e-3)
    assert led.ulc_human_items[0] == pytest.approx(0.30)


def test_two_dish_types_by_hand():
    led = window_ledger([[10, 5]], [[1, 2]], 2.0, [0.3, 1.0], [1.0, 4.0], 1.0, 18.0, 60.0)
    # revenue 0.3·10 + 1·5 = 8; damage 1·1 + 4·2 = 9
    assert led.implied_wage[0] == pytest.approx(-0.5)
    assert led.attempts[0] == 18 and led.good[0] == 15 and led.broken[0] == 3
    assert led.error_rate[0] == pytest.approx(3 / 18)
    assert led.mp[0] == pytest.approx(7.5)
    assert led.operating_cost_per_hour[0] == pytest.approx(0.5)
    assert led.profit_per_hour[0] == pytest.approx(-1.0)
    assert led.profit[0] == pytest.approx(-2.0)
    assert led.wage_parity[0] == pytest.approx(-0.5 / 18)
    assert led.productivity_parity[0] == pytest.approx(0.125)
    assert led.revenue_per_good_unit[0] == pytest.approx(8 / 15)


def test_vectorised_fractional_and_zero_attempts():
    led = window_ledger([0.0, 50.5, 100.0], [0.0, 1.5, 0.0], [1.0, 0.5, 2.0], 0.3, 1.0,
                        [0.0, 0.2, 0.4], [18.0, 20.0, 18.0])
    assert led.error_rate[0] == 0.0 and led.mp[0] == 0.0
    assert led.mp[1] == pytest.approx(101.0)
    assert led.implied_wage[1] == pytest.approx((0.3 * 50.5 - 1.5) / 0.5)
    assert led.profit[2] == pytest.approx(0.3 * 100 - 0.4)
    assert led.wage_parity[1] == pytest.approx(led.implied_wage[1] / 20.0)
    assert set(led.to_dict()) >= {"attempts", "good", "broken", "hours", "mp", "error_rate",
                                  "implied_wage", "operating_cost_per_hour", "profit_per_hour",
                                  "profit", "wage_parity", "productivity_parity", "ulc_human_items"}
    assert all(v.shape == (3,) for v in led.to_dict().values())
    assert led.mean()["mp"] == pytest.approx(led.mp.mean())
    with pytest.raises(dataclasses.FrozenInstanceError):
        led.mp = None  # type: ignore[misc]
    assert isinstance(led, Ledger) and led.n == 3


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"good": [1.0, np.nan]}, "good"),
        ({"good": [1.0, -1.0]}, "good"),
        ({"broken": [1.0]}, "broken"),  # shape mismatch
        ({"broken": [1.0, np.inf]}, "broken"),
        ({"hours": 0.0}, "hours"),
        ({"hours": [1.0, -1.0]}, "hours"),
        ({"hours": [1.0, 1.0, 1.0]}, "hours"),
        ({"prices": [0.3, 0.4]}, "prices"),
        ({"prices": -0.3}, "prices"),
        ({"damage_costs": np.nan}, "damage_costs"),
        ({"operating_cost": -1.0}, "operating_cost"),
        ({"human_wage": 0.0}, "human_wage"),
        ({"human_mp": -60.0}, "human_mp"),
        ({"good": "lots"}, "good"),
        ({"good": np.ones((2, 2, 2)), "broken": np.ones((2, 2, 2))}, "good"),
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    args = {"good": [10.0, 20.0], "broken": [1.0, 0.0], "hours": 1.0, "prices": 0.3,
            "damage_costs": 1.0, "operating_cost": 0.1, "human_wage": 18.0, "human_mp": 60.0}
    args.update(kwargs)
    with pytest.raises(EconInputError, match=name):
        window_ledger(**args)
    assert issubclass(EconInputError, ValueError)


def test_a_million_windows_within_a_second():
    rng = np.random.default_rng(0)
    n = 1_000_000
    good = rng.poisson(100, n).astype(float)
    broken = rng.poisson(3, n).astype(float)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        led = window_ledger(good, broken, 1.0, 0.3, 1.0, 0.1, 18.0)
        best = min(best, time.perf_counter() - t0)
    assert led.n == n
    assert best < 1.0
