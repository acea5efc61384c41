"""Online ΔMPL estimator: a pack's counterfactual value predicted from cheap features.

Counterfactual valuation (``data.valuation.value_pack``) trains two arms per seed; the
estimator predicts the same number from what takes seconds once a run and a pack are
at hand (``pack_features``):

* ``log_size``: log of the pack's transitions;
* novelty against the run's replay (the ``data.novelty`` detectors fitted on the
  replay's latents): the diffusion score's mean and 90th percentile, the kNN
  baseline's mean;
* the pack's own record: ``reward_per_step``, ``error_rate`` (broken / attempts) and
  ``duplicate_fraction`` (1 − distinct transitions / transitions);
* the run's critic on the pack, with the run's multiplier λ (Q_λ = Q_r − λ·Q_c):
  ``advantage``, the mean of Q_λ(s, a) − Q_λ(s, π(s)) over the pack (do its actions
  beat the policy's own?), and ``td_ratio``, the pack's mean
  |r_λ + γ·Q_λ(s', π(s')) − Q_λ(s, a)| over the same on the run's replay (a record
  whose outcomes do not follow from its actions reads as surprising);
* provenance flags ``customer`` and ``platform`` (synthetic is the reference).

The model (``RidgeEstimator``) is ridge regression on standardised features, closed
form: w = (XᵀX + αI)⁻¹ Xᵀ(y − ȳ). It is scored (``estimator_scores``) by Spearman
correlation on packs it was not fitted on (each pack predicted by a model fitted on
the others), beside two baselines that need no fit: pack size alone, and minus the
kNN novelty (the nearer the data to what the run has seen, the more useful).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from robolabor.data.audit import duplicate_fraction
from robolabor.errors import UserError

__all__ = ["FEATURES", "pack_features", "critic_features", "RidgeEstimator",
           "held_out_predictions", "prediction_scores", "estimator_scores"]

FEATURES = ("log_size", "novelty_mean", "novelty_p90", "knn_novelty_mean",
            "reward_per_step", "error_rate", "duplicate_fraction", "advantage", "td_ratio",
            "customer", "platform")


@torch.no_grad()
def _q_lambda(agent, obs: np.ndarray, action: np.ndarray | None, lam: float
              ) -> np.ndarray:
    """Q_λ(s, a) averaged over the twin critics; a = the policy's mean action if None."""
    from robolabor.agents.sac import to_unit_interval

    dev = agent.device
    agent.encoder.eval()
    z = agent.encoder(agent._prep(torch.as_tensor(np.array(obs), device=dev), augment=False))
    if action is None:
        mean, _ = agent.actor(z)
        a = to_unit_interval(mean)
    else:
        a = torch.as_tensor(np.array(action, np.float32), device=dev)
    q = agent.critic(z, a)                                       # (n, B, heads)
    return agent._lagrangian(q, lam).mean(0).float().cpu().numpy()


def _td_error(agent, q_sa, reward, cost, next_obs, terminated, lam: float) -> np.ndarray:
    """|r_λ + γ(1 − done)·Q_λ(s', π(s')) − Q_λ(s, a)| per transition, given Q_λ(s, a) (no
    entropy term: the same omission on pack and replay, so their ratio is unaffected in
    kind)."""
    cfg = agent.cfg
    target = (cfg.reward_scale * (np.asarray(reward) - lam * np.asarray(cost))
              + cfg.gamma * (1.0 - np.asarray(terminated, np.float32))
              * _q_lambda(agent, next_obs, None, lam))
    return np.abs(target - q_sa)


def critic_features(agent, tr, replay: dict[str, np.ndarray], lam: float,
                    dual_target: float, batch: int | None = None) -> dict[str, float]:
    """``advantage`` and ``td_ratio`` of transitions ``tr`` under the run's critic;
    ``replay`` holds the run's own transitions (obs, action, reward, cost, next_obs,
    terminated) for the ratio's denominator."""
    batch = batch or (256 if tr.is_video else 4096)  # frame stacks: ~25 MB a batch
    cost = tr.broken.astype(np.float64) - dual_target * tr.attempts.astype(np.float64)
    adv, td = [], []
    for lo in range(0, len(tr), batch):
        sl = slice(lo, lo + batch)
        obs = tr.obs[sl]                                # a video pack's stacks read once
        q_sa = _q_lambda(agent, obs, tr.action[sl], lam)
        adv.append(q_sa - _q_lambda(agent, obs, None, lam))
        td.append(_td_error(agent, q_sa, tr.reward[sl], cost[sl], tr.next_obs[sl],
                            tr.terminated[sl], lam))
    base = []
    for lo in range(0, len(replay["obs"]), batch):
        sl = slice(lo, lo + batch)
        q_sa = _q_lambda(agent, replay["obs"][sl], replay["action"][sl], lam)
        base.append(_td_error(agent, q_sa, replay["reward"][sl], replay["cost"][sl],
                              replay["next_obs"][sl], replay["terminated"][sl], lam))
    return {"advantage": float(np.concatenate(adv).mean()),
            "td_ratio": float(np.concatenate(td).mean()
                              / max(float(np.concatenate(base).mean()), 1e-12))}


def pack_features(pack, latents: np.ndarray, diffusion, knn, critic: dict[str, float]
                  ) -> dict[str, float]:
    """The estimator's features of one pack (module docstring); ``latents`` are the
    pack's observations through the run's encoder, ``critic`` is ``critic_features``."""
    tr = pack.transitions
    nov = diffusion.score(latents)
    return {"log_size": float(np.log(len(tr))), "novelty_mean": float(nov.mean()),
            "novelty_p90": float(np.quantile(nov, 0.9)),
            "knn_novelty_mean": float(knn.score(latents).mean()),
            "reward_per_step": float(tr.reward.mean()),
            "error_rate": float(tr.broken.sum() / max(int(tr.attempts.sum()), 1)),
            "duplicate_fraction": duplicate_fraction(tr), **critic,
            "customer": float(pack.provenance == "customer"),
            "platform": float(pack.provenance == "platform")}


@dataclass
class RidgeEstimator:
    """Ridge regression on standardised features (module docstring)."""

    alpha: float = 1.0
    features: tuple[str, ...] = FEATURES
    mu: np.ndarray = field(default=None, repr=False)
    sd: np.ndarray = field(default=None, repr=False)
    w: np.ndarray = field(default=None, repr=False)
    intercept: float = 0.0

    def _matrix(self, rows: list[dict]) -> np.ndarray:
        return np.array([[float(r[f]) for f in self.features] for r in rows], dtype=float)

    def fit(self, rows: list[dict], y) -> RidgeEstimator:
        y = np.asarray(y, dtype=float)
        if len(rows) < 3 or len(rows) != len(y):
            raise UserError(f"estimator: need >= 3 valued packs to fit, got {len(rows)}")
        x = self._matrix(rows)
        self.mu, self.sd = x.mean(0), np.where(x.std(0) > 1e-9, x.std(0), 1.0)
        a = (x - self.mu) / self.sd
        self.intercept = float(y.mean())
        self.w = np.linalg.solve(a.T @ a + self.alpha * np.eye(a.shape[1]),
                                 a.T @ (y - self.intercept))
        return self

    def predict(self, rows: list[dict]) -> np.ndarray:
        if self.w is None:
            raise UserError("estimator: predict before fit")
        return self.intercept + ((self._matrix(rows) - self.mu) / self.sd) @ self.w


def held_out_predictions(rows: list[dict], y, alpha: float = 1.0) -> np.ndarray:
    """Each pack predicted by an estimator fitted on all the other packs."""
    y = np.asarray(y, dtype=float)
    out = np.empty(len(y))
    for i in range(len(y)):
        others = [j for j in range(len(y)) if j != i]
        est = RidgeEstimator(alpha).fit([rows[j] for j in others], y[others])
        out[i] = est.predict([rows[i]])[0]
    return out


def prediction_scores(rows: list[dict], y, pred) -> dict[str, float]:
    """Spearman of predictions ``pred`` with the measured values ``y``, beside the
    size-only and kNN-novelty baselines on the same packs (``rows``: their features)."""
    def rho(a) -> float:
        return float(spearmanr(a, y).statistic)

    return {"packs": len(rows), "spearman_estimator": rho(pred),
            "spearman_size_only": rho([r["log_size"] for r in rows]),
            "spearman_knn_novelty": rho([-r["knn_novelty_mean"] for r in rows])}


def estimator_scores(rows: list[dict], y, alpha: float = 1.0) -> dict[str, Any]:
    """``prediction_scores`` of leave-one-pack-out predictions."""
    pred = held_out_predictions(rows, y, alpha)
    return {"features": list(FEATURES), "validation": "leave-one-pack-out", "alpha": alpha,
            **prediction_scores(rows, y, pred), "predicted": pred.tolist()}
