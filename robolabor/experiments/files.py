"""Files written so that a kill never leaves half of one: atomic replaces and the
Parquet tables of a run. Torch-free, so ``robolabor runs`` can write its index
without importing the learners."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CHECKPOINT_FILES = ("agent.pt", "replay.npz", "state.json")  # what a checkpoint holds


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def replace_from_tmp(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary sibling renamed into place; on any failure
    (a full disk, a kill is not one) the temporary file is removed, never left behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    replace_from_tmp(path, write)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows (dicts of scalars) as Parquet, atomically."""
    columns: dict[str, None] = {}
    for row in rows:  # union of keys: later rows may carry metrics the first lacks
        columns.update(dict.fromkeys(row))
    table = pa.Table.from_pylist(rows, schema=None) if not rows else pa.Table.from_pydict(
        {c: [row.get(c) for row in rows] for c in columns})
    replace_from_tmp(path, lambda tmp: pq.write_table(table, tmp))


def read_table(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return pq.read_table(path).to_pylist()
