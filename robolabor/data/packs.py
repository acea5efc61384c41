"""Data packs: named, versioned sets of transitions with their provenance.

A pack is what a customer (or the platform, or a simulator) contributes: transitions
collected in one variant of the task by one policy. On disk (``STORE/NAME/vN/``)::

    transitions.parquet   one row per transition: obs, action, reward, next_obs,
                          broken, attempts, terminated, truncated, episode, t
    pack.json             name, version, provenance, env id and resolved params, the
                          collecting policy, counts, created, and a manifest (sha256 and
                          size of every data file)

The constraint cost is not stored: it is ``broken − e_t·attempts`` with the dual
target e_t of the run the pack is loaded into (``load_into_replay``), since the same
transitions mean different costs under different SLAs. ``verify_pack`` recomputes the
manifest, so a pack edited after it was written is refused. Versions are never
overwritten: creating a pack that exists writes its next version, and ``NAME`` means
the newest version (``NAME@v2`` a given one).

A pack of a video env stores its frames once: ``frames.npy`` holds each episode's
first stack and then one new frame per step, and the table's ``obs_last`` and
``next_last`` columns name the newest frame of each transition's two stacks (a stack
is the ``frame_stack`` frames ending there). ``frames.npy`` is memory-mapped on open, so
an 8-frame 64×64 pack costs one frame per step on disk and nothing until a stack is
read (``FrameStacks``).

Collecting policies: ``random`` (uniform actions), ``optimum`` (the exact DP policy
of the pack's own env, ``robolabor.envs.optimum``) and ``run:RUN_DIR`` (a trained
run's agent, stochastic, from its newest valid checkpoint).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robolabor.errors import UserError
from robolabor.experiments.files import sha256_file
from robolabor.schema import to_dict

__all__ = ["PROVENANCES", "PACK_FILE", "DATA_FILE", "FRAMES_FILE", "CORRUPTIONS", "PackError",
           "FrameStacks", "Transitions", "Pack", "corrupt",
           "collect", "make_policy", "create_pack", "write_pack", "open_pack", "list_packs",
           "verify_pack", "load_into_replay", "default_store"]

PROVENANCES = ("customer", "platform", "synthetic")
PACK_FILE = "pack.json"
DATA_FILE = "transitions.parquet"
FRAMES_FILE = "frames.npy"
FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COLUMNS = ("obs", "action", "reward", "next_obs", "broken", "attempts", "terminated",
            "truncated", "episode", "t")


class PackError(UserError, ValueError):
    """A pack is missing, malformed, or does not match its manifest."""


def default_store() -> Path:
    """Where packs live: ``$ROBOLABOR_PACKS`` or ``packs/`` in the working directory."""
    return Path(os.environ.get("ROBOLABOR_PACKS", "packs"))


# ----------------------------------------------------------------------- transitions
@dataclass
class FrameStacks:
    """N frame stacks read from frames stored once: stack i is
    ``frames[last[i] - depth + 1 : last[i] + 1]``, shape (depth, C, H, W). Indexing
    with an int, a slice or an index array reads those stacks; ``take`` selects
    transitions without reading any frame."""

    frames: np.ndarray   # (F, C, H, W) uint8, memory-mapped from disk
    last: np.ndarray     # (N,) int64: the newest frame of each stack
    depth: int

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.last), self.depth, *self.frames.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.frames.dtype

    def __len__(self) -> int:
        return len(self.last)

    def __getitem__(self, idx) -> np.ndarray:
        last = self.last[idx]
        return np.asarray(self.frames[np.asarray(last)[..., None]
                                      + np.arange(1 - self.depth, 1)])

    def take(self, idx) -> FrameStacks:
        return FrameStacks(self.frames, self.last[idx], self.depth)


@dataclass
class Transitions:
    """Column arrays of N transitions (obs (N, D) float32, or ``FrameStacks`` for a
    video env; the rest (N,) or (N, A))."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    broken: np.ndarray
    attempts: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode: np.ndarray
    t: np.ndarray

    def __len__(self) -> int:
        return int(self.reward.shape[0])

    @property
    def n_episodes(self) -> int:
        return int(np.unique(self.episode).size)

    @property
    def is_video(self) -> bool:
        return isinstance(self.obs, FrameStacks)

    def subset(self, idx) -> Transitions:
        return Transitions(**{c: (v.take(idx) if isinstance(v, FrameStacks) else v[idx])
                              for c in _COLUMNS for v in [getattr(self, c)]})


def collect(env, act: Callable[[np.ndarray, Any], np.ndarray], episodes: int, seed: int
            ) -> Transitions:
    """``episodes`` episodes with env seeds seed, seed+1, ... (common random numbers);
    ``act(obs, env)`` gives the action (the env is passed for state-based policies)."""
    if episodes < 1:
        raise UserError(f"episodes: must be >= 1, got {episodes}")
    video = env.observation_space.dtype == np.uint8
    if video and len(env.observation_space.shape) != 4:
        raise PackError(f"image observations must be (T, C, H, W) frame stacks, got "
                        f"{env.observation_space.shape}")
    frames: list[np.ndarray] = []   # video: each episode's first stack, then a frame a step
    cols: dict[str, list] = {c: [] for c in _COLUMNS}
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        if video:
            frames.extend(obs)
        done, t = False, 0
        while not done:
            action = np.asarray(act(obs, env), dtype=np.float32)
            nxt, reward, terminated, truncated, info = env.step(action)
            if video:
                if not np.array_equal(nxt[:-1], obs[1:]):
                    raise PackError("next observation is not the stack shifted by one "
                                    "frame; a video pack needs time-ordered frame stacks")
                cols["obs"].append(len(frames) - 1)
                frames.append(nxt[-1])
                cols["next_obs"].append(len(frames) - 1)
            else:
                cols["obs"].append(obs)
                cols["next_obs"].append(nxt)
            for c, v in (("action", action), ("reward", reward), ("broken", info["broken"]),
                         ("attempts", info["attempts"]), ("terminated", terminated),
                         ("truncated", truncated), ("episode", ep), ("t", t)):
                cols[c].append(v)
            obs, t, done = nxt, t + 1, terminated or truncated
    if video:
        stack, depth = np.stack(frames), env.observation_space.shape[0]
        obs_col = FrameStacks(stack, np.asarray(cols["obs"], np.int64), depth)
        next_col = FrameStacks(stack, np.asarray(cols["next_obs"], np.int64), depth)
    else:
        obs_col = np.asarray(cols["obs"], np.float32)
        next_col = np.asarray(cols["next_obs"], np.float32)
    return Transitions(
        obs=obs_col, action=np.asarray(cols["action"], np.float32),
        reward=np.asarray(cols["reward"], np.float32),
        next_obs=next_col,
        broken=np.asarray(cols["broken"], np.int32),
        attempts=np.asarray(cols["attempts"], np.int32),
        terminated=np.asarray(cols["terminated"], np.bool_),
        truncated=np.asarray(cols["truncated"], np.bool_),
        episode=np.asarray(cols["episode"], np.int32), t=np.asarray(cols["t"], np.int32))


CORRUPTIONS = ("random_actions", "shuffled_rewards", "duplicates")


def corrupt(tr: Transitions, kind: str, seed: int = 0, fraction: float = 1.0) -> Transitions:
    """A deliberately damaged copy, for testing that valuation and audit catch bad data:
    ``random_actions`` (the actions replaced by uniform draws, outcomes kept: the record
    no longer says what caused them), ``shuffled_rewards`` (rewards and error counts
    permuted across transitions) or ``duplicates`` (the first episode repeated to the
    same size). ``fraction < 1`` damages that share of rows only, chosen at random
    (duplicates: those rows become copies of other rows of the pack)."""
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"corruption fraction: must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    out = tr.subset(slice(None))
    rows = None if fraction == 1.0 else np.sort(rng.choice(
        len(tr), max(1, int(round(fraction * len(tr)))), replace=False))
    if kind == "random_actions":
        if rows is None:
            out.action = rng.uniform(0.0, 1.0, size=tr.action.shape).astype(np.float32)
        else:
            out.action = tr.action.copy()
            out.action[rows] = rng.uniform(0.0, 1.0, size=(len(rows), tr.action.shape[1]))
    elif kind == "shuffled_rewards":
        idx = np.arange(len(tr))
        if rows is None:
            idx = rng.permutation(len(tr))
        else:
            idx[rows] = rng.permutation(rows)
        out.reward, out.broken, out.attempts = tr.reward[idx], tr.broken[idx], \
            tr.attempts[idx]
    elif kind == "duplicates":
        if rows is None:
            first = np.flatnonzero(tr.episode == tr.episode[0])
            out = tr.subset(np.resize(first, len(tr)))
        else:
            idx = np.arange(len(tr))
            keep = np.setdiff1d(idx, rows)
            idx[rows] = rng.choice(keep, len(rows)) if len(keep) else rows
            out = tr.subset(idx)
    else:
        raise UserError(f"corruption: unknown {kind!r}; choose from {', '.join(CORRUPTIONS)}")
    return out


def make_policy(spec: str, env, seed: int = 0) -> tuple[Callable, dict[str, Any]]:
    """A collecting policy from its spec (module docstring) and its provenance record."""
    if spec == "random":
        rng = np.random.default_rng(seed)
        return (lambda obs, e: rng.uniform(0.0, 1.0, size=e.action_space.shape),
                {"kind": "random", "seed": seed})
    if spec == "optimum":
        from robolabor.envs.optimum import optimum_for_env

        opt = optimum_for_env(env)
        return (lambda obs, e: opt.action(e.unwrapped.state),
                {"kind": "optimum", "grid": opt.grid, "expected_profit": opt.expected_profit})
    if spec.startswith("run:"):
        import torch

        from robolabor.experiments.config import config_hash
        from robolabor.experiments.runs import open_run

        opened = open_run(spec[4:])
        agent = opened.agent
        agent.generator.manual_seed(seed)
        torch.set_num_threads(opened.cfg.train.threads)
        return (lambda obs, e: agent.act(obs, deterministic=False),
                {"kind": "run", "run_dir": _relative_run(opened.run.path),
                 "checkpoint": opened.checkpoint.name, "config_hash": config_hash(opened.cfg),
                 "deterministic": False, "seed": seed})
    raise UserError(f"--policy: unknown policy {spec!r}; use random, optimum or run:RUN_DIR")


def _relative_run(path: Path) -> str:
    """A run directory named relative to its ``runs/`` folder when it has one."""
    parts = Path(path).parts
    return str(Path(*parts[parts.index("runs"):])) if "runs" in parts else Path(path).name


# ------------------------------------------------------------------------- on disk
def _table(tr: Transitions) -> pa.Table:
    def vec(a: np.ndarray) -> pa.Array:
        a = np.ascontiguousarray(a, np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), a.shape[1])

    obs = {"obs_last": tr.obs.last, "next_last": tr.next_obs.last} if tr.is_video else \
        {"obs": vec(tr.obs), "next_obs": vec(tr.next_obs)}
    return pa.table({**obs, "action": vec(tr.action), "reward": tr.reward,
                     "broken": tr.broken, "attempts": tr.attempts,
                     "terminated": tr.terminated, "truncated": tr.truncated,
                     "episode": tr.episode, "t": tr.t})


def _from_table(table: pa.Table, where: str, frames: np.ndarray | None = None,
                depth: int | None = None) -> Transitions:
    """Transitions from the table (a video pack's stacks over ``frames``)."""
    names = {"obs": "obs_last", "next_obs": "next_last"} if frames is not None else {}
    missing = [names.get(c, c) for c in _COLUMNS if names.get(c, c) not in table.column_names]
    if missing:
        raise PackError(f"{where}: missing column(s) {missing}")

    def col(name: str) -> np.ndarray:
        arr = table.column(names.get(name, name)).combine_chunks()
        if pa.types.is_fixed_size_list(arr.type):
            return arr.flatten().to_numpy().reshape(len(arr), arr.type.list_size)
        out = arr.to_numpy(zero_copy_only=False)
        if name in names:
            if out.size and (out.min() < depth - 1 or out.max() >= len(frames)):
                raise PackError(f"{where}: frame index out of range of {FRAMES_FILE}")
            return FrameStacks(frames, out.astype(np.int64), depth)
        return out

    return Transitions(**{c: col(c) for c in _COLUMNS})


def _read_transitions(path: Path, meta: dict[str, Any]) -> Transitions:
    """A pack directory's transitions; a video pack's frames memory-mapped."""
    frames = np.load(path / FRAMES_FILE, mmap_mode="r") if meta.get("frame_stack") else None
    return _from_table(pq.read_table(path / DATA_FILE), str(path / DATA_FILE), frames,
                       meta.get("frame_stack"))


@dataclass
class Pack:
    """An opened pack: its record (``pack.json``) and its transitions."""

    path: Path
    meta: dict[str, Any]
    transitions: Transitions

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def ref(self) -> str:
        return f"{self.meta['name']}@v{self.meta['version']}"

    @property
    def provenance(self) -> str:
        return self.meta["provenance"]


def _versions(store: Path, name: str) -> list[int]:
    d = store / name
    if not d.is_dir():
        return []
    return sorted(int(p.name[1:]) for p in d.iterdir()
                  if p.is_dir() and re.fullmatch(r"v\d+", p.name) and (p / PACK_FILE).exists())


def write_pack(tr: Transitions, name: str, provenance: str, env_id: str, env_params: dict,
               policy: dict, store: Path | str | None = None, notes: str = "",
               extra: dict | None = None) -> Path:
    """Write transitions as the next version of pack ``name``; returns its directory."""
    if not _NAME.match(name or ""):
        raise PackError(f"pack name {name!r}: use letters, digits, '_', '-', '.' (max 64)")
    if provenance not in PROVENANCES:
        raise PackError(f"--provenance: must be one of {', '.join(PROVENANCES)}, "
                        f"got {provenance!r}")
    if len(tr) == 0:
        raise PackError(f"pack {name!r}: no transitions")
    store = Path(store) if store is not None else default_store()
    version = (_versions(store, name) or [0])[-1] + 1
    final = store / name / f"v{version}"
    tmp = store / name / f".v{version}.writing"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        files = [DATA_FILE]
        if not tr.is_video:
            pq.write_table(_table(tr), tmp / DATA_FILE)
        else:
            used = np.union1d(tr.obs.last, tr.next_obs.last)  # a subset keeps its frames only
            keep = np.unique(used[:, None] + np.arange(1 - tr.obs.depth, 1))
            np.save(tmp / FRAMES_FILE, np.asarray(tr.obs.frames[keep]))
            remap = np.searchsorted(keep, np.stack([tr.obs.last, tr.next_obs.last]))
            pq.write_table(_table(Transitions(**{
                **{c: getattr(tr, c) for c in _COLUMNS},
                "obs": FrameStacks(tr.obs.frames, remap[0], tr.obs.depth),
                "next_obs": FrameStacks(tr.obs.frames, remap[1], tr.obs.depth)})),
                tmp / DATA_FILE)
            files.append(FRAMES_FILE)
        meta = {
            "format": FORMAT, "name": name, "version": version, "provenance": provenance,
            "env_id": env_id, "env_params": env_params, "policy": policy,
            "counts": {"transitions": len(tr), "episodes": tr.n_episodes,
                       "good": int((tr.attempts - tr.broken).sum()),
                       "broken": int(tr.broken.sum()), "attempts": int(tr.attempts.sum())},
            "obs_shape": [int(d) for d in tr.obs.shape[1:]],
            "action_dim": int(tr.action.shape[1]),
            **({"frame_stack": tr.obs.depth, "frames": int(len(keep))} if tr.is_video
               else {"obs_dim": int(tr.obs.shape[1])}),
            "notes": notes, **(extra or {}),
            "manifest": {f: {"sha256": sha256_file(tmp / f), "bytes": (tmp / f).stat().st_size}
                         for f in files},
        }
        (tmp / PACK_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _resolve(ref: str, store: Path) -> Path:
    name, _, version = str(ref).partition("@")
    versions = _versions(store, name)
    if not versions:
        known = ", ".join(sorted(p.name for p in store.iterdir() if p.is_dir())) \
            if store.is_dir() else ""
        raise PackError(f"pack {name!r} not found in {store}"
                        + (f" (packs there: {known})" if known else " (no packs there)"))
    if not version:
        return store / name / f"v{versions[-1]}"
    v = version[1:] if version.startswith("v") else version
    if not v.isdigit() or int(v) not in versions:
        raise PackError(f"pack {name!r} has no version {version!r} "
                        f"(versions: {', '.join(f'v{x}' for x in versions)})")
    return store / name / f"v{int(v)}"


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / PACK_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PackError(f"{path / PACK_FILE}: cannot be read ({exc})") from None
    for key in ("name", "version", "provenance", "env_id", "manifest", "counts"):
        if key not in meta:
            raise PackError(f"{path / PACK_FILE}: missing {key!r}")
    return meta


def verify_pack(ref: str, store: Path | str | None = None) -> dict[str, Any]:
    """Recompute every manifest hash and the counts; raises ``PackError`` on a mismatch."""
    store = Path(store) if store is not None else default_store()
    path = _resolve(ref, store)
    meta = _read_meta(path)
    for fname, entry in meta["manifest"].items():
        f = path / fname
        if not f.is_file():
            raise PackError(f"{f}: listed in the manifest but missing")
        if f.stat().st_size != entry["bytes"] or sha256_file(f) != entry["sha256"]:
            raise PackError(f"{f}: does not match its manifest (changed after the pack was "
                            "written); recreate the pack")
    tr = _read_transitions(path, meta)
    if len(tr) != meta["counts"]["transitions"]:
        raise PackError(f"{path}: {len(tr)} transitions, pack.json says "
                        f"{meta['counts']['transitions']}")
    return {"pack": f"{meta['name']}@v{meta['version']}", "path": str(path), "ok": True,
            "transitions": len(tr), "files": sorted(meta["manifest"])}


def open_pack(ref: str, store: Path | str | None = None, verify: bool = True) -> Pack:
    """Open ``NAME`` (newest version) or ``NAME@vN``, verified against its manifest."""
    store = Path(store) if store is not None else default_store()
    if verify:
        verify_pack(ref, store)
    path = _resolve(ref, store)
    meta = _read_meta(path)
    return Pack(path, meta, _read_transitions(path, meta))


def list_packs(store: Path | str | None = None) -> list[dict[str, Any]]:
    """One summary row per pack version in the store, by name then version."""
    store = Path(store) if store is not None else default_store()
    rows = []
    if not store.is_dir():
        return rows
    for d in sorted(p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for v in _versions(store, d.name):
            meta = _read_meta(d / f"v{v}")
            rows.append({"pack": f"{meta['name']}@v{meta['version']}",
                         "provenance": meta["provenance"], "env_id": meta["env_id"],
                         "policy": meta.get("policy", {}).get("kind"),
                         "transitions": meta["counts"]["transitions"],
                         "episodes": meta["counts"]["episodes"]})
    return rows


def create_pack(name: str, env_config: str | None, provenance: str, policy: str,
                episodes: int, seed: int, store: Path | str | None = None,
                notes: str = "") -> dict[str, Any]:
    """Collect ``episodes`` episodes in the env of ``env_config`` (a YAML config; its
    ``env`` section, the default task when None) with ``policy`` and write the pack."""
    from robolabor.experiments.config import load_config
    from robolabor.experiments.rollout import make_env

    if provenance not in PROVENANCES:
        raise PackError(f"--provenance: must be one of {', '.join(PROVENANCES)}, "
                        f"got {provenance!r}")
    cfg = load_config(env_config) if env_config else _default_cfg()
    env = make_env(cfg.env.id, cfg.env.config)
    try:
        act, record = make_policy(policy, env, seed)
        tr = collect(env, act, episodes, seed)
        params = to_dict(env.unwrapped.params)
    finally:
        env.close()
    path = write_pack(tr, name, provenance, cfg.env.id, params, record, store, notes,
                      extra={"env_source": Path(env_config).name if env_config else "default",
                             "seed": seed})
    return {"pack": f"{name}@{path.name}", "path": str(path), "transitions": len(tr),
            "episodes": tr.n_episodes, "provenance": provenance, "policy": record["kind"]}


def _default_cfg():
    from robolabor.experiments.config import config_from_dict

    return config_from_dict({})


def show_pack(ref: str, store: Path | str | None = None) -> dict[str, Any]:
    """A pack's record plus reward and error statistics of its transitions."""
    pack = open_pack(ref, store, verify=False)
    tr = pack.transitions
    att = max(int(tr.attempts.sum()), 1)
    return {**{k: v for k, v in pack.meta.items() if k != "env_params"},
            "pack": pack.ref, "path": str(pack.path),
            "reward_per_step": float(tr.reward.mean()),
            "error_rate": float(tr.broken.sum() / att),
            "mean_action": tr.action.mean(0).tolist()}


# --------------------------------------------------------------------------- replay
def load_into_replay(pack: Pack, buffer, dual_target: float) -> int:
    """Append a pack's transitions to a replay buffer (cost = broken − e_t·attempts at
    the receiving run's dual target ``dual_target``); returns the count added."""
    tr = pack.transitions
    if tuple(buffer.obs_shape) != tuple(tr.obs.shape[1:]) or \
            buffer.action_dim != tr.action.shape[1]:
        raise PackError(f"{pack.ref}: observations {tuple(tr.obs.shape[1:])} / actions "
                        f"{tr.action.shape[1]}-d do not fit the run's replay "
                        f"({tuple(buffer.obs_shape)}, {buffer.action_dim})")
    cost = tr.broken.astype(np.float64) - dual_target * tr.attempts.astype(np.float64)
    for i in range(len(tr)):
        buffer.add(tr.obs[i], tr.action[i], float(tr.reward[i]), float(cost[i]),
                   tr.next_obs[i], bool(tr.terminated[i]), bool(tr.truncated[i]))
    return len(tr)
