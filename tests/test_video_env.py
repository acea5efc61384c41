"""Video envs: the state twin's dynamics, observed as a stack of rendered frames."""

import importlib.util
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import robolabor  # noqa: F401  (registers the envs)
from robolabor.envs.render import render_frame
from robolabor.envs.video import VideoObservationMixin, video_env_class

REAL = {
    "robolabor/DishwashingShiftVideo-v0": ("robolabor/DishwashingShift-v0", "robolabor.envs.shift"),
    "robolabor/DishwashingClassicVideo-v0": ("robolabor/DishwashingClassic-v0",
                                             "robolabor.envs.classic"),
}


class FakeStateEnv(gym.Env):
    """A tiny stand-in with the state envs' surface: render_state, econ, sla, horizon, state."""

    metadata = {"render_modes": []}

    def __init__(self, horizon: int = 30, sla: float = 0.05):
        self.horizon, self.sla, self.econ = horizon, sla, {"price": 0.3}
        self.observation_space = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)

    def _obs(self):
        s = self.state
        return np.array([s["t"] / self.horizon, s["backlog"] / 20, s["dish"] / 2,
                         s["errors"] / 30], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = dict(t=0, backlog=int(self.np_random.integers(0, 5)),
                          dish=int(self.np_random.integers(3)), errors=0, attempts=0,
                          good=0, err_now=0, action=(0.0, 0.0))
        return self._obs(), {"t": 0}

    def step(self, action):
        s, a = self.state, np.asarray(action, np.float64)
        done_now = min(s["backlog"], int(1 + 3 * a[0]))
        err = int(self.np_random.uniform() < 0.3 * a[0] * (1 - a[1]))
        s.update(t=s["t"] + 1, attempts=s["attempts"] + done_now, errors=s["errors"] + err,
                 good=done_now - err, err_now=err, action=(float(a[0]), float(a[1])),
                 backlog=min(20, s["backlog"] - done_now + int(self.np_random.integers(0, 4))),
                 dish=int(self.np_random.integers(3)))
        reward = float(done_now - 5 * err)
        return self._obs(), reward, False, s["t"] >= self.horizon, {"good": done_now - err,
                                                                    "broken": err}

    def render_state(self):
        s = self.state
        return dict(minute=s["t"], shift_minutes=self.horizon, backlog=s["backlog"], backlog_cap=20,
                    dish_type=s["dish"], n_types=3, arrival_rate=1.5, peak_arrival_rate=3.0,
                    good_this_step=s["good"], errors_this_step=s["err_now"],
                    errors_so_far=s["errors"], attempts_so_far=s["attempts"], sla=self.sla,
                    last_action=s["action"])


FakeVideoEnv = video_env_class(FakeStateEnv)


def rollout(env, seed, n=40):
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [(obs, None, False, False, info)]
    for _ in range(n):
        step = env.step(rng.uniform(0, 1, 2).astype(np.float32))
        out.append(step)
        if step[2] or step[3]:
            break
    return out


def test_check_env_passes_on_fake():
    check_env(FakeVideoEnv(render_mode="rgb_array"), skip_render_check=False)


def test_observation_is_a_stack_of_the_newest_frames():
    env = FakeVideoEnv(frames=8, horizon=40, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (8, 3, 64, 64) and obs.dtype == np.uint8
    assert all(np.array_equal(obs[0], obs[k]) for k in range(8))  # reset: first frame repeated
    assert np.array_equal(obs[-1], render_frame(env.render_state()).transpose(2, 0, 1))
    prev = obs
    for _ in range(10):
        obs, *_ = env.step(env.action_space.sample())
        assert np.array_equal(obs[:-1], prev[1:])  # oldest first, newest last
        assert np.array_equal(obs[-1].transpose(1, 2, 0), env.render())
        assert env.render().shape == (64, 64, 3)
        prev = obs
    assert obs is not env.step(env.action_space.sample())[0]  # no aliasing of the buffer


def test_same_rewards_info_and_termination_as_the_state_twin():
    video, state = rollout(FakeVideoEnv(horizon=25), 3), rollout(FakeStateEnv(horizon=25), 3)
    assert len(video) == len(state) == 26
    for v, s in zip(video, state, strict=True):
        assert v[1:] == s[1:]  # reward, terminated, truncated, info


def test_unwrapped_attributes_and_kwargs_pass_through():
    env = FakeVideoEnv(horizon=17, sla=0.08, frames=3)
    env.reset(seed=1)
    assert isinstance(env, FakeStateEnv) and isinstance(env, VideoObservationMixin)
    assert (env.horizon, env.sla, env.econ) == (17, 0.08, {"price": 0.3})
    assert env.state["t"] == 0 and env.state_obs.shape == (4,)
    assert env.observation_space.shape == (3, 3, 64, 64)
    assert env.state_observation_space.shape == (4,)


def test_bad_arguments():
    with pytest.raises(ValueError, match="frames"):
        FakeVideoEnv(frames=0)
    with pytest.raises(ValueError, match="render_mode"):
        FakeVideoEnv(render_mode="human")
    with pytest.raises(TypeError, match="render_state"):
        video_env_class(gym.Env)


@pytest.mark.parametrize("video_id", sorted(REAL))
def test_registered_video_envs(video_id):
    state_id, module = REAL[video_id]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not available")
    env = gym.make(video_id, frames=8, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    assert env.observation_space.shape == (8, 3, 64, 64)
    base = gym.make(state_id).unwrapped
    u = env.unwrapped
    assert isinstance(u, type(base))
    for name in ("econ", "sla", "horizon", "state"):
        assert hasattr(u, name), name
    # the same trajectory in both modalities
    for v, s in zip(rollout(env, 5, 60), rollout(base, 5, 60), strict=True):
        assert v[1:4] == s[1:4]  # reward, terminated, truncated
        assert v[4].keys() == s[4].keys()
    frames = {f.tobytes() for o, *_ in rollout(env, 6, 60) for f in o[-1:]}
    assert len(frames) > 30  # frames change along an episode
    assert pickle.loads(pickle.dumps(type(u))) is type(u)
