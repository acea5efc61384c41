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
    """Runs each job as a Ray task with one CPU (``pip install -e .[sweep]``).

    ``address`` (or ``RAY_ADDRESS``) attaches to a running cluster; without either a
    private local instance is started (never some other cluster found on the host). A
    task whose worker process or node dies is retried up to ``max_retries`` times on
    any node; an exception the job raises is not retried (it would raise again). Every
    job is waited for before a failure is raised: the first exception a job raised, as
    it was raised, else the jobs whose workers were lost with every retry spent."""

    def __init__(self, address: str | None = None, workers: int | None = None,
                 max_retries: int = 3) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("the ray backend needs the optional extra: "
                            "pip install -e '.[sweep]'") from None
        self.ray, self.max_retries = ray, max_retries
        address = address or os.environ.get("RAY_ADDRESS") or None
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(address="local", num_cpus=workers, include_dashboard=False,
                             log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise UserError(f"ray: cannot attach to the cluster at {address!r} "
                                f"({' '.join(str(exc).split())[:300]})") from None

    def map(self, fn: Callable[..., Any], jobs: Sequence[dict[str, Any]]) -> list[Any]:
        remote = self.ray.remote(num_cpus=1, max_retries=self.max_retries,
                                 retry_exceptions=False)(_call)
        refs = [remote.remote(fn, job) for job in jobs]
        results, raised, lost = [], [], []
        for i, ref in enumerate(refs):
            try:
                results.append(self.ray.get(ref))
            except self.ray.exceptions.RayTaskError as exc:  # the job itself raised
                results.append(None)
                raised.append(exc.cause if isinstance(exc.cause, BaseException) else exc)
            except self.ray.exceptions.RayError as exc:  # its worker or node, retries spent
                results.append(None)
                lost.append(f"job {i}: {' '.join(str(exc).split())[:300]}")
        if raised:  # as a local run raises it: a UserError stays one line, a bug keeps
            raise raised[0]  # its traceback
        if lost:
            raise JobsFailed(f"{len(lost)} of {len(jobs)} ray job(s) failed after "
                             f"{self.max_retries} retries: {'; '.join(lost)}")
        return results

    def close(self) -> None:
        """Disconnect (and stop a private local instance) if this backend started Ray."""
        if self.owns_ray:
            self.ray.shutdown()


class JobsFailed(UserError, RuntimeError):
    """Ray jobs that still failed after their retries (all others completed)."""


def get_backend(name: str = "local", workers: int | None = None,
                address: str | None = None, max_retries: int = 3) -> SweepBackend:
    """``address`` (or ``RAY_ADDRESS``) only means something to the ray backend."""
    if name == "local":
        if address:
            raise UserError("--address names a Ray cluster: use it with --backend ray")
        return LocalProcessBackend(workers)
    if name == "ray":
        return RayBackend(address=address, workers=workers, max_retries=max_retries)
    raise UserError(f"unknown sweep backend {name!r}: choose 'local' or 'ray'")
