"""Controls for the claims: the frozen negative control as a config transform, and the
positive control (a schedule of policies whose MP rises by construction).

The negative control of claim 4 is the run's own config with learning switched
off and every checkpoint evaluated on *fresh* episodes: the noise a learning
run's evaluations carry, without learning. A trend test that finds a trend here
more often than its level says is broken.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robolabor.experiments.config import RunConfig, config_from_dict
from robolabor.schema import to_dict

__all__ = ["frozen_control_config", "start_frozen_control", "speed_schedule_episodes",
           "POSITIVE_SPEED_FACTORS"]

POSITIVE_SPEED_FACTORS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def frozen_control_config(cfg: RunConfig) -> RunConfig:
    """The negative control of ``cfg``: ``sac.learning_starts = train.total_steps + 1`` (the
    trainer acts uniformly at random and never updates the agent, nor λ) and
    ``train.eval_fresh_episodes = true`` (checkpoint at step t plays seeds
    ``eval_seed + t·eval_episodes …``). Everything else is unchanged."""
    data: dict[str, Any] = to_dict(cfg)
    data["sac"]["learning_starts"] = int(cfg.train.total_steps) + 1
    data["train"]["eval_fresh_episodes"] = True
    return config_from_dict(data)


def start_frozen_control(cfg: RunConfig, out) -> dict:
    """Train the negative control of ``cfg`` (``frozen_control_config``) into ``out``; its
    ``meta.json`` records ``control: "frozen"``."""
    from pathlib import Path

    from robolabor.experiments.runs import RunDir
    from robolabor.experiments.trainer import start_run

    result = start_run(frozen_control_config(cfg), out, name="frozen")
    RunDir.open(Path(result["run_dir"])).update_meta(
        control="frozen", control_note="sac.learning_starts > train.total_steps: no update; "
                                       "every checkpoint evaluated on fresh episodes")
    return result


def speed_schedule_episodes(env, policy, factors, episodes: int, first_seed: int):
    """The positive control's evaluations: for each speed factor f (rising), the policy with
    its speed multiplied by f and its care re-solved for the same error risk
    (``iso_error_care``), played on fresh seeds. Returns one list of episode tallies per
    factor. With the rack arrival-limited, a faster policy washes more dishes before the
    rack overflows, so MP rises with f by construction of the task."""
    from robolabor.envs.params import iso_error_care
    from robolabor.experiments.rollout import run_episodes

    params = env.unwrapped.params
    out = []
    for i, f in enumerate(factors):
        def act(obs, f=f):
            a = np.asarray(policy(obs), dtype=np.float64)
            s = a[..., 0] * f
            b = a.copy()
            b[..., 0], b[..., 1] = s, iso_error_care(params, a[..., 0], a[..., 1], s)
            return b.astype(np.float32)

        out.append(run_episodes(env, act, episodes, first_seed + i * episodes))
    return out
