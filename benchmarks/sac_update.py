"""Updates per second of robolabor's SAC on the state MLP, next to a plain reference SAC.

The reference is the textbook layout that Stable-Baselines3 and CleanRL use (separate
actor, two separate critics + two target critics, actor and α every update, Polyak by
a Python loop, no encoder, 256-256 like SB3's default), run in the same process so
machine load hits both alike. It is a lean re-implementation, faster than SB3 itself;
``--learn-steps N --sb3`` times the real Stable-Baselines3 SAC (``bench`` extra) on
Pendulum-v1 with the same loop measurement as ``--learn-steps N``.

    python benchmarks/sac_update.py            # human-readable
    python benchmarks/sac_update.py --json     # last line: one JSON object
    python benchmarks/sac_update.py --learn-steps 8000 --seeds 0 1 [--sb3]
                                               # Pendulum-v1: env steps/s and final return

Reported: updates/s of each, their ratio, act latency (one observation), and the env
steps/s the learner alone would allow at UTD 1 (1 / (update + act)); env time excluded.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robolabor.agents.encoders import EncoderConfig
from robolabor.agents.replay import ReplayBuffer
from robolabor.agents.sac import SAC, SACConfig


class ReferenceSAC:
    """Plain SAC (SB3 / CleanRL layout) on the raw state; for timing only."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256, lr: float = 3e-4) -> None:
        def mlp(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(i, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, o))
        self.actor = mlp(obs_dim, 2 * act_dim)
        self.q = nn.ModuleList([mlp(obs_dim + act_dim, 1) for _ in range(2)])
        self.q_targ = nn.ModuleList([mlp(obs_dim + act_dim, 1) for _ in range(2)])
        self.q_targ.load_state_dict(self.q.state_dict())
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.opt_q = torch.optim.Adam(self.q.parameters(), lr=lr)
        self.opt_pi = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.opt_a = torch.optim.Adam([self.log_alpha], lr=lr)
        self.target_entropy = -act_dim

    def pi(self, obs):
        mean, log_std = self.actor(obs).chunk(2, -1)
        log_std = log_std.clamp(-20, 2)
        dist = torch.distributions.Normal(mean, log_std.exp())
        u = dist.rsample()
        a = torch.tanh(u)
        logp = dist.log_prob(u).sum(-1) - torch.log(1 - a.pow(2) + 1e-6).sum(-1)
        return a, logp

    def update(self, b) -> None:
        obs, act, rew, nxt, term = b["obs"], b["action"], b["reward"], b["next_obs"], \
            b["terminated"]
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a2, logp2 = self.pi(nxt)
            x2 = torch.cat([nxt, a2], -1)
            qn = torch.min(self.q_targ[0](x2), self.q_targ[1](x2)).squeeze(-1)
            y = rew + 0.99 * (1 - term) * (qn - alpha * logp2)
        x = torch.cat([obs, act], -1)
        q_loss = F.mse_loss(self.q[0](x).squeeze(-1), y) + F.mse_loss(self.q[1](x).squeeze(-1), y)
        self.opt_q.zero_grad()
        q_loss.backward()
        self.opt_q.step()
        a, logp = self.pi(obs)
        xa = torch.cat([obs, a], -1)
        pi_loss = (alpha * logp - torch.min(self.q[0](xa), self.q[1](xa)).squeeze(-1)).mean()
        self.opt_pi.zero_grad()
        pi_loss.backward()
        self.opt_pi.step()
        a_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        self.opt_a.zero_grad()
        a_loss.backward()
        self.opt_a.step()
        with torch.no_grad():
            for p, pt in zip(self.q.parameters(), self.q_targ.parameters(), strict=True):
                pt.mul_(0.995).add_(0.005 * p)
        _ = (q_loss.item(), pi_loss.item())


def timed(fn, n: int, repeats: int) -> float:
    """Best-of-``repeats`` seconds per call (the least disturbed by other load)."""
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def learn_pendulum(steps: int, hidden: tuple[int, ...], seed: int, utd: float) -> dict:
    """Train on Pendulum-v1 for ``steps`` env steps: wall-clock and final deterministic return.

    The whole loop counts (env, act, replay, updates), i.e. what "per 10k env steps" means.
    """
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    cfg = SACConfig(hidden_sizes=hidden, updates_per_step=utd, device="cpu", gamma=0.99,
                    learning_starts=1000, lr_critic=1e-3, target_entropy="auto",
                    twin_reduce="min")  # Pendulum settings, not the shift task's
    agent = SAC(env.observation_space.shape, np.float32, 1, cfg, EncoderConfig(), seed=seed)
    rb = ReplayBuffer(steps, env.observation_space.shape, np.float32, 1, seed=seed)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        a = rng.random(1) if t <= cfg.learning_starts else agent.act(obs)
        nxt, r, term, trunc, _ = env.step(4.0 * a - 2.0)  # [0, 1] -> [-2, 2]
        rb.add(obs, a, r, 0.0, nxt, term, trunc)
        obs = env.reset()[0] if (term or trunc) else nxt
        for _ in range(agent.updates_due(t)):
            agent.update(rb.sample(cfg.batch_size))
    wall = time.perf_counter() - t0
    returns = []
    for i in range(5):
        obs, _ = env.reset(seed=10_000 + i)
        done, ret = False, 0.0
        while not done:
            obs, r, term, trunc, _ = env.step(4.0 * agent.act(obs, deterministic=True) - 2.0)
            ret += r
            done = term or trunc
        returns.append(ret)
    return {"impl": "robolabor", "hidden": list(hidden), "seed": seed, "utd": utd, "steps": steps,
            "env_steps_per_s": steps / wall, "eval_return": float(np.mean(returns))}


def learn_pendulum_sb3(steps: int, seed: int) -> dict:
    """The same measurement for Stable-Baselines3 SAC (MlpPolicy, all defaults)."""
    import gymnasium as gym
    from stable_baselines3 import SAC as SB3SAC

    env = gym.make("Pendulum-v1")
    model = SB3SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - t0
    returns = []
    for i in range(5):
        obs, _ = env.reset(seed=10_000 + i)
        done, ret = False, 0.0
        while not done:
            obs, r, term, trunc, _ = env.step(model.predict(obs, deterministic=True)[0])
            ret += r
            done = term or trunc
        returns.append(ret)
    return {"impl": "sb3", "seed": seed, "steps": steps, "env_steps_per_s": steps / wall,
            "eval_return": float(np.mean(returns))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--obs-dim", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--hidden", type=int, nargs="+", default=list(SACConfig().hidden_sizes))
    ap.add_argument("--updates", type=int, default=200, help="updates per timing repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reference-hidden", type=int, default=256,
                    help="width of the reference SAC (256 = SB3's default net_arch)")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--learn-steps", type=int, default=0,
                    help="instead: train on Pendulum-v1 this many env steps per --seeds")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--utd", type=float, default=1.0)
    ap.add_argument("--sb3", action="store_true",
                    help="with --learn-steps: run Stable-Baselines3 SAC instead (bench extra)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.learn_steps:
        runs = [learn_pendulum_sb3(args.learn_steps, s) if args.sb3 else
                learn_pendulum(args.learn_steps, tuple(args.hidden), s, args.utd)
                for s in args.seeds]
        for r in runs:
            print(r, flush=True)
        print(json.dumps({"runs": runs}))
        return

    rng = np.random.default_rng(0)
    rb = ReplayBuffer(10_000, (args.obs_dim,), np.float32, 2, seed=0)
    for i in range(5_000):
        o = rng.standard_normal(args.obs_dim).astype(np.float32)
        rb.add(o, rng.random(2), rng.standard_normal(), 0.0, o + 0.1, False, i % 480 == 479)
    batches = [rb.sample(args.batch) for _ in range(32)]

    cfg = SACConfig(batch_size=args.batch, hidden_sizes=tuple(args.hidden), device="cpu")
    agent = SAC((args.obs_dim,), np.float32, 2, cfg, EncoderConfig(), seed=0)
    it = iter(range(10**9))

    def ours() -> None:
        agent.update(batches[next(it) % 32], lam=0.1)

    obs = batches[0]["obs"][0].numpy()
    timed(ours, 20, 1)  # warm-up
    res = {"batch": args.batch, "hidden": args.hidden, "threads": args.threads,
           "ours_ms": 1e3 * timed(ours, args.updates, args.repeats),
           "act_ms": 1e3 * timed(lambda: agent.act(obs, False), 200, args.repeats),
           "sample_ms": 1e3 * timed(lambda: rb.sample(args.batch), 50, args.repeats)}
    res["ours_updates_per_s"] = 1e3 / res["ours_ms"]
    res["learner_env_steps_per_s"] = 1e3 / (res["ours_ms"] + res["act_ms"] + res["sample_ms"])
    if not args.no_reference:
        ref = ReferenceSAC(args.obs_dim, 2, hidden=args.reference_hidden)
        ref_it = iter(range(10**9))

        def reference() -> None:
            ref.update(batches[next(ref_it) % 32])

        timed(reference, 20, 1)
        res["reference_ms"] = 1e3 * timed(reference, args.updates, args.repeats)
        res["reference_updates_per_s"] = 1e3 / res["reference_ms"]
        res["speedup"] = res["reference_ms"] / res["ours_ms"]
    if not args.json:
        for k, v in res.items():
            print(f"{k:>26}: {v:.3f}" if isinstance(v, float) else f"{k:>26}: {v}")
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}))


if __name__ == "__main__":
    main()
