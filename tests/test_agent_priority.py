"""Prioritised replay: the sum tree, priorities and weights, the buffer's prioritised
sampling and checkpoints, the weighted critic loss, and a killed prioritised run that
resumes identical."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.agents.priority import SumTree, importance_weights, novelty_priorities
from robolabor.agents.replay import ReplayBuffer, ReplayConfig
from robolabor.agents.sac import SAC, SACConfig
from robolabor.cli import main
from robolabor.experiments.config import config_from_dict, config_hash
from robolabor.experiments.novelty_replay import annealed_beta, refresh_due
from robolabor.schema import ConfigError

priorities = st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=1, max_size=70)


# ----------------------------------------------------------------------------- sum tree
@settings(max_examples=60, deadline=None)
@given(priorities)
def test_total_is_the_sum_and_every_node_sums_its_children(p):
    tree = SumTree(len(p))
    tree.update(np.arange(len(p)), p)
    assert tree.total == pytest.approx(sum(p), rel=1e-12, abs=1e-12)
    inner = np.arange(1, tree.size)
    assert np.array_equal(tree.tree[inner], tree.tree[2 * inner] + tree.tree[2 * inner + 1])


@settings(max_examples=60, deadline=None)
@given(priorities, st.lists(st.tuples(st.integers(0, 69), st.floats(0.0, 50.0)), max_size=30))
def test_updates_leave_the_tree_a_function_of_its_leaves(p, updates):
    """After any history of updates the tree equals one rebuilt from its leaves, bit for
    bit: what a checkpoint restores."""
    tree = SumTree(len(p))
    tree.update(np.arange(len(p)), p)
    expected = np.array(p, np.float64)
    for slot, value in updates:
        slot %= len(p)
        tree.update([slot], value)
        expected[slot] = value
    assert np.array_equal(tree.leaves, expected)
    rebuilt = SumTree(len(p))
    rebuilt.set_all(tree.leaves)
    assert np.array_equal(rebuilt.tree, tree.tree)
    assert tree.total == pytest.approx(expected.sum(), rel=1e-12, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(priorities.filter(lambda p: sum(p) > 1e-6), st.floats(0.0, 1.0, exclude_max=True))
def test_find_returns_the_slot_whose_prefix_interval_holds_the_mass(p, frac):
    tree = SumTree(len(p))
    tree.update(np.arange(len(p)), p)
    mass = frac * tree.total
    slot = int(tree.find([mass])[0])
    cum = np.cumsum(np.array(p, np.float64))
    assert p[slot] > 0  # never a zero-priority slot
    lo = cum[slot] - p[slot]
    assert lo - 1e-9 * tree.total <= mass <= cum[slot] + 1e-9 * tree.total


def test_sampling_frequencies_are_proportional_to_priorities():
    p = np.array([0.0, 1.0, 2.0, 3.0, 0.5, 0.0, 8.0])
    tree = SumTree(len(p))
    tree.update(np.arange(len(p)), p)
    rng = np.random.default_rng(0)
    n = 200_000
    counts = np.bincount(np.concatenate([tree.sample(256, rng) for _ in range(n // 256)]),
                         minlength=len(p))
    freq = counts / counts.sum()
    expected = p / p.sum()
    assert counts[0] == counts[5] == 0
    # binomial standard error of each frequency is at most ~0.0011 here: 5 sd
    assert np.abs(freq - expected).max() < 0.006


def test_update_changes_the_sampling_distribution():
    tree = SumTree(4)
    tree.update(np.arange(4), [1.0, 1.0, 1.0, 1.0])
    tree.update([2], 0.0)
    rng = np.random.default_rng(1)
    assert 2 not in set(tree.sample(4000, rng).tolist())
    tree.update([2], 1e6)
    assert np.mean(tree.sample(4000, rng) == 2) > 0.99


def test_bad_input_is_refused():
    tree = SumTree(3)
    with pytest.raises(IndexError):
        tree.update([3], 1.0)
    with pytest.raises(ValueError):
        tree.update([0], -1.0)
    with pytest.raises(ValueError):
        tree.update([0], float("nan"))
    with pytest.raises(ValueError, match="total priority is 0"):
        tree.sample(2, np.random.default_rng(0))


# ------------------------------------------------------------------ priorities, weights
def test_novelty_priorities_clip_add_eps_floor_then_raise():
    p = novelty_priorities([-3.0, 0.0, 0.5, 3.0], eps=0.1, alpha=0.5, floor=1.0)
    np.testing.assert_allclose(p, [1.0, 1.0, 1.0, 3.1 ** 0.5])
    assert np.allclose(novelty_priorities([5.0, -1.0], eps=0.1, alpha=0.0, floor=1.0), 1.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=50), st.floats(0.0, 1.0))
def test_importance_weights_are_normalised_powers(probs, beta):
    w = importance_weights(probs, 1000, beta)
    raw = (1000 * np.array(probs)) ** (-beta)
    np.testing.assert_allclose(w, raw / raw.max(), rtol=1e-5)
    assert w.max() == pytest.approx(1.0)


def test_beta_anneals_to_one_and_refreshes_fall_on_schedule():
    cfg = ReplayConfig(prioritised=True, beta=0.4, refresh_every=100)
    assert annealed_beta(cfg, 0.0) == pytest.approx(0.4)
    assert annealed_beta(cfg, 0.5) == pytest.approx(0.7)
    assert annealed_beta(cfg, 2.0) == pytest.approx(1.0)
    assert [s for s in range(0, 400) if refresh_due(s, 150, cfg)] == [150, 250, 350]
    assert not refresh_due(150, 150, ReplayConfig())


# -------------------------------------------------------------------------- the buffer
def _buffer(capacity=50, n=30, seed=0) -> ReplayBuffer:
    buf = ReplayBuffer(capacity, (3,), np.float32, 2, seed=seed)
    buf.enable_priorities(alpha=1.0, eps=0.1, min_priority=0.5)
    for i in range(n):
        buf.add(np.full(3, i, np.float32), np.zeros(2), float(i), 0.0,
                np.full(3, i + 1, np.float32), False, False)
    return buf


def test_prioritised_buffer_samples_by_novelty_with_weights():
    buf = _buffer()
    ids = buf.live_ids()
    novelty = np.where(ids == 7, 50.0, -1.0)  # one very novel transition
    buf.set_novelty(ids, novelty)
    p = novelty_priorities(novelty, 0.1, 1.0, 0.5)
    batch = buf.sample(20_000)
    got = batch["index"].numpy()
    assert np.array_equal(batch["reward"].numpy(), got.astype(np.float32))  # id i has reward i
    assert np.mean(got == 7) == pytest.approx(p[7] / p.sum(), abs=0.01)
    w = batch["weight"].numpy()
    assert w.max() == pytest.approx(1.0)
    assert w[got == 7].max() < w[got != 7].min()  # the over-sampled one weighs least


def test_new_transitions_get_the_largest_priority_and_lost_ones_none():
    buf = _buffer(capacity=10, n=10)
    buf.set_novelty(buf.live_ids(), np.linspace(0, 9, 10))
    top = buf.max_priority
    buf.add(np.zeros(3, np.float32), np.zeros(2), 100.0, 0.0, np.zeros(3, np.float32),
            False, False)  # overwrites id 0's slot
    assert buf.tree.leaves[0] == top and buf.oldest == 1
    ids = buf.sample(5000)["index"].numpy()
    assert ids.min() >= 1 and ids.max() == 10
    with pytest.raises(IndexError):
        buf.set_novelty([0], [1.0])


def test_prioritised_state_round_trip_samples_identically():
    a = _buffer(seed=3)
    a.set_novelty(a.live_ids(), np.random.default_rng(0).normal(size=len(a)))
    state = {k: np.asarray(v) for k, v in a.state_dict().items()}
    b = ReplayBuffer(50, (3,), np.float32, 2, seed=99)
    b.enable_priorities(alpha=1.0, eps=0.1, min_priority=0.5)
    b.load_state_dict(state)
    assert np.array_equal(a.tree.tree, b.tree.tree)
    for _ in range(3):
        x, y = a.sample(64, beta=0.7), b.sample(64, beta=0.7)
        assert all(torch.equal(x[k], y[k]) for k in x)
    uniform = ReplayBuffer(50, (3,), np.float32, 2)
    with pytest.raises(ValueError, match="prioritised"):
        uniform.load_state_dict(state)


def test_video_frames_lost_from_the_store_lose_their_priority():
    buf = ReplayBuffer(8, (2, 1, 2, 2), np.uint8, 1, frame_stack=2)
    buf.enable_priorities(alpha=1.0, eps=0.1, min_priority=1.0)
    for ep in range(6):  # a new episode every 2 steps: first stacks use extra frames
        frames = np.full((4, 1, 2, 2), ep * 10, np.uint8) + np.arange(4, dtype=np.uint8)[
            :, None, None, None]
        for t in range(2):
            buf.add(frames[t:t + 2], np.zeros(1), 0.0, 0.0, frames[t + 1:t + 3],
                    False, t == 1)
    assert len(buf) < buf.capacity  # frames ran out first: transitions were dropped
    live = set(buf.live_ids() % buf.capacity)
    assert all((buf.tree.leaves[s] > 0) == (s in live) for s in range(buf.capacity))
    batch = buf.sample(64)
    assert np.array_equal(buf.observations(batch["index"].numpy()), batch["obs"].numpy())


# -------------------------------------------------------------------- the critic loss
def test_critic_loss_uses_the_importance_weights():
    def update(weight):
        agent = SAC((3,), np.float32, 2, SACConfig(hidden_sizes=(16, 16), device="cpu"),
                    seed=0)
        rng = np.random.default_rng(0)
        batch = {"obs": torch.tensor(rng.normal(size=(8, 3)), dtype=torch.float32),
                 "next_obs": torch.tensor(rng.normal(size=(8, 3)), dtype=torch.float32),
                 "action": torch.rand(8, 2, generator=torch.Generator().manual_seed(0)),
                 "reward": torch.ones(8), "cost": torch.zeros(8),
                 "terminated": torch.zeros(8), "truncated": torch.zeros(8)}
        if weight is not None:
            batch["weight"] = weight
        return agent.update(batch)["critic_loss"]

    plain = update(None)
    assert update(torch.ones(8)) == pytest.approx(plain, rel=1e-6)
    assert update(torch.full((8,), 0.5)) == pytest.approx(0.5 * plain, rel=1e-5)
    half = torch.tensor([1.0] * 4 + [0.0] * 4)
    assert update(half) != pytest.approx(0.5 * plain, rel=1e-3)  # per-sample, not a scale


# ----------------------------------------------------------------------- config, runs
def test_replay_config_is_validated_and_off_by_default():
    cfg = config_from_dict({})
    assert not cfg.replay.prioritised
    with pytest.raises(ConfigError, match="replay.alpha"):
        config_from_dict({"replay": {"alpha": -1}})
    with pytest.raises(ConfigError, match="replay: unknown key"):
        config_from_dict({"replay": {"alfa": 1}})
    on = config_from_dict({"replay": {"prioritised": True}})
    assert config_hash(on) != config_hash(cfg)
    # the default section is left out of the hash: older runs keep theirs
    assert config_hash(cfg) == config_hash(config_from_dict({"replay": {}}))


PRIO_CFG = """
train: {total_steps: 600, eval_every: 240, checkpoint_every: 240, keep_checkpoints: 2,
        eval_episodes: 2, progress: false, seed: 5}
sac: {learning_starts: 120, batch_size: 32, hidden_sizes: [32, 32]}
encoder: {hidden_dim: 32, latent_dim: 16}
replay: {prioritised: true, refresh_every: 150, fit_latents: 200, fit_iters: 30,
         fit_hidden: 32}
"""


def test_a_killed_prioritised_run_resumes_identical(tmp_path, capsys):
    from test_faults import assert_same_run, run_killed

    torch.set_num_threads(1)
    cfg = tmp_path / "prio.yaml"
    cfg.write_text(PRIO_CFG)
    ref = tmp_path / "ref"
    assert main(["train", str(cfg), "--out", str(ref)]) == 0
    with np.load(sorted((ref / "checkpoints").glob("step-*"))[-1] / "replay.npz") as r:
        leaves = r["priorities"][:600]
        assert len(np.unique(leaves)) > 10  # rescored: not all at the new-transition value
    out = tmp_path / "run"
    run_killed(["train", str(cfg), "--out", str(out)], "step@400")  # after refreshes 120,270
    state = json.loads((sorted((out / "checkpoints").glob("step-*"))[-1]
                        / "state.json").read_text())
    assert state["step"] == 240
    assert main(["train", "--resume", str(out)]) == 0
    assert_same_run(out, ref)
