"""The four claims: every verdict reached for every claim, or shown impossible."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.econ import (
    VERDICTS,
    ClaimResult,
    EconInputError,
    allocate_ledger,
    check_pricing_claims,
    claim_consumer_surplus,
    claim_decomposition,
    claim_revenue_by_intervention,
    claim_revenue_by_perturbation,
    claim_structural_deflation,
    claims_figure,
    mann_kendall,
    ols_slope,
    price_windows,
    window_ledger,
)
from robolabor.econ.claims import (
    null_control_rate,
    paired_power,
    paired_sample_size,
    with_controls,
)


def priced(rule, good, broken, w_h=18.0, price=0.3, damage=1.0, s_cust=0.35, hours=1.0,
           mp_h=60.0, fee=0.0):
    led = window_ledger(good, broken, hours, price, damage, 0.1, w_h, mp_h)
    return price_windows(rule, led, allocate_ledger(led, s_cust, 1.0), base_fee=fee)


rng = np.random.default_rng(0)
GOOD = rng.uniform(60, 110, 40)   # around the classic task, mostly above parity
BROKEN = GOOD * 0.025


# ------------------------------------------------------------------ claim 1, per hour

def test_claim1_per_hour_capped_holds_by_construction():
    r = claim_consumer_surplus(priced("capped", GOOD, BROKEN), "per_hour")
    assert r.verdict == "holds_by_construction" and r.claim == "claim1_per_hour"


def test_claim1_per_hour_split_fails_above_parity_and_shows_it():
    r = claim_consumer_surplus(priced("split", GOOD, BROKEN), "per_hour")
    assert r.verdict == "fails"
    assert r.counterexample["price"] > r.counterexample["human_wage"]
    assert r.numbers["n_violations"] > 0 and "split" in r.detail


def test_claim1_per_hour_split_holds_when_customer_takes_everything():
    r = claim_consumer_surplus(priced("split", GOOD, BROKEN, s_cust=1.0), "per_hour")
    assert r.verdict == "holds" and "not guaranteed" in r.detail


def test_claim1_per_hour_not_supported_without_windows():
    r = claim_consumer_surplus({"price": [], "human_wage": []}, "per_hour")
    assert r.verdict == "not_supported"


def test_claim1_per_hour_fails_on_supplied_data_and_capped_cannot_fail():
    r = claim_consumer_surplus({"price": [18.0, 19.0], "human_wage": [18.0, 18.0]}, "per_hour")
    assert r.verdict == "fails" and r.counterexample["window"] == 1


@settings(max_examples=100, deadline=None)
@given(g=st.lists(st.floats(0, 300), min_size=1, max_size=10), err=st.floats(0, 0.5),
       w_h=st.floats(1, 80), fee=st.floats(0, 20), s_cust=st.floats(0, 1))
def test_claim1_per_hour_capped_never_fails(g, err, w_h, fee, s_cust):
    """Why 'fails' is impossible for capped: P = min(·, w_h)."""
    g = np.array(g)
    r = claim_consumer_surplus(priced("capped", g, g * err, w_h=w_h, fee=fee, s_cust=s_cust),
                               "per_hour")
    assert r.verdict == "holds_by_construction"


# ------------------------------------------------------------------ claim 1, per unit

def test_claim1_per_item_holds_by_construction_with_value_consistent_benchmark():
    for rule in ("capped", "split"):
        r = claim_consumer_surplus(priced(rule, GOOD, BROKEN), "per_item")
        assert r.verdict == "holds_by_construction"


def test_claim1_per_item_holds_empirically_otherwise():
    # p = 0.5 > ULC_h = 0.3, yet a fast robot with s_plat = 0 is still cheaper per unit
    r = claim_consumer_surplus(priced("split", [100.0], [0.0], price=0.5, s_cust=1.0), "per_item")
    assert r.verdict == "holds"


def test_claim1_per_item_fails_with_counterexample():
    r = claim_consumer_surplus(priced("split", [30.0], [0.0], price=1.0, s_cust=0.0), "per_item")
    assert r.verdict == "fails"
    assert r.counterexample["ulc_robot_items"] == pytest.approx(1.0)
    assert r.counterexample["ulc_human_items"] == pytest.approx(0.3)


def test_claim1_per_item_not_supported_without_output():
    r = claim_consumer_surplus(priced("capped", [0.0, 0.0], [5.0, 1.0]), "per_item")
    assert r.verdict == "not_supported"


# ------------------------------------------------------------------ claim 2

def test_claim2_split_holds_by_construction():
    r = claim_decomposition(priced("split", GOOD, BROKEN))
    assert r.verdict == "holds_by_construction"
    assert r.numbers["capture_unrealised_total"] == pytest.approx(0.0, abs=1e-9)


def test_claim2_capped_fails_and_reports_unrealised_capture():
    p = priced("capped", GOOD, BROKEN)
    r = claim_decomposition(p)
    assert r.verdict == "fails"
    assert r.numbers["max_abs_sv_error"] < 1e-9  # SV = R + C itself holds
    assert r.numbers["capture_unrealised_total"] == pytest.approx(p.capture.sum())
    assert r.numbers["capture_realised_total"] == 0.0 and "capped" in r.detail


def test_claim2_capped_holds_when_there_is_nothing_to_capture():
    assert claim_decomposition(priced("capped", GOOD, BROKEN, s_cust=1.0)).verdict == \
        "holds_by_construction"


def test_claim2_holds_on_supplied_data_and_fails_on_tampered_data():
    cols = priced("split", GOOD, BROKEN).to_dict()
    assert claim_decomposition(cols).verdict == "holds"
    cols["capture"] = cols["capture"].copy()
    cols["capture"][3] += 0.01  # e.g. a CSV rounded to 2 decimals
    r = claim_decomposition(cols)
    assert r.verdict == "fails" and r.counterexample["window"] == 3


def test_claim2_not_supported_below_parity():
    r = claim_decomposition(priced("split", [40.0, 50.0], [1.0, 1.0]))
    assert r.verdict == "not_supported"


def test_claim2_reports_the_band_gap():
    r = claim_decomposition(priced("split", [61.8], [0.0]))  # parity 1.03
    assert r.verdict == "not_supported"
    assert r.numbers["uncounted_gap_total"] == pytest.approx(0.3 * 61.8 - 18.0)


# ------------------------------------------------------------------ claim 3

def test_claim3_perturbation_holds_by_construction_and_not_supported():
    r = claim_revenue_by_perturbation(GOOD, BROKEN, 1.0, 0.3, 1.0, 18.0, s_plat=0.65)
    assert r.verdict == "holds_by_construction" and r.numbers["n_eligible"] > 0
    r = claim_revenue_by_perturbation(GOOD, BROKEN, 1.0, 0.3, 1.0, 18.0, s_plat=0.0)
    assert r.verdict == "not_supported"
    with pytest.raises(EconInputError, match="factor"):
        claim_revenue_by_perturbation(GOOD, BROKEN, 1.0, 0.3, 1.0, 18.0, 0.5, factor=0.9)


@settings(max_examples=100, deadline=None)
@given(g=st.lists(st.floats(0, 300), min_size=1, max_size=10), err=st.floats(0, 0.9),
       w_h=st.floats(1, 60), p=st.floats(0.01, 2), c=st.floats(0, 10), s_plat=st.floats(0, 1),
       factor=st.floats(1.001, 3))
def test_claim3_perturbation_cannot_fail(g, err, w_h, p, c, s_plat, factor):
    """Why 'fails' is impossible here: above the threshold ŵ_r > w_h > 0, so scaling the
    counts at fixed error rate scales ŵ_r up and C = s_plat·(ŵ_r − w_h)·H with it."""
    g = np.array(g)
    b = g * err / (1 - err)
    r = claim_revenue_by_perturbation(g, b, 1.0, p, c, w_h, s_plat, factor)
    assert r.verdict in ("holds_by_construction", "not_supported")


SLA = {"sla": 0.04, "sla_attempts": 3000}  # quality tolerance 1.96·√(0.04·0.96/3000) ≈ 0.007


def _episodes(mp, err, n=30, seed=0, hours=1.0):
    """Paired evaluation episodes with common random numbers (same seed ⇒ same noise)."""
    z = np.random.default_rng(seed).normal(0, 1, n)
    good = np.maximum(0, mp * hours * (1 + 0.05 * z))
    return {"good": good, "broken": good * err / (1 - err), "hours": hours}


def test_claim3_intervention_holds():
    r = claim_revenue_by_intervention(_episodes(95, 0.02), _episodes(105, 0.02),
                                      0.3, 1.0, 18.0, s_plat=0.65, **SLA)
    assert r.verdict == "holds" and r.numbers["delta_capture_ci"][0] > 0


def test_claim3_intervention_fails_when_speed_comes_with_a_cheaper_mix():
    n = 30
    base = {"good": np.column_stack([np.full(n, 60.0), np.full(n, 40.0)]),
            "broken": np.column_stack([np.full(n, 1.2), np.full(n, 0.8)]), "hours": 1.0}
    fast = {"good": np.column_stack([np.full(n, 100.0), np.full(n, 10.0)]),
            "broken": np.column_stack([np.full(n, 2.0), np.full(n, 0.2)]), "hours": 1.0}
    fast["good"] = fast["good"] + np.linspace(0, 1, n)[:, None]  # not a constant difference
    r = claim_revenue_by_intervention(base, fast, [0.2, 1.0], [1.0, 1.0], 18.0, s_plat=1.0, **SLA)
    assert r.verdict == "fails"
    assert r.counterexample["mp_faster"] > r.counterexample["mp_base"]
    assert r.counterexample["capture_faster"] < r.counterexample["capture_base"]


def test_claim3_intervention_not_supported_when_premise_fails_or_no_effect():
    # error rate not fixed
    r = claim_revenue_by_intervention(_episodes(95, 0.02), _episodes(105, 0.06),
                                      0.3, 1.0, 18.0, 0.65, **SLA)
    assert r.verdict == "not_supported" and "error" in r.detail
    # MP not raised
    r = claim_revenue_by_intervention(_episodes(100, 0.02), _episodes(100, 0.02, seed=1),
                                      0.3, 1.0, 18.0, 0.65, **SLA)
    assert r.verdict == "not_supported" and "premise" in r.detail
    # far below parity: C is 0 in both arms
    r = claim_revenue_by_intervention(_episodes(30, 0.02), _episodes(40, 0.02),
                                      0.3, 1.0, 18.0, 0.65, **SLA)
    assert r.verdict == "not_supported"


def test_claim3_intervention_is_never_by_construction():
    """Why: two policies are measured; even noiseless data give 'holds', a finding."""
    base = {"good": np.full(5, 95.0), "broken": np.full(5, 1.0), "hours": 1.0}
    fast = {"good": np.full(5, 105.0) + np.arange(5) * 0.01,
            "broken": (np.full(5, 105.0) + np.arange(5) * 0.01) / 95.0, "hours": 1.0}
    assert claim_revenue_by_intervention(base, fast, 0.3, 1.0, 18.0, 0.65, **SLA).verdict == "holds"


def test_claim3_quality_tolerance_comes_from_the_sla_interval():
    r = claim_revenue_by_intervention(_episodes(95, 0.02), _episodes(105, 0.02), 0.3, 1.0, 18.0,
                                      0.65, **SLA)
    assert r.numbers["err_tol"] == pytest.approx(1.959964 * np.sqrt(0.04 * 0.96 / 3000), rel=1e-6)
    # a difference of 0.005 is inside the SLA's interval on 3000 items, outside it on 30000
    assert claim_revenue_by_intervention(_episodes(95, 0.02), _episodes(105, 0.025), 0.3, 1.0,
                                         18.0, 0.65, **SLA).verdict == "holds"
    r = claim_revenue_by_intervention(_episodes(95, 0.02), _episodes(105, 0.025), 0.3, 1.0, 18.0,
                                      0.65, sla=0.04, sla_attempts=30_000)
    assert r.verdict == "not_supported" and "quality" in r.detail
    with pytest.raises(EconInputError, match="err_tol"):
        claim_revenue_by_intervention(_episodes(95, 0.02), _episodes(105, 0.02), 0.3, 1.0, 18.0,
                                      0.65)


def test_power_and_sample_size():
    # normal approximation: ((1.95996 + 0.84162)·7.1/1)² = 395.7; the t-test needs a bit more
    n = paired_sample_size(1.0, 7.1)
    assert 396 <= n <= 399
    assert paired_power(n, 1.0, 7.1) >= 0.8 > paired_power(n - 1, 1.0, 7.1)
    assert paired_power(64, 1.0, 7.1) == pytest.approx(0.20, abs=0.01)  # Φ(8/7.1 − 1.96)
    # a simulated paired test rejects at about the stated power
    rng = np.random.default_rng(0)
    d = rng.normal(1.0, 7.1, size=(2000, n))
    t = d.mean(1) / (d.std(1, ddof=1) / np.sqrt(n))
    assert abs(np.mean(np.abs(t) > 1.966) - 0.8) < 0.03


def test_null_controls_reject_at_about_their_level_and_controls_downgrade():
    rng = np.random.default_rng(1)
    cost, out = np.full(300, 36.0), rng.normal(500, 40, 300)
    res = null_control_rate(cost, out, 0.075, n_controls=300, seed=2)
    assert res["false_positive_rate"] <= 0.05 + 2 * res["mc_se"] + 0.02
    assert sum(res["verdicts"].values()) == 300
    learn = claim_structural_deflation(_learning(), CK)
    assert learn.verdict == "holds"
    bad = with_controls(learn, negative=claim_structural_deflation(_learning(), CK))
    assert bad.verdict == "not_supported" and bad.numbers["verdict_before_controls"] == "holds"
    ok = with_controls(learn, negative=claim_structural_deflation(
        0.8 + np.random.default_rng(2).normal(0, 0.02, (5, CK.shape[0])), CK), positive=learn)
    assert ok.verdict == "holds" and ok.numbers["negative_control"] == "not_supported"


def test_claim3_intervention_input_errors():
    with pytest.raises(EconInputError, match="faster"):
        claim_revenue_by_intervention(_episodes(95, 0.02), {"good": [1.0]}, 0.3, 1.0, 18.0, 0.5,
                                      **SLA)
    with pytest.raises(EconInputError, match="faster"):
        claim_revenue_by_intervention(_episodes(95, 0.02), _episodes(95, 0.02, n=10),
                                      0.3, 1.0, 18.0, 0.5, **SLA)


# ------------------------------------------------------------------ claim 4

CK = np.arange(0, 100_000, 10_000)


def _learning(seeds=5, noise=0.02, start=1.1, end=0.7, seed=0):
    g = np.random.default_rng(seed)
    trend = end + (start - end) * np.exp(-CK / 30_000)
    return trend + g.normal(0, noise, (seeds, CK.shape[0]))


def test_claim4_holds_under_learning():
    r = claim_structural_deflation(_learning(), CK, rho_hour=_learning() * 1.3)
    assert r.verdict == "holds"
    assert r.numbers["slope_ci"][1] < 0 and r.numbers["t_star"] is not None
    assert r.numbers["rho_hour_last"] > 0


def test_claim4_frozen_policy_is_not_supported():
    """The negative control: a non-learning policy, even one already cheaper than a human."""
    frozen = 0.8 + np.random.default_rng(2).normal(0, 0.02, (5, CK.shape[0]))
    r = claim_structural_deflation(frozen, CK)
    assert r.verdict == "not_supported" and "trend" in r.detail


def test_claim4_fails_when_unit_cost_rises():
    r = claim_structural_deflation(_learning(start=0.7, end=1.2), CK)
    assert r.verdict == "fails" and r.counterexample is not None


def test_claim4_not_supported_when_still_above_one():
    r = claim_structural_deflation(_learning(start=1.5, end=1.2), CK)
    assert r.verdict == "not_supported" and "not credibly below 1" in r.detail


def test_claim4_is_never_by_construction():
    """Why: no pricing rule makes ρ_ULC fall over time; noiseless learning still 'holds'."""
    r = claim_structural_deflation(np.linspace(1.2, 0.6, 10), CK)
    assert r.verdict == "holds" and "one seed" in r.detail


def test_claim4_input_errors():
    with pytest.raises(EconInputError, match="checkpoints"):
        claim_structural_deflation(_learning(), CK[::-1])
    with pytest.raises(EconInputError, match="at least 3"):
        claim_structural_deflation([[1.0, 0.9]])
    with pytest.raises(EconInputError, match="rho_ulc"):
        claim_structural_deflation([1.0, np.nan, 0.9])
    with pytest.raises(EconInputError, match="rho_hour"):
        claim_structural_deflation(_learning(), CK, rho_hour=[1.0, 1.0, 1.0])


def test_trend_statistics_by_hand():
    s, z, p = mann_kendall([1, 2, 3, 4, 5])
    assert s == 10 and z == pytest.approx(9 / np.sqrt(50 / 3)) and p == pytest.approx(0.02746, 1e-3)
    assert mann_kendall([3, 3, 3, 3])[2] == 1.0
    b, lo, hi = ols_slope([0, 1, 2, 3], [1, 3, 5, 7])
    assert b == pytest.approx(2.0) and lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    b, lo, hi = ols_slope([0, 1, 2, 3], [0, 2, 1, 3])
    assert b == pytest.approx(0.8) and lo < 0.8 < hi


# ------------------------------------------------------------------ together

def test_every_verdict_is_a_known_one_and_figure_is_written(tmp_path):
    p = priced("split", GOOD, BROKEN)
    results = check_pricing_claims(p)
    results.append(claim_revenue_by_perturbation(GOOD, BROKEN, 1.0, 0.3, 1.0, 18.0, 0.65))
    results.append(claim_structural_deflation(_learning(), CK))
    assert all(isinstance(r, ClaimResult) and r.verdict in VERDICTS for r in results)
    assert [r.verdict for r in results[:3]] == ["fails", "holds_by_construction",
                                                "holds_by_construction"]
    assert results[0].to_dict()["claim"] == "claim1_per_hour"
    cols = p.to_dict()
    cols["rho_ulc_checkpoints"] = _learning()
    out = claims_figure(results, cols, tmp_path / "claims.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="verdict"):
        ClaimResult("claim1", "maybe")
