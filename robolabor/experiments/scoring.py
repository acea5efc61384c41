"""How an evaluation is scored: against the exact frontier, with a statistical SLA verdict.

Two scores per evaluation, both ratios of mean episode profit to an exact value:

* ``pct_of_optimum`` = profit / V*(e*), the constrained optimum at the SLA e*.
  It ignores the error rate, so a policy that breaks the SLA can score above 100.
* ``pct_of_frontier`` = profit / V*(max(e*, ê)), with ê the policy's pooled error rate
  and V*(e) the most any policy earns at error rate e (``Optimum.frontier``). It equals
  ``pct_of_optimum`` while the SLA holds and charges a policy for every error it spent
  beyond it: the unconstrained optimum scores 100, not 108. It is the headline score.

The SLA caps the shift's pooled error rate ê = Σ broken / Σ attempts, in expectation.
Episodes are the independent units (one shift's minutes are not), so its 95% CI comes
from a percentile bootstrap over episodes, and the verdict is a test, not a tolerance:

* ``met``: the whole CI is at or below e*;
* ``broken``: the whole CI is above e* (the SLA is broken beyond sampling error);
* ``not_rejected``: the CI straddles e* (this many episodes cannot tell).

The bootstrap resamples (profit, broken, attempts) triples together, so the CI of
``pct_of_frontier`` carries the error rate's uncertainty through V*(ê) as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robolabor.envs.optimum import frontier_profit

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same evaluation always gets the same CI
VERDICTS = ("met", "not_rejected", "broken")


def sla_verdict(lo: float, hi: float, sla: float) -> str:
    """``met`` if hi <= e*, ``broken`` if lo > e*, else ``not_rejected`` (also for a NaN CI)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "not_rejected"
    if hi <= sla:
        return "met"
    if lo > sla:
        return "broken"
    return "not_rejected"


def _percentile_ci(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def score_episodes(profit: np.ndarray, broken: np.ndarray, attempts: np.ndarray,
                   optimum: dict[str, Any], resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Frontier score, pooled error rate and SLA verdict of one evaluation's episodes.

    ``profit``, ``broken`` and ``attempts`` are per-episode totals; ``optimum`` is the
    task's ``Optimum.to_json()`` (it carries ``sla``, ``expected_profit``, ``frontier``).
    CIs are 95% percentile-bootstrap intervals over episodes (``lo`` / ``hi`` keys); with
    one episode there is no interval (NaN) and the verdict is ``not_rejected``.
    """
    profit = np.asarray(profit, dtype=float)
    broken = np.asarray(broken, dtype=float)
    attempts = np.asarray(attempts, dtype=float)
    n = profit.size
    if n == 0 or broken.shape != (n,) or attempts.shape != (n,):
        raise ValueError(f"need equal-length, non-empty per-episode totals, got shapes "
                         f"{profit.shape}, {broken.shape}, {attempts.shape}")
    sla, frontier = float(optimum["sla"]), optimum["frontier"]

    def pooled(b: np.ndarray, a: np.ndarray) -> np.ndarray:
        return b.sum(-1) / np.maximum(a.sum(-1), 1.0)

    rate = float(pooled(broken, attempts))
    v_front = frontier_profit(frontier, sla, rate)
    out: dict[str, Any] = {
        "pooled_error_rate": rate,
        "frontier_profit": v_front,
        "pct_of_frontier": 100.0 * float(profit.mean()) / v_front,
    }
    if n < 2:
        lo_r = hi_r = lo_f = hi_f = float("nan")
    else:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(resamples, n))
        rates = pooled(broken[idx], attempts[idx])
        fronts = 100.0 * profit[idx].mean(axis=1) / frontier_profit(frontier, sla, rates)
        (lo_r, hi_r), (lo_f, hi_f) = _percentile_ci(rates), _percentile_ci(fronts)
    out.update({"pooled_error_rate_lo": lo_r, "pooled_error_rate_hi": hi_r,
                "pct_of_frontier_lo": lo_f, "pct_of_frontier_hi": hi_f,
                "sla_verdict": sla_verdict(lo_r, hi_r, sla)})
    return out
