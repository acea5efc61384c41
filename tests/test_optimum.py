"""The exact solver: the prototype's known optimum, the shift task's required properties,
and agreement of the DP values with Monte Carlo episodes in the real env."""

import math

import numpy as np
import pytest

import robolabor  # noqa: F401  (registers the envs)
from robolabor.envs import optimum as opt_mod
from robolabor.envs.classic import DishwashingClassicEnv
from robolabor.envs.optimum import Optimum, optimum_for_env, solve
from robolabor.envs.params import ClassicParams, ShiftParams
from robolabor.envs.shift import DishwashingShiftEnv

JSON_KEYS = {"expected_profit", "parity", "mp", "error_rate", "sla", "lambda_star",
             "best_constant_profit", "random_parity", "solve_seconds"}


@pytest.fixture(scope="module")
def shift_opt() -> Optimum:
    return solve(ShiftParams())


@pytest.fixture(scope="module")
def classic_opt() -> Optimum:
    return solve(ClassicParams())


def run_episodes(env, policy, n: int, seed: int) -> dict:
    """Mean and standard error of episode totals of ``policy(env) -> action``."""
    profit, errors, attempts = np.zeros(n), np.zeros(n), np.zeros(n)
    env.reset(seed=seed)
    for i in range(n):
        env.reset()
        done = False
        while not done:
            _, r, term, trunc, info = env.step(policy(env))
            profit[i] += r
            errors[i] += info["broken"]
            attempts[i] += info["attempts"]
            done = term or trunc
    return {"profit": profit.mean(), "se": profit.std(ddof=1) / math.sqrt(n),
            "error_rate": errors.sum() / attempts.sum()}


# --------------------------------------------------------------------------- classic
def test_classic_reproduces_prototype_optimum(classic_opt):
    o = classic_opt
    assert o.kind == "classic"
    speed, care = o.best_constant_action
    assert speed == pytest.approx(1.0, abs=1e-6)
    assert care == pytest.approx(0.93, abs=0.01)
    assert o.mp == pytest.approx(102.7, abs=0.1)
    assert o.parity == pytest.approx(1.58, abs=0.01)
    assert o.lambda_star == 0.0 and o.error_rate < o.sla  # the SLA is slack: the §9 failure
    assert o.random_parity == pytest.approx(1.285, abs=0.01)  # almost anything beats the human
    assert o.best_constant_ratio == 1.0  # a bandit: the best constant action is optimal
    np.testing.assert_allclose(o.action((17, 0, 0, 0)), o.best_constant_action)


def test_classic_monte_carlo_agrees(classic_opt):
    env = DishwashingClassicEnv()
    mc = run_episodes(env, lambda e: classic_opt.action(e.state), 400, seed=11)
    assert abs(mc["profit"] - classic_opt.expected_profit) < 1.96 * mc["se"]


# --------------------------------------------------------------------------- shift
def test_shift_sla_binds(shift_opt):
    """(a) The unconstrained profit optimum breaks e*, and meeting it costs real money."""
    o = shift_opt
    assert o.unconstrained_error_rate > o.sla + 0.02
    assert o.lambda_star > 0.1  # $ per excess error: same order as the damage costs
    assert o.error_rate <= o.sla + 1e-9
    assert o.error_rate > o.sla - 0.002  # the constraint is active at the optimum
    assert o.unconstrained_profit > 1.03 * o.expected_profit


def test_shift_state_matters(shift_opt):
    """(b) The best constant action earns at most 85% of the optimum (with or without SLA)."""
    o = shift_opt
    assert o.best_constant_profit <= 0.85 * o.expected_profit
    assert o.best_constant_unconstrained_profit <= 0.85 * o.expected_profit
    assert o.best_constant_error_rate <= o.sla
    # and the optimal policy really uses the state: the action varies with type and backlog
    table = o.policy_table.reshape(-1, 2)
    assert np.unique(table, axis=0).shape[0] >= 5
    t = 60
    assert not np.allclose(o.policy_table[t, 2, 0], o.policy_table[t, 2, 2])  # plate vs pot


def test_shift_parity_needs_learning(shift_opt):
    """(c) A random policy is below wage parity, the optimal one well above it."""
    assert shift_opt.random_parity < 1.0
    assert shift_opt.parity > 1.3


def test_shift_dp_value_matches_monte_carlo(shift_opt):
    env = DishwashingShiftEnv()
    mc = run_episodes(env, lambda e: shift_opt.action(e.state), 600, seed=2024)
    assert abs(mc["profit"] - shift_opt.expected_profit) < 1.96 * mc["se"], mc
    assert mc["error_rate"] == pytest.approx(shift_opt.error_rate, abs=0.004)


def test_shift_random_value_matches_monte_carlo(shift_opt):
    env = DishwashingShiftEnv()
    rng = np.random.default_rng(5)
    mc = run_episodes(env, lambda e: rng.random(2), 500, seed=77)
    assert abs(mc["profit"] - shift_opt.random_profit) < 1.96 * mc["se"], mc


def test_greedy_policy_is_not_improved_by_perturbations():
    """Bellman optimality on a small instance: changing the DP's action anywhere never helps."""
    p = ShiftParams(shift_minutes=12, rack_capacity=6, initial_backlog=3,
                    max_attempts_per_minute=3, peak_minute=6.0, peak_width=3.0)
    model = opt_mod._ShiftModel(p, opt_mod._grid_actions(5))
    lam = 1.0

    def lagrangian(tot):
        return tot[opt_mod.PROFIT] - lam * (tot[opt_mod.ERRORS] - p.sla * tot[opt_mod.ATTEMPTS])

    policy, tot = model.backward(lam)
    best = lagrangian(tot)
    rng = np.random.default_rng(0)
    for _ in range(40):
        other = policy.copy()
        t, k, b = rng.integers(p.shift_minutes), rng.integers(p.n_types), rng.integers(7)
        other[t, k, b] = rng.integers(len(model.actions))
        assert lagrangian(model.evaluate_policy(other)) <= best + 1e-5
    assert lagrangian(model.evaluate_action(0)) <= best + 1e-5


def test_solve_is_cached_and_serialisable(shift_opt):
    assert solve(ShiftParams()) is shift_opt
    js = shift_opt.to_json()
    assert JSON_KEYS <= set(js)
    assert js["solve_seconds"] > 0 and isinstance(js["best_constant_action"], list)
    p = ShiftParams()
    assert shift_opt.policy_table.shape == (p.shift_minutes, p.rack_capacity + 1, 3, 2)
    a = shift_opt.action((200, 999, 1, 0, 0))  # out-of-range minute/backlog are clamped
    assert a.shape == (2,) and np.all((a >= 0) & (a <= 1))


def test_optimum_for_env(classic_opt, shift_opt):
    assert optimum_for_env("robolabor/DishwashingClassic-v0") is classic_opt
    assert optimum_for_env(DishwashingShiftEnv()) is shift_opt
    with pytest.raises(TypeError):
        optimum_for_env(object())
    with pytest.raises(TypeError):
        solve({"sla": 0.1})
