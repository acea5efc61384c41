"""Replay buffer: memory of frame storage, exact stacks across episodes, exact resume."""

import io

import numpy as np
import pytest

from robolabor.agents.replay import ReplayBuffer

T, C, H, W = 4, 1, 3, 3


class FakeFrameStackEnv:
    """Frames whose pixels all hold a unique id; a (T, C, H, W) stack like the envs emit.

    ``pad_reset=True`` starts an episode by repeating the reset frame (Gymnasium's
    FrameStackObservation); False starts with T distinct frames (a rendered history).
    """

    def __init__(self, rng, pad_reset=True):
        self.rng, self.pad_reset, self.next_id = rng, pad_reset, 1

    def _frame(self):
        f = np.full((C, H, W), self.next_id % 251, np.uint8)
        f[0, 0, 0] = self.next_id // 251 % 251   # ids stay unique past 255
        self.next_id += 1
        return f

    def reset(self):
        self.left = int(self.rng.integers(1, 7))   # episodes shorter and longer than T
        first = [self._frame()] * T if self.pad_reset else [self._frame() for _ in range(T)]
        self.stack = np.stack(first)
        return self.stack.copy()

    def step(self):
        self.stack = np.concatenate([self.stack[1:], self._frame()[None]])
        self.left -= 1
        done = self.left == 0
        terminated = done and bool(self.rng.integers(2))
        return self.stack.copy(), terminated, done and not terminated


def fill(buf, env, n, rng, truth=None):
    obs = env.reset()
    for _ in range(n):
        nxt, term, trunc = env.step()
        i = buf.added
        buf.add(obs, rng.random(2), float(i), -float(i), nxt, term, trunc)
        if truth is not None:
            truth[i] = (obs, nxt, term, trunc)
        obs = env.reset() if (term or trunc) else nxt


@pytest.mark.parametrize("pad_reset", [True, False])
def test_stacks_rebuilt_exactly_across_episode_boundaries_and_wraparound(pad_reset):
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(40, (T, C, H, W), np.uint8, 2, frame_stack=T, seed=1)
    truth = {}
    fill(buf, FakeFrameStackEnv(rng, pad_reset), 300, rng, truth)   # wraps the ring many times
    assert 0 < len(buf) <= 40
    seen = set()
    for _ in range(20):
        b = buf.sample(64)
        for k, i in enumerate(b["index"].tolist()):
            obs, nxt, term, trunc = truth[i]
            np.testing.assert_array_equal(b["obs"][k].numpy(), obs)
            np.testing.assert_array_equal(b["next_obs"][k].numpy(), nxt)
            assert b["terminated"][k].item() == float(term)
            assert b["truncated"][k].item() == float(trunc)
            assert b["reward"][k].item() == float(i) and b["cost"][k].item() == -float(i)
            seen.add(i)
    assert seen == set(range(buf.oldest, buf.added))   # only live transitions are drawn


def test_frame_memory_per_100k_video_transitions_is_under_1_5_gb():
    shape = (8, 3, 64, 64)
    small = ReplayBuffer(4_000, shape, np.uint8, 2, frame_stack=8)
    per_100k = small.nbytes / 4_000 * 100_000
    assert per_100k <= 1.5e9, per_100k
    full = ReplayBuffer(4_000, shape, np.uint8, 2)   # obs + next_obs stacks, for contrast
    assert full.nbytes / small.nbytes > 10


def test_next_obs_must_be_obs_shifted_by_one_frame():
    buf = ReplayBuffer(10, (T, C, H, W), np.uint8, 2, frame_stack=T)
    obs = np.zeros((T, C, H, W), np.uint8)
    with pytest.raises(ValueError, match="shifted"):
        buf.add(obs, np.zeros(2), 0.0, 0.0, obs + 1, False, False)


def test_flat_observations_keep_terminated_apart_from_truncated():
    buf = ReplayBuffer(8, (3,), np.float32, 2, seed=0)
    for i in range(12):
        o = np.full(3, i, np.float32)
        buf.add(o, [0.1, 0.2], 1.0, 0.5, o + 1, i % 3 == 0, i % 3 == 1)
    assert len(buf) == 8
    b = buf.sample(256)
    i = b["obs"][:, 0].long()
    assert b["obs"].dtype.is_floating_point and (i >= 4).all()
    assert ((i % 3 == 0).float() == b["terminated"]).all()
    assert ((i % 3 == 1).float() == b["truncated"]).all()
    assert (b["next_obs"] == b["obs"] + 1).all()


@pytest.mark.parametrize("frame_stack", [None, T])
def test_state_roundtrip_through_npz_resumes_exactly(frame_stack):
    rng = np.random.default_rng(3)
    env_a = FakeFrameStackEnv(np.random.default_rng(4))
    a = ReplayBuffer(30, (T, C, H, W), np.uint8, 2, frame_stack=frame_stack, seed=5)
    # stop mid-episode so the continuation state is exercised
    obs = env_a.reset()
    for _ in range(47):
        nxt, term, trunc = env_a.step()
        a.add(obs, rng.random(2), 1.0, 0.0, nxt, term, trunc)
        obs = env_a.reset() if (term or trunc) else nxt

    f = io.BytesIO()
    np.savez(f, **a.state_dict())
    f.seek(0)
    with np.load(f, allow_pickle=False) as z:
        b = ReplayBuffer(30, (T, C, H, W), np.uint8, 2, frame_stack=frame_stack, seed=999)
        b.load_state_dict(dict(z))
    assert (len(b), b.added, b.oldest) == (len(a), a.added, a.oldest)

    for step in range(40):   # same future: same adds, same samples
        nxt, term, trunc = env_a.step()
        act = rng.random(2)
        for buf in (a, b):
            buf.add(obs, act, 2.0, 1.0, nxt, term, trunc)
        obs = env_a.reset() if (term or trunc) else nxt
        sa, sb = a.sample(16), b.sample(16)
        for k in sa:
            assert (sa[k] == sb[k]).all(), (step, k)


def test_load_rejects_a_mismatched_layout():
    a = ReplayBuffer(10, (3,), np.float32, 2)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(11, (3,), np.float32, 2).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="missing"):
        ReplayBuffer(10, (3, 1), np.float32, 2, frame_stack=3).load_state_dict(a.state_dict())
