"""Observation encoders: anything the env emits -> a ``(B, latent_dim)`` latent.

The actor and the twin critics only ever see latents, so one SAC serves state
vectors and videos alike. This module builds the state encoder (``mlp``) itself
and delegates every image encoder to ``robolabor.agents.video_encoders``.

Contract every encoder module honours:

* ``forward(x) -> (B, latent_dim)`` float tensor;
* ``is_image: bool``. For image encoders SAC converts uint8 frames to float
  in [0, 1] (divides by 255) and applies the random-shift augmentation before
  calling ``forward``; a state encoder receives the observation as float32;
* image encoders also expose ``frames: int``, the newest frames of the stack
  they look at; SAC hands them only those.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch
from torch import nn

from robolabor.schema import ConfigError, spec

ENCODER_TYPES = ("mlp", "pixel", "cnn2d", "cnn3d", "r3d18")


@dataclass(frozen=True)
class EncoderConfig:
    type: str = spec("mlp", choices=ENCODER_TYPES,
                     doc="mlp for state vectors; pixel (DrQ-style conv), cnn2d, cnn3d or r3d18 "
                         "for (T, C, H, W) uint8 frame stacks")
    latent_dim: int = spec(128, lo=1, hi=4096, doc="size of the latent the actor and critics see")
    hidden_dim: int = spec(256, lo=1, hi=8192, doc="hidden width of the mlp (and of video heads)")
    weights_path: str | None = spec(None, doc="local state-dict file to start from (never "
                                              "downloaded); random init when unset")
    freeze: bool = spec(False, doc="keep the encoder fixed: no gradient, eval mode, no target "
                                   "copy")
    frames: int = spec(8, lo=1, hi=64, doc="newest frames of the stack the video encoder "
                                           "looks at (at most T)")
    channels: int = spec(3, lo=1, hi=16, doc="channels per frame (must match the env)")
    num_filters: int = spec(32, lo=1, hi=1024, doc="conv width of the pixel/cnn encoders")
    weights_sha256: str | None = spec(None, doc="optional sha256 prefix the weights file must "
                                                "match")
    feature_cache: int = spec(0, lo=0, doc="LRU latents cached by a frozen video encoder "
                                           "(0 = off)")


class MLPEncoder(nn.Module):
    """Flat state -> hidden -> latent, LayerNorm + tanh keeps the latent bounded.

    The bounded latent (as in the pixel agents) stops the critic from inflating
    the encoder's output scale, which is what made the prototype's Q values drift.
    """

    is_image = False

    def __init__(self, obs_dim: int, latent_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, latent_dim), nn.LayerNorm(latent_dim), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _load_weights(module: nn.Module, path: str) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"encoder.weights_path: file not found: {path}") from None
    except Exception as exc:  # corrupt or not a state dict
        raise ConfigError(f"encoder.weights_path: cannot read {path}: {exc}") from None
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ConfigError(f"encoder.weights_path: {path} does not fit the encoder: {exc}") from None


def build_encoder(cfg: EncoderConfig, obs_shape: tuple[int, ...]) -> nn.Module:
    """Encoder for observations of ``obs_shape`` (no batch dim) per ``cfg``."""
    obs_shape = tuple(int(d) for d in obs_shape)
    if cfg.type == "mlp":
        if len(obs_shape) != 1:
            raise ConfigError(f"encoder.type: 'mlp' needs a flat state vector, got observation "
                              f"shape {obs_shape}; use an image encoder (pixel, cnn2d, cnn3d, "
                              f"r3d18) for frame stacks")
        enc = MLPEncoder(obs_shape[0], cfg.latent_dim, cfg.hidden_dim)
        if cfg.weights_path:
            _load_weights(enc, cfg.weights_path)
    else:
        if len(obs_shape) != 4:
            raise ConfigError(f"encoder.type: {cfg.type!r} expects (T, C, H, W) frame stacks, "
                              f"got observation shape {obs_shape}")
        try:
            video = importlib.import_module("robolabor.agents.video_encoders")
        except ModuleNotFoundError as exc:
            if exc.name != "robolabor.agents.video_encoders":
                raise
            raise ImportError(f"encoder type {cfg.type!r} needs robolabor.agents.video_encoders, "
                              f"which is not available in this installation") from exc
        enc = video.build_video_encoder(cfg, obs_shape)  # also honours weights_path
    if not isinstance(getattr(enc, "is_image", None), bool):
        raise TypeError(f"encoder {type(enc).__name__} must expose a bool `is_image`")
    if enc.is_image and not isinstance(getattr(enc, "frames", None), int):
        raise TypeError(f"image encoder {type(enc).__name__} must expose an int `frames`")
    if cfg.freeze:
        enc.requires_grad_(False)
        enc.eval()
    return enc

