"""DishwashingClassic-v0: the prototype's dynamics, exactly, behind the Gymnasium API."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import robolabor  # noqa: F401  (registers the envs)
from robolabor.envs.classic import DishwashingClassicEnv
from robolabor.envs.params import ClassicParams, classic_rate_and_perr
from robolabor.schema import ConfigError

INFO_KEYS = {"good", "broken", "p_err", "speed", "care", "rate_per_min", "attempts",
             "good_by_type", "broken_by_type", "revenue", "damage", "operating_cost",
             "profit", "minute"}
RENDER_KEYS = {"minute", "shift_minutes", "backlog", "backlog_cap", "dish_type", "n_types",
               "arrival_rate", "peak_arrival_rate", "good_this_step", "errors_this_step",
               "errors_so_far", "attempts_so_far", "sla", "last_action"}


def test_check_env_passes():
    check_env(DishwashingClassicEnv(), skip_render_check=True)
    check_env(gym.make("robolabor/DishwashingClassic-v0", render_mode="rgb_array").unwrapped)


def test_registered_and_exposes_economics():
    env = gym.make("robolabor/DishwashingClassic-v0")
    u = env.unwrapped
    assert isinstance(u, DishwashingClassicEnv)
    assert u.horizon == 60 and u.sla == 0.06
    assert u.econ.prices.tolist() == [0.30] and u.econ["damage_costs"].tolist() == [1.0]
    assert u.econ.human_wage == 18.0 and u.econ.human_mp == 60.0
    assert u.econ.hours_per_step == pytest.approx(1 / 60)
    env.close()


def test_prototype_formulas():
    p = ClassicParams()
    rate, perr = classic_rate_and_perr(p, np.array([0.0, 0.5, 1.0]), np.array([1.0, 0.5, 0.0]))
    assert rate == pytest.approx([2 * 0.5 * 0.75, 2 * 0.75 * 0.875, 2.0])
    assert perr == pytest.approx([0.02, 0.02 + 0.12 * 0.5 ** 1.2 * 0.5 ** 1.5, 0.14])


def test_monte_carlo_matches_closed_form():
    """E[attempts] = r + e^-r (max(1, Poisson)), E[errors] = p·E[attempts]."""
    env = DishwashingClassicEnv()
    env.reset(seed=3)
    speed, care = 0.8, 0.3
    rate, perr = classic_rate_and_perr(env.params, speed, care)
    att, err = [], []
    for _ in range(40):
        env.reset()
        for _ in range(60):
            _, _, _, _, info = env.step(np.array([speed, care], np.float32))
            att.append(info["attempts"])
            err.append(info["broken"])
            assert info["attempts"] >= 1
            assert info["rate_per_min"] == pytest.approx(float(rate), rel=1e-6)
            assert info["p_err"] == pytest.approx(float(perr), rel=1e-6)
    att, err = np.array(att), np.array(err)
    e_att = float(rate + math.exp(-rate))
    assert abs(att.mean() - e_att) < 4 * att.std() / math.sqrt(len(att))
    assert abs(err.sum() / att.sum() - float(perr)) < 0.02


def test_step_reward_is_step_profit_and_terminates_at_shift_end():
    env = DishwashingClassicEnv()
    obs, info = env.reset(seed=0)
    assert obs.tolist() == [0, 0, 0, 0] and info["minute"] == 0
    total = 0.0
    for t in range(60):
        obs, r, term, trunc, info = env.step(np.array([1.0, 0.9], np.float32))
        assert set(info) == INFO_KEYS
        assert r == pytest.approx(0.30 * info["good"] - 1.0 * info["broken"] - 0.10 / 60)
        assert r == pytest.approx(info["revenue"] - info["damage"] - info["operating_cost"])
        assert info["good"] + info["broken"] == info["attempts"]
        assert info["good_by_type"].tolist() == [info["good"]]
        assert env.observation_space.contains(obs)
        total += r
        assert term == (t == 59) and not trunc
    minute, completed, attempts, errors = env.state
    assert minute == 60 and completed + errors == attempts
    assert obs[0] == 1.0 and obs[1] == pytest.approx(min(1, completed / 200))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0.5, 0.5], np.float32))


def test_actions_are_clipped_and_validated():
    env = DishwashingClassicEnv()
    env.reset(seed=1)
    _, _, _, _, info = env.step(np.array([3.0, -2.0]))
    assert (info["speed"], info["care"]) == (1.0, 0.0)
    with pytest.raises(ValueError, match="2 entries"):
        env.step(np.array([0.5]))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.5]))


def test_seeded_episodes_repeat():
    def run(seed):
        env = DishwashingClassicEnv()
        env.reset(seed=seed)
        return [env.step(np.array([0.7, 0.2], np.float32))[1] for _ in range(60)]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_config_is_validated():
    env = DishwashingClassicEnv(config={"price": 0.5})
    assert env.params.price == 0.5
    with pytest.raises(ConfigError, match="unknown key"):
        DishwashingClassicEnv(config={"prize": 0.5})
    with pytest.raises(ConfigError, match="human_wage"):
        DishwashingClassicEnv(config={"human_wage": -1.0})
    with pytest.raises(ConfigError, match="either"):
        DishwashingClassicEnv(params=ClassicParams(), config={})


def test_render_state_keys():
    env = DishwashingClassicEnv(render_mode="rgb_array")
    env.reset(seed=0)
    env.step(np.array([0.5, 0.5], np.float32))
    rs = env.render_state()
    assert set(rs) == RENDER_KEYS
    assert (rs["backlog"], rs["backlog_cap"], rs["dish_type"], rs["n_types"]) == (0, 1, 0, 1)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
