"""A sweep's storage on an object store: nothing renamed, every write one whole object.

An object store (``s3://``, ``gs://``, ``abfs://``, ``hdfs://``: whatever
``pyarrow.fs`` resolves) offers no rename and no exclusive create, so a run
directory cannot be sealed there the way ``runs`` seals one on a disk. Instead each
trial trains in a node-local *scratch* run directory, an ordinary ``RunDir``
(``scratch_root()/STORE/TRIAL``; ``ROBOLABOR_SYNC_SCRATCH`` moves it), and the
store holds the run's copy:

  * pull (before a trial starts, resumes or is skipped): the record files
    (meta.json, config.yaml, optimum.json, the two tables); then, for a run to
    resume, only the newest checkpoint whose files match its MANIFEST.json's
    sha256 (a newer damaged one is skipped with a warning, older ones are not
    fetched). The trial's state is then read from the scratch copy exactly as
    from a run directory on a disk.
  * push (after every sealed checkpoint, through the trainer's ``on_checkpoint``
    hook, and when the trial ends): the tables, config.yaml and optimum.json
    first; then each new checkpoint's files with its MANIFEST.json last (an old
    manifest of the same name is deleted before its files are replaced); then
    meta.json; then the stored checkpoints a prune would remove (all but the
    ``keep_checkpoints`` newest complete ones) are deleted, manifest first. A kill
    between two objects therefore leaves a store whose meta.json names a complete
    checkpoint, tables holding at least the rows it recorded, and at most one
    unsealed (manifest-less) or half-deleted checkpoint, which a pull skips: the
    store resumes from its newest complete checkpoint. An object store replaces
    an object whole, so that holds for a kill at any moment there. ``sync+file://``
    writes a file in place: a kill inside one write can tear that file, which for
    a checkpoint file fails its sha256 (skipped like any damaged checkpoint) but
    for meta.json or a table stops the trial with an error until that file is
    restored (use ``sync+file://`` where a kill mid-write is not expected, or a
    real object store).
  * coordination without renames: the driver's marker, the trial's lease (one
    object rewritten every beat; the same takeover and fencing as on a disk),
    one attempt record per attempt under a unique name (UTC time and a random
    token: no exclusive create needed), the sweep's ``sweep.json`` and early
    stopping's outcome files, all read and written through the file system API.

A store's TensorBoard events stay in the node's scratch copy (removed once the
trial ends); everything ``robolabor runs`` and a resume read is pushed.
``mirror_records`` copies every run's four record files (never checkpoints) into a
local folder so that ``RunTable`` lists a store like a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from robolabor.experiments.faults import kill_point
from robolabor.experiments.files import CHECKPOINT_FILES
from robolabor.experiments.run_table import SKIP
from robolabor.experiments.storage import ATTEMPTS, MARKER, StorageError

SYNC_FILE = "sync+file://"
SCRATCH_ENV = "ROBOLABOR_SYNC_SCRATCH"
BEFORE_CHECKPOINTS = ("episodes.parquet", "evals.parquet", "config.yaml", "optimum.json")
RECORD_FILES = ("meta.json", *BEFORE_CHECKPOINTS)
LISTED = ("meta.json", "config.yaml", "evals.parquet", "episodes.parquet")  # runs' files
CHUNK = 1 << 20


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def scratch_root() -> Path:
    """Where a node keeps its scratch run directories (``ROBOLABOR_SYNC_SCRATCH``)."""
    return Path(os.environ.get(SCRATCH_ENV) or Path(tempfile.gettempdir()) / "robolabor-sync")


@dataclass(frozen=True)
class SyncedStore:
    """A storage root in a ``pyarrow.fs`` file system, addressed by paths relative to
    ``base`` (``"TRIAL/meta.json"``)."""

    uri: str
    fs: pafs.FileSystem
    base: str

    @classmethod
    def from_uri(cls, uri: str) -> SyncedStore:
        if uri.startswith("sync+"):
            inner = urlparse(uri[len("sync+"):])
            if inner.scheme != "file" or inner.netloc not in ("", "localhost") \
                    or not inner.path.startswith("/"):
                raise StorageError(f"--storage {uri}: sync+ takes a local folder as "
                                   f"{SYNC_FILE}/absolute/path")
            return cls(uri, pafs.LocalFileSystem(), inner.path.rstrip("/") or "/")
        try:
            fs, base = pafs.FileSystem.from_uri(uri)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise StorageError(f"--storage {uri}: not a storage this installation can open "
                               f"({_one_line(exc)}); use a path, a file:// URI, "
                               f"{SYNC_FILE}/path, or a URI pyarrow.fs resolves "
                               "(s3://, gs://, abfs://, hdfs://)") from None
        return cls(uri, fs, base.rstrip("/"))

    # ----- objects ------------------------------------------------------------------
    def key(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base

    def _fail(self, rel: str, exc: BaseException) -> StorageError:
        return StorageError(f"{self.uri}/{rel}: {_one_line(exc)}")

    def _open_out(self, rel: str):
        try:
            return self.fs.open_output_stream(self.key(rel))
        except FileNotFoundError:  # a file system with real folders (local, HDFS)
            self.fs.create_dir(self.key(rel).rsplit("/", 1)[0], recursive=True)
            return self.fs.open_output_stream(self.key(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        try:
            with self._open_out(rel) as out:
                out.write(data)
        except OSError as exc:
            raise self._fail(rel, exc) from None

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode())

    def read_bytes(self, rel: str) -> bytes | None:
        """The object's bytes, None when there is none."""
        try:
            with self.fs.open_input_stream(self.key(rel)) as src:
                return src.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._fail(rel, exc) from None

    def read_text(self, rel: str) -> str | None:
        data = self.read_bytes(rel)
        return None if data is None else data.decode()

    def upload(self, local: Path, rel: str) -> None:
        try:
            with local.open("rb") as src, self._open_out(rel) as out:
                shutil.copyfileobj(src, out, CHUNK)
        except OSError as exc:
            raise self._fail(rel, exc) from None

    def download(self, rel: str, local: Path) -> bool:
        try:
            src = self.fs.open_input_stream(self.key(rel))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._fail(rel, exc) from None
        local.parent.mkdir(parents=True, exist_ok=True)
        with src, local.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        return True

    def delete(self, rel: str) -> None:
        self._delete(self.fs.delete_file, rel)

    def delete_dir(self, rel: str) -> None:
        self._delete(self.fs.delete_dir, rel)

    def _delete(self, op, rel: str) -> None:
        """``op`` on the object of ``rel``; one already gone is fine."""
        try:
            op(self.key(rel))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._fail(rel, exc) from None

    def listing(self, rel: str) -> list[pafs.FileInfo]:
        """The entries directly below ``rel`` (none when it does not exist)."""
        try:
            return self.fs.get_file_info(pafs.FileSelector(self.key(rel), allow_not_found=True))
        except OSError as exc:
            raise self._fail(rel, exc) from None

    def exists(self, rel: str) -> bool:
        try:
            return self.fs.get_file_info(self.key(rel)).type == pafs.FileType.File
        except OSError as exc:
            raise self._fail(rel, exc) from None

    # ----- the sweep's coordination -------------------------------------------------
    def prepare(self) -> str:
        """``storage.prepare_storage`` for a store: this sweep's marker; its token."""
        token = secrets.token_hex(8)
        self.write_text(MARKER.format(token=token),
                        json.dumps({"token": token, "host": socket.gethostname()}))
        return token

    def check(self, token: str, node: str) -> None:
        if not self.exists(MARKER.format(token=token)):
            raise StorageError(f"{self.uri}: the sweep storage is not visible on node {node}: "
                               "its marker is missing (another store, or other credentials?)")

    def release(self, token: str) -> None:
        self.delete(MARKER.format(token=token))

    def record_attempt(self, name: str, fields: dict[str, Any]) -> str:
        """One object per attempt, under a name no other attempt can take."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time() % 1:.6f}"[1:]
        rel = f"{ATTEMPTS}/{name}/{stamp}-{secrets.token_hex(4)}.json"
        self.write_text(rel, json.dumps(fields))
        return rel

    def attempts(self, name: str) -> list[dict[str, Any]]:
        """Every attempt recorded for a trial, oldest first."""
        names = sorted(i.base_name for i in self.listing(f"{ATTEMPTS}/{name}")
                       if i.type == pafs.FileType.File and i.base_name[:1].isdigit()
                       and i.base_name.endswith(".json"))
        return [json.loads(self.read_text(f"{ATTEMPTS}/{name}/{n}") or "{}") for n in names]

    # ----- a trial's run directory ------------------------------------------------
    def scratch(self, name: str) -> Path:
        digest = hashlib.sha256(self.uri.encode()).hexdigest()[:12]
        return scratch_root() / digest / name

    def clear_scratch(self, name: str) -> None:
        path = self.scratch(name)
        for folder in (path, path.parent / f".{name}.starting"):
            shutil.rmtree(folder, ignore_errors=True)

    def pull_records(self, name: str, dest: Path) -> bool:
        """A fresh scratch copy of the trial's record files; False when the store holds
        no run of that name (no meta.json: at most the leftovers of a start killed
        before its first push completed)."""
        self.clear_scratch(name)
        if self.read_bytes(f"{name}/meta.json") is None:
            return False
        for file in RECORD_FILES:
            self.download(f"{name}/{file}", dest / file)
        (dest / "checkpoints").mkdir(parents=True, exist_ok=True)
        return True

    def stored_checkpoints(self, name: str) -> list[str]:
        return sorted(i.base_name for i in self.listing(f"{name}/checkpoints")
                      if i.type == pafs.FileType.Directory and i.base_name.startswith("step-"))

    def pull_checkpoint(self, name: str, dest: Path) -> str | None:
        """Fetch the newest stored checkpoint that verifies into ``dest``; None if none."""
        from robolabor.experiments.runs import CheckpointError, verify_checkpoint, warn

        for ckpt in reversed(self.stored_checkpoints(name)):
            local = dest / "checkpoints" / ckpt
            rel = f"{name}/checkpoints/{ckpt}"
            try:
                for file in (*CHECKPOINT_FILES, "MANIFEST.json"):
                    self.download(f"{rel}/{file}", local / file)
                verify_checkpoint(local)
            except CheckpointError as exc:
                warn(f"{self.uri}/{rel}: skipped ({exc})")
                shutil.rmtree(local, ignore_errors=True)
                continue
            return ckpt
        return None

    def push(self, name: str, run: Path, pushed: dict[str, str] | None = None) -> None:
        """Bring the store's copy of the trial up to the scratch run directory ``run``,
        in the order the module docstring gives (each object written or deleted counts
        at the test hook's ``push`` point). ``pushed`` (one dict per attempt) remembers
        what this attempt already wrote, so a file that did not change is not sent
        again: after an early stop, only meta.json is."""
        pushed = {} if pushed is None else pushed

        def send(local: Path, rel: str) -> None:
            digest = hashlib.sha256(local.read_bytes()).hexdigest()
            if pushed.get(rel) != digest:
                self.upload(local, rel)
                pushed[rel] = digest
                kill_point("push")

        for file in BEFORE_CHECKPOINTS:
            if (run / file).is_file():
                send(run / file, f"{name}/{file}")
        stored = set(self.stored_checkpoints(name))
        local = sorted(p.name for p in (run / "checkpoints").glob("step-*") if p.is_dir())
        for ckpt in local:
            rel, folder = f"{name}/checkpoints/{ckpt}", run / "checkpoints" / ckpt
            sealed = (folder / "MANIFEST.json").read_bytes()
            known = pushed.get(f"{rel}/MANIFEST.json")
            if known is None and ckpt in stored:  # (the checkpoint this attempt pulled)
                known = self.read_text(f"{rel}/MANIFEST.json")
            if known == sealed.decode():
                pushed[f"{rel}/MANIFEST.json"] = known
                continue
            self.delete(f"{rel}/MANIFEST.json")  # unsealed while its files change
            for file in CHECKPOINT_FILES:
                self.upload(folder / file, f"{rel}/{file}")
                kill_point("push")
            self.write_bytes(f"{rel}/MANIFEST.json", sealed)
            pushed[f"{rel}/MANIFEST.json"] = sealed.decode()
            kill_point("push")
        send(run / "meta.json", f"{name}/meta.json")
        # (a scratch copy without a checkpoint, a resume that found none usable: the
        # store's are left for a person to look at, never pruned against nothing)
        for ckpt in self._pruned(name, stored, local, run) if local else []:
            self.delete(f"{name}/checkpoints/{ckpt}/MANIFEST.json")
            kill_point("push")
            self.delete_dir(f"{name}/checkpoints/{ckpt}")
            pushed.pop(f"{name}/checkpoints/{ckpt}/MANIFEST.json", None)

    def _pruned(self, name: str, stored: set[str], local: list[str], run: Path) -> list[str]:
        """The stored checkpoints ``RunDir.prune`` would delete: all but the
        ``keep_checkpoints`` newest complete ones. The local ones are complete; a
        stored one newer than the oldest local one is not local only because the pull
        skipped it (damaged) or the run superseded it; an older one counts as complete
        while its manifest is there (the pull verifies before use)."""
        keep = json.loads((run / "meta.json").read_text())["config"]["train"][
            "keep_checkpoints"]
        oldest = min(local, default="")
        older = sorted((c for c in stored - set(local) if c < oldest), reverse=True)
        complete = [*sorted(local, reverse=True),
                    *(c for c in older if self.exists(f"{name}/checkpoints/{c}/MANIFEST.json"))]
        return sorted(stored - set(complete[:keep]))

    # ----- listing -------------------------------------------------------------------
    def find_runs(self, rel: str = "") -> list[str]:
        """Run folders (holding meta.json and config.yaml) at or below ``rel``, as
        ``runs.find_runs`` finds them on a disk."""
        entries = self.listing(rel)
        names = {e.base_name for e in entries if e.type == pafs.FileType.File}
        if {"meta.json", "config.yaml"} <= names:
            return [rel]
        found: list[str] = []
        for e in sorted(entries, key=lambda e: e.base_name):
            if (e.type == pafs.FileType.Directory and not e.base_name.startswith(".")
                    and e.base_name not in SKIP):
                found += self.find_runs(f"{rel}/{e.base_name}" if rel else e.base_name)
        return found

    def mirror_records(self, dest: Path) -> Path:
        """Every run's record files (never a checkpoint) copied into ``dest`` (each file
        fetched only when its size or modification time changed; stamped with the
        store's time, so ``RunTable``'s index stays valid); runs gone from the store
        are removed from the copy. Returns ``dest``."""
        if self.fs.get_file_info(self.base).type != pafs.FileType.Directory:
            raise StorageError(f"{self.uri}: no such folder in the store (runs lists the run "
                               "directories below it)")
        runs = self.find_runs()
        dest.mkdir(parents=True, exist_ok=True)
        for rel in runs:
            infos = {i.base_name: i for i in self.listing(rel)}
            for file in LISTED:
                local, info = dest / rel / file, infos.get(file)
                if info is None or info.type != pafs.FileType.File:
                    local.unlink(missing_ok=True)
                    continue
                mtime = info.mtime_ns
                if (mtime is not None and local.is_file()
                        and local.stat().st_size == info.size
                        and local.stat().st_mtime_ns == mtime):
                    continue
                self.download(f"{rel}/{file}" if rel else file, local)
                if mtime is not None:
                    os.utime(local, ns=(mtime, mtime))
        from robolabor.experiments.run_table import find_runs

        keep = {(dest / rel).resolve() for rel in runs}
        for path in find_runs(dest):
            if path.resolve() not in keep:
                shutil.rmtree(path, ignore_errors=True)
        return dest

    def records_cache(self) -> Path:
        """The local folder ``robolabor runs URI`` mirrors the store into."""
        return self.scratch(".runs-table")
