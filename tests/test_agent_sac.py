"""SAC: squashed density, acting, learning, targets, checkpoints, NaN safety, image path."""

import io
import math
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from robolabor.agents.encoders import EncoderConfig, build_encoder
from robolabor.agents.replay import ReplayBuffer
from robolabor.agents.sac import SAC, NonFiniteError, SACConfig, squashed_log_prob
from robolabor.schema import ConfigError, from_dict

torch.set_num_threads(1)

SMALL = SACConfig(hidden_sizes=(64, 64), batch_size=64, device="cpu", gamma=0.99,
                  learning_starts=1000, target_entropy="auto", twin_reduce="min",
                  lr_critic=1e-3)
ENC = EncoderConfig(latent_dim=32, hidden_dim=64)


def batch(n=64, obs_dim=3, seed=0, **over):
    g = torch.Generator().manual_seed(seed)
    b = {"obs": torch.randn(n, obs_dim, generator=g), "action": torch.rand(n, 2, generator=g),
         "reward": torch.randn(n, generator=g), "cost": torch.randn(n, generator=g),
         "next_obs": torch.randn(n, obs_dim, generator=g), "terminated": torch.zeros(n),
         "truncated": torch.zeros(n)}
    b.update(over)
    return b


def params(agent):
    nets = (agent.encoder, agent.actor, agent.critic, agent.critic_target, agent.encoder_target)
    return [p.detach().clone() for net in nets for p in net.parameters()] + \
        [agent.log_alpha.detach().clone()]


def test_log_prob_matches_numerical_density_of_the_unit_interval_action():
    """π(a) on [0,1]^2 (tanh + affine Jacobians) = d/da of the action's CDF, numerically."""
    mean, log_std = torch.tensor([0.3, -0.8], dtype=torch.float64), \
        torch.tensor([-0.2, 0.4], dtype=torch.float64)
    a = torch.tensor([[0.2, 0.7], [0.55, 0.1], [0.9, 0.45]], dtype=torch.float64)
    u = torch.atanh(2 * a - 1)
    logp = squashed_log_prob(u, mean, log_std)
    normal = torch.distributions.Normal(mean, log_std.exp())

    def cdf(x):   # P(A <= x) per dimension, A = (tanh U + 1) / 2
        return normal.cdf(torch.atanh(2 * x - 1))

    h = 1e-6
    density = ((cdf(a + h) - cdf(a - h)) / (2 * h)).prod(-1)
    torch.testing.assert_close(logp.exp(), density, rtol=1e-5, atol=0)

    # and it integrates to one over the unit square (midpoint rule; σ < 1 keeps the
    # density bounded at the edges so the rule converges)
    n = 300
    g = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    narrow = torch.tensor([-0.4, -0.9], dtype=torch.float64)
    total = squashed_log_prob(torch.atanh(2 * grid - 1), mean, narrow).exp().sum() / n**2
    assert abs(total.item() - 1.0) < 2e-3


def test_log_prob_is_finite_far_in_the_tails():
    u = torch.tensor([[30.0, -30.0]])
    lp = squashed_log_prob(u, torch.zeros(2), torch.zeros(2))
    assert torch.isfinite(lp).all()


def test_act_single_batch_deterministic_and_in_range():
    agent = SAC((3,), np.float32, 2, SMALL, ENC, seed=0)
    obs = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    a1 = agent.act(obs[0], deterministic=True)
    assert a1.shape == (2,) and np.all((0 <= a1) & (a1 <= 1))
    np.testing.assert_array_equal(a1, agent.act(obs[0], deterministic=True))
    ab = agent.act(obs, deterministic=True)
    assert ab.shape == (5, 2)
    np.testing.assert_allclose(ab[0], a1, rtol=1e-6)
    mean = agent.actor(agent.encoder(torch.as_tensor(obs[:1])))[0]
    np.testing.assert_allclose(a1, (0.5 * (torch.tanh(mean) + 1)).detach().numpy()[0], rtol=1e-6)
    stochastic = agent.act(obs)
    assert stochastic.shape == (5, 2) and np.all((0 <= stochastic) & (stochastic <= 1))


def test_learns_a_contextual_bandit_where_the_best_action_depends_on_the_observation():
    """One step, γ = 0: reward -|a - a*(s)|² with a*(s) a different point per observation."""
    rng = np.random.default_rng(0)
    cfg = SACConfig(hidden_sizes=(64, 64), batch_size=128, gamma=0.0, init_alpha=0.01,
                    lr_actor=1e-3, actor_update_every=1, device="cpu", lr_critic=1e-3,
                    target_entropy="auto", twin_reduce="min")
    agent = SAC((2,), np.float32, 2, cfg, ENC, seed=0)

    def best(s):
        return 0.15 + 0.7 * (s + 1) / 2   # in [0.15, 0.85]^2

    buf = ReplayBuffer(4_000, (2,), np.float32, 2, seed=0)
    for _ in range(4_000):
        s = rng.uniform(-1, 1, 2).astype(np.float32)
        a = rng.random(2)
        buf.add(s, a, -float(np.sum((a - best(s)) ** 2)), 0.0, s, True, False)
    for _ in range(500):   # converges in ~300 updates
        agent.update(buf.sample(128))
    s = rng.uniform(-1, 1, (200, 2)).astype(np.float32)
    err = np.abs(agent.act(s, deterministic=True) - best(s)).mean()
    assert err < 0.05, err          # a constant action would be off by ~0.17


def test_terminated_stops_bootstrapping_truncated_does_not():
    agent = SAC((3,), np.float32, 2, SMALL, ENC, seed=0)
    lam, r, c = 0.7, torch.full((64,), 2.0), torch.full((64,), 0.5)
    m = agent.update(batch(reward=r, cost=c, terminated=torch.ones(64)), lam=lam)
    assert m["target_mean"] == pytest.approx(2.0 - lam * 0.5, abs=1e-6)
    assert m["reward_mean"] == pytest.approx(2.0 - lam * 0.5, abs=1e-6)
    m = agent.update(batch(reward=r, cost=c, truncated=torch.ones(64)), lam=lam)
    assert abs(m["target_mean"] - (2.0 - lam * 0.5)) > 1e-3   # γ·(Q' - α log π) added


def test_cost_head_learns_the_cost_apart_from_the_reward():
    """With terminated transitions Q_r -> E[r | a] and Q_c -> E[c | a] separately."""
    cfg = SACConfig(hidden_sizes=(64, 64), batch_size=256, gamma=0.0, device="cpu",
                    lr_critic=3e-3, cost_critic=True)
    agent = SAC((3,), np.float32, 2, cfg, ENC, seed=0)
    g = torch.Generator().manual_seed(0)
    for i in range(400):
        a = torch.rand(256, 2, generator=g)
        agent.update(batch(n=256, seed=i, action=a, reward=2.0 * a[:, 0], cost=a[:, 1] - 0.5,
                           terminated=torch.ones(256)), lam=0.3)
    a = torch.rand(512, 2, generator=g)
    with torch.no_grad():
        q = agent.critic(agent.encoder(torch.randn(512, 3, generator=g)), a).mean(0)
    assert q.shape == (512, 2)
    assert (q[:, 0] - 2.0 * a[:, 0]).abs().mean() < 0.1
    assert (q[:, 1] - (a[:, 1] - 0.5)).abs().mean() < 0.1


def test_cost_critic_target_and_lagrangian_value_follow_lambda_at_once():
    """The same critic serves every λ: Q_r - λ·Q_c moves with λ without any update."""
    cfg = SACConfig(hidden_sizes=(32, 32), batch_size=64, device="cpu", cost_critic=True)
    agent = SAC((3,), np.float32, 2, cfg, ENC, seed=0)
    lam, r, c = 0.7, torch.full((64,), 2.0), torch.full((64,), 0.5)
    m = agent.update(batch(reward=r, cost=c, terminated=torch.ones(64)), lam=lam)
    assert m["target_mean"] == pytest.approx(2.0 - lam * 0.5, abs=1e-6)
    q = agent.critic(agent.encoder(batch()["obs"]), batch()["action"]).detach()
    for lam in (0.0, 0.5, 2.0):
        torch.testing.assert_close(SAC._lagrangian(q, lam), q[..., 0] - lam * q[..., 1])
    single = SAC((3,), np.float32, 2, SACConfig(hidden_sizes=(32, 32), cost_critic=False,
                                                device="cpu"), ENC, seed=0)
    assert single.critic(single.encoder(batch()["obs"]), batch()["action"]).shape == (2, 64, 1)


def test_min_reduction_picks_the_member_with_the_lowest_lagrangian_value():
    agent = SAC((3,), np.float32, 2, SACConfig(twin_reduce="min", device="cpu"), ENC, seed=0)
    q = torch.tensor([[[1.0, 0.0], [1.0, 0.0]],      # member 0: (Q_r, Q_c) per sample
                      [[2.0, 2.0], [0.5, 0.0]]])     # member 1
    out = agent._reduce(q, lam=1.0)   # sample 0: 1 vs 0 -> member 1; sample 1: 1 vs .5 -> 1
    torch.testing.assert_close(out, torch.tensor([[2.0, 2.0], [0.5, 0.0]]))
    out = agent._reduce(q, lam=0.0)   # sample 0: 1 vs 2 -> member 0
    torch.testing.assert_close(out[0], torch.tensor([1.0, 0.0]))


def test_critic_ensemble_size_is_configurable_and_members_differ():
    agent = SAC((3,), np.float32, 2, SACConfig(n_critics=5, hidden_sizes=(32, 32),
                                               device="cpu"), ENC, seed=0)
    b = batch()
    q = agent.critic(agent.encoder(b["obs"]), b["action"])
    assert q.shape == (5, 64, 2)
    assert all(not torch.allclose(q[0], q[i]) for i in range(1, 5))  # independent inits
    torch.testing.assert_close(agent._reduce(q, lam=0.5), q.mean(0))
    metrics = agent.update(b, lam=0.5)
    assert np.isfinite(metrics["critic_loss"])
    with pytest.raises(ConfigError, match="n_critics"):
        from_dict(SACConfig, {"n_critics": 1})


def test_non_finite_loss_raises_before_any_step_and_keeps_parameters():
    agent = SAC((3,), np.float32, 2, SMALL, ENC, seed=0)
    for i in range(3):
        agent.update(batch(seed=i))
    before, opt_state = params(agent), agent.state_dict()["critic_opt"]["state"]
    steps_before = {k: v["step"].clone() for k, v in opt_state.items()}
    bad = batch(reward=torch.full((64,), float("nan")))
    with pytest.raises(NonFiniteError, match="critic_loss.*update 4"):
        agent.update(bad)
    for p, q in zip(before, params(agent), strict=True):
        assert torch.equal(p, q)
    after = agent.state_dict()["critic_opt"]["state"]
    assert all(torch.equal(after[k]["step"], steps_before[k]) for k in after)
    assert agent.num_updates == 3


def test_state_dict_roundtrip_resumes_exactly():
    cfg = SMALL
    a = SAC((3,), np.float32, 2, cfg, ENC, seed=1)
    for i in range(5):
        a.update(batch(seed=i), lam=0.3)
    f = io.BytesIO()
    torch.save(a.state_dict(), f)
    f.seek(0)
    b = SAC((3,), np.float32, 2, cfg, ENC, seed=123)
    b.load_state_dict(torch.load(f, weights_only=True))
    for p, q in zip(params(a), params(b), strict=True):
        assert torch.equal(p, q)
    obs = np.ones(3, np.float32)
    np.testing.assert_array_equal(a.act(obs), b.act(obs))   # same sampling RNG
    for i in range(3):   # including an actor step on both
        assert a.update(batch(seed=10 + i), 0.3) == b.update(batch(seed=10 + i), 0.3)
    with pytest.raises(ValueError, match="obs"):
        SAC((4,), np.float32, 2, cfg, ENC).load_state_dict(a.state_dict())


def test_actor_is_delayed_and_metrics_are_finite_floats():
    agent = SAC((3,), np.float32, 2, SMALL, ENC, seed=0)
    flags = [agent.update(batch(seed=i))["actor_updated"] for i in range(4)]
    assert flags == [0.0, 1.0, 0.0, 1.0]
    m = agent.update(batch())
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert {"critic_loss", "actor_loss", "alpha", "entropy", "q_mean"} <= set(m)


def test_updates_due_honours_learning_starts_and_fractional_utd():
    agent = SAC((3,), np.float32, 2, SACConfig(learning_starts=10, updates_per_step=0.5,
                                               device="cpu"), ENC)
    due = [agent.updates_due(t) for t in range(1, 31)]
    assert sum(due[:10]) == 0 and sum(due) == 10 and max(due) == 1
    agent = SAC((3,), np.float32, 2, SACConfig(learning_starts=0, updates_per_step=2.0,
                                               device="cpu"), ENC)
    assert [agent.updates_due(t) for t in range(1, 4)] == [2, 2, 2]


def test_config_validation():
    with pytest.raises(ConfigError, match="target_entropy"):
        from_dict(SACConfig, {"target_entropy": "high"})
    assert from_dict(SACConfig, {"target_entropy": -1.5}).target_entropy == -1.5
    with pytest.raises(ConfigError, match="unknown"):
        from_dict(SACConfig, {"lr": 3e-4})
    with pytest.raises(ConfigError, match="mlp"):
        build_encoder(EncoderConfig(), (8, 3, 64, 64))


# ---------------------------------------------------------------- image path
class TinyConv(nn.Module):
    """Stand-in video encoder (BatchNorm included, to check the target copy)."""

    is_image = True

    def __init__(self, cfg, obs_shape):
        super().__init__()
        t, c, h, w = obs_shape
        self.frames = t
        self.conv = nn.Conv2d(t * c, 4, 3, stride=2)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * ((h - 3) // 2 + 1) * ((w - 3) // 2 + 1), cfg.latent_dim)
        self.seen = []

    def forward(self, x):
        self.seen.append((x.dtype, float(x.min()), float(x.max())))
        b = x.shape[0]
        return torch.tanh(self.fc(torch.relu(self.bn(self.conv(x.reshape(b, -1, *x.shape[-2:]))))
                                  .flatten(1)))


@pytest.fixture
def fake_video_module(monkeypatch):
    mod = types.ModuleType("robolabor.agents.video_encoders")
    mod.build_video_encoder = lambda cfg, shape: TinyConv(cfg, shape)
    monkeypatch.setitem(sys.modules, "robolabor.agents.video_encoders", mod)


def image_batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (n, 3, 3, 12, 12), dtype=torch.uint8, generator=g)
    return batch(n, obs=frames, next_obs=frames.roll(1, 0), seed=seed)


def test_image_path_trains_encoder_by_critic_and_tracks_bn_stats(fake_video_module):
    enc = EncoderConfig(type="pixel", frames=3, channels=3, latent_dim=16)
    agent = SAC((3, 3, 12, 12), np.uint8, 2, SMALL, enc, seed=0)
    w0 = agent.encoder.conv.weight.detach().clone()
    tw0 = agent.encoder_target.conv.weight.detach().clone()
    for i in range(2):
        agent.update(image_batch(seed=i))
    assert not torch.equal(agent.encoder.conv.weight, w0)           # critic loss -> encoder
    assert not torch.equal(agent.encoder_target.conv.weight, tw0)   # Polyak
    assert torch.equal(agent.encoder_target.bn.running_mean, agent.encoder.bn.running_mean)
    dtype, lo, hi = agent.encoder.seen[-1]
    assert dtype == torch.float32 and 0.0 <= lo and hi <= 1.0        # uint8 scaled to [0, 1]
    a = agent.act(image_batch()["obs"][0].numpy(), deterministic=True)
    assert a.shape == (2,)
    assert not agent.encoder.training                                # eval mode when acting


def test_actor_step_leaves_the_encoder_alone(fake_video_module):
    """The actor (and α) see detached latents: only the critic loss moves the encoder."""
    enc = EncoderConfig(type="pixel", frames=3, channels=3, latent_dim=16)
    agent = SAC((3, 3, 12, 12), np.uint8, 2, SMALL, enc, seed=0)
    agent.update(image_batch(seed=0))
    grads = {}
    orig = agent._step

    def spy(opt, loss, params_, name):
        orig(opt, loss, params_, name)
        grads[name] = agent.encoder.conv.weight.grad
    agent._step = spy
    agent.critic_opt.zero_grad(set_to_none=True)
    agent.update(image_batch(seed=1))   # update 2: critic, then actor + alpha
    assert grads["critic"] is not None
    assert torch.equal(grads["actor"], grads["critic"])   # unchanged by the actor's backward


def test_frozen_encoder_never_changes(fake_video_module):
    enc = EncoderConfig(type="pixel", frames=3, channels=3, latent_dim=16, freeze=True)
    agent = SAC((3, 3, 12, 12), np.uint8, 2, SMALL, enc, seed=0)
    w0 = [p.clone() for p in agent.encoder.parameters()]
    rm0 = agent.encoder.bn.running_mean.clone()
    for i in range(2):
        agent.update(image_batch(seed=i))
    assert all(torch.equal(p, q) for p, q in zip(w0, agent.encoder.parameters(), strict=True))
    assert torch.equal(rm0, agent.encoder.bn.running_mean)


def test_missing_video_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "robolabor.agents.video_encoders", None)
    with pytest.raises(ImportError, match="video_encoders"):
        build_encoder(EncoderConfig(type="cnn3d"), (8, 3, 64, 64))


def test_actor_ema_averages_and_round_trips():
    cfg = SACConfig(hidden_sizes=(32, 32), batch_size=16, device="cpu", actor_ema=0.9,
                    actor_update_every=1, learning_starts=0)
    agent = SAC((3,), np.float32, 2, cfg, ENC, seed=0)
    rng = np.random.default_rng(0)
    batch = {"obs": torch.randn(16, 3), "action": torch.rand(16, 2), "reward": torch.randn(16),
             "cost": torch.zeros(16), "next_obs": torch.randn(16, 3),
             "terminated": torch.zeros(16), "truncated": torch.zeros(16)}
    before = [p.clone() for p in agent.actor_avg.parameters()]
    for _ in range(5):
        agent.update(batch)
    after = list(agent.actor_avg.parameters())
    online = list(agent.actor.parameters())
    moved = [not torch.equal(a, b) for a, b in zip(before, after, strict=True)]
    assert all(moved)  # the average follows the actor ...
    assert any(not torch.allclose(a, o) for a, o in zip(after, online, strict=True))  # ... lags
    obs = rng.normal(size=3).astype(np.float32)
    clone = SAC((3,), np.float32, 2, cfg, ENC, seed=1)
    clone.load_state_dict(agent.state_dict())
    assert np.allclose(clone.act(obs, deterministic=True), agent.act(obs, deterministic=True))


def test_anneal_scales_actor_and_critic_lr_linearly_to_lr_final():
    cfg = SACConfig(hidden_sizes=(16, 16), device="cpu", lr_actor=1e-3, lr_critic=4e-4,
                    lr_alpha=2e-3, lr_final=0.1)
    agent = SAC((3,), np.float32, 2, cfg, ENC, seed=0)
    for progress, f in ((-1.0, 1.0), (0.0, 1.0), (0.5, 0.55), (1.0, 0.1), (3.0, 0.1)):
        agent.anneal(progress)
        assert agent.actor_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * f)
        assert agent.critic_opt.param_groups[0]["lr"] == pytest.approx(4e-4 * f)
        assert agent.alpha_opt.param_groups[0]["lr"] == 2e-3   # α keeps its own step


def test_target_entropy_anneals_from_its_start_value_then_holds():
    cfg = SACConfig(hidden_sizes=(16, 16), device="cpu", target_entropy=-4.0,
                    target_entropy_start=-1.0, entropy_anneal=0.5)
    agent = SAC((3,), np.float32, 2, cfg, ENC, seed=0)
    assert agent.target_entropy == -1.0                      # before the first update
    for progress, h in ((0.0, -1.0), (0.25, -2.5), (0.5, -4.0), (1.0, -4.0)):
        agent.anneal(progress)
        assert agent.target_entropy == pytest.approx(h)
    fixed = SAC((3,), np.float32, 2, SACConfig(hidden_sizes=(16, 16), device="cpu"), ENC)
    fixed.anneal(0.3)
    assert fixed.target_entropy == -4.0


def test_image_encoder_reads_only_its_newest_frames_in_acting_and_learning():
    cfg = SACConfig(batch_size=4, hidden_sizes=(32, 32), augment=True)
    enc = EncoderConfig(type="pixel", latent_dim=8, frames=2, num_filters=4)
    agent = SAC((5, 3, 32, 32), np.uint8, 2, cfg, enc, seed=0)
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (4, 5, 3, 32, 32), dtype=np.uint8)
    other_past = obs.copy()
    other_past[:, :3] = rng.integers(0, 256, (4, 3, 3, 32, 32), dtype=np.uint8)
    new_frame = obs.copy()
    new_frame[:, -1] = 255 - new_frame[:, -1]
    act = agent.act(obs, deterministic=True)
    np.testing.assert_array_equal(agent.act(other_past, deterministic=True), act)
    assert not np.allclose(agent.act(new_frame, deterministic=True), act)
    # a learning step sees the same two frames: identical batches but for old frames, same update
    def batch(o):
        t = torch.as_tensor(o)
        return {"obs": t, "next_obs": t, "action": torch.full((4, 2), 0.5),
                "reward": torch.ones(4), "cost": torch.zeros(4), "terminated": torch.zeros(4)}
    twin = SAC((5, 3, 32, 32), np.uint8, 2, cfg, enc, seed=0)
    assert agent.update(batch(obs)) == twin.update(batch(other_past))
