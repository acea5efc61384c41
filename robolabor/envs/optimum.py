"""Exact optimum of the dishwashing tasks, the yardstick every policy is scored against.

Shift task: finite-horizon dynamic programming over (minute, backlog, dish type)
on an action grid (``grid x grid`` over [0,1]^2). The SLA "expected errors /
expected attempts <= e*" is linear in the occupancy measure
(``E[errors - e*·attempts] <= 0``), so it is handled exactly by a Lagrange
multiplier: each step's reward becomes ``profit - lambda·(errors - e*·attempts)``
in closed-form expectation, and lambda is bisected until the greedy policy meets
e*. ``lambda* = 0`` when the unconstrained optimum already meets it. The reported
optimum is the deterministic policy at the upper end of the final bracket, so it
always meets the SLA (a randomised mix of the two bracket policies could gain a
sliver more; the bracket is closed to 1e-3 relative).

The errors used so far are not part of the DP state: under the Lagrangian
relaxation of an in-expectation SLA the optimal policy is Markov in
(minute, backlog, type). The env still shows the error budget in the
observation because a learning agent with an adaptive lambda can use it.

The policy is optimal over the action grid (``policy_table[t, backlog, type]``,
shape ``(T, B+1, K, 2)``); a continuous-action policy could do marginally
better. The best constant action is the best one on the same grid among those
that meet the SLA (``best_constant_unconstrained_profit`` drops that condition).
Parity and MP are computed by the economics ledger from expected per-type counts.

Classic task: a stationary bandit (``robolabor.envs.classic``), so the optimum is a
constant action; it is found on the grid and refined locally around the best
cell.

All random-policy numbers are exact policy evaluations (no Monte Carlo) of the
uniform policy over [0,1]^2, integrated with a midpoint rule of ``grid x grid``
cells (shift) or 200 x 200 cells (classic).

Ratios (``mp``, ``parity``, ``error_rate``) are ratios of expected episode
totals: E[good]/H, E[implied wage]/w_h with implied wage
``(sum_k p_k S_k - sum_k c_k E_k)/H``, E[errors]/E[attempts].
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import poisson

from robolabor.econ.ledger import window_ledger
from robolabor.envs.params import (
    ClassicParams,
    ShiftParams,
    classic_rate_and_perr,
    economics_of,
    shift_rate_and_perr,
)
from robolabor.schema import ConfigError, to_dict

# Channels carried through every policy evaluation, per episode; after these come
# the good units of each dish type, then the broken units of each type.
PROFIT, ERRORS, ATTEMPTS, GOOD, WAGE_VALUE = range(5)
_N_BASE = 5


def _n_channels(n_types: int) -> int:
    return _N_BASE + 2 * n_types


@dataclass
class Optimum:
    """The exact optimum of one parameter set (and the baselines it is compared with)."""

    kind: str
    expected_profit: float
    mp: float
    error_rate: float
    parity: float
    sla: float
    lambda_star: float
    best_constant_profit: float
    best_constant_action: np.ndarray
    best_constant_error_rate: float
    best_constant_unconstrained_profit: float
    unconstrained_profit: float
    unconstrained_error_rate: float
    random_parity: float
    random_profit: float
    random_error_rate: float
    frontier: list  # [[error-rate cap e, V*(e), λ(e)], ...], caps ascending (see _frontier)
    solve_seconds: float
    grid: int
    hours: float
    policy_table: np.ndarray = field(repr=False)
    actions: np.ndarray = field(repr=False)

    @property
    def best_constant_ratio(self) -> float:
        """Best SLA-meeting constant action's profit as a fraction of the optimum."""
        return self.best_constant_profit / self.expected_profit

    def action(self, state: tuple) -> np.ndarray:
        """The optimal action for an env's ``state`` tuple ``(minute, backlog, dish_type, ...)``."""
        if self.kind == "classic":
            minute = int(state[0]) if len(state) else 0
            return self.policy_table[min(max(minute, 0), len(self.policy_table) - 1)].copy()
        minute, backlog, dish_type = int(state[0]), int(state[1]), int(state[2])
        t = min(max(minute, 0), self.policy_table.shape[0] - 1)
        b = min(max(backlog, 0), self.policy_table.shape[1] - 1)
        return self.policy_table[t, b, dish_type].copy()

    def score(self, episode_profit: float) -> float:
        """A policy's mean episode profit as a percentage of the optimum."""
        return 100.0 * episode_profit / self.expected_profit

    def frontier_profit(self, error_rate: float) -> float:
        """V*(max(e*, ê)): see :func:`frontier_profit`."""
        return frontier_profit(self.frontier, self.sla, error_rate)

    def to_json(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            if f.name in ("policy_table", "actions"):
                continue
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        out["best_constant_ratio"] = self.best_constant_ratio
        return json.loads(json.dumps(out))


# --------------------------------------------------------------------------- shift task
class _ShiftModel:
    """Every expectation and transition of the shift MDP, precomputed for one action set."""

    def __init__(self, params: ShiftParams, actions: np.ndarray):
        p = params
        self.params = p
        self.T, self.B, self.K = p.shift_minutes, p.rack_capacity, p.n_types
        self.J = p.max_attempts_per_minute + 1
        self.actions = actions
        self.op = p.energy_cost_per_hour / 60.0
        self.Pn, self.rewards = self.action_model(actions)
        self.G = self._arrival_kernels()  # (T, B+1, B+1)
        self.Ptype = p.type_transition
        b, j = np.arange(self.B + 1), np.arange(self.J)
        self.shift_idx = np.clip(b[:, None] - j[None, :], 0, None)  # backlog left after n = j

    def action_model(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For actions (A, 2): P(n = j | type, backlog) (K, B+1, A, J) and the expected
        per-minute channels (C, K, B+1, A)."""
        p = self.params
        rate, perr = shift_rate_and_perr(p, actions[:, 0], actions[:, 1])  # (K, A)
        Pn = self._attempt_pmf(rate)
        En = Pn @ np.arange(self.J)  # (K, B+1, A)
        price = p.type_array("price")[:, None, None]
        damage = p.type_array("damage_cost")[:, None, None]
        pe = perr[:, None, :]
        rewards = np.zeros((_n_channels(self.K),) + En.shape)
        rewards[ERRORS] = En * pe
        rewards[ATTEMPTS] = En
        rewards[GOOD] = En * (1.0 - pe)
        rewards[WAGE_VALUE] = price * rewards[GOOD] - damage * rewards[ERRORS]
        rewards[PROFIT] = rewards[WAGE_VALUE] - self.op
        for k in range(self.K):
            rewards[_N_BASE + k, k] = rewards[GOOD, k]
            rewards[_N_BASE + self.K + k, k] = rewards[ERRORS, k]
        return Pn, rewards

    def lagrangian(self, rewards: np.ndarray, lam: float, cap: float | None = None
                   ) -> np.ndarray:
        """profit - λ·(errors - e·attempts) from a channel array (C, ...); e = ``cap``,
        the SLA e* by default."""
        cap = self.params.sla if cap is None else cap
        return rewards[PROFIT] - lam * (rewards[ERRORS] - cap * rewards[ATTEMPTS])

    def _attempt_pmf(self, rate: np.ndarray) -> np.ndarray:
        """n = min(Poisson(rate), backlog, n_max): the last reachable value takes the tail."""
        K, A = rate.shape
        j = np.arange(self.J)
        pmf = poisson.pmf(j[None, None, :], rate[:, :, None])  # (K, A, J)
        sf = poisson.sf(j[None, None, :] - 1, rate[:, :, None])  # P(N >= j)
        out = np.zeros((K, self.B + 1, A, self.J))
        for b in range(self.B + 1):
            top = min(b, self.J - 1)
            out[:, b, :, :top] = pmf[:, :, :top]
            out[:, b, :, top] = sf[:, :, top]
        return out

    def _arrival_kernels(self) -> np.ndarray:
        """G[t, m, b']: backlog m after washing -> b' after Poisson arrivals, capped at the rack."""
        lam = np.asarray(self.params.arrival_rate(np.arange(self.T)))
        B = self.B
        k = np.arange(B + 1)
        pmf = poisson.pmf(k[None, :], lam[:, None])  # (T, B+1): P(arr = k)
        sf = poisson.sf(k[None, :] - 1, lam[:, None])  # P(arr >= k)
        G = np.zeros((self.T, B + 1, B + 1))
        for m in range(B + 1):
            room = B - m
            G[:, m, m:B] = pmf[:, :room]
            G[:, m, B] = sf[:, room]
        return G

    def initial_distribution(self) -> np.ndarray:
        d = np.zeros((self.B + 1, self.K))
        d[self.params.initial_backlog] = self.params.type_shares
        return d

    def continuation(self, t: int, V: np.ndarray) -> np.ndarray:
        """U[..., k, b, j]: value of leaving b - j dishes on the rack with type k now on it.

        ``V`` is ``(..., B+1, K)`` at minute t+1.
        """
        U = self.G[t] @ V @ self.Ptype.T  # (..., m, k)
        U = np.swapaxes(U, -1, -2)  # (..., k, m)
        return U[..., self.shift_idx]  # (..., k, b, j)

    def backward(self, lam: float, values: list | None = None, cap: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Greedy DP for the Lagrangian reward (error cap ``cap``, e* by default); returns
        (policy (T,K,B+1) action ids, totals). ``values``, when given, receives V*_t
        (B+1, K) for t = 0..T (float32)."""
        # The maximisation runs in float32 (twice as fast; it only picks actions), the
        # chosen policy is then evaluated exactly in float64.
        lag = self.lagrangian(self.rewards, lam, cap).astype(np.float32)
        if not hasattr(self, "_Pn32"):
            self._Pn32 = self.Pn.astype(np.float32)
        V = np.zeros((self.B + 1, self.K), dtype=np.float32)
        policy = np.zeros((self.T, self.K, self.B + 1), dtype=np.int64)
        kk, bb = np.meshgrid(np.arange(self.K), np.arange(self.B + 1), indexing="ij")
        # For backlogs b >= J-1 the attempt distribution no longer depends on b, so those
        # rows are one matrix product per dish type (A x J) @ (J x rows): BLAS, not matvecs.
        cut = min(self.J - 1, self.B + 1)
        P_full = np.ascontiguousarray(self._Pn32[:, -1])  # (K, A, J)
        Q = np.empty((self.K, self.B + 1, len(self.actions)), dtype=np.float32)
        backwards = [V]  # V*_T, V*_{T-1}, ...
        for t in range(self.T - 1, -1, -1):
            Ush = self.continuation(t, V).astype(np.float32)  # (K, B+1, J)
            Q[:, :cut] = (self._Pn32[:, :cut] @ Ush[:, :cut, :, None])[..., 0]
            Q[:, cut:] = np.swapaxes(P_full @ np.swapaxes(Ush[:, cut:], 1, 2), 1, 2)
            Q += lag  # (K, B+1, A)
            a = np.argmax(Q, axis=-1)  # (K, B+1)
            policy[t] = a
            V = Q[kk, bb, a].T
            backwards.append(V)
        if values is not None:
            values.extend(backwards[::-1])
        return policy, self.evaluate_policy(policy)

    def evaluate_policy(self, policy: np.ndarray) -> np.ndarray:
        """Exact expected episode totals of every channel for a (T, K, B+1) table of action ids."""
        kk, bb = np.meshgrid(np.arange(self.K), np.arange(self.B + 1), indexing="ij")
        Vc = np.zeros((self.rewards.shape[0], self.B + 1, self.K))
        for t in range(self.T - 1, -1, -1):
            a = policy[t]
            Uc = self.continuation(t, Vc)  # (C, K, B+1, J)
            Vc = self.rewards[:, kk, bb, a] + np.einsum("kbj,ckbj->ckb", self.Pn[kk, bb, a], Uc)
            Vc = np.swapaxes(Vc, -1, -2)
        return np.einsum("bk,cbk->c", self.initial_distribution(), Vc)

    def evaluate_stationary(self, Pn: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        """Totals of a time-invariant policy given its (possibly averaged) Pn (K,B+1,J), rewards."""
        Vc = np.zeros((rewards.shape[0], self.B + 1, self.K))
        for t in range(self.T - 1, -1, -1):
            Uc = self.continuation(t, Vc)
            Vc = np.swapaxes(rewards + np.einsum("kbj,ckbj->ckb", Pn, Uc), -1, -2)
        return np.einsum("bk,cbk->c", self.initial_distribution(), Vc)

    def evaluate_constants(self) -> tuple[np.ndarray, np.ndarray]:
        """Expected profit and SLA excess ``E[errors - e*·attempts]`` of every constant action.

        Used only to rank constant actions, so it runs in float32 on two channels; the
        chosen action is then re-evaluated exactly in float64.
        """
        r = self.rewards
        R = np.stack([r[PROFIT], r[ERRORS] - self.params.sla * r[ATTEMPTS]])  # (2, K, B+1, A)
        R = np.ascontiguousarray(np.moveaxis(R, 3, 1), dtype=np.float32)  # (2, A, K, B+1)
        Pj = np.ascontiguousarray(np.moveaxis(self.Pn, 2, 0), dtype=np.float32)  # (A,K,B+1,J)
        G = self.G.astype(np.float32)
        PtT = self.Ptype.T.astype(np.float32)
        Vc = np.zeros((2, len(self.actions), self.B + 1, self.K), dtype=np.float32)
        for t in range(self.T - 1, -1, -1):
            U = np.swapaxes(G[t] @ Vc @ PtT, -1, -2)  # (2, A, K, m)
            new = R.copy()
            for j in range(self.J):  # n = j leaves b - j dishes (P = 0 when j > b)
                new[..., j:] += Pj[..., j:, j] * U[..., : self.B + 1 - j]
            Vc = np.swapaxes(new, -1, -2)
        d0 = self.initial_distribution().astype(np.float32)
        tot = np.einsum("bk,cabk->ca", d0, Vc)
        return tot[0].astype(np.float64), tot[1].astype(np.float64)

    def evaluate_action(self, a: int) -> np.ndarray:
        """Exact totals (all channels) of the constant action with index ``a``."""
        return self.evaluate_stationary(self.Pn[:, :, a], self.rewards[..., a])


def _grid_actions(grid: int) -> np.ndarray:
    g = np.linspace(0.0, 1.0, grid)
    s, c = np.meshgrid(g, g, indexing="ij")
    return np.stack([s.ravel(), c.ravel()], axis=1)


def _midpoint_actions(n: int) -> np.ndarray:
    g = (np.arange(n) + 0.5) / n
    s, c = np.meshgrid(g, g, indexing="ij")
    return np.stack([s.ravel(), c.ravel()], axis=1)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def _accounts(tot: np.ndarray, params: ShiftParams | ClassicParams, hours: float) -> dict:
    """MP, error rate and wage parity of expected episode totals, via the economics ledger."""
    econ = economics_of(params)
    k = len(econ.prices)
    good = tot[_N_BASE:_N_BASE + k][None]
    broken = tot[_N_BASE + k:_N_BASE + 2 * k][None]
    led = window_ledger(good, broken, hours, econ.prices, econ.damage_costs,
                        operating_cost=econ.energy_cost_per_hour * hours,
                        human_wage=econ.human_wage, human_mp=econ.human_mp)
    return {"mp": float(led.mp[0]), "error_rate": float(led.error_rate[0]),
            "parity": float(led.wage_parity[0]), "profit": float(led.profit[0])}


def _headline(params: ShiftParams | ClassicParams, hours: float, lam_star: float,
              tot: np.ndarray, tot0: np.ndarray, err0: float, rtot: np.ndarray) -> dict:
    """The Optimum fields both tasks fill the same way: the constrained optimum's
    economics, the unconstrained one's profit and errors, the uniform random policy's."""
    acc, racc = _accounts(tot, params, hours), _accounts(rtot, params, hours)
    return {"expected_profit": float(tot[PROFIT]), "mp": acc["mp"],
            "error_rate": acc["error_rate"], "parity": acc["parity"], "sla": params.sla,
            "lambda_star": float(lam_star), "unconstrained_profit": float(tot0[PROFIT]),
            "unconstrained_error_rate": err0, "random_parity": racc["parity"],
            "random_profit": float(rtot[PROFIT]), "random_error_rate": racc["error_rate"],
            "hours": hours}


def _bisect_lambda(err_rate_at, sla: float, rel_tol: float = 1e-3, max_iter: int = 60,
                   hi: float = 1.0, res0=None, err_tol: float = 0.0, lo: float = 0.0):
    """Smallest lambda whose greedy policy meets the SLA; returns (lambda, result at lambda,
    result at lambda = 0).

    ``hi`` is the first upper bracket to try (a known feasible λ saves the doubling),
    ``lo`` a guess of an infeasible lower one (checked; 0 if it turns out feasible);
    ``err_tol > 0`` also stops once the feasible end's error rate is within that
    fraction of the cap (the frontier needs V*(e), which is flat in λ there)."""
    res0 = err_rate_at(0.0) if res0 is None else res0
    if res0[0] <= sla:
        return 0.0, res0, res0
    res_hi = err_rate_at(hi)
    if 0.0 < lo < hi and res_hi[0] <= sla:
        res_lo = err_rate_at(lo)
        if res_lo[0] <= sla:
            hi, res_hi, lo = lo, res_lo, 0.0
    else:
        lo = 0.0
    while res_hi[0] > sla:
        lo, hi = hi, hi * 4.0
        if hi > 1e7:
            raise ConfigError(f"sla: {sla} is infeasible: even lambda={hi:g} breaks it "
                              "(no policy keeps its error rate this low)")
        res_hi = err_rate_at(hi)
    for _ in range(max_iter):
        if hi - lo <= rel_tol * hi or res_hi[0] >= sla * (1.0 - err_tol):
            break
        mid = 0.5 * (lo + hi)
        res = err_rate_at(mid)
        if res[0] <= sla:
            hi, res_hi = mid, res
        else:
            lo = mid
    return hi, res_hi, res0


def _rank_constants(model: _ShiftModel) -> tuple[int, int]:
    """(best SLA-meeting, best unconstrained) constant action ids of ``model``."""
    profit, excess = model.evaluate_constants()
    feasible = excess <= 1e-9
    best_unc = int(np.argmax(profit))
    best = int(np.argmax(np.where(feasible, profit, -np.inf))) if feasible.any() else best_unc
    return best, best_unc


def _best_constants(params: ShiftParams, grid: int, coarse: int = 11) -> tuple[int, int]:
    """Best constant actions as ids of the ``grid`` action set (coarse-to-fine search).

    Rank a ``coarse`` grid, then re-rank the fine-grid cell (one coarse step around each
    coarse winner) exactly; returns (best SLA-meeting id, best unconstrained id).
    """
    if grid <= coarse:
        return _rank_constants(_ShiftModel(params, _grid_actions(grid)))
    coarse_actions, fine_actions = _grid_actions(coarse), _grid_actions(grid)
    step = grid - 1
    r = max(1, step // (coarse - 1))
    out = []
    for which, pick in enumerate(_rank_constants(_ShiftModel(params, coarse_actions))):
        i, j = np.rint(coarse_actions[pick] * step).astype(int)
        ii = np.arange(max(0, i - r), min(step, i + r) + 1)
        jj = np.arange(max(0, j - r), min(step, j + r) + 1)
        ids = (ii[:, None] * grid + jj[None, :]).ravel()
        local = _rank_constants(_ShiftModel(params, fine_actions[ids]))
        out.append(int(ids[local[which]]))
    return out[0], out[1]


def _solve_shift(params: ShiftParams, grid: int) -> Optimum:
    t0 = time.perf_counter()
    actions = _grid_actions(grid)
    model = _ShiftModel(params, actions)
    hours = params.shift_minutes / 60.0

    def run(lam, cap=None):
        policy, tot = model.backward(lam, cap=cap)
        return _ratio(tot[ERRORS], tot[ATTEMPTS]), policy, tot

    lam_star, (err, policy, tot), res0 = _bisect_lambda(run, params.sla)
    err0, tot0 = res0[0], res0[2]
    frontier = _frontier(run, params.sla, lam_star, (err, None, tot), res0)

    # Best constant action (the bandit view of the task), among those meeting the SLA:
    # ranked on a coarse grid, then refined on the fine grid around the coarse winners
    # (the constant-action landscape is smooth; this is ~10x cheaper than all actions).
    best_c, best_unc = _best_constants(params, grid)
    best_tot = model.evaluate_action(best_c)
    best_unc_tot = model.evaluate_action(best_unc)

    # Uniform random policy: average the per-action expectations over a midpoint quadrature.
    rmodel = _ShiftModel(params, _midpoint_actions(grid))
    rtot = model.evaluate_stationary(rmodel.Pn.mean(axis=2), rmodel.rewards.mean(axis=-1))

    table = actions[policy]  # (T, K, B+1, 2)
    table = np.ascontiguousarray(np.swapaxes(table, 1, 2)).astype(np.float32)  # (T, B+1, K, 2)
    return Optimum(
        kind="shift",
        **_headline(params, hours, lam_star, tot, tot0, err0, rtot),
        best_constant_profit=float(best_tot[PROFIT]),
        best_constant_action=actions[best_c].astype(np.float32),
        best_constant_error_rate=_ratio(best_tot[ERRORS], best_tot[ATTEMPTS]),
        best_constant_unconstrained_profit=float(best_unc_tot[PROFIT]),
        frontier=frontier,
        solve_seconds=time.perf_counter() - t0,
        grid=grid,
        policy_table=table,
        actions=actions,
    )


# --------------------------------------------------------------------------- frontier
# Caps between the SLA e* and the unconstrained optimum's error rate e0 (where the
# frontier turns flat), and a few below e* so the plotted curve shows what a tighter
# SLA would cost. Evaluations only ever read the part at and above e*.
FRONTIER_INTERVALS = 8
FRONTIER_BELOW = (0.5, 0.75)  # fractions of e*
FRONTIER_ERR_TOL = 0.005  # stop once a point's policy uses 99.5% of its cap...
FRONTIER_REL_TOL = 1e-3   # ...or its λ bracket is 0.1% wide, as for λ* itself


def _frontier(run, sla: float, lam_star: float, res_star, res0) -> list[list[float]]:
    """The exact throughput-quality frontier V*(e) = max E[profit] s.t. E[errors] <=
    e·E[attempts], on a grid of caps e, each by bisection on its own λ(e).

    V* is non-decreasing in e, flat from e0 = the unconstrained optimum's error rate.
    λ(e) is non-increasing, so the λ of a tighter cap brackets the next one. Each
    point is a deterministic policy meeting its cap (within ``FRONTIER_ERR_TOL`` of it),
    so V* is measured from below; between grid points :func:`frontier_profit`
    interpolates linearly, which for a concave frontier is also from below.
    """
    err0 = res0[0]
    points = [[float(sla), float(res_star[2][PROFIT]), float(lam_star)]]
    if err0 > sla:
        caps = sla + (err0 - sla) * np.arange(1, FRONTIER_INTERVALS) / FRONTIER_INTERVALS
        for cap in caps:
            # λ(e) is smooth: bracket around the extrapolation of the last two points
            (e1, _, l1), (e2, _, l2) = points[-1], points[-2] if len(points) > 1 else points[-1]
            slope = (l1 - l2) / (e1 - e2) if e1 != e2 else -l1 / max(err0 - e1, 1e-12)
            guess = l1 + slope * (cap - e1)
            lam, res, _ = _bisect_lambda(lambda lam, c=cap: run(lam, c), float(cap),
                                         rel_tol=FRONTIER_REL_TOL,
                                         hi=max(min(l1, 1.3 * guess), 1e-3),
                                         lo=max(0.7 * guess, 0.0), res0=res0,
                                         err_tol=FRONTIER_ERR_TOL)
            points.append([float(cap), float(res[2][PROFIT]), float(lam)])
        points.append([float(err0), float(res0[2][PROFIT]), 0.0])
    hi = max(lam_star, 1e-3) * 4.0
    for frac in sorted(FRONTIER_BELOW, reverse=True):
        cap = frac * sla
        lam, res, _ = _bisect_lambda(lambda lam, c=cap: run(lam, c), float(cap),
                                     rel_tol=FRONTIER_REL_TOL,
                                     hi=hi, res0=res0, err_tol=FRONTIER_ERR_TOL)
        points.insert(0, [float(cap), float(res[2][PROFIT]), float(lam)])
        hi = lam * 2.0
    # a profit that dips below its left neighbour is a grid artefact of the deterministic
    # policy search; the frontier is the running maximum
    best = -np.inf
    for pt in points:
        best = max(best, pt[1])
        pt[1] = best
    return points


def frontier_profit(frontier: list, sla: float, error_rate: Any) -> Any:
    """V*(max(e*, ê)) from frontier points ``[[e, V*(e), λ(e)], ...]`` (caps ascending).

    This charges a policy for the errors it spent: at or under the SLA e* it is the
    constrained optimum V*(e*); above it, the most any policy earns with ê errors per
    attempt (linear between grid points, flat beyond the last one, the unconstrained
    optimum's error rate). ``error_rate`` may be an array (one value per element).
    """
    pts = np.asarray(frontier, dtype=float)
    if pts.ndim != 2 or pts.shape[0] == 0 or pts.shape[1] < 2:
        raise ValueError("frontier needs at least one [error_rate, profit, ...] point")
    e = np.asarray(error_rate, dtype=float)
    if not np.all(np.isfinite(e)):
        raise ValueError(f"error rate must be finite, got {error_rate!r}")
    v = np.interp(np.maximum(e, float(sla)), pts[:, 0], pts[:, 1])
    return float(v) if v.ndim == 0 else v


# --------------------------------------------------------------------------- classic task
def _classic_step_expectations(params: ClassicParams, actions: np.ndarray) -> np.ndarray:
    """Per-step expected channels for each action, (C, A). E[max(1, Poisson(r))] = r + e^-r."""
    rate, perr = classic_rate_and_perr(params, actions[:, 0], actions[:, 1])
    En = rate + np.exp(-rate)
    out = np.empty((_n_channels(1), len(actions)))
    out[ERRORS] = En * perr
    out[ATTEMPTS] = En
    out[GOOD] = En * (1.0 - perr)
    out[WAGE_VALUE] = params.price * out[GOOD] - params.damage_cost * out[ERRORS]
    out[PROFIT] = out[WAGE_VALUE] - params.energy_cost_per_hour / 60.0
    out[_N_BASE], out[_N_BASE + 1] = out[GOOD], out[ERRORS]
    return out


def _classic_best(params: ClassicParams, lam: float, grid: int, refine: int = 3,
                  cap: float | None = None) -> np.ndarray:
    """Best constant action for the Lagrangian reward: grid search, then local refinement."""
    lo, hi = np.zeros(2), np.ones(2)
    best = None
    for _ in range(1 + refine):
        gs = np.linspace(lo[0], hi[0], grid)
        gc = np.linspace(lo[1], hi[1], grid)
        s, c = np.meshgrid(gs, gc, indexing="ij")
        acts = np.stack([s.ravel(), c.ravel()], axis=1)
        e = _classic_step_expectations(params, acts)
        cap_ = params.sla if cap is None else cap
        lag = e[PROFIT] - lam * (e[ERRORS] - cap_ * e[ATTEMPTS])
        best = acts[int(np.argmax(lag))]
        step = (hi - lo) / (grid - 1)
        lo, hi = np.clip(best - step, 0, 1), np.clip(best + step, 0, 1)
    return best


def _solve_classic(params: ClassicParams, grid: int) -> Optimum:
    t0 = time.perf_counter()
    T = params.steps
    hours = T / 60.0

    def run(lam, cap=None):
        a = _classic_best(params, lam, grid, cap=cap)
        e = _classic_step_expectations(params, a[None])[:, 0] * T
        return _ratio(e[ERRORS], e[ATTEMPTS]), a, e

    lam_star, (err, best, tot), res0 = _bisect_lambda(run, params.sla)
    err0, tot0 = res0[0], res0[2]
    frontier = _frontier(run, params.sla, lam_star, (err, None, tot), res0)
    rtot = _classic_step_expectations(params, _midpoint_actions(200)).mean(axis=1) * T
    return Optimum(
        kind="classic",
        **_headline(params, hours, lam_star, tot, tot0, err0, rtot),
        best_constant_profit=float(tot[PROFIT]),
        best_constant_action=best.astype(np.float32),
        best_constant_error_rate=err,
        best_constant_unconstrained_profit=float(tot0[PROFIT]),
        frontier=frontier,
        solve_seconds=time.perf_counter() - t0,
        grid=grid,
        policy_table=np.tile(best.astype(np.float32), (T, 1)),
        actions=best[None].astype(np.float32),
    )


# --------------------------------------------------------------------------- public API
_CACHE: OrderedDict[str, Optimum] = OrderedDict()
_CACHE_SIZE = 16


# Bump when the solver's results change, so stale disk-cache entries are ignored.
_SOLVER_VERSION = 3


def cache_dir() -> Path | None:
    """Where solved optima are kept between processes (``ROBOLABOR_CACHE_DIR``, default
    ``~/.cache/robolabor``); set ``ROBOLABOR_CACHE_DIR=off`` to always solve afresh."""
    root = os.environ.get("ROBOLABOR_CACHE_DIR", str(Path.home() / ".cache" / "robolabor"))
    return None if root.lower() == "off" else Path(root) / "optimum"


def _cache_path(key: str) -> Path | None:
    root = cache_dir()
    return None if root is None else root / (hashlib.sha256(key.encode()).hexdigest()[:24]
                                             + ".npz")


def _load_cached(key: str) -> Optimum | None:
    """A previously solved optimum for exactly this key, or None (any problem = re-solve)."""
    path = _cache_path(key)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            fields = json.loads(str(z["fields"]))
            fields["best_constant_action"] = np.asarray(fields["best_constant_action"],
                                                        dtype=np.float32)
            return Optimum(**fields, policy_table=z["policy_table"], actions=z["actions"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_cached(key: str, opt: Optimum) -> None:
    path = _cache_path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = {f.name: getattr(opt, f.name) for f in dataclasses.fields(opt)
                  if f.name not in ("policy_table", "actions")}
        fields["best_constant_action"] = np.asarray(fields["best_constant_action"]).tolist()
        tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, key=np.array(key), fields=np.array(json.dumps(fields)),
                 policy_table=opt.policy_table, actions=opt.actions)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs a re-solve next time


def solve(params: ShiftParams | ClassicParams, grid: int = 41) -> Optimum:
    """Exact optimum for ``params`` on a ``grid x grid`` action grid (cached per params)."""
    if not isinstance(params, ShiftParams | ClassicParams):
        raise TypeError(f"solve() needs ShiftParams or ClassicParams, got {type(params).__name__}")
    if not isinstance(grid, int) or grid < 2:
        raise ValueError(f"grid must be an integer >= 2, got {grid!r}")
    key = json.dumps([type(params).__name__, to_dict(params), grid, _SOLVER_VERSION],
                     sort_keys=True)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    opt = _load_cached(key)
    if opt is None:
        opt = _solve_classic(params, grid) if isinstance(params, ClassicParams) else \
            _solve_shift(params, grid)
        _store_cached(key, opt)
    _CACHE[key] = opt
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return opt


def optimum_for_env(env_id_or_env: Any, grid: int = 41) -> Optimum:
    """Optimum for a registered env id (made with its defaults) or an env instance."""
    if isinstance(env_id_or_env, str):
        import gymnasium as gym

        import robolabor  # noqa: F401  (registers the ids)

        env = gym.make(env_id_or_env)
        try:
            params = env.unwrapped.params
        finally:
            env.close()
    else:
        params = getattr(getattr(env_id_or_env, "unwrapped", env_id_or_env), "params", None)
        if params is None:
            raise TypeError(f"{type(env_id_or_env).__name__} has no .params; "
                            "optimum_for_env needs a robolabor dishwashing env")
    return solve(params, grid)


__all__ = ["Optimum", "frontier_profit", "solve", "optimum_for_env"]
