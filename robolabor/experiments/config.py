"""The one configuration of a training run, loaded from YAML and validated.

A run is fully described by a ``RunConfig``; its resolved form (every default
filled in) is written to the run directory together with a hash, so a number in
a report can always be traced back to the exact configuration that made it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from robolabor.agents.constraint import LagrangeConfig
from robolabor.agents.encoders import EncoderConfig
from robolabor.agents.replay_config import ReplayConfig
from robolabor.agents.sac import SACConfig
from robolabor.experiments.config_hash import hash_config_data
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


def _recipe_section(name: str, cls: type) -> Any:
    """One section of the default recipe: what a ``RunConfig()`` section defaults to."""
    return from_dict(cls, default_recipe_data().get(name), name)


@dataclass(frozen=True)
class RunConfig:
    """Sections default to the default recipe (``configs/shift_state.yaml``), never to a
    second set of numbers; keys the recipe does not name take their field defaults."""

    env: EnvConfig = spec(default_factory=lambda: _recipe_section("env", EnvConfig))
    encoder: EncoderConfig = spec(default_factory=lambda: _recipe_section("encoder",
                                                                          EncoderConfig))
    sac: SACConfig = spec(default_factory=lambda: _recipe_section("sac", SACConfig))
    lagrange: LagrangeConfig = spec(default_factory=lambda: _recipe_section("lagrange",
                                                                            LagrangeConfig))
    train: LoopConfig = spec(default_factory=lambda: _recipe_section("train", LoopConfig))
    econ: EconConfig = spec(default_factory=lambda: _recipe_section("econ", EconConfig))
    replay: ReplayConfig = spec(default_factory=lambda: _recipe_section("replay",
                                                                        ReplayConfig))

    def __post_init__(self) -> None:
        sac = self.sac
        if sac.buffer_size < sac.batch_size:
            raise ConfigError(f"sac.buffer_size: must be >= sac.batch_size ({sac.batch_size}), "
                              f"got {sac.buffer_size}")
        if sac.learning_starts < sac.batch_size:
            raise ConfigError(f"sac.learning_starts: must be >= sac.batch_size "
                              f"({sac.batch_size}): the first update samples a full batch, "
                              f"got {sac.learning_starts}")
        _check_env(self.env)


def _check_env(env: EnvConfig) -> None:
    """The env id must be a robolabor task and its parameters valid for it, checked when
    the config is read, so the message names ``env.config.KEY`` and the file."""
    from robolabor.envs.registration import ENV_IDS
    from robolabor.experiments.rollout import make_env

    if env.id not in ENV_IDS:
        raise ConfigError(f"env.id: {env.id!r} is not a robolabor task; one of {list(ENV_IDS)}")
    try:
        make_env(env.id, env.config).close()
    except ConfigError as exc:
        head, _, rest = str(exc).partition(": ")
        if head[:1].isupper() and head.isidentifier():  # "ShiftParams: unknown key(s) ..."
            raise ConfigError(f"env.config: {rest}") from None
        raise ConfigError(f"env.config.{exc}") from None
    except TypeError as exc:  # a key the parameters do not take
        raise ConfigError(f"env.config: {exc}") from None


# ----------------------------------------------------------------------------- YAML

_FLOAT_1_2 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


class _Loader(yaml.SafeLoader):
    """Safe YAML that reads numbers as YAML 1.2 does (``1e6``, ``3e-4`` and ``1.0e6`` are
    floats, not text) and refuses a key given twice in one mapping (YAML would keep the
    last one without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} given "
                                  f"twice (first on line {seen[key] + 1})")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2,
                              list("-+0123456789."))


def read_yaml(text: str, where: str) -> Any:
    """Parse YAML text with ``_Loader``; any error is a ``ConfigError`` naming ``where``."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{where}: not valid YAML ({detail})") from None


# ----------------------------------------------------------------------------- recipe

PACKAGED_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_RECIPE = PACKAGED_CONFIGS / "shift_state.yaml"


@functools.cache
def _recipe_text() -> str:
    return DEFAULT_RECIPE.read_text()


def default_recipe_data() -> dict[str, Any]:
    """The default recipe as plain data (a fresh copy): what every omitted key means."""
    return read_yaml(_recipe_text(), str(DEFAULT_RECIPE))


def resolve_config_path(path: str | Path) -> Path:
    """A config file as given, else the packaged config of that name (``shift_state``,
    ``shift_state.yaml`` or ``configs/shift_state.yaml`` work from any directory)."""
    path = Path(path)
    if path.is_file():
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else path.name + ".yaml"
    parts = path.parts[1:-1] if path.parts[:1] == ("configs",) else path.parts[:-1]
    packaged = PACKAGED_CONFIGS.joinpath(*parts, name)
    if packaged.is_file():
        return packaged
    known = sorted(p.stem for p in PACKAGED_CONFIGS.glob("*.yaml"))
    raise ConfigError(f"{path}: config file not found (packaged configs: {known})")


def _merge(base: dict, top: dict) -> dict:
    """``top`` over ``base``, section by section (``env.config`` is replaced whole, as the
    environment's own parameters are one unit)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "config":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _apply_overrides(data: dict, overrides: dict[str, Any]) -> dict:
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for depth, key in enumerate(parents):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: depth + 1])
                raise ConfigError(f"--set {dotted}: {where} is a value ({child!r}), "
                                  "not a section")
            node = child
        node[leaf] = value
    return data


def config_from_dict(data: dict | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """A ``RunConfig`` from (partial) plain data: omitted keys come from the default
    recipe; ``overrides`` uses dotted keys (``{"train.seed": 3}``)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections")
    merged = _apply_overrides(_merge(default_recipe_data(), data), dict(overrides or {}))
    return from_dict(RunConfig, merged)


def read_yaml_mapping(path: str | Path, what: str = "config file",
                      top: str = "sections") -> dict:
    """A YAML file whose top level is a mapping (``{}`` when empty), read like a config
    (YAML 1.2 numbers, duplicate keys refused); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    data = read_yaml(path.read_text(), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of {top}")
    return data


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML config (or a packaged one by name), fill it from the default recipe,
    apply dotted ``overrides``; every error names the file and the dotted key."""
    path = resolve_config_path(path)
    data = read_yaml(path.read_text(), str(path))
    try:
        return config_from_dict(data, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_hash(cfg: RunConfig) -> str:
    """Stable 12-hex hash of the resolved configuration."""
    return hash_config_data(to_dict(cfg))


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``--set sac.batch_size=128`` overrides (values parsed as YAML scalars, as in a
    config file), for the CLI and the benchmark scripts alike."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set {item!r}: KEY must be a dotted path like sac.gamma")
        out[key] = read_yaml(value, f"--set {key}")
    return out
