"""``robolabor/DishwashingClassic-v0``: the prototype's dishwashing task, reproduced exactly.

Dynamics (the earlier prototype's, unchanged), one step = one minute, 60 steps = one shift:
attempts ``max(1, Poisson(r))`` with ``r = 2·(0.5+0.5·speed)·(1-0.25·care)``,
errors ``Binomial(attempts, p_err)`` with
``p_err = 0.02 + 0.12·speed^1.2·(1-care)^1.5``.

The task is a stationary bandit: outcomes depend only on the current action, so
the optimal policy is the constant action (speed 1, care ≈ 0.93) and the SLA of
6% never binds. The observation ``[t/60, completed/200, attempts/300,
errors/50]`` (clipped to [0, 1]) carries **no decision-relevant information**;
it is kept only so the prototype's numbers can be reproduced. Use
``DishwashingShift-v0`` for the real task.

Differences from the prototype, all deliberate: the env follows the Gymnasium
API, the reward is the step's own profit in $ (revenue - damage - energy), not
a running average of counters, and the end of the shift sets
``terminated=True``: the minute is in the observation and nothing is earned
after the shift, so the value there is exactly 0 (a finite-horizon MDP). An
agent bootstraps only through ``truncated`` (an external time limit).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robolabor.envs.params import ClassicParams, economics_of, params_from

# Per-minute uniforms kept for breakage; attempts are Poisson(<= 2), so a minute with more
# than 32 attempts has probability below 1e-20 (the rest then come from one binomial).
CLASSIC_ITEM_DRAWS = 32
CLASSIC_MAX_ATTEMPTS = 10_000  # a guard on the inverse-CDF loop, never reached in practice


class DishwashingBase(gym.Env):
    """What both dishwashing envs share: spaces, rendering hook, economics handles."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def _init_common(self, params: Any, render_mode: str | None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of "
                             f"{self.metadata['render_modes']}, got {render_mode!r}")
        self.params = params
        self.render_mode = render_mode
        self.econ = economics_of(params)
        self.action_space = spaces.Box(low=np.zeros(2, dtype=np.float32),
                                       high=np.ones(2, dtype=np.float32), dtype=np.float32)
        self._last_action = (0.0, 0.0)
        self._good_step = 0
        self._errs_step = 0
        self._done = True

    @staticmethod
    def _clip_action(action: Any) -> tuple[float, float]:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (2,):
            raise ValueError(f"action must have 2 entries (speed, care), got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action must be finite, got {a.tolist()}")
        a = np.clip(a, 0.0, 1.0)
        return float(a[0]), float(a[1])

    def _check_running(self) -> None:
        if self._done:
            raise RuntimeError("the shift is over (or reset() was never called): call reset()")

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        from robolabor.envs.render import render_frame

        return render_frame(self.render_state())

    def render_state(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def _noise_streams(self, n_streams: int) -> list[np.random.Generator]:
        """Independent generators for one episode, one per source of noise.

        They are seeded from the episode's seed (through ``np_random``) and each is
        consumed the same way whatever the actions, so two policies run on the same
        seed meet the same arrivals and dish sequence, and their attempts and breakages
        are coupled draw for draw (common random numbers).
        """
        root = int(self.np_random.integers(0, 2**63 - 1))
        return [np.random.default_rng([root, i]) for i in range(n_streams)]


def poisson_quantile(u: float, rate: float, cap: int) -> int:
    """``min(F⁻¹(u), cap)`` for F the Poisson(rate) CDF: one uniform per draw.

    Inverse-CDF sampling keeps attempts monotone in the rate for a fixed ``u``, so a
    faster action never attempts fewer dishes on the same random numbers.
    """
    term = cdf = np.exp(-rate)
    n = 0
    while u > cdf and n < cap:
        n += 1
        term *= rate / n
        cdf += term
    return n


def count_breaks(u_items: np.ndarray, n: int, p_err: float) -> int:
    """Binomial(n, p_err) from per-item uniforms: item i breaks iff ``u_i < p_err``."""
    return int(np.count_nonzero(u_items[:n] < p_err))


class DishwashingClassicEnv(DishwashingBase):
    """The prototype's stateless bandit, as a Gymnasium env (see the module docstring)."""

    def __init__(self, params: ClassicParams | None = None, config: dict | None = None,
                 render_mode: str | None = None):
        self._init_common(params_from(ClassicParams, params, config), render_mode)
        p = self.params
        self.horizon = p.steps
        self.sla = p.sla
        self.observation_space = spaces.Box(low=0.0, high=1.0, shape=(4,), dtype=np.float32)
        self._op_cost = p.energy_cost_per_hour / 60.0
        self._minute = 0
        self._completed = 0
        self._attempts = 0
        self._errors = 0

    @property
    def state(self) -> tuple[int, int, int, int]:
        """``(minute, completed, attempts, errors)``: the prototype's counters."""
        return (self._minute, self._completed, self._attempts, self._errors)

    def _obs(self) -> np.ndarray:
        obs = np.array([self._minute / self.horizon, self._completed / 200.0,
                        self._attempts / 300.0, self._errors / 50.0], dtype=np.float32)
        return np.clip(obs, 0.0, 1.0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        attempt_rng, break_rng = self._noise_streams(2)
        self._u_attempt = attempt_rng.random(self.horizon)
        self._u_break = break_rng.random((self.horizon, CLASSIC_ITEM_DRAWS))
        self._break_rng = break_rng
        self._minute = self._completed = self._attempts = self._errors = 0
        self._last_action = (0.0, 0.0)
        self._good_step = self._errs_step = 0
        self._done = False
        return self._obs(), {"minute": 0}

    def step(self, action):
        self._check_running()
        speed, care = self._clip_action(action)
        p = self.params
        rate = max(p.rate_floor, p.base_rate * (0.5 + 0.5 * speed)) * (1.0 - p.care_cost * care)
        p_err = min(max(p.p_min + p.k_err * speed ** p.q_speed * (1.0 - care) ** p.q_care, 0.0),
                    p.p_err_max)
        t = self._minute
        n = max(1, poisson_quantile(self._u_attempt[t], rate, CLASSIC_MAX_ATTEMPTS))
        errs = count_breaks(self._u_break[t], n, p_err)
        if n > CLASSIC_ITEM_DRAWS:  # beyond the per-minute block (probability < 1e-20)
            errs += int(self._break_rng.binomial(n - CLASSIC_ITEM_DRAWS, p_err))
        good = n - errs
        revenue = p.price * good
        damage = p.damage_cost * errs
        profit = revenue - damage - self._op_cost

        self._completed += good
        self._attempts += n
        self._errors += errs
        self._minute += 1
        self._last_action = (speed, care)
        self._good_step, self._errs_step = good, errs
        terminated = self._minute >= self.horizon
        self._done = terminated
        info = {
            "good": good, "broken": errs, "p_err": p_err, "speed": speed, "care": care,
            "rate_per_min": rate, "attempts": n,
            "good_by_type": np.array([good], dtype=np.int64),
            "broken_by_type": np.array([errs], dtype=np.int64),
            "revenue": revenue, "damage": damage, "operating_cost": self._op_cost,
            "profit": profit, "minute": self._minute,
        }
        return self._obs(), float(profit), terminated, False, info

    def render_state(self) -> dict:
        return {
            "minute": self._minute, "shift_minutes": self.horizon,
            "backlog": 0, "backlog_cap": 1, "dish_type": 0, "n_types": 1,
            "arrival_rate": 0.0, "peak_arrival_rate": 1.0,
            "good_this_step": self._good_step, "errors_this_step": self._errs_step,
            "errors_so_far": self._errors, "attempts_so_far": self._attempts,
            "sla": self.sla, "last_action": self._last_action,
        }

