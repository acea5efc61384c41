"""The one configuration of a training run, loaded from YAML and validated.

A run is fully described by a ``RunConfig``; its resolved form (every default
filled in) is written to the run directory together with a hash, so a number in
a report can always be traced back to the exact configuration that made it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from robolabor.agents.constraint import LagrangeConfig
from robolabor.agents.encoders import EncoderConfig
from robolabor.agents.sac import SACConfig
from robolabor.schema import ConfigError, from_dict, spec, to_dict


@dataclass(frozen=True)
class EnvConfig:
    id: str = spec("robolabor/DishwashingShift-v0", doc="registered Gymnasium id")
    config: dict = spec(default_factory=dict,
                        doc="environment parameters, validated by the environment itself")


@dataclass(frozen=True)
class LoopConfig:
    total_steps: int = spec(30_000, lo=1, doc="environment steps (minutes of shift) to train")
    seed: int = spec(0, lo=0, doc="seeds python, numpy, torch, the env and the replay sampler")
    eval_every: int = spec(3_000, lo=1, doc="env steps between evaluations (at episode ends)")
    eval_episodes: int = spec(10, lo=1, doc="deterministic episodes per evaluation")
    eval_seed: int = spec(10_000, lo=0,
                          doc="first seed of the evaluation episodes: common random numbers "
                              "across checkpoints")
    eval_fresh_episodes: bool = spec(False, doc="evaluate each checkpoint on its own, fresh "
                                     "episodes (seeds eval_seed + step·eval_episodes) instead "
                                     "of the common ones: the claim-4 negative control")
    checkpoint_every: int = spec(3_000, lo=1, doc="env steps between checkpoints")
    keep_checkpoints: int = spec(2, lo=1, doc="checkpoints kept on disk (oldest removed)")
    threads: int = spec(1, lo=1, hi=64, doc="torch intra-op threads")
    progress: bool = spec(True, doc="show a progress bar with the live economics")


@dataclass(frozen=True)
class EconConfig:
    pricing: str = spec("capped", choices=("capped", "split"), doc="customer pricing rule")
    eps_parity: float = spec(0.05, lo=0.0, hi=1.0, doc="parity margin before a spread counts")
    base_fee: float = spec(0.0, lo=0.0, doc="$/h added to the capped price below the cap")


@dataclass(frozen=True)
class RunConfig:
    env: EnvConfig = spec(default_factory=EnvConfig)
    encoder: EncoderConfig = spec(default_factory=EncoderConfig)
    sac: SACConfig = spec(default_factory=SACConfig)
    lagrange: LagrangeConfig = spec(default_factory=LagrangeConfig)
    train: LoopConfig = spec(default_factory=LoopConfig)
    econ: EconConfig = spec(default_factory=EconConfig)


def read_yaml_mapping(path: str | Path, what: str = "config file",
                      top: str = "sections") -> dict:
    """A YAML file whose top level is a mapping (``{}`` when empty); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of {top}")
    return data


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML config; ``overrides`` uses dotted keys (``{"train.seed": 3}``)."""
    path = Path(path)
    data = read_yaml_mapping(path)
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return from_dict(RunConfig, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_from_dict(data: dict) -> RunConfig:
    return from_dict(RunConfig, data)


def config_hash(cfg: RunConfig) -> str:
    """Stable 12-hex hash of the resolved configuration."""
    blob = json.dumps(to_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``--set sac.batch_size=128`` overrides (values parsed as YAML scalars), for the CLI
    and the benchmark scripts alike."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out
