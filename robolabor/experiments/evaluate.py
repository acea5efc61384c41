"""Score a trained run against the exact optimum of its task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from robolabor.agents.constraint import LagrangeMultiplier
from robolabor.experiments.config import config_hash, load_config
from robolabor.experiments.rollout import make_env
from robolabor.experiments.runs import RunDir
from robolabor.experiments.trainer import build_agent, evaluate_agent, load_checkpoint


def evaluate_run(run_dir: str | Path, episodes: int = 20, seed: int | None = None,
                 checkpoint: str | None = None) -> dict[str, Any]:
    """Deterministic evaluation of a run's latest valid (or named) checkpoint.

    Episodes use seeds ``seed, seed+1, ...`` (default: the run's ``eval_seed``),
    so two checkpoints evaluated with the same seed see the same arrivals and
    dish sequence (common random numbers).
    """
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    run = RunDir.open(Path(run_dir))
    cfg = load_config(run.path / "config.yaml")
    torch.set_num_threads(cfg.train.threads)
    ckpt = run.path / "checkpoints" / checkpoint if checkpoint else run.latest_valid_checkpoint()
    env = make_env(cfg.env.id, cfg.env.config)
    agent = build_agent(cfg, env)
    _, state = load_checkpoint(agent, ckpt)
    lagrange = LagrangeMultiplier(cfg.lagrange, sla=float(env.unwrapped.sla))
    lagrange.load_state_dict(state["lagrange"])
    optimum = json.loads((run.path / "optimum.json").read_text())
    seed = cfg.train.eval_seed if seed is None else seed
    result = evaluate_agent(agent, env, episodes, seed, optimum)
    result.update({
        "run_dir": str(run.path), "checkpoint": ckpt.name, "config_hash": config_hash(cfg),
        "seed": cfg.train.seed, "episodes": episodes, "eval_seed": seed,
        "env_steps": int(state["step"]), "lambda": float(lagrange.lam),
        "lambda_star": float(optimum["lambda_star"]), "sla": float(optimum["sla"]),
        "optimal_expected_profit": float(optimum["expected_profit"]),
        "parity": result["wage_parity"],
    })
    return result
