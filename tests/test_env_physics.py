"""DishwashingPhysics-v0 and its video twin: MuJoCo handling, contact breakage, same info."""

import importlib.util
import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

if importlib.util.find_spec("mujoco") is None:  # the physics extra is not installed
    pytest.skip("needs the physics extra (mujoco)", allow_module_level=True)

import robolabor  # noqa: E402,F401  (registers the envs)
from robolabor.envs.physics import DishwashingPhysicsEnv, DishwashingPhysicsVideoEnv  # noqa: E402
from robolabor.envs.physics_scene import (  # noqa: E402
    PhysicsParams,
    Release,
    Scene,
    plan_motion,
    select_gl_backend,
    strength_of,
    trapezoid_time,
)
from robolabor.envs.shift import DishwashingShiftEnv  # noqa: E402
from robolabor.errors import UserError  # noqa: E402
from robolabor.experiments.rollout import EpisodeTally  # noqa: E402
from robolabor.schema import ConfigError  # noqa: E402

SHIFT_INFO = {"good", "broken", "p_err", "speed", "care", "rate_per_min", "attempts",
              "good_by_type", "broken_by_type", "revenue", "damage", "operating_cost",
              "profit", "minute", "backlog", "dish_type", "washed_type", "arrivals",
              "overflow"}


def _episode(env, action, seed, steps=None):
    obs, _ = env.reset(seed=seed)
    out, frames = [], [obs]
    done, n = False, 0
    while not done and (steps is None or n < steps):
        obs, r, term, trunc, info = env.step(np.asarray(action, np.float32))
        out.append((info["attempts"], info["broken"], info["arrivals"], info["backlog"], r))
        frames.append(obs)
        done, n = term or trunc, n + 1
    return out, frames


def test_check_env_passes_state_and_video():
    check_env(DishwashingPhysicsEnv(), skip_render_check=True)
    check_env(gym.make("robolabor/DishwashingPhysicsVideo-v0").unwrapped,
              skip_render_check=True)


def test_registered_ids_and_spaces():
    s = gym.make("robolabor/DishwashingPhysics-v0")
    v = gym.make("robolabor/DishwashingPhysicsVideo-v0")
    assert isinstance(s.unwrapped, DishwashingShiftEnv)
    assert isinstance(v.unwrapped, DishwashingPhysicsVideoEnv)
    assert s.observation_space.shape == (10,)
    assert v.observation_space.shape == (8, 3, 64, 64) and v.observation_space.dtype == np.uint8
    assert s.unwrapped.econ.type_names == ("plate", "glass", "pot")


def test_info_has_the_shift_keys_and_the_ledger_reads_it():
    env = DishwashingPhysicsEnv()
    env.reset(seed=1)
    tally = EpisodeTally(env.n_types)
    for _ in range(10):
        _, r, _, _, info = env.step(np.array([0.8, 0.2], np.float32))
        assert SHIFT_INFO <= set(info)
        assert info["good"] + info["broken"] == info["attempts"]
        assert info["good_by_type"][info["washed_type"]] == info["good"]
        assert info["broken_by_type"].sum() == info["broken"]
        assert r == pytest.approx(info["revenue"] - info["damage"] - info["operating_cost"])
        assert info["sim_steps"] > 0 or info["attempts"] == 0
        tally.add(info)
    assert tally.steps == 10 and tally.good.sum() > 0


def test_same_seed_same_frames_and_counts_other_seed_differs():
    a_env = gym.make("robolabor/DishwashingPhysicsVideo-v0").unwrapped
    b_env = gym.make("robolabor/DishwashingPhysicsVideo-v0").unwrapped
    a, fa = _episode(a_env, (0.9, 0.1), seed=7, steps=25)
    _episode(b_env, (0.2, 0.9), seed=3, steps=5)  # an earlier episode must not leak in
    b, fb = _episode(b_env, (0.9, 0.1), seed=7, steps=25)
    assert a == b
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))
    c, _ = _episode(b_env, (0.9, 0.1), seed=8, steps=25)
    assert c != a


def test_arrivals_and_dish_sequence_match_the_shift_task_on_the_same_seed():
    phys, shift = DishwashingPhysicsEnv(), DishwashingShiftEnv()
    phys.reset(seed=11)
    shift.reset(seed=11)
    assert phys._arrivals == shift._arrivals and phys._u_chain == shift._u_chain
    assert phys._type == shift._type


def test_throughput_from_motion_more_speed_more_dishes_care_fewer():
    fast, _ = _episode(DishwashingPhysicsEnv(), (1.0, 0.0), seed=2)
    slow, _ = _episode(DishwashingPhysicsEnv(), (0.0, 0.0), seed=2)
    careful, _ = _episode(DishwashingPhysicsEnv(), (1.0, 1.0), seed=2)
    n = {k: sum(x[0] for x in v) for k, v in (("fast", fast), ("slow", slow),
                                               ("careful", careful))}
    b = {k: sum(x[1] for x in v) for k, v in (("fast", fast), ("careful", careful))}
    assert n["slow"] < n["careful"] < n["fast"]
    assert b["careful"] < 0.1 * b["fast"]


def test_attempts_never_exceed_backlog_or_cap():
    env = DishwashingPhysicsEnv(config={"shift": {"initial_backlog": 3,
                                                  "base_arrival_rate": 0.0,
                                                  "peak_arrival_rate": 0.0}})
    env.reset(seed=0)
    total = 0
    for _ in range(5):
        _, _, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
        total += info["attempts"]
    assert total == 3 and env._backlog == 0


def test_plan_is_monotone_and_trapezoid_matches_kinematics():
    p = PhysicsParams()
    assert trapezoid_time(0.6, 1.0, 5.0) == pytest.approx(0.6 + 0.2)
    assert trapezoid_time(0.1, 10.0, 1.0) == pytest.approx(2 * math.sqrt(0.1))
    for k in range(3):
        t = [plan_motion(p, k, s, 0.3).plan_s for s in (0.0, 0.5, 1.0)]
        assert t[0] > t[1] > t[2]
        t = [plan_motion(p, k, 0.6, c).plan_s for c in (0.0, 0.5, 1.0)]
        assert t[0] < t[1] < t[2]
    # the pot's acceleration is capped by the arm's force over its mass
    assert plan_motion(p, 2, 1.0, 0.0).accel == pytest.approx(p.arm_force / (1.6 + 0.5))


def test_impact_force_grows_with_drop_height_and_breaks_above_strength():
    scene = Scene(PhysicsParams(), gl=False)
    forces = [scene.simulate_release(1, Release(gap=h, velocity=(0.0, 0.0, 0.0), tilt=0.0,
                                                tilt_axis=0.0)).peak_force
              for h in (0.002, 0.01, 0.04, 0.1)]
    assert all(a < b for a, b in zip(forces, forces[1:], strict=False))
    glass = PhysicsParams().dishes[1]
    # a dish of exactly median strength: survives a 2 mm drop, breaks from 10 cm
    median = strength_of(glass, 0.5)
    assert forces[0] < median < forces[-1]
    # momentum check: the impact impulse of a flat landing is between m*v (no bounce) and
    # 2*m*v (elastic), plus the weight carried after the impact
    v = math.sqrt(2 * 9.81 * 0.1)
    out = scene.simulate_release(1, Release(gap=0.1, velocity=(0, 0, 0), tilt=0.0,
                                            tilt_axis=0.0))
    weight = glass.mass * 9.81 * PhysicsParams().after_contact_s
    assert glass.mass * v < out.impulse < 2 * glass.mass * v + weight


def test_weibull_strength_is_monotone_in_its_uniform():
    b = PhysicsParams().dishes[0]
    s = [strength_of(b, u) for u in (0.01, 0.3, 0.632120558, 0.99)]
    assert s == sorted(s) and s[2] == pytest.approx(b.strength, rel=1e-6)


def test_bad_config_is_one_clear_error():
    with pytest.raises(ConfigError, match="timestep"):
        DishwashingPhysicsEnv(config={"timestep": 1.0})
    with pytest.raises(ConfigError, match="dishes"):
        DishwashingPhysicsEnv(config={"dishes": [{"name": "plate"}]})


def test_gl_backend_selection_and_its_error(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    assert select_gl_backend(lambda lib: "libEGL.so.1" if lib == "EGL" else None) == "egl"
    monkeypatch.delenv("MUJOCO_GL")
    assert select_gl_backend(lambda lib: "x" if lib == "OSMesa" else None) == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    with pytest.raises(UserError, match="libegl1"):
        select_gl_backend(lambda lib: None)
    monkeypatch.setenv("MUJOCO_GL", "egl")
    assert select_gl_backend(lambda lib: None) == "egl"  # the user's choice is kept


def test_frames_show_the_state():
    env = DishwashingPhysicsEnv(render_mode="rgb_array")
    env.reset(seed=0, options={"backlog": 0})
    empty = env.render()
    env.reset(seed=0, options={"backlog": 90})
    full = env.render()
    assert empty.shape == (64, 64, 3) and empty.dtype == np.uint8
    assert not np.array_equal(empty, full)


def test_fit_recovers_the_shift_model_from_its_own_surface():
    from robolabor.envs.params import ShiftParams, shift_rate_and_perr
    from robolabor.envs.physics_fit import fit

    true = ShiftParams()
    levels = np.linspace(0, 1, 6)
    S, C = np.meshgrid(levels, levels, indexing="ij")
    rate, perr = shift_rate_and_perr(true, S, C)
    dishes = 10**6  # counts at their expectation: the fit must be near exact
    data = {"levels": levels.tolist(), "dishes": dishes, "types": ["plate", "glass", "pot"],
            "rate": rate.tolist(), "broken": np.rint(perr * dishes).tolist()}
    fitted, report = fit(data, true)
    assert report["rate_r2_all"] > 0.9999 and report["p_r2_all"] > 0.999
    for got, want in zip(fitted.dish_types, true.dish_types, strict=True):
        assert got.base_rate == pytest.approx(want.base_rate, rel=1e-3)
        assert got.fragility == pytest.approx(want.fragility, rel=2e-2)
    assert fitted.care_cost == pytest.approx(true.care_cost, rel=1e-3)
    assert fitted.sla == true.sla and fitted.peak_arrival_rate == true.peak_arrival_rate


def test_env_params_are_the_stored_fit_of_its_scene_only(tmp_path):
    from robolabor.envs.optimum import optimum_for_env
    from robolabor.envs.params import ShiftParams
    from robolabor.envs.physics_fit import fitted_shift_params

    env = DishwashingPhysicsEnv()
    assert env.fitted_model and env.params != ShiftParams()
    # the fit changes rates and errors only: arrivals, rack, prices and SLA stay
    assert env.params.sla == ShiftParams().sla
    assert env.params.rack_capacity == ShiftParams().rack_capacity
    assert [t.price for t in env.params.dish_types] == [t.price for t in
                                                        ShiftParams().dish_types]
    opt = optimum_for_env(env)
    assert opt.expected_profit > 0 and opt.policy_table.shape[0] == env.horizon
    changed = DishwashingPhysicsEnv(config={"arm_force": 9.0})
    assert not changed.fitted_model and changed.params == ShiftParams()
    assert fitted_shift_params(PhysicsParams(), path=tmp_path / "none.json") is None


def test_scripted_policy_is_type_aware_and_in_range():
    from robolabor.envs.physics import scripted_action, scripted_policy

    glass, pot = scripted_action("glass", 0, 100), scripted_action("pot", 0, 100)
    assert glass[0] < pot[0] and glass[1] > pot[1]
    rush = scripted_action("glass", 80, 100)
    assert rush[0] > glass[0] and rush[1] < glass[1]
    env = DishwashingPhysicsEnv()
    act = scripted_policy(env)
    obs, _ = env.reset(seed=0)
    a = act(obs)
    assert env.action_space.contains(a)


ROOT = Path(__file__).resolve().parents[1]


def test_render_physics_cli_writes_a_sheet_and_a_gif(tmp_path, capsys):
    from PIL import Image

    from robolabor.cli import main

    png, gif = tmp_path / "ep.png", tmp_path / "ep.gif"
    assert main(["render", "physics", "--out", str(png), "--steps", "4", "--policy",
                 "scripted", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["env"] == "robolabor/DishwashingPhysics-v0" and out["frames"] == 5
    assert out["attempts"] > 0
    with Image.open(png) as im:
        assert im.size == tuple(out["image_size"])
    assert main(["render", "physics", "--out", str(gif), "--steps", "3", "--policy",
                 "optimal", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 4 and gif.stat().st_size > 0
    mp4 = tmp_path / "ep.mp4"  # the `media` extra (in `dev`): an H.264 file, read back
    assert main(["render", "physics", "--out", str(mp4), "--steps", "3", "--policy",
                 "scripted", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 4
    import imageio.v2 as iio

    frames = iio.mimread(mp4)
    with Image.open(gif) as im:
        assert len(frames) == 4 and frames[0].shape == (im.size[1], im.size[0], 3)
    assert main(["render", "shift", "--out", str(png), "--steps", "2", "--policy",
                 "scripted"]) == 1
    assert "render physics" in capsys.readouterr().err


def test_tiny_physics_state_run_trains_and_evaluates(tmp_path, capsys):
    from robolabor.cli import main
    from robolabor.experiments.config import load_config

    cfg = load_config(ROOT / "configs" / "physics_state.yaml")
    assert cfg.env.id == "robolabor/DishwashingPhysics-v0"
    assert load_config(ROOT / "configs" / "physics_video.yaml").env.id == \
        "robolabor/DishwashingPhysicsVideo-v0"
    out = tmp_path / "phys"
    args = ["train", str(ROOT / "configs" / "physics_state.yaml"), "--steps", "240",
            "--set", "sac.learning_starts=120", "--set", "sac.batch_size=16",
            "--set", "train.eval_every=240", "--set", "train.eval_episodes=1",
            "--no-progress", "--out", str(out), "--json"]
    assert main(args) == 0
    final = json.loads(capsys.readouterr().out)
    assert final["step"] == 240 and np.isfinite(final["pct_of_optimum"])


@settings(max_examples=15, deadline=None)
@given(speed=st.floats(0.0, 1.0), care=st.floats(0.0, 1.0), seed=st.integers(0, 10**6))
def test_step_identities_hold_for_any_action(speed, care, seed):
    env = _PROPERTY_ENV
    env.reset(seed=seed)
    backlog = env._backlog
    for _ in range(4):
        _, r, _, _, info = env.step(np.array([speed, care], np.float32))
        assert info["good"] + info["broken"] == info["attempts"] <= backlog
        assert info["attempts"] <= env.params.max_attempts_per_minute
        assert info["backlog"] == backlog - info["attempts"] + info["arrivals"] - \
            info["overflow"]
        assert r == pytest.approx(info["profit"])
        backlog = info["backlog"]


_PROPERTY_ENV = DishwashingPhysicsEnv()


def test_frames_show_the_dish_type_in_the_sink():
    env = DishwashingPhysicsEnv(render_mode="rgb_array")
    frames = []
    for k in range(3):
        env.reset(seed=0, options={"backlog": 40, "dish_type": k})
        frames.append(env.render())
    assert not np.array_equal(frames[0], frames[1])
    assert not np.array_equal(frames[1], frames[2])


def test_tiny_physics_video_run_trains_from_frames(tmp_path, capsys):
    from robolabor.cli import main

    out = tmp_path / "physvid"
    args = ["train", str(ROOT / "configs" / "physics_video.yaml"), "--steps", "130",
            "--set", "sac.learning_starts=120", "--set", "sac.batch_size=8",
            "--set", "sac.buffer_size=1000", "--set", "train.eval_every=130",
            "--set", "train.eval_episodes=1", "--no-progress", "--out", str(out), "--json"]
    assert main(args) == 0
    final = json.loads(capsys.readouterr().out)
    assert final["step"] == 130 and np.isfinite(final["pct_of_frontier"])


def test_an_unusable_gl_backend_is_one_clear_error(monkeypatch):
    import robolabor.envs.physics_scene as ps

    class Broken:
        def __init__(self, *_):
            raise RuntimeError("eglInitialize failed")

    monkeypatch.setattr(ps, "_gl_context_class", lambda _mj: Broken)
    env = DishwashingPhysicsEnv(render_mode="rgb_array")
    env.reset(seed=0)
    with pytest.raises(UserError, match="libegl1"):
        env.render()
