"""Video encoders: (B, T, C, H, W) frames in [0, 1] -> (B, latent_dim) latents.

Every encoder here is trained by the critic's loss (DrQ-style) unless it is
explicitly frozen; the prototype's video encoders were never trained at all.

Types (``build_video_encoder(cfg, obs_shape)``):

* ``pixel``  the fast default on CPU, DrQ / SAC-AE style: the T frames stacked as
  T*C channels, 4 conv 3x3 with 32 filters, Linear -> latent, LayerNorm, tanh.
  DrQ's strides (2, 1, 1, 1) leave 32*25*25 = 20,000 features at 64x64, so the
  Linear alone is 2.56 M weights and the convs run at full resolution; the
  default strides (2, 2, 1, 1) leave 32*11*11 = 3,872 (see
  ``benchmarks/encoders.py --variants`` for the measured cost of both).
* ``cnn2d``  the prototype's Simple2DCNN: 3 strided conv layers per frame, pooled
  to 4x4, temporal pooling, Linear-ReLU-Linear.
* ``cnn3d``  the prototype's Simple3DCNN: 3 Conv3d layers, pooled to (1, 4, 4),
  Linear-ReLU-Linear.
* ``r3d18``  ResNet3D-18 written here in plain torch with torchvision's exact
  state-dict key names, so Kinetics-400 weights saved by torchvision load from a
  local file (``weights_path``); never downloaded; random (Kaiming fan-out) init
  by default. Kinetics normalisation, BatchNorm always in eval mode, Linear
  512 -> latent.

Design choices that differ from the prototype, and why:

* cnn2d / cnn3d use GroupNorm instead of BatchNorm: its output does not depend on
  the batch or on train/eval mode, so acting (B=1), critic updates and target
  networks all see the same function (the prototype's BatchNorm updated its
  statistics during action selection). Parameter counts are unchanged.
* cnn2d / cnn3d pool over time as ``[mean over T, newest frame]`` (``keep_last``):
  a plain mean over T cannot tell the dish on the rack now from the dishes of
  the last 7 minutes. ``keep_last=False`` gives the prototype's mean.
* every encoder ends in LayerNorm, so SAC always sees latents of the same scale.
* ``freeze: true`` wraps the encoder in ``FrozenEncoder``: no parameter needs a
  gradient, it stays in eval mode, its output carries no graph, and an optional
  LRU cache (``feature_cache`` entries, keyed by a hash of each observation)
  returns repeated observations without recomputing them. The cache only pays
  off without augmentation (a randomly shifted frame is a new key); on CPU it
  is what makes a frozen R3D-18 usable on a replay buffer.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robolabor.schema import ConfigError

ENCODER_TYPES = ("pixel", "cnn2d", "cnn3d", "r3d18")
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
R3D18_BACKBONE_PARAMS = 33_166_272


def _as_unit_float(x: torch.Tensor) -> torch.Tensor:
    """Accept uint8 frames too (divided by 255); floats are assumed in [0, 1]."""
    if x.dim() != 5:
        raise ValueError(f"video encoders take (B, T, C, H, W), got shape {tuple(x.shape)}")
    return x if x.is_floating_point() else x.float().div_(255.0)


def _check_obs_shape(obs_shape: Sequence[int]) -> tuple[int, int, int, int]:
    shape = tuple(int(s) for s in obs_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"video obs_shape must be (T, C, H, W), got {tuple(obs_shape)}")
    return shape


# --------------------------------------------------------------------------- pixel
class PixelEncoder(nn.Module):
    """DrQ-style conv stack on the frames stacked as channels."""

    is_image = True

    def __init__(self, obs_shape: Sequence[int], latent_dim: int = 128, frames: int | None = None,
                 strides: Sequence[int] = (2, 2, 1, 1), filters: int = 32) -> None:
        super().__init__()
        t, c, h, w = _check_obs_shape(obs_shape)
        self.obs_shape, self.latent_dim = (t, c, h, w), latent_dim
        self.frames = frames or t  # only the newest `frames` frames are looked at
        layers, ch = [], self.frames * c
        for s in strides:
            layers += [nn.Conv2d(ch, filters, 3, stride=s), nn.ReLU()]
            ch = filters
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, self.frames * c, h, w)).numel()
        self.head = nn.Sequential(nn.Linear(n_flat, latent_dim), nn.LayerNorm(latent_dim),
                                  nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _as_unit_float(x)[:, -self.frames:]
        h = self.convs(x.flatten(1, 2) - 0.5)
        return self.head(h.flatten(1))


# --------------------------------------------------------------- cnn2d and cnn3d
def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


class _TemporalHead(nn.Module):
    """Linear-ReLU-Linear-LayerNorm on pooled features."""

    def __init__(self, n_in: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden_dim), nn.ReLU(),
                                 nn.Linear(hidden_dim, latent_dim), nn.LayerNorm(latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SimpleCNN2D(nn.Module):
    """Per-frame 2D CNN, pooled over time (the prototype's Simple2DCNN)."""

    is_image = True

    def __init__(self, obs_shape: Sequence[int], latent_dim: int = 128, hidden_dim: int = 256,
                 frames: int | None = None, keep_last: bool = True, filters: int = 32) -> None:
        super().__init__()
        t, c, h, w = _check_obs_shape(obs_shape)
        self.obs_shape, self.latent_dim = (t, c, h, w), latent_dim
        self.frames, self.keep_last = frames or t, keep_last
        w1, w2, w3 = filters, 2 * filters, 4 * filters
        self.convs = nn.Sequential(
            nn.Conv2d(c, w1, 3, stride=2, padding=1), _norm(w1), nn.ReLU(),
            nn.Conv2d(w1, w2, 3, stride=2, padding=1), _norm(w2), nn.ReLU(),
            nn.Conv2d(w2, w3, 3, stride=2, padding=1), _norm(w3), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )
        self.head = _TemporalHead(16 * w3 * (2 if keep_last else 1), hidden_dim, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _as_unit_float(x)[:, -self.frames:]
        b, t = x.shape[:2]
        f = self.convs(x.flatten(0, 1) - 0.5).view(b, t, -1)
        pooled = torch.cat([f.mean(1), f[:, -1]], 1) if self.keep_last else f.mean(1)
        return self.head(pooled)


class SimpleCNN3D(nn.Module):
    """A small 3D CNN over (C, T, H, W) (the prototype's Simple3DCNN)."""

    is_image = True

    def __init__(self, obs_shape: Sequence[int], latent_dim: int = 128, hidden_dim: int = 256,
                 frames: int | None = None, keep_last: bool = True, filters: int = 32) -> None:
        super().__init__()
        t, c, h, w = _check_obs_shape(obs_shape)
        self.obs_shape, self.latent_dim = (t, c, h, w), latent_dim
        self.frames, self.keep_last = frames or t, keep_last
        w1, w2, w3 = filters, 2 * filters, 4 * filters
        self.convs = nn.Sequential(
            nn.Conv3d(c, w1, 3, stride=(1, 2, 2), padding=1), _norm(w1), nn.ReLU(),
            nn.Conv3d(w1, w2, 3, stride=(1, 2, 2), padding=1), _norm(w2), nn.ReLU(),
            nn.Conv3d(w2, w3, 3, stride=(2, 2, 2), padding=1), _norm(w3), nn.ReLU(),
            nn.AdaptiveAvgPool3d((None, 4, 4)),
        )
        self.head = _TemporalHead(16 * w3 * (2 if keep_last else 1), hidden_dim, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _as_unit_float(x)[:, -self.frames:]
        f = self.convs(x.permute(0, 2, 1, 3, 4) - 0.5).flatten(3)  # (B, 128, T', 16)
        f = f.permute(0, 2, 1, 3).flatten(2)  # (B, T', 16 * 4 * filters)
        pooled = torch.cat([f.mean(1), f[:, -1]], 1) if self.keep_last else f.mean(1)
        return self.head(pooled)


# ------------------------------------------------------------------------ r3d18
class BasicBlock3D(nn.Module):
    """Two 3x3x3 conv-BN layers with a residual connection (ResNet BasicBlock in 3D)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv3d(c_in, c_out, 3, stride, 1, bias=False),
                                   nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(nn.Conv3d(c_out, c_out, 3, 1, 1, bias=False),
                                   nn.BatchNorm3d(c_out))
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv3d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm3d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


class R3D18(nn.Module):
    """ResNet3D-18 (Tran et al. 2018), keys named as torchvision's ``r3d_18``.

    Input (B, 3, T, H, W). Without ``num_classes`` there is no ``fc`` and the
    output is the pooled 512-d feature (33,166,272 parameters).
    """

    def __init__(self, num_classes: int | None = None) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(64), nn.ReLU(inplace=True))
        widths, c_in = (64, 128, 256, 512), 64
        for k, c_out in enumerate(widths, start=1):
            stride = 1 if k == 1 else 2
            setattr(self, f"layer{k}", nn.Sequential(BasicBlock3D(c_in, c_out, stride),
                                                     BasicBlock3D(c_out, c_out, 1)))
            c_in = c_out
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(512, num_classes) if num_classes else None
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x).flatten(1)
        return x if self.fc is None else self.fc(x)


def load_state_dict_file(module: nn.Module, path: str | Path, *, ignore_prefixes: tuple = (),
                         sha256_prefix: str | None = None, what: str = "encoder") -> None:
    """Load a local state-dict file into ``module`` strictly; a ConfigError says what is wrong.

    Entries whose key starts with one of ``ignore_prefixes`` are dropped first
    (``fc.`` for a classification head). Nothing is ever downloaded.
    """
    where = f"encoder.weights_path: {what} weights {path}"
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{where}: file not found. Weights are only read from a local file, "
                          "never downloaded; put the state dict there, or set weights_path to "
                          "null for a random initialisation")
    if sha256_prefix:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not digest.startswith(sha256_prefix.lower()):
            raise ConfigError(f"{where}: sha256 {digest[:12]}... does not start with the "
                              f"expected {sha256_prefix!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, pickled objects, ...
        raise ConfigError(f"{where}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, Mapping):
        raise ConfigError(f"{where}: holds a {type(state).__name__}, expected a state dict "
                          "(name -> tensor)")
    state = {k: v for k, v in state.items() if not str(k).startswith(tuple(ignore_prefixes))}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: file {tuple(state[k].shape) if torch.is_tensor(state[k]) else type(state[k])}"
             f" vs model {tuple(own[k].shape)}"
             for k in own if k in state
             and (not torch.is_tensor(state[k]) or state[k].shape != own[k].shape)]
    if missing or unexpected or wrong:
        def head(items: list) -> str:
            return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")
        parts = [f"{len(missing)} missing keys: {head(missing)}" if missing else "",
                 f"{len(unexpected)} unexpected keys: {head(unexpected)}" if unexpected else "",
                 f"{len(wrong)} shape mismatches: {head(wrong)}" if wrong else ""]
        raise ConfigError(f"{where}: does not match the model; "
                          + "; ".join(p for p in parts if p))
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ConfigError(f"{where}: NaN or inf in {', '.join(bad[:5])}")
    module.load_state_dict(state, strict=True)


class R3D18Encoder(nn.Module):
    """R3D-18 backbone (BatchNorm frozen in eval mode) + Linear(512, latent) + LayerNorm.

    Frames are normalised with the Kinetics-400 statistics the public weights
    were trained with; they are not resized to 112x112 (4x the cost at 64x64).
    """

    is_image = True

    def __init__(self, obs_shape: Sequence[int], latent_dim: int = 128, frames: int | None = None,
                 weights_path: str | Path | None = None, sha256_prefix: str | None = None) -> None:
        super().__init__()
        t, c, h, w = _check_obs_shape(obs_shape)
        if c != 3:
            raise ConfigError(f"encoder.channels: r3d18 needs RGB frames (C=3), got obs_shape "
                              f"{tuple(obs_shape)}")
        self.obs_shape, self.latent_dim, self.frames = (t, c, h, w), latent_dim, frames or t
        self.backbone = R3D18()
        if weights_path is not None:
            load_state_dict_file(self.backbone, weights_path, ignore_prefixes=("fc.",),
                                 sha256_prefix=sha256_prefix, what="r3d18")
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 1, 3, 1, 1),
                             persistent=False)
        self.proj = nn.Sequential(nn.Linear(512, latent_dim), nn.LayerNorm(latent_dim))
        self.backbone.eval()

    def train(self, mode: bool = True) -> R3D18Encoder:
        """BatchNorm stays in eval mode: RL batches are small and correlated, and the
        running statistics must not move while acting or between online and target."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (_as_unit_float(x)[:, -self.frames:] - self.mean) / self.std
        return self.proj(self.backbone(x.permute(0, 2, 1, 3, 4)))


# ----------------------------------------------------------------------- frozen
class FrozenEncoder(nn.Module):
    """A fixed feature map: no gradients, eval mode forever, optional LRU cache."""

    is_image = True

    def __init__(self, encoder: nn.Module, cache_size: int = 0) -> None:
        super().__init__()
        if cache_size < 0:
            raise ValueError(f"feature cache size must be >= 0, got {cache_size}")
        self.encoder = encoder.requires_grad_(False).eval()
        self.latent_dim, self.obs_shape = encoder.latent_dim, encoder.obs_shape
        self.frames = encoder.frames
        self.cache_size, self.hits, self.misses = cache_size, 0, 0
        self._cache: OrderedDict[bytes, torch.Tensor] = OrderedDict()

    def train(self, mode: bool = True) -> FrozenEncoder:
        super().train(mode)
        self.encoder.eval()
        return self

    @staticmethod
    def _key(x: torch.Tensor) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{x.dtype}{tuple(x.shape)}".encode())
        h.update(x.detach().cpu().contiguous().numpy().tobytes())
        return h.digest()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.cache_size:
            return self.encoder(x)
        keys = [self._key(xi) for xi in x]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        if todo:
            fresh = self.encoder(x[todo])
            for i, z in zip(todo, fresh, strict=True):
                self._cache[keys[i]] = z
        out = torch.stack([self._cache[k] for k in keys])
        for k in keys:
            self._cache.move_to_end(k)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out


# ---------------------------------------------------------------------- builder
def _get(cfg: Any, name: str, default: Any) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(name, default)
    return getattr(cfg, name, default)


def build_video_encoder(cfg: Any, obs_shape: Sequence[int]) -> nn.Module:
    """Build the encoder named by ``cfg.type`` for observations of ``obs_shape`` (T, C, H, W).

    ``cfg`` is an ``EncoderConfig`` (or any object / mapping with its fields):
    type, latent_dim, hidden_dim (cnn2d/cnn3d head), num_filters (conv width),
    frames (the newest frames the encoder looks at; at most T), channels (must
    equal C when given), weights_path (r3d18: a
    torchvision-style R3D-18 state dict, ``fc.*`` ignored; other types: the
    encoder's own state dict), weights_sha256 (optional prefix check), freeze and
    feature_cache (LRU entries for a frozen encoder, 0 = off).
    """
    kind = _get(cfg, "type", "pixel")
    t, c, h, w = _check_obs_shape(obs_shape)
    latent = int(_get(cfg, "latent_dim", 128))
    hidden = int(_get(cfg, "hidden_dim", 256) or 256)
    frames = _get(cfg, "frames", None)
    channels = _get(cfg, "channels", None)
    weights = _get(cfg, "weights_path", None)
    sha = _get(cfg, "weights_sha256", None)
    if frames is not None and not 1 <= int(frames) <= t:
        raise ConfigError(f"encoder.frames={frames} but the observations hold {t} frames "
                         f"(obs_shape {tuple(obs_shape)})")
    if channels is not None and int(channels) != c:
        raise ConfigError(f"encoder.channels={channels} but the observations have {c} channels "
                         f"(obs_shape {tuple(obs_shape)})")
    frames = int(frames) if frames is not None else t
    filters = int(_get(cfg, "num_filters", 32) or 32)
    if kind == "pixel":
        enc = PixelEncoder((t, c, h, w), latent, frames=frames, filters=filters)
    elif kind == "cnn2d":
        enc = SimpleCNN2D((t, c, h, w), latent, hidden, frames=frames, filters=filters)
    elif kind == "cnn3d":
        enc = SimpleCNN3D((t, c, h, w), latent, hidden, frames=frames, filters=filters)
    elif kind == "r3d18":
        enc = R3D18Encoder((t, c, h, w), latent, frames=frames, weights_path=weights,
                           sha256_prefix=sha)
    else:
        raise ConfigError(f"encoder.type: unknown video encoder {kind!r}; choose one of "
                          f"{ENCODER_TYPES}"
                          + (" (mlp encodes state vectors, not frames)" if kind == "mlp" else ""))
    if weights is not None and kind != "r3d18":
        load_state_dict_file(enc, weights, sha256_prefix=sha, what=kind)
    if _get(cfg, "freeze", False):
        enc = FrozenEncoder(enc, cache_size=int(_get(cfg, "feature_cache", 0) or 0))
    return enc


# -------------------------------------------------------------------- measuring
def time_ms(fn, repeats: int, device: torch.device) -> float:
    """Median wall time of ``fn`` in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def measure_encoder(enc: nn.Module, obs_shape: Sequence[int], batch: int,
                    device: str | torch.device = "cpu", repeats: int = 3) -> dict:
    """Parameters, forward ms and forward+backward ms of one encoder at ``batch``."""
    device = torch.device(device)
    enc = enc.to(device)
    x = torch.rand(batch, *obs_shape, device=device)

    def fwd() -> None:
        with torch.no_grad():
            enc(x)

    def fwd_bwd() -> None:
        enc.zero_grad(set_to_none=True)
        enc(x).square().mean().backward()

    trainable = any(p.requires_grad for p in enc.parameters())
    fwd_ms = time_ms(fwd, repeats, device)
    bwd_ms = time_ms(fwd_bwd, repeats, device) if trainable else math.nan
    return {"params": sum(p.numel() for p in enc.parameters()), "batch": batch,
            "forward_ms": round(fwd_ms, 2), "forward_backward_ms": round(bwd_ms, 2),
            "forward_ms_per_sample": round(fwd_ms / batch, 3)}


def list_encoders(obs_shape: Sequence[int] = (8, 3, 64, 64), batch: int = 64,
                  names: Sequence[str] = ENCODER_TYPES, device: str | torch.device = "cpu",
                  repeats: int = 3, r3d18_cpu_batch: int = 2) -> list[dict]:
    """One row per encoder type: name, params, batch, forward ms, forward+backward ms.

    On CPU, R3D-18 is measured at ``r3d18_cpu_batch`` (a batch of 64 takes
    minutes); its row says so in ``note``, and ``forward_ms_per_sample`` makes
    rows comparable.
    """
    rows = []
    for name in names:
        enc = build_video_encoder({"type": name}, obs_shape)
        b, note = batch, ""
        if name == "r3d18" and torch.device(device).type == "cpu" and batch > r3d18_cpu_batch:
            b, note = r3d18_cpu_batch, f"batch reduced from {batch} to {r3d18_cpu_batch} on CPU"
        row = {"name": name, **measure_encoder(enc, obs_shape, b, device, repeats),
               "device": str(device), "threads": torch.get_num_threads(), "note": note}
        rows.append(row)
    return rows
