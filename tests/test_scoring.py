"""Frontier scores and the statistical SLA verdict (experiments.scoring, envs.optimum)."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robolabor.envs.optimum import frontier_profit, solve
from robolabor.envs.params import ShiftParams
from robolabor.experiments.scoring import score_episodes, sla_verdict

FRONTIER = [[0.02, 40.0, 2.0], [0.04, 50.0, 0.5], [0.06, 55.0, 0.2], [0.08, 56.0, 0.0]]
OPT = {"sla": 0.04, "expected_profit": 50.0, "frontier": FRONTIER}


def test_frontier_profit_is_flat_under_the_sla_linear_above_and_flat_past_the_end():
    assert frontier_profit(FRONTIER, 0.04, 0.0) == 50.0      # under e*: V*(e*), not V*(0)
    assert frontier_profit(FRONTIER, 0.04, 0.04) == 50.0
    assert frontier_profit(FRONTIER, 0.04, 0.05) == pytest.approx(52.5)
    assert frontier_profit(FRONTIER, 0.04, 0.5) == 56.0
    np.testing.assert_allclose(frontier_profit(FRONTIER, 0.04, np.array([0.01, 0.07])),
                               [50.0, 55.5])
    with pytest.raises(ValueError, match="finite"):
        frontier_profit(FRONTIER, 0.04, float("nan"))


def test_verdicts_are_tests_of_the_ci_not_a_tolerance():
    assert sla_verdict(0.030, 0.040, 0.04) == "met"
    assert sla_verdict(0.0401, 0.05, 0.04) == "broken"
    assert sla_verdict(0.035, 0.045, 0.04) == "not_rejected"
    assert sla_verdict(float("nan"), float("nan"), 0.04) == "not_rejected"


def _episodes(rate: float, n: int, attempts: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    att = np.full(n, attempts)
    return rng.normal(50.0, 2.0, n), rng.binomial(att, rate), att


def test_many_episodes_at_a_clearly_high_rate_are_broken_and_charged():
    profit, broken, attempts = _episodes(0.06, 200)
    s = score_episodes(profit, broken, attempts, OPT)
    assert s["sla_verdict"] == "broken"
    assert s["pooled_error_rate_lo"] > 0.04
    # charged for its errors: ~55 available at ê = 0.06, so ~91% of the frontier
    assert s["pct_of_frontier"] == pytest.approx(100 * profit.mean() / 55.0, rel=0.01)
    assert s["pct_of_frontier_lo"] < s["pct_of_frontier"] < s["pct_of_frontier_hi"]


def test_few_episodes_near_the_sla_cannot_tell_and_a_clear_margin_is_met():
    broken, attempts = np.array([2, 6, 3, 5, 5]), np.full(5, 100)  # pooled 0.042
    near = score_episodes(np.full(5, 50.0), broken, attempts, OPT)
    assert near["pooled_error_rate"] > 0.04 and near["sla_verdict"] == "not_rejected"
    profit, broken, attempts = _episodes(0.02, 200)
    s = score_episodes(profit, broken, attempts, OPT)
    assert s["sla_verdict"] == "met"
    assert s["pct_of_frontier"] == pytest.approx(100 * profit.mean() / 50.0)
    one = score_episodes(profit[:1], broken[:1], attempts[:1], OPT)
    assert one["sla_verdict"] == "not_rejected" and np.isnan(one["pooled_error_rate_lo"])
    with pytest.raises(ValueError, match="equal-length"):
        score_episodes(profit, broken[:3], attempts, OPT)


def test_bootstrap_is_deterministic():
    profit, broken, attempts = _episodes(0.04, 30)
    assert score_episodes(profit, broken, attempts, OPT) == \
        score_episodes(profit, broken, attempts, OPT)


@given(st.floats(0.0, 0.2), st.floats(0.0, 0.2))
def test_frontier_profit_is_monotone(e1, e2):
    lo, hi = sorted((e1, e2))
    assert frontier_profit(FRONTIER, 0.04, lo) <= frontier_profit(FRONTIER, 0.04, hi)


def test_exact_frontier_of_the_shift_task():
    """V*(e) rises with e, passes through the optimum at e*, ends at the unconstrained
    optimum (which thus scores 100% of the frontier, not 108% of V*(e*))."""
    opt = solve(ShiftParams())
    pts = np.asarray(opt.frontier)
    assert np.all(np.diff(pts[:, 0]) > 0) and np.all(np.diff(pts[:, 1]) >= 0)
    assert np.all(np.diff(pts[:, 2]) <= 1e-9)          # λ(e) falls as the cap loosens
    star = pts[np.isclose(pts[:, 0], opt.sla)][0]
    assert star[1] == opt.expected_profit and star[2] == opt.lambda_star
    assert pts[-1, 0] == pytest.approx(opt.unconstrained_error_rate)
    assert pts[-1, 1] == pytest.approx(opt.unconstrained_profit)
    assert opt.frontier_profit(opt.unconstrained_error_rate) == pytest.approx(
        opt.unconstrained_profit)
    assert 100 * opt.unconstrained_profit / opt.expected_profit > 105
    assert json.loads(json.dumps(opt.to_json()))["frontier"] == opt.frontier
