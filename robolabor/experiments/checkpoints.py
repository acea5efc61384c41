"""What a checkpoint holds and how it is turned back into a learner.

The trainer decides *when* to checkpoint; this module alone knows *what* is in one
(agent weights and optimisers, the replay buffer, every random generator, the
loop's counters) and how to read it back, so training, resuming and every reader
of a run (``runs.open_run``) build the agent and load its state the same way.
Files are verified against the checkpoint's manifest before they are read
(``runs.RunDir.choose_checkpoint``); anything that still fails to load is a
``CheckpointError`` naming the checkpoint.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robolabor.agents.replay import ReplayBuffer
from robolabor.agents.sac import SAC
from robolabor.experiments.config import RunConfig
from robolabor.experiments.faults import kill_point
from robolabor.experiments.runs import CheckpointError


def build_agent(cfg: RunConfig, env) -> SAC:
    space = env.observation_space
    return SAC(obs_shape=space.shape, obs_dtype=space.dtype, action_dim=env.action_space.shape[0],
               sac_cfg=cfg.sac, encoder_cfg=cfg.encoder, seed=cfg.train.seed)


def frame_stack_of(env) -> int | None:
    """Image observations (T, C, H, W) uint8 are stored one frame per step."""
    space = env.observation_space
    return int(space.shape[0]) if space.dtype == np.uint8 and len(space.shape) == 4 else None


def build_buffer(cfg: RunConfig, env) -> ReplayBuffer:
    buffer = ReplayBuffer(capacity=cfg.sac.buffer_size, obs_shape=env.observation_space.shape,
                          obs_dtype=env.observation_space.dtype,
                          action_dim=env.action_space.shape[0],
                          frame_stack=frame_stack_of(env), seed=cfg.train.seed)
    if cfg.replay.prioritised:
        r = cfg.replay
        buffer.enable_priorities(r.alpha, r.eps, r.min_priority)
    return buffer


def load_agent_weights(agent: SAC, ckpt: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load the agent's weights from a (verified) checkpoint and return (the torch blob,
    state.json); a file that does not load is a ``CheckpointError``."""
    try:
        blob = torch.load(ckpt / "agent.pt", map_location=agent.device, weights_only=False)
        state = json.loads((ckpt / "state.json").read_text())
        agent.load_state_dict(blob["agent"])
    except (OSError, ValueError, KeyError, RuntimeError, EOFError) as exc:
        raise CheckpointError(f"{ckpt}: cannot be loaded ({exc})") from None
    return blob, state


def save_training_state(tmp: Path, agent: SAC, buffer: ReplayBuffer,
                        state: dict[str, Any]) -> None:
    """Write a checkpoint's three files into ``tmp`` (sealed later by the run dir);
    ``state`` gets the global random generators (python, numpy) added."""
    blob = io.BytesIO()  # serialised in memory: a full disk is then an OSError (ENOSPC),
    torch.save({"agent": agent.state_dict(), "torch_rng": torch.get_rng_state()}, blob)
    (tmp / "agent.pt").write_bytes(blob.getbuffer())  # not torch's opaque RuntimeError
    kill_point("checkpoint:agent")
    np.savez(tmp / "replay.npz", **buffer.state_dict())
    state = dict(state, py_random=list(random.getstate()[1]),
                 py_random_pos=random.getstate()[2], np_global=_np_global_state())
    (tmp / "state.json").write_text(json.dumps(state))


def load_replay(opened) -> ReplayBuffer:
    """The replay of an opened run's checkpoint (state or frame stacks) as it was left,
    for readers of a run (novelty, data value); training restores it with the rest."""
    env = opened.make_env()
    try:
        buffer = build_buffer(opened.cfg, env)
    finally:
        env.close()
    try:
        with np.load(opened.checkpoint / "replay.npz") as replay:
            buffer.load_state_dict({k: replay[k] for k in replay.files})
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{opened.checkpoint}: replay cannot be loaded ({exc})") from None
    return buffer


def load_training_state(ckpt: Path, agent: SAC, buffer: ReplayBuffer) -> dict[str, Any]:
    """Restore agent, replay and the global random generators; returns state.json."""
    blob, state = load_agent_weights(agent, ckpt)
    try:
        with np.load(ckpt / "replay.npz") as replay:
            buffer.load_state_dict({k: replay[k] for k in replay.files})
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{ckpt}: replay cannot be loaded ({exc})") from None
    torch.set_rng_state(blob["torch_rng"].cpu())  # map_location may have moved it
    random.setstate((3, tuple(state["py_random"]), state["py_random_pos"]))
    _set_np_global_state(state["np_global"])
    return state


def _np_global_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached": float(cached)}


def _set_np_global_state(s: dict[str, Any]) -> None:
    np.random.set_state(("MT19937", np.array(s["keys"], dtype=np.uint32), s["pos"],
                         s["has_gauss"], s["cached"]))
