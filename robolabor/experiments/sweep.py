"""Where many runs execute: a tiny backend interface, local processes by default.

Callers hand a backend a picklable function and a list of keyword dicts and get
the results back in the same order; they never know whether the work ran in a
local process pool or on a Ray cluster. Each job runs in its own process with
one torch thread, so two jobs use the two cores of a small machine fully
without oversubscription.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from robolabor.errors import UserError


class SweepBackend(Protocol):
    def map(self, fn: Callable[..., Any], jobs: Sequence[dict[str, Any]]) -> list[Any]: ...


def _call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    return fn(**kwargs)


def _exit_with_parent(parent_pid: int, poll_seconds: float = 1.0) -> None:
    """Pool initializer: a worker whose parent is gone (killed by SIGTERM or SIGKILL,
    which a pool cannot forward) exits instead of training on as an orphan. Checkpoints
    are sealed atomically, so its run resumes with ``robolabor train --resume``."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


class LocalProcessBackend:
    """A process pool (spawned, so no forked torch state); ``workers=1`` runs inline."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or (os.cpu_count() or 1))

    def map(self, fn: Callable[..., Any], jobs: Sequence[dict[str, Any]]) -> list[Any]:
        if self.workers == 1 or len(jobs) <= 1:
            return [_call(fn, job) for job in jobs]
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)), mp_context=ctx,
                                 initializer=_exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(_call, fn, job) for job in jobs]
            return [f.result() for f in futures]


class RayBackend:
    """Runs each job as a Ray task with one CPU (``pip install -e .[sweep]``)."""

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray backend needs the optional extra: "
                               "pip install -e '.[sweep]'") from None
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=workers, include_dashboard=False,
                     log_to_driver=False)

    def map(self, fn: Callable[..., Any], jobs: Sequence[dict[str, Any]]) -> list[Any]:
        remote = self.ray.remote(num_cpus=1)(_call)
        return self.ray.get([remote.remote(fn, job) for job in jobs])


def get_backend(name: str = "local", workers: int | None = None) -> SweepBackend:
    if name == "local":
        return LocalProcessBackend(workers)
    if name == "ray":
        return RayBackend(workers=workers)
    raise UserError(f"unknown sweep backend {name!r}: choose 'local' or 'ray'")
