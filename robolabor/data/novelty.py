"""Novelty of encoder latents: a small diffusion model and the baselines it must beat.

``DiffusionNovelty`` fits a DDPM on a run's latents: an MLP predicts the noise added
at step t of a cosine schedule, conditioned on a sinusoidal embedding of t. A trained
noise predictor is a scaled score of the noised data density,
ε_θ(x_t, t) ≈ −√(1 − ᾱ_t)·∇ log p_t(x_t): where the latents lie it predicts little noise,
off them it points back towards them. The default score (``noise="none"``) is therefore
the squared norm of the noise predicted at the clean latent scaled as at step t,
||ε_θ(√ᾱ_t·x0, t)||², at a few low levels t, which needs no noise draw and so carries no
Monte Carlo error; ``noise="sampled"`` is the denoising error ||ε_θ(x_t, t) − ε||² of
one noise draw per level (a multi-level reconstruction score). Each level is
standardised on held-out in-distribution latents (z-scores of the log), then averaged:
0 is typical, a few units is novel.

Latents are first projected on their principal components (``components``, enough for
99.9% of the in-distribution variance by default): the state encoder maps a 10-number
state into 128 dimensions, so the latent cloud is thin and a 128-wide network would
spend its time on directions with no variance. What the projection drops is not
ignored: the standardised off-subspace residual is one more term of the average.

Baselines on the same latents (same ``fit``/``score`` interface):

* ``KNNNovelty``: distance to the k-th nearest training latent after L2 normalisation
  (the deep-kNN detector of Sun et al. 2022);
* ``MahalanobisNovelty``: squared Mahalanobis distance under one Gaussian, shrunk
  covariance;
* ``RNDNovelty``: random network distillation, the error of a trained predictor against
  a fixed random network.

Every detector is deterministic given its seed: the sampled diffusion score draws its
noise from a generator seeded per call, so scoring the same latents twice gives the same
scores.
``auroc`` and ``fpr_at_tpr`` score a detector with OOD as the positive class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from robolabor.errors import UserError

__all__ = ["DiffusionConfig", "DiffusionNovelty", "KNNNovelty", "MahalanobisNovelty",
           "RNDNovelty", "METHODS", "build_detector", "auroc", "fpr_at_tpr",
           "detection_metrics", "encode_observations", "replay_latents"]

METHODS = ("diffusion", "knn", "mahalanobis", "rnd")


def _as_latents(z, dim: int | None = None) -> np.ndarray:
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[0] == 0:
        raise UserError(f"latents: expected a non-empty (N, D) array, got shape {z.shape}")
    if dim is not None and z.shape[1] != dim:
        raise UserError(f"latents: the detector was fitted on {dim}-d latents, got {z.shape[1]}")
    if not np.isfinite(z).all():
        raise UserError("latents: contain NaN or inf")
    return z


def _device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cpu")  # CPU by default; "cuda" when asked for and present
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device: cuda was asked for but is not available")
    return torch.device(name)


# ----------------------------------------------------------------------------- DDPM
def cosine_alpha_bar(steps: int) -> np.ndarray:
    """ᾱ_t for t = 1..steps of the cosine schedule (Nichol & Dhariwal), clipped away from 0."""
    s = 0.008
    t = np.arange(steps + 1) / steps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    betas = np.clip(1 - ab[1:] / ab[:-1], 0, 0.999)
    return np.cumprod(1 - betas)


def time_embedding(t: torch.Tensor, dim: int, steps: int) -> torch.Tensor:
    """Sinusoidal embedding of the integer step t (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32,
                                                       device=t.device) / max(half - 1, 1))
    arg = (t.float() / steps)[:, None] * freqs[None] * 1000.0
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


NOISE_ROWS = 512  # noise draws shared by every batch, and the default scoring batch


class NoisePredictor(nn.Module):
    """ε̂(x_t, t): an MLP on [x_t, emb(t)] with SiLU activations."""

    def __init__(self, dim: int, hidden: int, time_dim: int, steps: int, depth: int = 2
                 ) -> None:
        super().__init__()
        self.time_dim, self.steps = time_dim, steps
        layers: list[nn.Module] = [nn.Linear(dim + time_dim, hidden), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(t, self.time_dim, self.steps)], dim=1))


@dataclass(frozen=True)
class DiffusionConfig:
    """Sizes and schedule of the latent DDPM (defaults: about 45 s to fit on one core)."""

    steps: int = 100                     # diffusion steps T
    levels: tuple[int, ...] = (1, 2, 4)  # steps t scored: the low noise levels resolve
    draws: int = 1                       # the thin latent manifold; draws per level
    noise: str = "none"                  # "none": ||ε_θ(√ᾱ_t·x0, t)||², the noise the model
    #   predicts at the clean (scaled) latent, ∝ the smoothed density's score ∇ log p_t
    #   there: deterministic, no Monte Carlo error; "sampled": ||ε_θ(x_t, t) − ε||²,
    #   ε ~ N(0, I), one draw per level (chosen on tuning episodes: BENCHMARKS.md §9.1)
    hidden: int = 256
    depth: int = 2                       # hidden layers
    time_dim: int = 16
    components: int | None = None        # PCA components; None = 99.9% of the variance
    max_components: int = 32
    train_iters: int = 8000
    batch_size: int = 512
    lr: float = 2e-3
    seed: int = 0
    device: str | None = None            # cpu unless "cuda"

    def __post_init__(self) -> None:
        if self.steps < 2 or not self.levels or any(not 1 <= t <= self.steps
                                                    for t in self.levels):
            raise UserError(f"diffusion: levels must lie in 1..steps={self.steps}, "
                            f"got {self.levels}")
        if self.draws < 1 or self.train_iters < 1 or self.batch_size < 1:
            raise UserError("diffusion: draws, train_iters and batch_size must be >= 1")
        if self.noise not in ("sampled", "none"):
            raise UserError(f"diffusion: noise must be 'sampled' or 'none', got {self.noise!r}")


class _Standardiser:
    """Column-wise z-scores fitted on held-out in-distribution scores."""

    def fit(self, raw: np.ndarray) -> _Standardiser:
        self.mu = raw.mean(0)
        self.sd = np.maximum(raw.std(0), 1e-6)
        return self

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.mu) / self.sd).mean(1)


def _split_holdout(z: np.ndarray, holdout, frac: float, seed: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    if holdout is not None:
        return z, _as_latents(holdout, z.shape[1])
    if z.shape[0] < 10:
        raise UserError(f"latents: need at least 10 to fit and standardise, got {z.shape[0]}")
    idx = np.random.default_rng(seed).permutation(z.shape[0])
    n_hold = max(2, int(frac * z.shape[0]))
    return z[idx[n_hold:]], z[idx[:n_hold]]


class DiffusionNovelty:
    """DDPM denoising error at several noise levels, standardised (module docstring)."""

    name = "diffusion"

    def __init__(self, config: DiffusionConfig | None = None) -> None:
        self.cfg = config or DiffusionConfig()
        self.device = _device(self.cfg.device)

    def fit(self, z, holdout=None, holdout_frac: float = 0.2) -> DiffusionNovelty:
        """Fit on latents ``z`` (N, D); standardise on ``holdout`` (or a random 20% of z)."""
        cfg = self.cfg
        z = _as_latents(z)
        train, hold = _split_holdout(z, holdout, holdout_frac, cfg.seed)
        self.dim = z.shape[1]
        self.mean = train.mean(0)
        u, s, vt = np.linalg.svd(train - self.mean, full_matrices=False)
        var = s ** 2 / max(train.shape[0] - 1, 1)
        if cfg.components is None:
            k = int(np.searchsorted(np.cumsum(var) / max(var.sum(), 1e-12), 0.999) + 1)
        else:
            k = int(cfg.components)
        k = max(1, min(k, cfg.max_components, vt.shape[0]))
        self.k = k
        self.basis = vt[:k].astype(np.float32)                       # (k, D)
        self.scale = np.sqrt(np.maximum(var[:k], 1e-12)).astype(np.float32)
        self.has_residual = k < self.dim
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        self.model = NoisePredictor(k, cfg.hidden, cfg.time_dim, cfg.steps, cfg.depth
                                    ).to(self.device)
        self.alpha_bar = torch.tensor(cosine_alpha_bar(cfg.steps), dtype=torch.float32,
                                      device=self.device)
        x = torch.from_numpy(self._project(train)[0]).to(self.device)
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.train_iters)
        self.model.train()
        for _ in range(cfg.train_iters):
            idx = torch.randint(0, x.shape[0], (cfg.batch_size,), generator=gen)
            x0 = x[idx]
            t = torch.randint(1, cfg.steps + 1, (cfg.batch_size,), generator=gen)
            eps = torch.randn(x0.shape, generator=gen).to(self.device)
            t = t.to(self.device)
            ab = self.alpha_bar[t - 1][:, None]
            xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
            loss = ((self.model(xt, t) - eps) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        self.model.eval()
        self.final_loss = float(loss.detach())
        self.holdout = hold
        self.std = _Standardiser().fit(self.raw_scores(hold))
        return self

    def rescored(self, **changes) -> DiffusionNovelty:
        """The same fitted model scoring with other scoring fields (``noise``, ``levels``),
        standardised again on the same held-out latents: a comparison that shares the
        network."""
        import copy

        other = copy.copy(self)
        other.cfg = replace(self.cfg, **changes)
        other.std = _Standardiser().fit(other.raw_scores(self.holdout))
        return other

    def _project(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = z - self.mean
        coords = c @ self.basis.T
        resid = np.linalg.norm(c - coords @ self.basis, axis=1) if self.has_residual \
            else np.zeros(z.shape[0], np.float32)
        return (coords / self.scale).astype(np.float32), resid

    @torch.no_grad()
    def raw_scores(self, z, batch_size: int = NOISE_ROWS) -> np.ndarray:
        """(N, levels [+1]) log denoising errors (and the log off-subspace residual).

        All levels go through the network as one (levels, B, k) batch, and the time
        embedding's share of the first layer is a per-level bias computed once. The
        i-th latent always meets noise row i mod NOISE_ROWS, so a score does not depend
        on the batch size; batches of NOISE_ROWS keep one batch's activations in a
        core's L2 cache (2-3x the latents/s of 8k-16k batches on one core)."""
        z = _as_latents(z, self.dim)
        coords, resid = self._project(z)
        cfg = self.cfg
        linears = [m for m in self.model.net if isinstance(m, nn.Linear)]
        lin1, rest = linears[0], [(m.weight.T.contiguous(), m.bias) for m in linears[1:]]
        levels = torch.tensor(cfg.levels, dtype=torch.long, device=self.device)
        emb = time_embedding(levels, cfg.time_dim, cfg.steps)
        w_x = lin1.weight[:, :self.k].T.contiguous()
        bias = (emb @ lin1.weight[:, self.k:].T + lin1.bias)[:, None, :]       # (L, 1, H)
        ab = self.alpha_bar[levels - 1][:, None, None]
        a, s = ab.sqrt(), (1 - ab).sqrt()
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        sampled = cfg.noise == "sampled"
        draws = cfg.draws if sampled else 1
        noise = torch.randn((draws, len(cfg.levels), NOISE_ROWS, self.k), generator=gen
                            ).to(self.device) if sampled else None  # the same for every batch
        act = nn.functional.silu
        out = np.empty((z.shape[0], len(cfg.levels)), np.float32)
        for lo in range(0, z.shape[0], batch_size):
            x0 = torch.from_numpy(coords[lo:lo + batch_size]).to(self.device)
            b = x0.shape[0]
            err = torch.zeros((len(cfg.levels), b), device=self.device)
            rows = None if lo % NOISE_ROWS == 0 and b <= NOISE_ROWS else \
                torch.arange(lo, lo + b, device=self.device) % NOISE_ROWS
            for d in range(draws):
                if sampled:
                    eps = noise[d, :, :b] if rows is None else noise[d][:, rows]
                    xt = a * x0[None] + s * eps                                 # (L, B, k)
                    h = act(torch.matmul(xt, w_x) + bias).reshape(-1, bias.shape[-1])
                else:  # x_t = √ᾱ_t·x0: the first layer's product once, scaled per level
                    h = act(torch.addcmul(bias, a, torch.matmul(x0, w_x)[None])
                            ).reshape(-1, bias.shape[-1])
                for i, (w, bb) in enumerate(rest):
                    h = torch.addmm(bb, h, w)
                    h = act(h) if i < len(rest) - 1 else h
                pred = h.reshape(len(cfg.levels), b, self.k)
                err += ((pred - eps) if sampled else pred).pow(2).sum(-1)
            out[lo:lo + b] = torch.log(err / draws + 1e-8).T.cpu().numpy()
        if self.has_residual:
            out = np.concatenate([out, np.log(resid + 1e-6)[:, None].astype(np.float32)], 1)
        return out

    def score(self, z, batch_size: int = NOISE_ROWS) -> np.ndarray:
        """novelty(z): mean z-score over levels; higher = more novel."""
        return self.std(self.raw_scores(z, batch_size))


# ------------------------------------------------------------------------- baselines
class KNNNovelty:
    """Distance to the k-th nearest training latent, both L2-normalised (Sun et al. 2022)."""

    name = "knn"

    def __init__(self, k: int = 5, max_bank: int = 20000, seed: int = 0,
                 device: str | None = None) -> None:
        if k < 1:
            raise UserError(f"knn: k must be >= 1, got {k}")
        self.k, self.max_bank, self.seed = k, max_bank, seed
        self.device = _device(device)

    @staticmethod
    def _normalise(z: np.ndarray) -> np.ndarray:
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)

    def fit(self, z, holdout=None) -> KNNNovelty:
        z = _as_latents(z)
        if z.shape[0] > self.max_bank:
            z = z[np.random.default_rng(self.seed).choice(z.shape[0], self.max_bank,
                                                          replace=False)]
        if z.shape[0] < self.k:
            raise UserError(f"knn: need at least k={self.k} latents, got {z.shape[0]}")
        self.dim = z.shape[1]
        self.bank = torch.from_numpy(self._normalise(z)).to(self.device)
        return self

    @torch.no_grad()
    def score(self, z, batch_size: int = 2048) -> np.ndarray:
        z = self._normalise(_as_latents(z, self.dim))
        out = np.empty(z.shape[0], np.float32)
        for lo in range(0, z.shape[0], batch_size):
            q = torch.from_numpy(z[lo:lo + batch_size]).to(self.device)
            sim = q @ self.bank.T                      # unit vectors: d² = 2 − 2·cos
            kth = torch.topk(sim, self.k, dim=1).values[:, -1]
            out[lo:lo + q.shape[0]] = torch.sqrt(torch.clamp(2 - 2 * kth, min=0)).cpu().numpy()
        return out


class MahalanobisNovelty:
    """Squared Mahalanobis distance to the training latents' mean (shrunk covariance)."""

    name = "mahalanobis"

    def __init__(self, shrinkage: float = 1e-3) -> None:
        self.shrinkage = shrinkage

    def fit(self, z, holdout=None) -> MahalanobisNovelty:
        z = _as_latents(z).astype(np.float64)
        self.dim = z.shape[1]
        self.mu = z.mean(0)
        cov = np.cov(z - self.mu, rowvar=False).reshape(self.dim, self.dim)
        cov += self.shrinkage * max(np.trace(cov) / self.dim, 1e-12) * np.eye(self.dim)
        self.precision = np.linalg.inv(cov).astype(np.float32)
        self.mu = self.mu.astype(np.float32)
        return self

    def score(self, z) -> np.ndarray:
        c = _as_latents(z, self.dim) - self.mu
        return np.einsum("nd,de,ne->n", c, self.precision, c)


class RNDNovelty:
    """Random network distillation: ||f̂(z) − f(z)||² for a fixed random f, trained f̂."""

    name = "rnd"

    def __init__(self, hidden: int = 128, out: int = 32, train_iters: int = 3000,
                 batch_size: int = 512, lr: float = 1e-3, seed: int = 0,
                 device: str | None = None) -> None:
        self.hidden, self.out, self.train_iters = hidden, out, train_iters
        self.batch_size, self.lr, self.seed = batch_size, lr, seed
        self.device = _device(device)

    def _net(self, dim: int) -> nn.Module:
        return nn.Sequential(nn.Linear(dim, self.hidden), nn.ReLU(),
                             nn.Linear(self.hidden, self.hidden), nn.ReLU(),
                             nn.Linear(self.hidden, self.out)).to(self.device)

    def fit(self, z, holdout=None) -> RNDNovelty:
        z = _as_latents(z)
        self.dim = z.shape[1]
        self.mu, self.sd = z.mean(0), np.maximum(z.std(0), 1e-6)
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        self.target, self.predictor = self._net(self.dim), self._net(self.dim)
        self.target.requires_grad_(False)
        x = torch.from_numpy((z - self.mu) / self.sd).to(self.device)
        opt = torch.optim.Adam(self.predictor.parameters(), lr=self.lr)
        for _ in range(self.train_iters):
            xb = x[torch.randint(0, x.shape[0], (self.batch_size,), generator=gen)]
            loss = ((self.predictor(xb) - self.target(xb)) ** 2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return self

    @torch.no_grad()
    def score(self, z, batch_size: int = NOISE_ROWS) -> np.ndarray:
        z = (_as_latents(z, self.dim) - self.mu) / self.sd
        out = np.empty(z.shape[0], np.float32)
        for lo in range(0, z.shape[0], batch_size):
            x = torch.from_numpy(z[lo:lo + batch_size]).to(self.device)
            out[lo:lo + x.shape[0]] = ((self.predictor(x) - self.target(x)) ** 2).sum(1).numpy()
        return out


def build_detector(method: str, seed: int = 0, device: str | None = None, **kwargs):
    """A detector by name (``METHODS``), not yet fitted."""
    if method == "diffusion":
        return DiffusionNovelty(DiffusionConfig(seed=seed, device=device, **kwargs))
    if method == "knn":
        return KNNNovelty(seed=seed, device=device, **kwargs)
    if method == "mahalanobis":
        return MahalanobisNovelty(**kwargs)
    if method == "rnd":
        return RNDNovelty(seed=seed, device=device, **kwargs)
    raise UserError(f"novelty method: unknown {method!r}; choose from {', '.join(METHODS)}")


# --------------------------------------------------------------------------- metrics
def auroc(scores_in, scores_out) -> float:
    """P(score_out > score_in) + ½·P(tie): the Mann-Whitney form of the ROC area."""
    a = np.asarray(scores_in, dtype=float).ravel()
    b = np.asarray(scores_out, dtype=float).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("auroc: both sets need at least one score")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([a, b]))
    return float((ranks[a.size:].sum() - b.size * (b.size + 1) / 2) / (a.size * b.size))


def fpr_at_tpr(scores_in, scores_out, tpr: float = 0.95) -> float:
    """Share of in-distribution scores at or above the highest threshold that still flags
    at least ``tpr`` of the OOD scores."""
    a = np.asarray(scores_in, dtype=float).ravel()
    b = np.sort(np.asarray(scores_out, dtype=float).ravel())[::-1]
    threshold = b[max(int(np.ceil(tpr * b.size - 1e-9)) - 1, 0)]
    return float(np.mean(a >= threshold))


def detection_metrics(scores_in, scores_out) -> dict[str, float]:
    return {"auroc": auroc(scores_in, scores_out), "fpr95": fpr_at_tpr(scores_in, scores_out)}


# ------------------------------------------------------------------------ latents
@torch.no_grad()
def encode_observations(agent, obs: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """A trained agent's latents (its online encoder, eval mode) of observations (N, ...);
    anything sliceable with a ``shape`` (a pack's ``FrameStacks``) is read a batch at a
    time."""
    obs = obs if hasattr(obs, "shape") else np.asarray(obs)
    agent.encoder.eval()
    out = []
    for lo in range(0, obs.shape[0], batch_size):
        x = torch.as_tensor(np.array(obs[lo:lo + batch_size]), device=agent.device)
        out.append(agent.encoder(agent._prep(x, augment=False)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def replay_latents(agent, buffer, holdout_every: int = 5, stride: int = 1,
                   chunk: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
    """(fit, holdout) latents of a run's replay buffer: every ``holdout_every``-th
    episode held out whole, so the standardisation never sees latents of an episode it
    was fitted on; every ``stride``-th transition (frame stacks are rebuilt and encoded
    ``chunk`` at a time, never all at once). A replay of fewer episodes gives holdout
    None (``fit`` then holds out 20% of the latents)."""
    ids = buffer.live_ids()
    slots = ids % buffer.capacity
    done = buffer.terminated[slots] | buffer.truncated[slots]
    episode = np.concatenate([[0], np.cumsum(done)[:-1]])[::stride]
    ids = ids[::stride]
    z = np.concatenate([encode_observations(agent, buffer.observations(ids[lo:lo + chunk]))
                        for lo in range(0, len(ids), chunk)])
    hold = episode % holdout_every == holdout_every - 1
    return (z[~hold], z[hold]) if hold.any() else (z, None)
