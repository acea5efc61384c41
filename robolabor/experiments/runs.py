"""One directory per run, written so that nothing is ever mixed, lost or misreported.

Layout::

    RUN_DIR/
      config.yaml        resolved configuration (every default filled in), its hash on top
      meta.json          config hash, seed, status, versions, failure message; the
                         config as JSON with config.yaml's sha256 (a fast listing)
      optimum.json       the exact optimum of the task the run trains on
      episodes.parquet   one row per training episode (ledger + learner metrics)
      evals.parquet      one row per evaluation (checkpoint economics with CIs)
      tb/                TensorBoard events
      checkpoints/step-000003000/  agent.pt, replay.npz, state.json, MANIFEST.json

A run directory is a sealed record. It appears (renamed into place from a hidden
``.NAME.starting`` folder) only once its config, meta, optimum and step-0 checkpoint
are written, so a start that fails leaves nothing and one that is killed leaves only
the hidden folder, which the same command clears and redoes. Every reader opens it
through ``open_run``, which recomputes the config hash and refuses a run whose
``config.yaml`` no longer matches ``meta.json``. A checkpoint is written to a
temporary folder and renamed into place, and its manifest holds the size and sha256
of every file, so a checkpoint cut short by a kill is detected on load instead of
being half-read; pruning verifies before it deletes and always keeps the newest
valid checkpoints. Metrics tables are rewritten atomically at each checkpoint, and
the checkpoint records their row counts: a resume that finds fewer rows on disk
stops instead of rebuilding them from nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robolabor.errors import UserError
from robolabor.experiments.config import RunConfig, config_hash, dump_config, load_config
from robolabor.experiments.faults import kill_point
from robolabor.experiments.files import (  # noqa: F401 (the run directory's writers)
    CHECKPOINT_FILES,
    atomic_write_bytes,
    atomic_write_text,
    read_table,
    replace_from_tmp,
    sha256_file,
    write_table,
)
from robolabor.schema import to_dict

STARTING = ".{name}.starting"  # a start in progress (or killed): never a run


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, truncated or does not match its manifest."""


class RunDirError(UserError, RuntimeError):
    """A run directory is missing, not a robolabor run, or no longer matches its seal."""


def warn(message: str) -> None:
    """A warning the user must see (stderr) and that is also returned in the JSON."""
    print(f"robolabor: warning: {message}", file=sys.stderr)


@dataclass
class RunDir:
    path: Path
    final: Path | None = None  # where a run being started is renamed to by ``publish``

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def episodes_path(self) -> Path:
        return self.path / "episodes.parquet"

    @property
    def evals_path(self) -> Path:
        return self.path / "evals.parquet"

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    # ----- starting and opening ---------------------------------------------------
    @classmethod
    def begin(cls, path: Path) -> RunDir:
        """A hidden staging folder for a new run at ``path``; ``publish`` moves it there.
        A staging folder left by a killed start of the same run is cleared first."""
        path = Path(path)
        if path.is_file() or path.is_symlink() and not path.is_dir():
            raise RunDirError(f"{path}: exists and is a file, not a run directory: "
                              "pick a new --out")
        if path.is_dir() and any(path.iterdir()):
            raise RunDirError(f"{path}: already exists and is not empty: pick a new --out, "
                              f"or continue it with `robolabor train --resume {path}`")
        staging = path.parent / STARTING.format(name=path.name)
        try:
            if staging.exists():
                shutil.rmtree(staging)
            (staging / "checkpoints").mkdir(parents=True)
        except OSError as exc:
            raise RunDirError(f"{path}: cannot create the run directory "
                              f"({exc.strerror or exc})") from None
        return cls(staging, final=path)

    def publish(self) -> None:
        """Rename the staged run into place: from here on it is a run directory."""
        kill_point("start")
        assert self.final is not None, "publish() is only for a run made by begin()"
        if self.final.is_dir():  # an empty folder the user made: replaced by the run
            self.final.rmdir()
        os.replace(self.path, self.final)
        self.path, self.final = self.final, None

    def abandon(self) -> None:
        """Remove a staged run whose start failed: a failed start leaves nothing."""
        if self.final is not None:
            shutil.rmtree(self.path, ignore_errors=True)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        path = Path(path)
        if not (path / "config.yaml").is_file() or not (path / "meta.json").is_file():
            staging = path.parent / STARTING.format(name=path.name)
            hint = (f" (a start was interrupted before the run existed: run the same "
                    f"`robolabor train ... --out {path}` again)") if staging.exists() else ""
            raise RunDirError(f"{path}: not a robolabor run directory "
                              f"(config.yaml and meta.json are missing){hint}")
        return cls(path)

    # ----- metadata and the seal ------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        path = self.path / "meta.json"
        try:
            meta = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise RunDirError(f"{path}: expected a JSON object, got {type(meta).__name__}")
        return meta

    def update_meta(self, **fields: Any) -> None:
        meta = self.read_meta() if (self.path / "meta.json").exists() else {}
        meta.update(fields)
        atomic_write_text(self.path / "meta.json", json.dumps(meta, indent=2, sort_keys=True))

    def force_meta(self, **fields: Any) -> None:
        """``update_meta`` for a full disk: meta.json rewritten in place (its own blocks
        are freed by the truncation and reused), not through a temporary copy. Only for
        recording a failure, when the atomic write has already failed."""
        meta = self.read_meta()
        meta.update(fields)
        (self.path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))

    def write_config(self, cfg: RunConfig) -> str:
        """Write the resolved config with its hash on top; returns the hash."""
        digest = config_hash(cfg)
        text = (f"# config_hash: {digest} (meta.json holds the same; readers "
                f"recompute it and refuse a mismatch)\n{dump_config(cfg)}")
        atomic_write_text(self.config_path, text)
        # a copy as JSON and the file's sha256, so `robolabor runs` can list a thousand
        # runs without parsing a thousand YAML files (it still hashes both)
        self.update_meta(config=to_dict(cfg),
                         config_sha256=hashlib.sha256(text.encode()).hexdigest())
        return digest

    def mark_stopped(self, step: int, total_steps: Any, **fields: Any) -> None:
        """Record a run ended early (a sweep's early stopping) at a checkpointed step;
        it stays resumable to its total_steps."""
        self.update_meta(status="stopped", env_steps=step, failure=None,
                         stopped=f"stopped early at env step {step} of {total_steps}", **fields)

    def sealed_config(self) -> RunConfig:
        """The run's config, after checking that it still hashes to meta.json's hash.

        A ``pending_extension`` in meta.json is a ``total_steps`` extension cut short
        between its two writes: it is completed here, never reported as tampering."""
        cfg = load_config(self.config_path)
        meta = self.read_meta()
        digest, recorded = config_hash(cfg), meta.get("config_hash")
        pending = meta.get("pending_extension") or {}
        if digest != recorded and pending.get("config_hash") == digest:
            self.update_meta(config_hash=digest, pending_extension=None)
        elif digest != recorded:
            raise RunDirError(
                f"{self.config_path}: config hash {digest} does not match meta.json's "
                f"{recorded}: config.yaml was changed after the run was made, so its numbers "
                "are not this config's; restore the file, or train a new run with it")
        return cfg

    def extend_total_steps(self, cfg: RunConfig, total_steps: int) -> RunConfig:
        """Raise ``train.total_steps`` in the sealed record (config.yaml and meta.json,
        each written atomically, the pending state first so a kill between is safe)."""
        from robolabor.schema import replace

        old = cfg.train.total_steps
        new_cfg = replace(cfg, train=replace(cfg.train, total_steps=int(total_steps)))
        old_hash, new_hash = config_hash(cfg), config_hash(new_cfg)
        self.update_meta(pending_extension={"config_hash": new_hash, "total_steps": total_steps})
        kill_point("extend")
        self.write_config(new_cfg)
        history = self.read_meta().get("extensions", [])
        self.update_meta(config_hash=new_hash, pending_extension=None,
                         extensions=history + [{"from_steps": old, "to_steps": total_steps,
                                                "config_hash_before": old_hash,
                                                "at": now_iso()}])
        print(f"robolabor: {self.path}: train.total_steps extended {old} -> {total_steps}; "
              f"config.yaml and meta.json rewritten (config hash {old_hash} -> {new_hash})",
              file=sys.stderr)
        return new_cfg

    # ----- checkpoints ------------------------------------------------------------
    def list_checkpoints(self) -> list[Path]:
        if not self.checkpoints.is_dir():
            return []
        return sorted(p for p in self.checkpoints.iterdir()
                      if p.is_dir() and p.name.startswith("step-"))

    def new_checkpoint_dir(self, step: int) -> Path:
        tmp = self.checkpoints / f".tmp-step-{step:09d}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        return tmp

    def clear_partials(self) -> None:
        """Remove what a killed or failed checkpoint write or prune left half-done."""
        if self.checkpoints.is_dir():
            for p in self.checkpoints.iterdir():
                if p.name.startswith((".tmp-step-", ".prune-")):
                    shutil.rmtree(p, ignore_errors=True)

    def commit_checkpoint(self, tmp: Path, step: int, keep: int) -> Path:
        """Seal ``tmp`` with a manifest and move it into place; prune old ones."""
        manifest = {name: {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
                    for name in CHECKPOINT_FILES}
        manifest["_step"] = step
        atomic_write_text(tmp / "MANIFEST.json", json.dumps(manifest, indent=2))
        kill_point("checkpoint:seal")
        final = self.checkpoints / f"step-{step:09d}"
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        self.prune(keep)
        return final

    def prune(self, keep: int) -> None:
        """Keep the ``keep`` newest checkpoints that verify; delete the others (older
        ones and damaged ones). Each is renamed out of the ``step-*`` namespace before
        it is deleted, so a kill mid-delete never leaves a half checkpoint behind."""
        valid = 0
        for ckpt in reversed(self.list_checkpoints()):
            try:
                verify_checkpoint(ckpt)
            except CheckpointError:
                pass
            else:
                valid += 1
                if valid <= keep:
                    continue
            doomed = ckpt.with_name(f".prune-{ckpt.name}")
            os.replace(ckpt, doomed)
            kill_point("prune")
            shutil.rmtree(doomed)

    def choose_checkpoint(self, name: str | None = None) -> tuple[Path, list[str]]:
        """The named checkpoint (verified), or the newest valid one with a warning for
        each newer one it had to skip (damaged): nobody falls back silently."""
        if name is not None:
            ckpt = self.checkpoints / name
            if not ckpt.is_dir():
                known = [p.name for p in self.list_checkpoints()]
                raise CheckpointError(f"{ckpt}: no such checkpoint (the run has {known})")
            verify_checkpoint(ckpt)
            return ckpt, []
        problems = []
        for ckpt in reversed(self.list_checkpoints()):
            try:
                verify_checkpoint(ckpt)
            except CheckpointError as exc:
                problems.append(str(exc))
                continue
            return ckpt, [f"fell back to {ckpt.name}: {p}" for p in problems]
        detail = ("; ".join(problems)) if problems else "no checkpoint was written yet"
        raise CheckpointError(f"no usable checkpoint in {self.checkpoints}: {detail}")

    def latest_valid_checkpoint(self) -> Path:
        """Newest checkpoint whose files match the manifest; explains every rejection."""
        return self.choose_checkpoint()[0]

    # ----- tables -------------------------------------------------------------------
    def checkpointed_rows(self, path: Path, n_rows: int, ckpt: Path) -> list[dict[str, Any]]:
        """The first ``n_rows`` rows of a table, as checkpoint ``ckpt`` recorded them.
        Rows beyond are from after the checkpoint (redone on resume); fewer is a table
        deleted or cut after the fact, an error: it is never rebuilt from nothing."""
        rows = read_table(path)
        if len(rows) < n_rows:
            have = f"has {len(rows)} rows" if path.exists() else "is missing (0 rows)"
            raise RunDirError(f"{path}: {have}, but {ckpt.name} recorded {n_rows}: the table "
                              "was deleted or truncated after it was written; restore it "
                              "(a resume does not rebuild it from nothing)")
        return rows[:n_rows]


def verify_checkpoint(ckpt: Path) -> dict[str, Any]:
    ckpt = Path(ckpt)
    manifest_path = ckpt / "MANIFEST.json"
    if not manifest_path.is_file():
        raise CheckpointError(f"{ckpt}: MANIFEST.json missing (checkpoint incomplete)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{ckpt}: MANIFEST.json is not valid JSON (truncated)") from None
    if not isinstance(manifest, dict) or not all(isinstance(manifest.get(n), dict)
                                                 for n in CHECKPOINT_FILES):
        raise CheckpointError(f"{ckpt}: MANIFEST.json is not a manifest (expected an object "
                              f"with an entry for each of {list(CHECKPOINT_FILES)})")
    for name in CHECKPOINT_FILES:
        f = ckpt / name
        if not f.is_file():
            raise CheckpointError(f"{ckpt}: {name} is missing")
        want = manifest[name]
        if f.stat().st_size != want.get("bytes"):
            raise CheckpointError(f"{ckpt}: {name} has {f.stat().st_size} bytes, manifest says "
                                  f"{want.get('bytes')} (truncated or overwritten)")
        if sha256_file(f) != want.get("sha256"):
            raise CheckpointError(f"{ckpt}: {name} does not match its sha256 (corrupted)")
    return manifest


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# ----------------------------------------------------------------------------- opening

@dataclass
class OpenRun:
    """A run opened for reading: its verified config, a factory for its environment,
    the checkpoint chosen (and the agent loaded from it, when asked for), and the
    warnings a caller must pass on (a damaged newer checkpoint that was skipped)."""

    run: RunDir
    cfg: RunConfig
    meta: dict[str, Any]
    checkpoint: Path | None
    state: dict[str, Any] | None
    agent: Any = None
    warnings: list[str] = field(default_factory=list)

    def make_env(self, **kwargs: Any):
        from robolabor.experiments.rollout import make_env

        return make_env(self.cfg.env.id, self.cfg.env.config, **kwargs)

    def optimum(self) -> dict[str, Any]:
        path = self.run.path / "optimum.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{path}: cannot be read ({exc})") from None

    def completeness_warnings(self, min_eval_episodes: int) -> list[str]:
        """What makes this run weak evidence: not finished, or evaluations on fewer
        than ``min_eval_episodes`` episodes."""
        out = []
        status = self.meta.get("status")
        if status != "finished":
            out.append(f"{self.run.path}: status {status!r}, not 'finished' (at env step "
                       f"{self.meta.get('env_steps', 0)} of {self.cfg.train.total_steps}): "
                       "its figures describe an unfinished run")
        evals = read_table(self.run.evals_path)
        fewest = min((len(r.get("profit_episodes") or []) for r in evals), default=0)
        if fewest < min_eval_episodes:
            out.append(f"{self.run.path}: evaluations of {fewest} episode(s), fewer than "
                       f"{min_eval_episodes}: verdicts on so few episodes are fragile")
        return out


def open_run(run_dir: str | Path, checkpoint: str | None = None,
             load_agent: bool = True) -> OpenRun:
    """The one way to open a run: run directory -> verified config -> checkpoint
    (named, or the newest valid one, with a warning for each damaged one skipped)
    -> agent built for the run's env and loaded from it (``load_agent``).

    Without ``load_agent`` a run with no usable checkpoint still opens (its tables
    can be read) with ``checkpoint`` None and a warning saying why."""
    run = RunDir.open(Path(run_dir))
    cfg = run.sealed_config()
    meta = run.read_meta()
    try:
        ckpt, warnings = run.choose_checkpoint(checkpoint)
    except CheckpointError as exc:
        if load_agent or checkpoint is not None:
            raise
        return OpenRun(run, cfg, meta, None, None, warnings=[str(exc)])
    opened = OpenRun(run, cfg, meta, ckpt, None, warnings=warnings)
    if load_agent:
        from robolabor.experiments.checkpoints import build_agent, load_agent_weights

        env = opened.make_env()
        try:
            opened.agent = build_agent(cfg, env)
        finally:
            env.close()
        opened.state = load_agent_weights(opened.agent, ckpt)[1]
    else:
        opened.state = read_checkpoint_state(ckpt)
    return opened


def read_checkpoint_state(ckpt: Path) -> dict[str, Any]:
    try:
        return json.loads((ckpt / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{ckpt}: state.json cannot be read ({exc})") from None
