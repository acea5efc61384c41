"""Soft Actor-Critic on latents: encoder -> latent -> tanh-Gaussian actor and twin critics.

The constraint (the error SLA) enters through its Lagrange multiplier λ. With
``cost_critic`` (the default) each critic has two heads, Q_r for the profit and Q_c for
the constraint cost c = errors - e*·attempts, and the policy maximises Q_r - λ·Q_c, so a
new λ reaches the actor at once; without it one head regresses s·(r - λ·c) and must
re-fit whenever λ moves.

One update (``SAC.update``), in order:

1. target   y_r = s·r + γ·(1 - terminated)·(Q̄_r(z̄', a') - α·log π(a'|z')),
            y_c = s·c + γ·(1 - terminated)·Q̄_c(z̄', a'),
            a' ~ π(·|z'), z' = encoder(s'), z̄' = target encoder(s'), Q̄ the target critics
            reduced over the twins (mean, or the member with the lowest Q̄_r - λ·Q̄_c).
            Truncation still bootstraps; only termination stops it.
2. critic   L_Q = Σ_i Σ_heads mean w·(Q_i(z, a) - y)², z = encoder(s). This loss (alone)
            trains the encoder, end to end. w = 1, or the batch's importance weights
            (key ``weight``) when the replay samples by priority.
3. actor    L_π = mean(α·log π(ã|z) - (Q_r - λ·Q_c)(z, ã)) on the DETACHED z, every
            ``actor_update_every`` critic updates (TD3-style delay, halves the actor's cost).
4. alpha    L_α = -mean(log α·(log π(ã|z) + H̄)) with the same samples (automatic entropy).
5. targets  Polyak: θ̄ ← θ̄ + τ(θ - θ̄) for the target critics and the target encoder
            (BatchNorm statistics are copied).

Image encoders see uint8 frames scaled to [0, 1] and, when ``augment``, a random shift
drawn independently for s and s'.

Policy: u ~ N(μ, σ), a = (tanh u + 1)/2 ∈ [0, 1]^d. Its log-density includes both
Jacobians, log π(a) = log N(u) - Σ log(1 - tanh²u) + d·log 2, so the entropy that α
controls is the entropy of the action actually sent to the env.

Speed (see benchmarks/sac_update.py): the twin critics (``n_critics``, 2 by default)
are one ensemble network (``torch.baddbmm`` over a leading dim of n), the actor step
is delayed, target updates are one fused ``lerp`` over all tensors, metrics are
synchronised once per update.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robolabor.agents.augment import random_shift
from robolabor.agents.encoders import EncoderConfig, build_encoder
from robolabor.schema import ConfigError, spec

LOG_2 = math.log(2.0)
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class NonFiniteError(RuntimeError):
    """A loss became NaN/inf; raised before any optimiser step of that loss."""


@dataclass(frozen=True)
class SACConfig:
    # Defaults are tuned for the shift task (BENCHMARKS.md); Pendulum-style tasks want
    # gamma 0.99, learning_starts ~1000, target_entropy "auto" and twin_reduce "min".
    gamma: float = spec(0.9, lo=0.0, hi=1.0, doc="discount per step (minute)")
    tau: float = spec(0.005, lo=0.0, hi=1.0, lo_open=True, doc="Polyak factor of the targets")
    lr_actor: float = spec(3e-4, lo=0.0, lo_open=True, doc="Adam lr of the actor")
    lr_critic: float = spec(3e-4, lo=0.0, lo_open=True,
                            doc="Adam lr of critics + encoder; faster over-fits count noise")
    lr_final: float = spec(1.0, lo=0.0, hi=1.0,
                           doc="actor and critic lr at the end of training as a fraction of "
                               "lr_actor / lr_critic, reached linearly from the first update "
                               "(1 = constant): with noisy targets a constant step leaves the "
                               "last iterate wandering in proportion to the step")
    lr_alpha: float = spec(1e-3, lo=0.0, lo_open=True, doc="Adam lr of log α")
    batch_size: int = spec(256, lo=1, doc="transitions per update")
    buffer_size: int = spec(100_000, lo=1, doc="replay capacity in transitions")
    learning_starts: int = spec(5_000, lo=0, doc="env steps of uniform-random actions before "
                                                 "the first update")
    updates_per_step: float = spec(1.0, lo=0.0, hi=64.0, lo_open=True,
                                   doc="updates per env step (UTD); < 1 updates every "
                                       "1/UTD steps")
    actor_update_every: int = spec(2, lo=1, doc="critic updates per actor + α update")
    cost_critic: bool = spec(True, doc="learn the constraint cost with its own critic head "
                                       "(Q_r - λ·Q_c): a change of λ reaches the actor at "
                                       "once instead of after the critic has re-fitted "
                                       "r - λ·c; false = one critic of r - λ·c")
    n_critics: int = spec(2, lo=2, hi=32,
                          doc="critic ensemble size (one batched network); a larger "
                              "ensemble averages out more of each member's fitting noise")
    twin_reduce: str = spec("mean", choices=("min", "mean"),
                            doc="how the twin critics combine in the target and the actor "
                                "loss: min (clipped double Q, pessimistic in proportion to "
                                "their disagreement) or mean")
    hidden_sizes: tuple[int, ...] = spec((256, 256),
                                         doc="hidden widths of actor and critics (128² learns "
                                             "Pendulum-v1 as well at ~2x the speed on CPU)")
    actor_ema: float = spec(0.0, lo=0.0, hi=1.0, hi_open=True,
                            doc="0 = off; else deterministic actions (evaluation) come from an "
                                "exponential average of the actor's weights with this decay, "
                                "on the Polyak-averaged encoder: the last iterate of a policy "
                                "chasing a noisy critic wanders, its average does not")
    init_alpha: float = spec(0.1, lo=0.0, lo_open=True, doc="initial entropy temperature α")
    target_entropy: float | str = spec(-4.0, doc="entropy target H̄ of the [0,1]^d action; "
                                                   "'auto' = -d")
    target_entropy_start: float | None = spec(None,
                                              doc="None = constant; else H̄ starts here at the "
                                                  "first update and reaches target_entropy "
                                                  "linearly at entropy_anneal of training: "
                                                  "broad exploration while λ is still moving")
    entropy_anneal: float = spec(0.5, lo=0.0, hi=1.0, lo_open=True,
                                 doc="fraction of training over which target_entropy_start "
                                     "moves to target_entropy")
    log_std_min: float = spec(-5.0, doc="lower bound of log σ (smoothly squashed)")
    log_std_max: float = spec(2.0, doc="upper bound of log σ")
    augment: bool = spec(True, doc="random-shift augmentation for image encoders")
    reward_scale: float = spec(1.0, lo=0.0, lo_open=True, doc="s in s·(r - λ·c)")
    max_grad_norm: float = spec(0.0, lo=0.0, doc="clip each gradient to this norm; 0 = off")
    device: str = spec("auto", choices=("auto", "cpu", "cuda"),
                       doc="auto = cuda when available, else cpu")

    def __post_init__(self) -> None:
        if isinstance(self.target_entropy, str) and self.target_entropy != "auto":
            raise ConfigError(f"target_entropy: must be a number or 'auto', got "
                              f"{self.target_entropy!r}")
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ConfigError(f"hidden_sizes: need positive widths, got {self.hidden_sizes}")
        if self.log_std_min >= self.log_std_max:
            raise ConfigError(f"log_std_min ({self.log_std_min}) must be < log_std_max "
                              f"({self.log_std_max})")


# ------------------------------------------------------------------------- networks
class EnsembleLinear(nn.Module):
    """``n`` independent Linear layers as one batched matmul: (n, B, i) -> (n, B, o)."""

    def __init__(self, n: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default init, per member
        self.weight = nn.Parameter(torch.empty(n, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class TwinCritic(nn.Module):
    """Q_1, Q_2 (z, a) evaluated together; returns (2, B, heads): head 0 the reward
    value, head 1 (when ``heads`` = 2) the constraint-cost value."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], n: int = 2, heads: int = 1
                 ) -> None:
        super().__init__()
        dims = (in_dim, *hidden, heads)
        self.n = n
        self.layers = nn.ModuleList(EnsembleLinear(n, i, o)
                                    for i, o in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        x = torch.cat([z, a], dim=-1).expand(self.n, -1, -1)
        for layer in self.layers[:-1]:
            x = F.relu(layer(x), inplace=True)
        return self.layers[-1](x)


class Actor(nn.Module):
    """z -> (μ, log σ) of the pre-tanh Gaussian; log σ squashed smoothly into its bounds."""

    def __init__(self, latent_dim: int, action_dim: int, hidden: tuple[int, ...],
                 log_std_min: float, log_std_max: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, o in zip((latent_dim, *hidden[:-1]), hidden, strict=True):
            layers += [nn.Linear(i, o), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(hidden[-1], 2 * action_dim)
        self.log_std_min, self.log_std_span = log_std_min, log_std_max - log_std_min

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.head(self.trunk(z)).chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * self.log_std_span * (torch.tanh(raw) + 1.0)
        return mean, log_std


def squashed_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
                      ) -> torch.Tensor:
    """log π(a) for a = (tanh u + 1)/2, u ~ N(mean, exp(log_std)); summed over the last dim.

    log(1 - tanh²u) = 2(log 2 - u - softplus(-2u)) is exact and stable for large |u|;
    the affine map to [0, 1] contributes +log 2 per dimension.
    """
    eps = (u - mean) * torch.exp(-log_std)
    per_dim = -0.5 * eps.pow(2) - log_std - HALF_LOG_2PI - LOG_2 + 2.0 * (u + F.softplus(-2.0 * u))
    return per_dim.sum(-1)


def to_unit_interval(u: torch.Tensor) -> torch.Tensor:
    return 0.5 * (torch.tanh(u) + 1.0)


# ------------------------------------------------------------------------- agent
class SAC:
    """SAC over an encoder's latent; see the module docstring for the update."""

    def __init__(self, obs_shape: tuple[int, ...], obs_dtype: np.dtype | type | str,
                 action_dim: int, sac_cfg: SACConfig | None = None,
                 encoder_cfg: EncoderConfig | None = None, seed: int = 0) -> None:
        self.cfg = cfg = sac_cfg or SACConfig()
        self.encoder_cfg = encoder_cfg or EncoderConfig()
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.action_dim = int(action_dim)
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("sac.device: 'cuda' requested but no CUDA device is available")
        use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
        self.device = torch.device("cuda" if use_cuda else "cpu")

        with torch.random.fork_rng(devices=[]):  # seeded init, global RNG untouched
            torch.manual_seed(seed)
            self.encoder = build_encoder(self.encoder_cfg, self.obs_shape).to(self.device)
            latent = self.encoder_cfg.latent_dim
            hidden = tuple(cfg.hidden_sizes)
            self.actor = Actor(latent, action_dim, hidden, cfg.log_std_min,
                               cfg.log_std_max).to(self.device)
            self.critic = TwinCritic(latent + action_dim, hidden, n=cfg.n_critics,
                                     heads=2 if cfg.cost_critic else 1).to(self.device)
        self.is_image = bool(self.encoder.is_image)
        self.frozen = self.encoder_cfg.freeze
        # A frozen encoder never changes, so it is its own target.
        self.encoder_target = self.encoder if self.frozen else copy.deepcopy(self.encoder)
        self.critic_target = copy.deepcopy(self.critic)
        self.actor_avg = copy.deepcopy(self.actor) if cfg.actor_ema > 0 else None
        if self.actor_avg is not None:
            self.actor_avg.requires_grad_(False)
        for net in (self.encoder_target, self.critic_target):
            net.requires_grad_(False)
            net.eval()
        self.log_alpha = torch.tensor(math.log(cfg.init_alpha), device=self.device,
                                      requires_grad=True)
        self._final_entropy = float(-action_dim if cfg.target_entropy == "auto"
                                    else cfg.target_entropy)
        self.target_entropy = (self._final_entropy if cfg.target_entropy_start is None
                               else float(cfg.target_entropy_start))

        enc_params = [p for p in self.encoder.parameters() if p.requires_grad]
        self._critic_params = list(self.critic.parameters()) + enc_params
        self._actor_params = list(self.actor.parameters())
        # Fused Adam: one kernel for all tensors (CPU and CUDA); 3x faster than the loop here.
        self.critic_opt = torch.optim.Adam(self._critic_params, lr=cfg.lr_critic, fused=True)
        self.actor_opt = torch.optim.Adam(self._actor_params, lr=cfg.lr_actor, fused=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.lr_alpha, fused=True)

        # Polyak pairs (target, online); buffers (BatchNorm statistics) are copied.
        pairs = [(self.critic_target, self.critic)]
        if not self.frozen:
            pairs.append((self.encoder_target, self.encoder))
        self._polyak_dst = [p for t, _ in pairs for p in t.parameters()]
        self._polyak_src = [p for _, o in pairs for p in o.parameters()]
        self._buf_dst = [b for t, _ in pairs for b in t.buffers()]
        self._buf_src = [b for _, o in pairs for b in o.buffers()]

        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.num_updates = 0
        zero = torch.zeros((), device=self.device)
        self._last_actor = {"actor_loss": zero, "alpha_loss": zero, "entropy": zero}

    # ------------------------------------------------------------------ helpers
    def _prep(self, obs: torch.Tensor, augment: bool) -> torch.Tensor:
        """Batch of observations -> float input of the encoder (uint8 frames -> [0, 1])."""
        if not self.is_image:
            return obs.float()
        # Only the frames the encoder looks at are converted and shifted (on CPU the
        # shift of all 8 frames cost more than the encoder's pass over 2 or 3).
        x = obs[:, -self.encoder.frames:].float()
        if obs.dtype == torch.uint8:
            x = x.mul_(1.0 / 255.0)
        if augment and self.cfg.augment:
            x = random_shift(x, generator=self.generator)
        return x

    def _sample(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised a ~ π(·|z) in [0, 1]^d and its log-density."""
        mean, log_std = self.actor(z)
        noise = torch.randn(mean.shape, device=mean.device, generator=self.generator)
        u = mean + noise * log_std.exp()
        return to_unit_interval(u), squashed_log_prob(u, mean, log_std)

    @staticmethod
    def _lagrangian(q: torch.Tensor, lam: float) -> torch.Tensor:
        """(..., heads) -> (...): Q_r - λ·Q_c with a cost head, else the single head."""
        return q[..., 0] - lam * q[..., 1] if q.shape[-1] == 2 else q[..., 0]

    def _reduce(self, q: torch.Tensor, lam: float) -> torch.Tensor:
        """Twin estimates (n, B, heads) -> (B, heads): the mean (no pessimism bias), or
        (clipped double Q) the member whose Lagrangian value Q_r - λ·Q_c is lowest."""
        if self.cfg.twin_reduce == "mean":
            return q.mean(0)
        idx = self._lagrangian(q, lam).argmin(0)  # (B,)
        return q.gather(0, idx.view(1, -1, 1).expand(1, -1, q.shape[-1])).squeeze(0)

    def _check(self, name: str, value: torch.Tensor) -> None:
        if not bool(torch.isfinite(value).all()):
            raise NonFiniteError(f"{name} is not finite at update {self.num_updates + 1}; "
                                 f"no optimiser step was taken for it")

    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor, params: list,
              name: str) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=params)
        if self.cfg.max_grad_norm > 0:
            norm = nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
            self._check(f"{name} gradient norm", norm)
        opt.step()

    def updates_due(self, env_steps: int) -> int:
        """Updates to run after env step number ``env_steps`` (1-based), honouring
        ``learning_starts`` and a fractional UTD; stateless, so a resumed run agrees."""
        def total(t: int) -> int:
            return math.floor(max(0, t - self.cfg.learning_starts) * self.cfg.updates_per_step
                              + 1e-9)
        return total(env_steps) - total(env_steps - 1)

    def anneal(self, progress: float) -> None:
        """Set the actor and critic lr (linear to ``lr_final``) and, when annealed, the
        entropy target for training progress ∈ [0, 1]; a function of progress alone, so
        a resumed run agrees."""
        progress = min(max(progress, 0.0), 1.0)
        f = 1.0 - (1.0 - self.cfg.lr_final) * progress
        if self.cfg.target_entropy_start is not None:
            w = min(progress / self.cfg.entropy_anneal, 1.0)
            self.target_entropy = ((1.0 - w) * self.cfg.target_entropy_start
                                   + w * self._final_entropy)
        for opt, base in ((self.critic_opt, self.cfg.lr_critic), (self.actor_opt,
                                                                 self.cfg.lr_actor)):
            for group in opt.param_groups:
                group["lr"] = base * f

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Action(s) in [0, 1]^d for one observation or a batch; deterministic = tanh(μ)
        (of the averaged actor when ``actor_ema`` > 0)."""
        x = torch.as_tensor(np.asarray(obs), device=self.device)
        single = x.dim() == len(self.obs_shape)
        if single:
            x = x.unsqueeze(0)
        self.encoder.eval()
        inp = self._prep(x, augment=False)
        if deterministic and self.actor_avg is not None:
            u, _ = self.actor_avg(self.encoder_target(inp))
        elif deterministic:
            u, _ = self.actor(self.encoder(inp))
        else:
            mean, log_std = self.actor(self.encoder(inp))
            noise = torch.randn(mean.shape, device=mean.device, generator=self.generator)
            u = mean + noise * log_std.exp()
        a = to_unit_interval(u).cpu().numpy()
        return a[0] if single else a

    # ------------------------------------------------------------------ learning
    def update(self, batch: dict[str, torch.Tensor], lam: float = 0.0) -> dict[str, float]:
        """One gradient update from a replay batch; returns float metrics.

        Metrics: critic_loss (Σ of the twin MSEs), q_mean (mean Q_r - λ·Q_c over the batch and both
        critics), target_mean (mean TD target y), reward_mean (mean s·(r - λ·c)),
        actor_loss, alpha_loss, entropy (-mean log π of the [0,1] action, nats),
        alpha (α after this update), actor_updated (1.0 when the actor/α stepped now;
        otherwise actor_loss/alpha_loss/entropy repeat the last actor step's values).
        """
        cfg, dev = self.cfg, self.device
        b = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
        self.encoder.train(not self.frozen)
        obs = self._prep(b["obs"], augment=True)
        next_obs = self._prep(b["next_obs"], augment=True)
        reward = cfg.reward_scale * (b["reward"] - lam * b["cost"])
        alpha = self.log_alpha.detach().exp()

        with torch.no_grad():
            a_next, logp_next = self._sample(self.encoder(next_obs))
            q_next = self._reduce(self.critic_target(self.encoder_target(next_obs), a_next), lam)
            discount = cfg.gamma * (1.0 - b["terminated"])
            if cfg.cost_critic:  # heads: reward (with the entropy bonus), cost
                y = torch.stack([cfg.reward_scale * b["reward"]
                                 + discount * (q_next[:, 0] - alpha * logp_next),
                                 cfg.reward_scale * b["cost"] + discount * q_next[:, 1]], -1)
            else:
                y = (reward + discount * (q_next[:, 0] - alpha * logp_next)).unsqueeze(-1)

        z = self.encoder(obs)
        q = self.critic(z, b["action"])
        sq = (q - y).pow(2)
        if "weight" in b:  # prioritised replay: importance weights undo the sampling bias
            sq = sq * b["weight"].view(1, -1, 1)
        critic_loss = sq.mean(1).sum()
        self._check("critic_loss", critic_loss)
        self._step(self.critic_opt, critic_loss, self._critic_params, "critic")

        actor_now = (self.num_updates + 1) % cfg.actor_update_every == 0
        if actor_now:
            zd = z.detach()
            a, logp = self._sample(zd)
            q_pi = self._lagrangian(self._reduce(self.critic(zd, a), lam), lam)
            actor_loss = (alpha * logp - q_pi).mean()
            alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self._check("actor_loss/alpha_loss", torch.stack([actor_loss, alpha_loss]))
            self._step(self.actor_opt, actor_loss, self._actor_params, "actor")
            self._step(self.alpha_opt, alpha_loss, [self.log_alpha], "alpha")
            if self.actor_avg is not None:
                with torch.no_grad():
                    torch._foreach_lerp_(list(self.actor_avg.parameters()), self._actor_params,
                                         1.0 - cfg.actor_ema)
            self._last_actor = {"actor_loss": actor_loss.detach(),
                                "alpha_loss": alpha_loss.detach(), "entropy": -logp.detach().mean()}

        with torch.no_grad():
            torch._foreach_lerp_(self._polyak_dst, self._polyak_src, cfg.tau)
            if self._buf_dst:
                torch._foreach_copy_(self._buf_dst, self._buf_src)
        self.num_updates += 1

        names = ["critic_loss", "q_mean", "target_mean", "reward_mean", "actor_loss",
                 "alpha_loss", "entropy", "alpha"]
        values = torch.stack([critic_loss.detach(), self._lagrangian(q.detach(), lam).mean(),
                              self._lagrangian(y, lam).mean(), reward.mean(),
                              self._last_actor["actor_loss"], self._last_actor["alpha_loss"],
                              self._last_actor["entropy"], self.log_alpha.detach().exp()])
        out = dict(zip(names, values.tolist(), strict=True))
        out["actor_updated"] = float(actor_now)
        return out

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything needed to resume exactly (tensors, ints; loads with weights_only)."""
        return {
            "obs_shape": list(self.obs_shape), "action_dim": self.action_dim,
            "encoder": self.encoder.state_dict(),
            "encoder_target": self.encoder_target.state_dict(),
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "actor_avg": None if self.actor_avg is None else self.actor_avg.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "critic_opt": self.critic_opt.state_dict(), "actor_opt": self.actor_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
            "num_updates": self.num_updates, "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        if list(state["obs_shape"]) != list(self.obs_shape) or \
                int(state["action_dim"]) != self.action_dim:
            raise ValueError(f"agent state is for obs {tuple(state['obs_shape'])} / action dim "
                             f"{state['action_dim']}, this agent has {self.obs_shape} / "
                             f"{self.action_dim}")
        self.encoder.load_state_dict(state["encoder"])
        if not self.frozen:
            self.encoder_target.load_state_dict(state["encoder_target"])
        self.actor.load_state_dict(state["actor"])
        if self.actor_avg is not None:
            if state.get("actor_avg") is None:
                raise ValueError("agent state has no averaged actor but sac.actor_ema > 0")
            self.actor_avg.load_state_dict(state["actor_avg"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.num_updates = int(state["num_updates"])
        self.generator.set_state(state["generator"].cpu())
