"""``robolabor/DishwashingShift-v0``: a dishwashing shift where the state matters.

One step is one minute; an episode is one shift (120 minutes by default).
During minute t, with backlog b and dish type k on the rack, action
(speed s, care c):

* the robot attempts ``n = min(Poisson(r_k(s, c)), b, n_max)`` dishes, with
  ``r_k = base_rate_k·(f + (1-f)·s)·(1 - care_cost·c)`` (f = ``speed_floor``):
  it cannot wash dishes that are not there;
* each attempt breaks with ``p_k = p_min_k + fragility_k·s^1.2·(1 - care_effect·c)^1.5``;
* ``Poisson(λ(t))`` dishes arrive, λ a base rate plus a Gaussian rush-hour
  peak; whatever exceeds the rack capacity is lost (``overflow``);
* the type on the rack changes as a Markov chain (stay, or redraw from the shares).

Reward = the step's profit in $: ``price_k·good - damage_k·broken - energy``. The
SLA (``sla`` = e*: the shift's errors/attempts, in expectation) is not in the
reward; a constrained agent adds ``-λ·(errors - e*·attempts)`` itself (the
per-step ``info`` has both counts). Dishes left on the rack at the end of the
shift earn nothing.

Termination: ``terminated=True`` at the end of the shift. The minute is in the
observation and nothing is earned after the shift, so the value there is
exactly 0 (a finite-horizon MDP); bootstrapping there would be wrong. Agents
bootstrap only through ``truncated`` (set by an external time limit).

Observation (float32, all in [0, 1]; 7 + K numbers, 10 with the default three types):

====  =====================================================================
0     minute / shift_minutes
1     arrival rate now / peak rate (rush intensity)
2     arrival rate in 10 minutes / peak rate (what is coming)
3     backlog / rack capacity
4..   one-hot dish type on the rack (K entries)
7     error budget use: errors / (2·max(1, e*·attempts)), clipped (0.5 = exactly at e*)
8     attempts so far / expected arrivals over the shift, clipped
9     errors in the last step / n_max (the "something broke" flash)
====  =====================================================================

Per-step ``info`` keeps what happened during the step apart from the state after it.
What happened: ``washed_type`` (the type on the rack during the step, the one
``good_by_type`` / ``broken_by_type`` count), ``attempts``, ``good``, ``broken``
(``good + broken = attempts``), ``p_err``, ``rate_per_min``, ``speed``, ``care``,
``revenue``, ``damage``, ``operating_cost``, ``profit``, ``arrivals`` and ``overflow``
(dishes lost to a full rack). The state after the step (what the next observation
and frame show): ``minute``, ``backlog`` and ``dish_type``. The ledger reads the same
names (``good``, ``broken``, ``attempts``).

Common random numbers: each source of noise has its own generator, seeded from the
episode's seed. The exogenous draws (the first dish type, every minute's arrivals,
the uniforms that drive the dish-type chain) are made at reset and never depend on the
actions, so two policies on the same seed meet the same arrivals and the same dish
sequence. Attempts use one uniform per minute through the Poisson inverse CDF (more
speed never means fewer attempts on the same numbers) and breakage one uniform per
item slot (item i breaks iff u_i < p_err), so the endogenous outcomes are coupled too.

The exact optimum of this task (and the baselines it is compared with) comes from
:func:`robolabor.envs.optimum.solve`.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from robolabor.envs.classic import DishwashingBase, count_breaks, poisson_quantile
from robolabor.envs.params import ShiftParams, params_from, shift_rate_and_perr

LOOKAHEAD_MINUTES = 10


class DishwashingShiftEnv(DishwashingBase):
    """The real task: backlog, rush hour, dish types and an error SLA (see module docstring)."""

    def __init__(self, params: ShiftParams | None = None, config: dict | None = None,
                 render_mode: str | None = None):
        self._init_common(params_from(ShiftParams, params, config), render_mode)
        p = self.params
        self.horizon = p.shift_minutes
        self.sla = p.sla
        self.n_types = p.n_types
        self.obs_dim = 7 + p.n_types
        self.observation_space = spaces.Box(low=0.0, high=1.0, shape=(self.obs_dim,),
                                            dtype=np.float32)
        # Precomputed per-minute and per-type constants (plain Python for a fast step).
        minutes = np.arange(self.horizon + LOOKAHEAD_MINUTES + 1)
        self._arrival = np.asarray(p.arrival_rate(minutes), dtype=np.float64)
        self._peak = max(p.peak_arrival_rate, 1e-12)
        self._expected_arrivals = max(p.expected_arrivals, 1.0)
        self._base = p.type_array("base_rate").tolist()
        self._p_min = p.type_array("p_min").tolist()
        self._frag = p.type_array("fragility").tolist()
        self._price = p.type_array("price").tolist()
        self._damage = p.type_array("damage_cost").tolist()
        self._cum_trans = np.cumsum(p.type_transition, axis=1)
        self._cum_shares = np.cumsum(p.type_shares)
        self._op_cost = p.energy_cost_per_hour / 60.0
        self._minute = 0
        self._backlog = 0
        self._type = 0
        self._errors = 0
        self._attempts = 0

    @property
    def state(self) -> tuple[int, int, int, int, int]:
        """``(minute, backlog, dish_type, errors_so_far, attempts_so_far)``."""
        return (self._minute, self._backlog, self._type, self._errors, self._attempts)

    def rates(self, speed: float, care: float) -> tuple[np.ndarray, np.ndarray]:
        """Attempt rate and error probability for every dish type at one action."""
        return shift_rate_and_perr(self.params, speed, care)

    def _obs(self) -> np.ndarray:
        p = self.params
        t = self._minute
        obs = np.zeros(self.obs_dim, dtype=np.float32)
        obs[0] = t / self.horizon
        obs[1] = self._arrival[t] / self._peak
        obs[2] = self._arrival[t + LOOKAHEAD_MINUTES] / self._peak
        obs[3] = self._backlog / p.rack_capacity
        obs[4 + self._type] = 1.0
        k = 4 + self.n_types
        obs[k] = self._errors / (2.0 * max(1.0, p.sla * self._attempts))
        obs[k + 1] = self._attempts / self._expected_arrivals
        obs[k + 2] = self._errs_step / p.max_attempts_per_minute
        return np.clip(obs, 0.0, 1.0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a shift. ``options`` may set ``backlog`` and/or ``dish_type`` (for tests)."""
        super().reset(seed=seed)
        p = self.params
        options = dict(options or {})
        unknown = set(options) - {"backlog", "dish_type"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; "
                             "allowed: backlog, dish_type")
        self._backlog = int(options.get("backlog", p.initial_backlog))
        if not 0 <= self._backlog <= p.rack_capacity:
            raise ValueError(f"backlog must be in [0, {p.rack_capacity}], got {self._backlog}")
        first_rng, arrival_rng, chain_rng, attempt_rng, break_rng = self._noise_streams(5)
        first = first_rng.random()
        self._arrivals = arrival_rng.poisson(self._arrival[:self.horizon]).tolist()
        self._u_chain = chain_rng.random(self.horizon).tolist()
        self._u_attempt = attempt_rng.random(self.horizon).tolist()
        self._u_break = break_rng.random((self.horizon, p.max_attempts_per_minute))
        if "dish_type" in options:
            self._type = int(options["dish_type"])
            if not 0 <= self._type < self.n_types:
                raise ValueError(f"dish_type must be in [0, {self.n_types}), got {self._type}")
        else:
            self._type = min(int(np.searchsorted(self._cum_shares, first, side="right")),
                             self.n_types - 1)
        self._minute = self._errors = self._attempts = 0
        self._good_step = self._errs_step = 0
        self._last_action = (0.0, 0.0)
        self._done = False
        return self._obs(), {"minute": 0, "backlog": self._backlog, "dish_type": self._type}

    def step(self, action):
        self._check_running()
        speed, care = self._clip_action(action)
        p = self.params
        k, t, b = self._type, self._minute, self._backlog
        n, broken, p_err, rate, extra = self._handle(k, t, b, speed, care)
        good = n - broken
        revenue = self._price[k] * good
        damage = self._damage[k] * broken
        profit = revenue - damage - self._op_cost

        arrivals = self._arrivals[t]
        backlog = b - n + arrivals
        overflow = max(0, backlog - p.rack_capacity)
        self._backlog = backlog - overflow
        self._type = min(int(np.searchsorted(self._cum_trans[k], self._u_chain[t],
                                             side="right")), self.n_types - 1)
        self._errors += broken
        self._attempts += n
        self._minute = t + 1
        self._last_action = (speed, care)
        self._good_step, self._errs_step = good, broken
        terminated = self._minute >= self.horizon
        self._done = terminated

        good_by_type = np.zeros(self.n_types, dtype=np.int64)
        broken_by_type = np.zeros(self.n_types, dtype=np.int64)
        good_by_type[k] = good
        broken_by_type[k] = broken
        info = {
            "washed_type": k, "attempts": n, "good": good, "broken": broken,
            "p_err": p_err, "speed": speed, "care": care, "rate_per_min": rate,
            "good_by_type": good_by_type, "broken_by_type": broken_by_type,
            "revenue": revenue, "damage": damage, "operating_cost": self._op_cost,
            "profit": profit, "arrivals": arrivals, "overflow": overflow,
            # the state after the step (what the next observation shows)
            "minute": self._minute, "backlog": self._backlog, "dish_type": self._type,
            **extra,
        }
        return self._obs(), float(profit), terminated, False, info

    def _handle(self, k: int, t: int, b: int, speed: float, care: float
                ) -> tuple[int, int, float, float, dict]:
        """The minute's attempts and breakages of type ``k`` with backlog ``b``:
        ``(attempts, broken, p_err, rate_per_min, extra info)``. The physics env
        (``robolabor.envs.physics``) replaces this and nothing else of the step."""
        p = self.params
        rate = (self._base[k] * (p.speed_floor + (1.0 - p.speed_floor) * speed)
                * (1.0 - p.care_cost * care))
        risk = speed ** p.q_speed * (1.0 - p.care_effect * care) ** p.q_care
        p_err = min(max(self._p_min[k] + self._frag[k] * risk, 0.0), 1.0)
        n = poisson_quantile(self._u_attempt[t], rate, min(b, p.max_attempts_per_minute))
        return n, count_breaks(self._u_break[t], n, p_err), p_err, rate, {}

    def render_state(self) -> dict:
        t = min(self._minute, self.horizon - 1)
        return {
            "minute": self._minute, "shift_minutes": self.horizon,
            "backlog": self._backlog, "backlog_cap": self.params.rack_capacity,
            "dish_type": self._type, "n_types": self.n_types,
            "arrival_rate": float(self._arrival[t]), "peak_arrival_rate": float(self._peak),
            "good_this_step": self._good_step, "errors_this_step": self._errs_step,
            "errors_so_far": self._errors, "attempts_so_far": self._attempts,
            "sla": self.sla, "last_action": self._last_action,
        }

