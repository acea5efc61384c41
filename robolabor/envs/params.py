"""Typed, validated parameters of the dishwashing environments.

``ClassicParams`` reproduces the prototype's constants exactly (a stateless
bandit, kept only so its numbers can be reproduced). ``ShiftParams`` describes
the real task: a shift with rush-hour arrivals, a rack with a capacity, three
dish types with their own price, damage cost, handling rate and fragility, and
an error-rate SLA. Its defaults are tuned so that the exact solver
(:mod:`robolabor.envs.optimum`) finds the three properties the task exists for:
the SLA binds (lambda* > 0), the state matters (the best constant action earns
at most 85% of the optimum) and the robot must learn to beat the human (a
uniformly random policy is below wage parity, the optimum well above it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from robolabor.schema import ConfigError, spec, validate


@dataclass(frozen=True)
class ClassicParams:
    """The prototype's ``DishwashingParams`` plus its economics config, unchanged."""

    steps: int = spec(60, lo=1, hi=100_000, doc="steps (minutes) per episode")
    base_rate: float = spec(2.0, lo=0.0, lo_open=True, doc="attempts/min at speed 1, care 0")
    rate_floor: float = spec(0.1, lo=0.0, doc="lower bound of the attempt rate (never binds)")
    care_cost: float = spec(0.25, lo=0.0, hi=1.0, hi_open=True,
                            doc="fraction of the rate lost at care 1")
    p_min: float = spec(0.02, lo=0.0, hi=0.5, doc="error probability floor")
    k_err: float = spec(0.12, lo=0.0, hi=1.0, doc="error probability added at speed 1, care 0")
    q_speed: float = spec(1.2, lo=0.0, lo_open=True, doc="exponent of speed in p_err")
    q_care: float = spec(1.5, lo=0.0, lo_open=True, doc="exponent of (1 - care) in p_err")
    p_err_max: float = spec(0.5, lo=0.0, hi=1.0, doc="clip of p_err (never binds)")
    price: float = spec(0.30, lo=0.0, doc="$ per good unit")
    damage_cost: float = spec(1.0, lo=0.0, doc="$ per broken unit")
    energy_cost_per_hour: float = spec(0.10, lo=0.0, doc="operating cost, $/h")
    human_wage: float = spec(18.0, lo=0.0, lo_open=True, doc="human benchmark wage, $/h")
    human_mp: float = spec(60.0, lo=0.0, lo_open=True, doc="human units/h")
    sla: float = spec(0.06, lo=0.0, lo_open=True, hi=1.0,
                      doc="error-rate target e* (slack here)")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class DishType:
    """One kind of dish: what it is worth, what breaking it costs, how it handles."""

    name: str = spec("plate", doc="label")
    share: float = spec(1.0, lo=0.0, lo_open=True,
                        doc="long-run share of minutes this type is on the rack (normalised)")
    price: float = spec(0.30, lo=0.0, doc="$ per good unit")
    damage_cost: float = spec(1.0, lo=0.0, doc="$ per broken unit")
    base_rate: float = spec(2.0, lo=0.0, lo_open=True, hi=30.0,
                            doc="attempts/min at speed 1, care 0")
    p_min: float = spec(0.01, lo=0.0, hi=1.0, doc="error probability floor")
    fragility: float = spec(0.12, lo=0.0, hi=1.0, doc="error probability added at speed 1, care 0")

    def __post_init__(self) -> None:
        validate(self)
        if self.p_min + self.fragility > 1.0:
            raise ConfigError(f"dish type {self.name!r}: p_min + fragility must be <= 1, "
                              f"got {self.p_min + self.fragility}")


def _default_types() -> tuple[DishType, ...]:
    # Plates are the bulk; glasses break easily and cost a lot when they do (handle them
    # slowly); pots are slow to wash, robust and valuable (wash them flat out).
    # Volumes are those of a commercial dish machine (items per minute); prices and
    # damage costs are per item, so a minute's profit is a sum over many items and the
    # reward's relative noise stays moderate.
    return (
        DishType(name="plate", share=0.5, price=0.075, damage_cost=0.075, base_rate=12.0,
                 p_min=0.01, fragility=0.20),
        DishType(name="glass", share=0.3, price=0.10, damage_cost=0.375, base_rate=10.0,
                 p_min=0.01, fragility=0.60),
        DishType(name="pot", share=0.2, price=0.225, damage_cost=0.075, base_rate=4.4,
                 p_min=0.005, fragility=0.06),
    )


@dataclass(frozen=True)
class ShiftParams:
    """The shift task. Rates are per minute; one step is one minute."""

    shift_minutes: int = spec(120, lo=2, hi=1440, doc="steps per episode")
    rack_capacity: int = spec(100, lo=1, hi=400, doc="dishes the rack holds; more are lost")
    initial_backlog: int = spec(16, lo=0, doc="dishes waiting at the start of the shift")
    max_attempts_per_minute: int = spec(24, lo=1, hi=60,
                                        doc="mechanical cap on attempts in one minute")
    base_arrival_rate: float = spec(3.6, lo=0.0, doc="dishes/min outside the rush")
    peak_arrival_rate: float = spec(16.0, lo=0.0, doc="dishes/min at the top of the rush")
    peak_minute: float = spec(55.0, lo=0.0, doc="minute of the rush peak")
    peak_width: float = spec(14.0, lo=0.0, lo_open=True, doc="rush half-width (Gaussian sd), min")
    type_stay: float = spec(0.75, lo=0.0, hi=1.0,
                            doc="probability the same type is on the rack next minute")
    dish_types: tuple[DishType, ...] = spec(default_factory=_default_types,
                                            doc="plate, glass, pot by default")
    speed_floor: float = spec(0.3, lo=0.0, hi=1.0,
                              doc="attempt rate at speed 0 as a fraction of the rate at speed 1")
    care_cost: float = spec(0.6, lo=0.0, hi=1.0, hi_open=True,
                            doc="fraction of the attempt rate lost at care 1")
    care_effect: float = spec(0.8, lo=0.0, hi=1.0,
                              doc="share of the speed-induced error risk that full care removes")
    q_speed: float = spec(1.2, lo=0.0, lo_open=True, doc="exponent of speed in p_err")
    q_care: float = spec(1.5, lo=0.0, lo_open=True, doc="exponent of (1 - care) in p_err")
    energy_cost_per_hour: float = spec(0.10, lo=0.0, doc="operating cost, $/h")
    human_wage: float = spec(18.0, lo=0.0, lo_open=True, doc="human benchmark wage, $/h")
    human_mp: float = spec(240.0, lo=0.0, lo_open=True,
                           doc="items/h a human operator washes; 240 × $0.075 = $18/h, so the "
                           "benchmark is paid the value of a plate-only hour")
    sla: float = spec(0.04, lo=0.0, lo_open=True, hi=1.0,
                      doc="target on the shift's errors/attempts, e*")

    def __post_init__(self) -> None:
        validate(self)
        if not self.dish_types:
            raise ConfigError("dish_types: at least one dish type is required")
        for i, dt in enumerate(self.dish_types):
            if not isinstance(dt, DishType):
                raise ConfigError(f"dish_types[{i}]: expected a DishType, got {type(dt).__name__}")
        names = [dt.name for dt in self.dish_types]
        if len(set(names)) != len(names):
            raise ConfigError(f"dish_types: names must be unique, got {names}")
        if self.initial_backlog > self.rack_capacity:
            raise ConfigError(f"initial_backlog: must be <= rack_capacity "
                              f"({self.rack_capacity}), got {self.initial_backlog}")
        if self.peak_arrival_rate < self.base_arrival_rate:
            raise ConfigError(f"peak_arrival_rate: must be >= base_arrival_rate "
                              f"({self.base_arrival_rate}), got {self.peak_arrival_rate}")

    # Derived arrays, used by the env and the solver alike so they cannot drift.
    @property
    def n_types(self) -> int:
        return len(self.dish_types)

    def type_array(self, field: str) -> np.ndarray:
        return np.array([getattr(dt, field) for dt in self.dish_types], dtype=np.float64)

    @property
    def type_shares(self) -> np.ndarray:
        s = self.type_array("share")
        return s / s.sum()

    @property
    def type_transition(self) -> np.ndarray:
        """P[k, k']: stay with ``type_stay``, else redraw from the shares (stationary)."""
        k, stay = self.n_types, self.type_stay
        return stay * np.eye(k) + (1.0 - stay) * np.tile(self.type_shares, (k, 1))

    def arrival_rate(self, minute: int | np.ndarray) -> np.ndarray | float:
        """Expected arrivals during ``minute`` (rate at the middle of the minute)."""
        t = np.asarray(minute, dtype=np.float64) + 0.5
        bump = np.exp(-0.5 * ((t - self.peak_minute) / self.peak_width) ** 2)
        rate = self.base_arrival_rate + (self.peak_arrival_rate - self.base_arrival_rate) * bump
        return float(rate) if np.ndim(rate) == 0 else rate

    @property
    def expected_arrivals(self) -> float:
        return float(np.sum(self.arrival_rate(np.arange(self.shift_minutes))))


@dataclass(frozen=True)
class EnvEconomics:
    """What the ledger needs to price an episode; readable as attributes or ``econ[key]``."""

    prices: np.ndarray
    damage_costs: np.ndarray
    human_wage: float
    human_mp: float
    type_names: tuple[str, ...]
    energy_cost_per_hour: float
    hours_per_step: float = 1.0 / 60.0

    @property
    def operating_cost_per_step(self) -> float:
        return self.energy_cost_per_hour * self.hours_per_step

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in dataclasses.fields(self)} | {"operating_cost_per_step"}:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict:
        return {f.name: (getattr(self, f.name).tolist() if isinstance(getattr(self, f.name),
                                                                     np.ndarray)
                         else getattr(self, f.name)) for f in dataclasses.fields(self)}


def economics_of(params: ClassicParams | ShiftParams) -> EnvEconomics:
    if isinstance(params, ClassicParams):
        return EnvEconomics(prices=np.array([params.price]),
                            damage_costs=np.array([params.damage_cost]),
                            human_wage=params.human_wage, human_mp=params.human_mp,
                            type_names=("dish",),
                            energy_cost_per_hour=params.energy_cost_per_hour)
    return EnvEconomics(prices=params.type_array("price"),
                        damage_costs=params.type_array("damage_cost"),
                        human_wage=params.human_wage, human_mp=params.human_mp,
                        type_names=tuple(dt.name for dt in params.dish_types),
                        energy_cost_per_hour=params.energy_cost_per_hour)


def shift_rate_and_perr(params: ShiftParams, speed: np.ndarray | float,
                        care: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Attempt rate (per minute) and error probability for every type: shapes ``(K, ...)``."""
    s = np.asarray(speed, dtype=np.float64)
    c = np.asarray(care, dtype=np.float64)
    extra = (slice(None),) + (None,) * s.ndim
    base = params.type_array("base_rate")[extra]
    p_min = params.type_array("p_min")[extra]
    frag = params.type_array("fragility")[extra]
    f = params.speed_floor
    rate = base * (f + (1.0 - f) * s) * (1.0 - params.care_cost * c)
    risk = s ** params.q_speed * (1.0 - params.care_effect * c) ** params.q_care
    perr = np.clip(p_min + frag * risk, 0.0, 1.0)
    return rate, perr


def iso_error_care(params: ClassicParams | ShiftParams, speed: np.ndarray | float,
                   care: np.ndarray | float, new_speed: np.ndarray | float) -> np.ndarray:
    """The inverse of the error model in care: the care ``c'`` that keeps the speed-induced
    risk ``s^q_s·(1 − e·c)^q_c`` of ``(speed, care)`` unchanged at ``new_speed``:
    ``c' = (1 − (1 − e·c)·(s / s')^(q_s/q_c)) / e``, clipped to [0, 1] (e = ``care_effect``;
    the classic task has e = 1). Both tasks' error probabilities depend on the action only
    through this risk, so the two actions differ in speed and not in quality (up to the clip).
    """
    s = np.asarray(speed, dtype=np.float64)
    c = np.asarray(care, dtype=np.float64)
    s_new = np.asarray(new_speed, dtype=np.float64)
    e = float(getattr(params, "care_effect", 1.0))
    if e <= 0:
        return np.broadcast_to(c, np.broadcast_shapes(c.shape, s_new.shape)).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(s_new > 0, s / np.maximum(s_new, 1e-12), 1.0)
    keep = (1.0 - e * c) * ratio ** (params.q_speed / params.q_care)
    return np.clip((1.0 - keep) / e, 0.0, 1.0)


def classic_rate_and_perr(params: ClassicParams, speed: np.ndarray | float,
                          care: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """The classic task's formulas (see ``robolabor.envs.classic``), vectorised."""
    s = np.asarray(speed, dtype=np.float64)
    c = np.asarray(care, dtype=np.float64)
    rate = np.maximum(params.rate_floor, params.base_rate * (0.5 + 0.5 * s))
    rate = rate * (1.0 - params.care_cost * c)
    perr = np.clip(params.p_min + params.k_err * s ** params.q_speed * (1.0 - c) ** params.q_care,
                   0.0, params.p_err_max)
    return rate, perr


def params_from(cls: type, params: Any = None, config: Any = None) -> Any:
    """Resolve the ``params=`` / ``config=`` constructor arguments of an env."""
    from robolabor.schema import from_dict

    if params is not None and config is not None:
        raise ConfigError("pass either params= or config=, not both")
    if params is not None:
        if not isinstance(params, cls):
            raise ConfigError(f"params: expected {cls.__name__}, got {type(params).__name__}")
        return params
    return from_dict(cls, config)
