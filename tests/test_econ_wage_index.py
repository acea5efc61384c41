"""Wage index: EMA on nominal data, real through the cumulative price level."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.econ import (
    EconInputError,
    WageIndex,
    indexed_prices,
    load_wage_csv,
    price_level,
    random_walk_wages,
    wage_index,
)


def prototype_indexer(observations, inflation, w0=18.0, alpha=0.1):
    """The prototype's update: divide the smoothed wage by (1 + π) at every update."""
    w, out = w0, []
    for m in observations:
        w = (alpha * m + (1 - alpha) * w) / (1 + inflation)
        out.append(w)
    return np.array(out)


def test_ema_by_hand():
    path = wage_index([20.0, 20.0], inflation=[0.1, 0.1], alpha=0.1, initial_wage=18.0)
    np.testing.assert_allclose(path.nominal, [18.2, 18.38])
    np.testing.assert_allclose(path.price_level, [1.1, 1.21])
    np.testing.assert_allclose(path.real, [18.2 / 1.1, 18.38 / 1.21])
    np.testing.assert_allclose(path.real_observation, [20 / 1.1, 20 / 1.21])
    assert set(path.to_dict()) == {"nominal_observation", "nominal", "price_level", "real",
                                   "real_observation"}


def test_incremental_equals_vectorised():
    obs = random_walk_wages(50, seed=3)
    infl = np.full(50, 0.002)
    path = wage_index(obs, infl, alpha=0.2, initial_wage=17.0)
    idx = WageIndex(17.0, alpha=0.2)
    for m, pi in zip(obs, infl, strict=True):
        idx.update(m, pi)
    assert idx.nominal == pytest.approx(path.nominal[-1])
    assert idx.real == pytest.approx(path.real[-1])
    assert idx.price_level == pytest.approx(path.price_level[-1]) and idx.updates == 50


def test_fix_vs_prototype_on_its_own_driver():
    """The prototype's driver: market 18·(1 + 0.005k), inflation 0.005 per update."""
    k = np.arange(1, 10)
    market = 18 * (1 + 0.005 * k)
    proto = prototype_indexer(market, 0.005)
    assert proto[0] == pytest.approx(17.9194, abs=1e-4)  # its benchmark *fell*
    assert proto[-1] < 18.0
    ours = wage_index(market, 0.005, initial_wage=18.0)
    assert (np.diff(ours.nominal) > 0).all() and ours.nominal[0] > 18.0
    np.testing.assert_allclose(ours.real, ours.nominal / (1.005 ** k))


@settings(max_examples=100, deadline=None)
@given(infl=st.lists(st.floats(0, 0.05), min_size=1, max_size=40),
       real_wage=st.floats(5, 50), alpha=st.floats(0.01, 1.0))
def test_index_rises_with_inflation_never_falls_because_of_it(infl, real_wage, alpha):
    infl = np.array(infl)
    level = price_level(infl)
    np.testing.assert_allclose(level, np.cumprod(1 + infl))
    obs = real_wage * level  # a constant real wage observed in nominal terms
    path = wage_index(obs, infl, alpha=alpha, initial_wage=real_wage)
    assert (np.diff(np.concatenate([[real_wage], path.nominal])) >= -1e-9).all()
    # real = nominal / cumulative price level, never mixed
    np.testing.assert_allclose(path.real, path.nominal / level)
    # inflation only changes how the index is deflated, never the nominal index itself
    np.testing.assert_array_equal(wage_index(obs, 0.0, alpha, real_wage).nominal, path.nominal)


def test_random_walk_is_seeded_and_drifts():
    a, b = random_walk_wages(1000, seed=7), random_walk_wages(1000, seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, random_walk_wages(1000, seed=8))
    assert a[0] == 18.0 and (a > 0).all()
    flat = random_walk_wages(13, drift=0.01, volatility=0.0)
    np.testing.assert_allclose(flat, 18.0 * np.exp(0.01 * np.arange(13)))
    many = np.array([random_walk_wages(2, drift=0.02, volatility=0.05, seed=s)[1]
                     for s in range(4000)])
    assert many.mean() / 18.0 == pytest.approx(np.exp(0.02), abs=0.003)


def test_indexed_prices():
    np.testing.assert_allclose(indexed_prices([0.3, 1.0], [1.0, 1.1]), [[0.3, 1.0], [0.33, 1.1]])


def test_csv_loader(tmp_path):
    f = tmp_path / "w.csv"
    f.write_text("date,wage\n2024-01-01,18.0\n2024-02-01,18.25\n\n")
    dates, wages = load_wage_csv(f)
    assert dates.dtype == np.dtype("datetime64[D]") and len(dates) == 2
    np.testing.assert_allclose(wages, [18.0, 18.25])


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("day,pay\n2024-01-01,18\n", "header"),
    ("date,wage\n", "no data"),
    ("date,wage\n2024-13-01,18\n", ":2: date"),
    ("date,wage\n2024-01-01,eighteen\n", ":2: wage"),
    ("date,wage\n2024-01-01,-1\n", "> 0"),
    ("date,wage\n2024-01-01,nan\n", "finite"),
    ("date,wage\n2024-01-01,18\n2024-01-01,19\n", ":3: date .* not after"),
    ("date,wage\n2024-01-01,18,1\n", "2 fields"),
])
def test_csv_errors_name_the_line(tmp_path, text, match):
    f = tmp_path / "w.csv"
    f.write_text(text)
    with pytest.raises(EconInputError, match=match):
        load_wage_csv(f)


def test_bad_inputs():
    with pytest.raises(EconInputError, match="path"):
        load_wage_csv("/nonexistent/wages.csv")
    with pytest.raises(EconInputError, match="alpha"):
        wage_index([18.0], alpha=0.0)
    with pytest.raises(EconInputError, match="observations"):
        wage_index([18.0, -1.0])
    with pytest.raises(EconInputError, match="observations"):
        wage_index([])
    with pytest.raises(EconInputError, match="inflation"):
        wage_index([18.0, 18.0], inflation=[0.0, -1.0])
    with pytest.raises(EconInputError, match="inflation"):
        wage_index([18.0, 18.0], inflation=[0.0, 0.1, 0.2])
    with pytest.raises(EconInputError, match="market_wage"):
        WageIndex().update(float("nan"))
    with pytest.raises(EconInputError, match="n"):
        random_walk_wages(0)
    with pytest.raises(EconInputError, match="volatility"):
        random_walk_wages(5, volatility=-1)
