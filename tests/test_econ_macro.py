"""Sector simulation (ECONOMICS.md §6): validation, the loop's accounting, speed."""

import time
from pathlib import Path

import numpy as np
import pytest

from robolabor.econ import (
    EconInputError,
    LearningCurve,
    MacroConfigError,
    Scenario,
    fit_learning_curve,
    load_scenario,
    macro_figure,
    npv,
    simulate,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "macro"
SMALL = Scenario(n_establishments=2000, months=60)


@pytest.mark.parametrize("data, match", [
    ({"n_establishment": 10}, "unknown key.*n_establishment"),
    ({"months": 12.5}, "months: expected an integer"),
    ({"months": "120"}, "months: expected an integer"),
    ({"s_plat": 1.5}, "s_plat: must be <= 1"),
    ({"initial_human_wage": 0.0}, "initial_human_wage: must be > 0"),
    ({"inflation_annual": float("nan")}, "inflation_annual: must be finite"),
    ({"pricing_rule": "free"}, "pricing_rule: must be one of"),
    ({"utilisation": True}, "utilisation: expected a number"),
    ({"sens_churns": []}, "sens_churns: expected a non-empty list"),
    ({"sens_churns": [0.0, 1.0]}, r"sens_churns\[1\]: must be < 1"),
])
def test_scenario_validation_names_the_key(data, match):
    with pytest.raises(MacroConfigError, match=match):
        Scenario.from_dict(data)


def test_example_configs_load(tmp_path):
    for name in ("baseline", "tight_labor"):
        sc = load_scenario(CONFIGS / f"{name}.yaml")
        assert sc.name == name and sc.months == 120
    assert load_scenario(CONFIGS / "baseline.yaml") == Scenario()  # the file states the defaults
    bad = tmp_path / "bad.yaml"
    bad.write_text("months: 12\nwages:\n  growth: 0.1\n")
    with pytest.raises(MacroConfigError, match="bad.yaml:2"):
        load_scenario(bad)
    bad.write_text("months: 12\nmonths: 13\n")
    with pytest.raises(MacroConfigError, match="duplicate"):
        load_scenario(bad)
    bad.write_text("monthz: 12\n")
    with pytest.raises(MacroConfigError, match="monthz"):
        load_scenario(bad)
    with pytest.raises(MacroConfigError, match="path"):
        load_scenario(tmp_path / "missing.yaml")


def test_simulation_accounting():
    res = simulate(SMALL, seed=0)
    s, sc = res.to_table(), SMALL
    assert all(v.shape == (60,) for v in s.values())
    # month 0 by hand: split price, unit costs, ratios
    w0 = 80.0 * (0.30 - 1.0 * 0.02 / 0.98)
    assert s["implied_wage"][0] == pytest.approx(w0)
    p0 = 18.0 + 0.65 * (w0 - 18.0)
    assert s["robot_price"][0] == pytest.approx(p0)
    assert s["rho_ulc"][0] == pytest.approx((p0 / 80.0) / (18.0 / 60.0))
    assert s["rho_hour"][0] == pytest.approx(p0 / 18.0)
    # the wage index is the EMA of the market wage the loop produced
    np.testing.assert_allclose(s["wage_index"][1:], 0.1 * s["market_wage"][:-1]
                               + 0.9 * s["wage_index"][:-1])
    np.testing.assert_allclose(s["real_wage"], s["wage_index"] / s["price_level"])
    # adoption: a smooth, monotone S-curve in [0, 1]
    a = s["adoption_share"]
    assert (np.diff(a) >= 0).all() and 0 < a[0] < a[-1] <= 1
    # hours add up to output
    np.testing.assert_allclose(s["human_hours"] * sc.human_mp + s["robot_hours"] * s["robot_mp"],
                               s["output"])
    assert s["tfp"][0] == 1.0 and s["tfp"][-1] > 1.0 and s["labor_demand_index"][-1] < 1.0
    assert s["rho_ulc"][-1] < s["rho_ulc"][0]


def test_seeded_and_heterogeneous():
    a, b, c = simulate(SMALL, seed=1), simulate(SMALL, seed=1), simulate(SMALL, seed=2)
    np.testing.assert_array_equal(a.adoption_share, b.adoption_share)
    assert not np.array_equal(a.adoption_share, c.adoption_share)


def test_no_pass_through_no_adoption_and_capped_rule():
    flat = simulate(Scenario(n_establishments=500, months=24, price_pass_through=0.0), seed=0)
    np.testing.assert_allclose(flat.sector_price, 0.30 * flat.price_level)
    bad_robot = simulate(Scenario(n_establishments=500, months=24, mp_0=20.0, mp_inf=21.0), seed=0)
    assert bad_robot.adoption_share[-1] < 0.01
    assert bad_robot.tfp[-1] == pytest.approx(1.0, abs=0.02)
    capped = simulate(Scenario(n_establishments=500, months=24, pricing_rule="capped"), seed=0)
    above = capped.wage_parity > 1.05
    assert above.any() and np.allclose(capped.rho_hour[above], 1.0)  # the prototype's ρ ≡ 1


def test_learning_curve_fit_and_use():
    steps = np.linspace(0, 200_000, 21)
    true = LearningCurve(70.0, 108.0, 40_000.0, unit="env_steps")
    fit = fit_learning_curve(steps, true(steps))
    assert fit.mp_0 == pytest.approx(70.0, rel=1e-4) and fit.tau == pytest.approx(40_000, rel=1e-3)
    assert fit.unit == "env_steps" and fit.rmse < 1e-3 and fit.n_points == 21
    sc = Scenario(n_establishments=200, months=12, env_steps_per_month=20_000.0)
    res = simulate(sc, learning_curve=fit, seed=0)
    np.testing.assert_allclose(res.robot_mp, true(np.arange(12) * 20_000.0), rtol=1e-3)
    with pytest.raises(EconInputError, match="env_steps"):
        fit_learning_curve([0, 0, 1], [1, 2, 3])
    with pytest.raises(EconInputError, match="mp"):
        fit_learning_curve([0, 1, 2], [1, np.nan, 3])
    with pytest.raises(EconInputError, match="tau"):
        LearningCurve(1.0, 2.0, 0.0)


def test_npv_and_sensitivity():
    res = simulate(SMALL, seed=0)
    cash = res.platform_cash_flow
    assert npv(res.series, 0.0, SMALL.utilisation, 0.0, SMALL) == pytest.approx(cash.sum())
    assert res.npv == pytest.approx(npv(res.series, 0.10, 0.8, 0.01, SMALL))
    tab = res.sensitivity_table()
    assert tab["npv"].shape == (27,)
    one = (tab["utilisation"] == 0.8) & (tab["churn_monthly"] == 0.01)
    assert (np.diff(tab["npv"][one]) < 0).all()  # higher discount rate, lower NPV
    with pytest.raises(EconInputError, match="utilisation"):
        npv(res.series, 0.1, 0.0, 0.0, SMALL)


def test_table_is_parquet_ready(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    res = simulate(Scenario(n_establishments=100, months=12), seed=0)
    pq.write_table(pa.table(res.to_table()), tmp_path / "macro.parquet")
    back = pq.read_table(tmp_path / "macro.parquet").to_pydict()
    np.testing.assert_allclose(back["rho_ulc"], res.rho_ulc)
    assert pa.table(res.sensitivity_table()).num_rows == 27


def test_figure(tmp_path):
    out = macro_figure(simulate(Scenario(n_establishments=100, months=12), seed=0),
                       tmp_path / "macro.png")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_a_million_establishments_for_ten_years_in_seconds():
    sc = Scenario(n_establishments=1_000_000, months=120)
    t0 = time.perf_counter()
    res = simulate(sc, seed=0)
    assert time.perf_counter() - t0 < 10.0
    assert res.adoption_share.shape == (120,)
