"""The pack audit: exact identities, the outcome-fit test and its null, duplicates, the CLI,
and the refusal it carries into pricing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.cli import main
from robolabor.data.audit import (
    MODEL_ENV,
    audit_transitions,
    outcome_loglik,
    screened_price,
)
from robolabor.data.packs import collect, corrupt, make_policy, write_pack
from robolabor.data.valuation import write_data_value
from robolabor.errors import UserError
from robolabor.experiments.rollout import make_env
from robolabor.schema import to_dict

SHORT = {"shift_minutes": 30, "initial_backlog": 20}


@pytest.fixture(scope="module")
def honest():
    env = make_env(MODEL_ENV, SHORT)
    act, _ = make_policy("random", env, seed=0)
    tr = collect(env, act, episodes=20, seed=11)
    params = to_dict(env.unwrapped.params)
    env.close()
    return tr, params


def test_honest_pack_passes_every_check(honest):
    tr, params = honest
    a = audit_transitions(tr, MODEL_ENV, params)
    assert a["consistent"] and a["reasons"] == [] and a["skipped"] == {}
    assert a["identity_fraction"] == 0.0 and a["impossible_fraction"] == 0.0
    assert abs(a["fit_z"]) < 3.0 and a["duplicate_fraction"] == 0.0


@pytest.mark.parametrize("kind,reason", [("random_actions", "fit their recorded actions"),
                                         ("shuffled_rewards", "identities"),
                                         ("duplicates", "repeat another row")])
def test_each_corruption_fails_for_its_own_reason(honest, kind, reason):
    tr, params = honest
    a = audit_transitions(corrupt(tr, kind, seed=3), MODEL_ENV, params)
    assert not a["consistent"]
    assert any(reason in r for r in a["reasons"]), a["reasons"]


def test_one_edited_reward_breaks_an_identity(honest):
    tr, params = honest
    bad = tr.subset(slice(None))
    bad.reward = tr.reward.copy()
    bad.reward[17] += 0.5
    a = audit_transitions(bad, MODEL_ENV, params)
    assert not a["consistent"]
    assert a["identity_failures"]["reward is not the step's profit"] == pytest.approx(1 / len(tr))


def test_audit_against_another_task_fails(honest):
    """The same data claimed for a task with other prices is not that task's data."""
    tr, params = honest
    other = dict(params, energy_cost_per_hour=params["energy_cost_per_hour"] + 6.0)
    assert not audit_transitions(tr, MODEL_ENV, other)["consistent"]


def test_null_false_positive_rate_is_near_alpha():
    """z is N(0, 1) on honest packs: at alpha = 0.1 about a tenth of 60 honest packs fail
    (a test of calibration that a wrong mean or variance would fail)."""
    env = make_env(MODEL_ENV, {"shift_minutes": 20, "initial_backlog": 15})
    params = to_dict(env.unwrapped.params)
    act, _ = make_policy("random", env, seed=1)
    z = np.array([audit_transitions(collect(env, act, 2, 100 + 10 * i), MODEL_ENV, params,
                                    alpha=0.1)["fit_z"] for i in range(60)])
    env.close()
    assert abs(z.mean()) < 0.45 and 0.7 < z.std(ddof=1) < 1.35
    assert (z < -1.2816).mean() <= 0.25


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(0.05, 20.0), perr=st.floats(0.0, 1.0), cap=st.integers(0, 12))
def test_outcome_model_is_a_distribution_with_exact_moments(rate, perr, cap):
    n_max = 12
    grid = [(n, b) for n in range(n_max + 1) for b in range(n_max + 1)]
    n, b = (np.array(x) for x in zip(*grid, strict=True))
    k = len(grid)
    ll, mean, var = outcome_loglik(n, b, np.full(k, cap), np.full(k, rate), np.full(k, perr),
                                   n_max)
    p = np.exp(ll)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    ok = p > 0
    m = float((p[ok] * ll[ok]).sum())
    assert mean[0] == pytest.approx(m, abs=1e-9)
    assert var[0] == pytest.approx(float((p[ok] * (ll[ok] - m) ** 2).sum()), abs=1e-7)


def test_video_and_other_envs_skip_the_model_checks_and_say_why(honest):
    tr, params = honest
    a = audit_transitions(tr, "robolabor/DishwashingPhysics-v0", params)
    assert "no outcome model" in a["skipped"]["fit"] and "fit_z" not in a
    assert a["consistent"]  # duplicates is the only check left, and it passes


def test_bad_thresholds_are_user_errors(honest):
    tr, params = honest
    with pytest.raises(UserError, match="--alpha"):
        audit_transitions(tr, MODEL_ENV, params, alpha=0.7)
    with pytest.raises(UserError, match="--max-duplicates"):
        audit_transitions(tr, MODEL_ENV, params, max_duplicates=1.0)


def test_partial_corruption_damages_that_share_of_rows(honest):
    tr, _ = honest
    ra = corrupt(tr, "random_actions", seed=2, fraction=0.1)
    changed = np.any(ra.action != tr.action, axis=1)
    assert changed.sum() == round(0.1 * len(tr))
    sh = corrupt(tr, "shuffled_rewards", seed=2, fraction=0.25)
    assert sorted(sh.reward.tolist()) == sorted(tr.reward.tolist())
    np.testing.assert_array_equal(sh.action, tr.action)
    with pytest.raises(UserError, match="fraction"):
        corrupt(tr, "duplicates", fraction=0.0)


def test_failed_audit_refuses_the_price_and_the_share():
    price = {"per_robot_hour": 1.2, "per_robot_hour_shared": 1.0, "tier": "premium"}
    ok = {"consistent": True, "reasons": []}
    bad = {"consistent": False, "reasons": ["12% of rows break the task's identities"]}
    assert screened_price(price, ok) == price and screened_price(price, None) == price
    refused = screened_price(price, bad)
    assert refused["per_robot_hour"] == 0.0 and refused["tier"] == "refused"
    assert "identities" in refused["refused"] and price["tier"] == "premium"
    result = {"provenance": "customer", "audit": bad,
              "delta_mp": {"mean": 5.0, "ci_low": 1.0, "ci_high": 9.0}}
    assert write_data_value(result) == []


def test_pack_audit_cli(honest, tmp_path, capsys):
    tr, params = honest
    store = str(tmp_path / "store")
    write_pack(tr, "good", "customer", MODEL_ENV, params, {"kind": "random"}, store)
    write_pack(corrupt(tr, "random_actions", seed=1), "bad", "synthetic", MODEL_ENV, params,
               {"kind": "random", "corrupted": "random_actions"}, store)
    assert main(["pack", "audit", "good", "--store", store]) == 0
    assert "consistent with" in capsys.readouterr().out
    assert main(["pack", "audit", "bad", "--store", store, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["consistent"] is False and out["fit_z"] < out["fit_threshold"]
    assert main(["pack", "audit", "good", "--store", store, "--alpha", "2"]) == 1
    assert "--alpha" in capsys.readouterr().err
