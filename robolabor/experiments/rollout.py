"""Episodes in, economics out: the one place that turns env ``info`` into a ledger.

Training and evaluation both accumulate per-type counts with ``EpisodeTally``
and hand them to ``robolabor.econ.ledger.window_ledger``; nothing else in the
project recomputes marginal product, wages or parity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from robolabor.econ.ledger import Ledger, window_ledger


def make_env(env_id: str, env_config: dict | None = None, **kwargs: Any) -> gym.Env:
    """Build a registered env; its own config validation reports bad parameters."""
    import robolabor  # noqa: F401  (registers the ids)

    return gym.make(env_id, config=dict(env_config or {}), **kwargs)


def env_econ(env: gym.Env) -> Any:
    return env.unwrapped.econ


@dataclass
class EpisodeTally:
    """Sums one episode's step outcomes (per dish type) from ``info``."""

    n_types: int
    good: np.ndarray = field(init=False)
    broken: np.ndarray = field(init=False)
    operating_cost: float = 0.0
    profit: float = 0.0
    steps: int = 0
    speed_sum: float = 0.0
    care_sum: float = 0.0

    def __post_init__(self) -> None:
        self.good = np.zeros(self.n_types)
        self.broken = np.zeros(self.n_types)

    def add(self, info: dict[str, Any]) -> None:
        self.good += info["good_by_type"]
        self.broken += info["broken_by_type"]
        self.operating_cost += float(info["operating_cost"])
        self.profit += float(info["profit"])
        self.speed_sum += float(info["speed"])
        self.care_sum += float(info["care"])
        self.steps += 1

    @property
    def errors(self) -> float:
        return float(self.broken.sum())

    @property
    def attempts(self) -> float:
        return float(self.good.sum() + self.broken.sum())


def ledger_from_tallies(tallies: list[EpisodeTally], econ: Any) -> Ledger:
    hours = np.array([t.steps * econ.hours_per_step for t in tallies])
    return window_ledger(
        good=np.stack([t.good for t in tallies]),
        broken=np.stack([t.broken for t in tallies]),
        hours=hours,
        prices=np.asarray(econ.prices, dtype=float),
        damage_costs=np.asarray(econ.damage_costs, dtype=float),
        operating_cost=np.array([t.operating_cost for t in tallies]),
        human_wage=float(econ.human_wage),
        human_mp=float(econ.human_mp),
    )


def run_episodes(env: gym.Env, act: Callable[[np.ndarray], np.ndarray], episodes: int,
                 seed: int) -> list[EpisodeTally]:
    """Run ``episodes`` with seeds ``seed, seed+1, ...`` (common random numbers)."""
    n_types = len(env_econ(env).prices)
    tallies = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        tally = EpisodeTally(n_types)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(obs))
            tally.add(info)
            done = terminated or truncated
        tallies.append(tally)
    return tallies


def mean_ci(x: np.ndarray) -> tuple[float, float]:
    """Mean and 95% half-width of a sample (``econ.stats.mean_interval``); NaN half-width
    below two values."""
    from robolabor.econ.stats import mean_interval

    x = np.asarray(x, dtype=float).ravel()
    if x.size < 2:
        return float(x.mean()) if x.size else float("nan"), float("nan")
    mean, low, _, _ = mean_interval(x)
    return mean, mean - low
