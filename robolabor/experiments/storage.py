"""Where a sweep's run directories live: a storage root every node of a cluster reaches.

Two modes, chosen by the URI:

  * a path (or ``file://`` URI): run directories are written in place with POSIX
    file operations (atomic renames, fsync, a sealed checkpoint renamed into
    place), so the path must be a local folder for one machine, or a shared file
    system (NFS, a cluster file system) mounted at the same path on every node.
  * any other scheme ``pyarrow.fs.FileSystem.from_uri`` resolves (``s3://``,
    ``gs://``, ``abfs://``, ``hdfs://``), or ``sync+file:///abs/path``: a *synced*
    store (``synced_storage``). Each trial trains in a node-local scratch copy of its
    run directory and pushes it to the store after every sealed checkpoint, in an
    order that keeps the store resumable, and nothing there is ever renamed.
    ``sync+file://`` drives a local folder through exactly that code; it is what
    the tests use, and it suits a mount that lacks atomic rename (a FUSE bucket).

Credentials and region come from the URI's query or the usual environment of
each file system (pyarrow's rules: ``s3://bucket/runs?region=eu-west-1``; without a
region, resolving an s3:// URI asks the bucket for it over the network). Any
other scheme, or a URI pyarrow refuses, is a one-line ``StorageError``.

The driver writes a marker named by a fresh token into the root before any trial
starts; a trial checks it before it writes, so a node that does not see the shared
storage (it would otherwise write a private copy the driver never sees) fails with
a message naming the node and the path instead.
"""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path
from urllib.parse import urlparse

from robolabor.errors import UserError

MARKER = ".robolabor-sweep-{token}.json"
ATTEMPTS = ".sweep-attempts"  # per trial: one record per attempt (node, pid, state), its lease
SUPPORTED = "a path or a file:// URI (shared by every node: NFS, a cluster file system, " \
            "a FUSE-mounted bucket)"


class StorageError(UserError, RuntimeError):
    """The storage URI is not supported, or a node cannot reach it."""


def resolve_storage(uri: str | Path):
    """The absolute local path behind a path URI (``/mnt/nfs/runs``, ``runs/x``,
    ``file:///mnt/nfs/runs``), else the ``SyncedStore`` of an object-store URI (or
    ``sync+file://``); a URI neither resolves is a ``StorageError``."""
    text = str(uri)
    parsed = urlparse(text)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # len 1: a drive letter
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise StorageError(f"--storage {text}: a file:// URI names a path on this "
                                   f"host (file:///path), not host {parsed.netloc!r}")
            text = parsed.path
        return Path(text).expanduser().absolute()
    from robolabor.experiments.synced_storage import SyncedStore

    return SyncedStore.from_uri(text)


def prepare_storage(root: Path) -> str:
    """Create the root and write this sweep's marker; returns its token. Each sweep has
    its own marker, so two sweeps sharing a root never invalidate each other."""
    token = secrets.token_hex(8)
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKER.format(token=token)).write_text(
            json.dumps({"token": token, "host": socket.gethostname()}))
    except OSError as exc:
        raise StorageError(f"{root}: cannot write the sweep storage "
                           f"({exc.strerror or exc})") from None
    return token


def check_storage(root: Path, token: str, node: str) -> None:
    """Refuse to write unless this node sees the driver's marker."""
    if not (root / MARKER.format(token=token)).is_file():
        raise StorageError(f"{root}: the sweep storage is not visible on node {node}: every "
                           f"node must mount the same storage at the same path ({SUPPORTED})")


def release_storage(root: Path, token: str) -> None:
    (root / MARKER.format(token=token)).unlink(missing_ok=True)
