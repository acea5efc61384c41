"""Priorities for novelty-weighted replay: refit the latent DDPM, rescore the buffer.

The replay (``agents.replay``) samples by priorities it is handed; this module makes
them. Every ``replay.refresh_every`` env steps from ``learning_starts`` on, the
diffusion novelty model (``data.novelty``) is fitted afresh on the encoder latents of
the ``fit_latents`` most recent transitions and every live transition is rescored;
the replay turns the standardised scores into priorities. The refit is a function of
the agent and the buffer at that step alone (its random draws come from its own
seeded generators, the global ones are left as they were), so a resumed run refits
exactly as the run that was killed, and nothing of the model needs checkpointing.
"""

from __future__ import annotations

import numpy as np
import torch

from robolabor.agents.replay import ReplayBuffer, ReplayConfig
from robolabor.data.novelty import DiffusionConfig, DiffusionNovelty, encode_observations


def refresh_due(step: int, learning_starts: int, cfg: ReplayConfig) -> bool:
    """Whether env step ``step`` refits (from ``learning_starts``, every ``refresh_every``)."""
    return cfg.prioritised and step >= learning_starts and \
        (step - learning_starts) % cfg.refresh_every == 0


def annealed_beta(cfg: ReplayConfig, progress: float) -> float:
    """β from ``cfg.beta`` at the first update to 1 at the end of training."""
    progress = min(max(progress, 0.0), 1.0)
    return cfg.beta + (1.0 - cfg.beta) * progress


def refresh_priorities(agent, buffer: ReplayBuffer, cfg: ReplayConfig, seed: int
                       ) -> dict[str, float]:
    """Refit the novelty model on recent latents and rescore every live transition;
    returns summary figures of the scores (for the logs)."""
    ids = buffer.live_ids()
    with torch.random.fork_rng(devices=[]):
        z = encode_observations(agent, buffer.observations(ids))
        model = DiffusionNovelty(DiffusionConfig(train_iters=cfg.fit_iters,
                                                 hidden=cfg.fit_hidden, seed=seed))
        model.fit(z[-cfg.fit_latents:])
        novelty = model.score(z)
    buffer.set_novelty(ids, novelty)
    return {"novelty_mean": float(np.mean(novelty)),
            "novelty_p95": float(np.quantile(novelty, 0.95))}
