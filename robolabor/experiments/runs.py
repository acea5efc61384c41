"""One directory per run, written so that nothing is ever mixed or lost.

Layout::

    RUN_DIR/
      config.yaml        resolved configuration (every default filled in)
      meta.json          config hash, seed, status, versions, failure message
      optimum.json       the exact optimum of the task the run trains on
      episodes.parquet   one row per training episode (ledger + learner metrics)
      evals.parquet      one row per evaluation (checkpoint economics with CIs)
      tb/                TensorBoard events
      checkpoints/step-000003000/  agent.pt, replay.npz, state.json, MANIFEST.json

A checkpoint is written to a temporary folder and renamed into place, and its
manifest holds the size and sha256 of every file, so a checkpoint cut short by a
kill is detected on load instead of being half-read. Metrics tables are rewritten
atomically at each checkpoint from the rows the checkpoint knows about, so after
a resume the tables and the learner agree exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CHECKPOINT_FILES = ("agent.pt", "replay.npz", "state.json")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated or does not match its manifest."""


class RunDirError(RuntimeError):
    """A run directory is missing or not a robolabor run."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows (dicts of scalars) as Parquet, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    columns: dict[str, None] = {}
    for row in rows:  # union of keys: later rows may carry metrics the first lacks
        columns.update(dict.fromkeys(row))
    table = pa.Table.from_pylist(rows, schema=None) if not rows else pa.Table.from_pydict(
        {c: [row.get(c) for row in rows] for c in columns})
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_table(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return pq.read_table(path).to_pylist()


@dataclass
class RunDir:
    path: Path

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def episodes_path(self) -> Path:
        return self.path / "episodes.parquet"

    @property
    def evals_path(self) -> Path:
        return self.path / "evals.parquet"

    @classmethod
    def create(cls, path: Path) -> RunDir:
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise RunDirError(f"{path} already exists and is not empty: pick a new --out, or "
                              f"continue it with `robolabor train --resume {path}`")
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        path = Path(path)
        if not (path / "config.yaml").is_file() or not (path / "meta.json").is_file():
            raise RunDirError(f"{path} is not a robolabor run directory "
                              "(config.yaml and meta.json are missing)")
        return cls(path)

    # ----- metadata -------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        return json.loads((self.path / "meta.json").read_text())

    def update_meta(self, **fields: Any) -> None:
        meta = self.read_meta() if (self.path / "meta.json").exists() else {}
        meta.update(fields)
        atomic_write_text(self.path / "meta.json", json.dumps(meta, indent=2, sort_keys=True))

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

    def commit_checkpoint(self, tmp: Path, step: int, keep: int) -> Path:
        """Seal ``tmp`` with a manifest and move it into place; prune old ones."""
        manifest = {name: {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)}
                    for name in CHECKPOINT_FILES}
        manifest["_step"] = step
        atomic_write_text(tmp / "MANIFEST.json", json.dumps(manifest, indent=2))
        final = self.checkpoints / f"step-{step:09d}"
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in self.list_checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def latest_valid_checkpoint(self) -> Path:
        """Newest checkpoint whose files match the manifest; explains every rejection."""
        problems = []
        for ckpt in reversed(self.list_checkpoints()):
            try:
                verify_checkpoint(ckpt)
                return ckpt
            except CheckpointError as exc:
                problems.append(str(exc))
        detail = ("; ".join(problems)) if problems else "no checkpoint was written yet"
        raise CheckpointError(f"no usable checkpoint in {self.checkpoints}: {detail}")


def verify_checkpoint(ckpt: Path) -> dict[str, Any]:
    ckpt = Path(ckpt)
    manifest_path = ckpt / "MANIFEST.json"
    if not manifest_path.is_file():
        raise CheckpointError(f"{ckpt}: MANIFEST.json missing (checkpoint incomplete)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        raise CheckpointError(f"{ckpt}: MANIFEST.json is not valid JSON (truncated)") from None
    for name in CHECKPOINT_FILES:
        f = ckpt / name
        if not f.is_file():
            raise CheckpointError(f"{ckpt}: {name} is missing")
        want = manifest.get(name, {})
        if f.stat().st_size != want.get("bytes"):
            raise CheckpointError(f"{ckpt}: {name} has {f.stat().st_size} bytes, manifest says "
                                  f"{want.get('bytes')} (truncated or overwritten)")
        if _sha256(f) != want.get("sha256"):
            raise CheckpointError(f"{ckpt}: {name} does not match its sha256 (corrupted)")
    return manifest


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
