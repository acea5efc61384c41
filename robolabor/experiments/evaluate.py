"""Score a trained run against the exact optimum of its task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from robolabor.agents.constraint import LagrangeMultiplier
from robolabor.errors import UserError
from robolabor.experiments.config import config_hash
from robolabor.experiments.runs import open_run, warn
from robolabor.experiments.trainer import evaluate_agent


def evaluate_run(run_dir: str | Path, episodes: int = 20, seed: int | None = None,
                 checkpoint: str | None = None) -> dict[str, Any]:
    """Deterministic evaluation of a run's latest valid (or named) checkpoint.

    Episodes use seeds ``seed, seed+1, ...`` (default: the run's ``eval_seed``),
    so two checkpoints evaluated with the same seed see the same arrivals and
    dish sequence (common random numbers). The result names the checkpoint used
    and, under ``checkpoint_warnings`` (also on stderr), every damaged newer one it
    skipped.
    """
    if episodes < 1:
        raise UserError(f"--episodes: must be >= 1, got {episodes}")
    if seed is not None and seed < 0:
        raise UserError(f"--seed: must be >= 0 (episode seeds are non-negative), got {seed}")
    opened = open_run(run_dir, checkpoint)
    for message in opened.warnings:
        warn(message)
    cfg, state = opened.cfg, opened.state
    torch.set_num_threads(cfg.train.threads)
    env = opened.make_env()
    lagrange = LagrangeMultiplier(cfg.lagrange, sla=float(env.unwrapped.sla))
    lagrange.load_state_dict(state["lagrange"])
    optimum = opened.optimum()
    seed = cfg.train.eval_seed if seed is None else seed
    result = evaluate_agent(opened.agent, env, episodes, seed, optimum)
    result.update({
        "run_dir": str(opened.run.path), "checkpoint": opened.checkpoint.name,
        "checkpoint_warnings": opened.warnings, "config_hash": config_hash(cfg),
        "seed": cfg.train.seed, "episodes": episodes, "eval_seed": seed,
        "env_steps": int(state["step"]), "lambda": float(lagrange.lam),
        "lambda_star": float(optimum["lambda_star"]), "sla": float(optimum["sla"]),
        "optimal_expected_profit": float(optimum["expected_profit"]),
        "parity": result["wage_parity"],
    })
    return result
