"""DishwashingShift-v0: backlog, rush hour, dish types; Gymnasium API and bookkeeping."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import robolabor  # noqa: F401  (registers the envs)
from robolabor.envs.params import DishType, ShiftParams, shift_rate_and_perr
from robolabor.envs.shift import DishwashingShiftEnv
from robolabor.schema import ConfigError, from_dict, to_dict

SHIFT_INFO = {"good", "broken", "p_err", "speed", "care", "rate_per_min", "attempts",
              "good_by_type", "broken_by_type", "revenue", "damage", "operating_cost",
              "profit", "minute", "backlog", "dish_type", "washed_type", "arrivals",
              "overflow"}
RENDER_KEYS = {"minute", "shift_minutes", "backlog", "backlog_cap", "dish_type", "n_types",
               "arrival_rate", "peak_arrival_rate", "good_this_step", "errors_this_step",
               "errors_so_far", "attempts_so_far", "sla", "last_action"}


def test_check_env_passes():
    check_env(DishwashingShiftEnv(), skip_render_check=True)
    check_env(gym.make("robolabor/DishwashingShift-v0", render_mode="rgb_array").unwrapped)


def test_registered_with_ten_dim_observation():
    env = gym.make("robolabor/DishwashingShift-v0")
    u = env.unwrapped
    assert isinstance(u, DishwashingShiftEnv)
    assert env.observation_space.shape == (10,) and env.observation_space.dtype == np.float32
    assert env.action_space.shape == (2,)
    assert u.horizon == 120 and 0 < u.sla < 1
    assert u.econ.type_names == ("plate", "glass", "pot")
    assert u.econ.prices.shape == (3,) and u.econ.damage_costs.shape == (3,)
    obs, info = env.reset(seed=0)
    assert obs[3] == pytest.approx(u.params.initial_backlog / u.params.rack_capacity)
    assert obs[4:7].sum() == 1.0 and obs[4 + info["dish_type"]] == 1.0
    env.close()


def test_bookkeeping_over_an_episode():
    env = DishwashingShiftEnv()
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=1)
    p = env.params
    prices, damage = env.econ.prices, env.econ.damage_costs
    for t in range(p.shift_minutes):
        minute, b, k, errs0, att0 = env.state
        a = rng.random(2).astype(np.float32)
        obs, r, term, trunc, info = env.step(a)
        assert set(info) == SHIFT_INFO
        assert env.observation_space.contains(obs)
        assert info["washed_type"] == k and info["minute"] == minute + 1
        assert info["dish_type"] == env.state[2] and obs[4 + info["dish_type"]] == 1.0
        assert info["attempts"] <= min(b, p.max_attempts_per_minute)  # no phantom dishes
        assert info["good"] + info["broken"] == info["attempts"]
        # conservation of dishes on the rack
        assert info["backlog"] == b - info["attempts"] + info["arrivals"] - info["overflow"]
        assert 0 <= info["backlog"] <= p.rack_capacity
        assert info["overflow"] == 0 or info["backlog"] == p.rack_capacity
        assert r == pytest.approx(prices[k] * info["good"] - damage[k] * info["broken"]
                                  - p.energy_cost_per_hour / 60)
        assert info["good_by_type"].sum() == info["good"]
        assert info["broken_by_type"][k] == info["broken"]
        rate, perr = shift_rate_and_perr(p, info["speed"], info["care"])
        assert info["rate_per_min"] == pytest.approx(rate[k]) and info["p_err"] == pytest.approx(
            perr[k])
        assert env.state[3:] == (errs0 + info["broken"], att0 + info["attempts"])
        assert term == (t == p.shift_minutes - 1) and not trunc
    assert obs[0] == 1.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, np.float32))


def test_empty_rack_means_no_attempts():
    env = DishwashingShiftEnv(config={"base_arrival_rate": 0.0, "peak_arrival_rate": 0.0})
    env.reset(seed=0, options={"backlog": 0})
    for _ in range(5):
        _, r, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
        assert info["attempts"] == 0 and info["backlog"] == 0
        assert r == pytest.approx(-env.params.energy_cost_per_hour / 60)


def test_rush_hour_shapes_arrivals():
    p = ShiftParams()
    lam = p.arrival_rate(np.arange(p.shift_minutes))
    assert lam.argmax() == pytest.approx(p.peak_minute, abs=1)
    assert lam.max() == pytest.approx(p.peak_arrival_rate, rel=1e-2)
    assert lam[0] < 0.5 * lam.max()


def test_type_chain_is_stationary_at_the_shares():
    p = ShiftParams()
    P = p.type_transition
    assert np.allclose(P.sum(axis=1), 1.0)
    assert np.allclose(p.type_shares @ P, p.type_shares)


def test_reset_options_and_seeding():
    env = DishwashingShiftEnv()
    env.reset(seed=0, options={"backlog": 7, "dish_type": 2})
    assert env.state[:3] == (0, 7, 2)
    with pytest.raises(ValueError, match="backlog"):
        env.reset(options={"backlog": 10_000})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"rush": True})

    def run(seed):
        e = DishwashingShiftEnv()
        e.reset(seed=seed)
        return [e.step(np.array([0.6, 0.4], np.float32))[1] for _ in range(120)]

    assert run(3) == run(3) and run(3) != run(4)


def test_config_validation_names_the_bad_key():
    with pytest.raises(ConfigError, match="unknown key"):
        DishwashingShiftEnv(config={"rack_capacty": 10})
    with pytest.raises(ConfigError, match=r"dish_types\[1\].*price"):
        DishwashingShiftEnv(config={"dish_types": [{"name": "a"}, {"name": "b", "price": -1}]})
    with pytest.raises(ConfigError, match="initial_backlog"):
        DishwashingShiftEnv(config={"rack_capacity": 3, "initial_backlog": 4})
    with pytest.raises(ConfigError, match="unique"):
        ShiftParams(dish_types=(DishType(name="a"), DishType(name="a")))
    with pytest.raises(ConfigError, match="peak_arrival_rate"):
        ShiftParams(base_arrival_rate=2.0, peak_arrival_rate=1.0)
    p = ShiftParams()
    assert from_dict(ShiftParams, to_dict(p)) == p


def test_render_state_and_frame():
    env = DishwashingShiftEnv(render_mode="rgb_array")
    env.reset(seed=0)
    env.step(np.array([0.5, 0.5], np.float32))
    rs = env.render_state()
    assert set(rs) == RENDER_KEYS
    assert rs["backlog"] == env.state[1] and rs["dish_type"] == env.state[2]
    assert rs["n_types"] == 3 and rs["backlog_cap"] == env.params.rack_capacity
    assert rs["last_action"] == (0.5, 0.5)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8


@settings(max_examples=15, deadline=None)
@given(cap=st.integers(1, 40), n_max=st.integers(1, 10), peak=st.floats(0.0, 8.0),
       stay=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_any_valid_config_keeps_observation_in_bounds(cap, n_max, peak, stay, seed):
    env = DishwashingShiftEnv(config={"rack_capacity": cap, "initial_backlog": min(4, cap),
                                      "max_attempts_per_minute": n_max,
                                      "base_arrival_rate": 0.0, "peak_arrival_rate": peak,
                                      "type_stay": stay, "shift_minutes": 30})
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(rng.random(2))
        assert env.observation_space.contains(obs)
        assert 0 <= info["backlog"] <= cap and info["attempts"] <= n_max
        done = term or trunc


def test_fixed_lagrangian_reward_wrapper():
    from robolabor.envs.wrappers import FixedLagrangianReward

    env = FixedLagrangianReward(DishwashingShiftEnv(), lam=2.0)
    env.reset(seed=0)
    plain = DishwashingShiftEnv()
    plain.reset(seed=0)
    for _ in range(20):
        a = np.array([1.0, 0.0], dtype=np.float32)
        _, r, *_ , info = env.step(a)
        _, r0, *_ = plain.step(a)
        assert r == pytest.approx(r0 - 2.0 * (info["broken"] - env.sla * info["attempts"]))
    with pytest.raises(ValueError):
        FixedLagrangianReward(DishwashingShiftEnv(), lam=-1.0)


def _exogenous_path(env, policy, seed: int) -> tuple[list, list]:
    env.reset(seed=seed)
    arrivals, types = [], []
    done = False
    while not done:
        _, _, term, trunc, info = env.step(policy)
        arrivals.append(info["arrivals"])
        types.append(info["washed_type"])
        done = term or trunc
    return arrivals, types


def test_common_random_numbers_two_policies_meet_the_same_shift():
    """Arrivals and the dish sequence never depend on the actions (exogenous streams)."""
    env = DishwashingShiftEnv()
    slow = _exogenous_path(env, np.array([0.0, 1.0], np.float32), seed=7)
    fast = _exogenous_path(env, np.array([1.0, 0.0], np.float32), seed=7)
    assert slow == fast
    other = _exogenous_path(env, np.array([1.0, 0.0], np.float32), seed=8)
    assert other != fast  # and the seed does matter


def test_common_random_numbers_couple_attempts_and_breakage():
    """On the same seed and state a faster action never attempts fewer dishes, and a more
    careful one never breaks more of the same attempts (monotone coupling)."""
    env = DishwashingShiftEnv()
    for seed in range(5):
        counts = {}
        for name, a in {"slow": [0.2, 0.5], "fast": [1.0, 0.5], "careful": [1.0, 1.0]}.items():
            env.reset(seed=seed, options={"backlog": 100})
            _, _, _, _, info = env.step(np.array(a, np.float32))
            counts[name] = (info["attempts"], info["broken"])
        assert counts["fast"][0] >= counts["slow"][0]
        # care lowers both the attempt rate and p_err: fewer items, each less likely to break
        assert counts["careful"][0] <= counts["fast"][0]
        assert counts["careful"][1] <= counts["fast"][1]
