"""A sweep: one base config, a grid or random search over dotted keys, several seeds.

Every trial is an ordinary run directory under the sweep's storage root, named
``NAME-POINT-sSEED`` where POINT is the config hash of the trial's settings with
the seed set aside (so the seeds of one setting sort together and a name is the
same on every re-run). A trial job therefore needs no memory of earlier attempts:

  * no run directory yet      -> start it (``trainer.start_run``; a start that was
                                  killed left only a hidden staging folder, cleared)
  * a run that is not finished -> resume it from its newest sealed checkpoint
                                  (``trainer.resume_run``)
  * a finished run             -> skip it, report its final evaluation

which is what makes the Ray backend's retries (a worker or node that dies mid-trial)
and a re-run of the same spec both land on the result of an uninterrupted sweep.
On a synced store (an object store URI, ``storage``) the same decision is taken from
a node-local copy of the run directory pulled from the store first, and the trial's
checkpoints are pushed back as they are sealed (``synced_storage``).

Spec (YAML)::

    name: lr_grid                  # trial-name prefix; default: the spec's file name
    base: shift_state              # a config file (relative to the spec) or a packaged one
    set: {train.total_steps: 3000} # fixed dotted overrides for every trial
    grid:                          # every combination (optional)
      sac.actor_lr: [3.0e-4, 1.0e-3]
    random:                        # sampled points (optional; crossed with the grid)
      samples: 4
      seed: 0
      space:
        sac.gamma: {uniform: [0.95, 0.995]}
        sac.critic_lr: {loguniform: [1.0e-4, 1.0e-3]}
        sac.batch_size: {choice: [64, 128]}
    seeds: [100, 101]              # or {first: 100, count: 4}
    storage: runs/sweep-lr_grid    # default runs/sweep-NAME; --storage overrides
    early_stopping:                # opt-in, --backend ray only: Ray Tune's ASHA on the
      scheduler: asha              #   pct_of_frontier of each evaluation
      grace_period: 16000          # env steps before a trial can be stopped (default:
      reduction_factor: 3          #   sac.learning_starts + 2 x train.eval_every);
                                   #   each rung keeps the top 1/3

A trial that early stopping ends is checkpointed at that evaluation and marked
``stopped`` (``sweep_tune``); a re-run of the spec keeps the decision (skips it), and
``robolabor train --resume RUN`` can still take it to its total_steps. Which trials
are stopped depends on the order their evaluations reach the scheduler, so an ASHA
sweep, unlike a plain one, is not a pure function of its spec.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import secrets
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.errors import UserError
from robolabor.experiments.config import (
    PACKAGED_CONFIGS,
    config_from_dict,
    config_hash,
    read_yaml,
    read_yaml_mapping,
    resolve_config_path,
)
from robolabor.experiments.runs import RunDir, atomic_write_text, now_iso, read_table
from robolabor.experiments.storage import (
    ATTEMPTS,
    check_storage,
    prepare_storage,
    release_storage,
    resolve_storage,
)
from robolabor.experiments.sweep import get_backend
from robolabor.schema import ConfigError, replace, to_dict

SPEC_KEYS = ("name", "base", "set", "grid", "random", "seeds", "storage", "early_stopping")
SCHEDULERS = ("asha",)
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")


# ----------------------------------------------------------------------------- the spec

def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read and check a sweep spec (a file, or a packaged one by name: ``smoke``);
    ``overrides`` (``--set``) join its ``set``."""
    path = Path(path)
    packaged = PACKAGED_CONFIGS / "sweeps" / f"{path.stem}.yaml"
    if not path.is_file() and path.suffix in ("", ".yaml") and packaged.is_file():
        path = packaged
    data = read_yaml_mapping(path, what="sweep spec", top="sweep keys")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; a sweep spec has {list(SPEC_KEYS)}")
    if "base" not in data:
        raise ConfigError(f"{path}: base: required (a config file or a packaged config name)")
    for key in ("set", "grid", "random"):
        if not isinstance(data.get(key) or {}, dict):
            raise ConfigError(f"{path}: {key}: must be a mapping")
    base = Path(str(data["base"]))
    local = path.parent / base
    spec = {"path": str(path), "name": str(data.get("name") or path.stem),
            "base": str(local if local.is_file() else resolve_config_path(base)),
            "set": {**(data.get("set") or {}), **(overrides or {})},
            "grid": _grid(data.get("grid") or {}, path),
            "random": _random(data.get("random"), path),
            "seeds": _seeds(data.get("seeds"), path),
            "storage": data.get("storage"),
            "early_stopping": _early_stopping(data.get("early_stopping"), path)}
    if not spec["name"].replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"{path}: name: letters, digits, '-' and '_' only, got {spec['name']!r}")
    return spec


def _grid(grid: dict, path: Path) -> dict[str, list]:
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: grid.{key}: must be a non-empty list of values")
    return grid


def _random(section: Any, path: Path) -> dict[str, Any] | None:
    if section is None:
        return None
    where = f"{path}: random"
    unknown = sorted(set(section) - {"samples", "seed", "space"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} (samples, seed, space)")
    samples, space = section.get("samples"), section.get("space")
    if not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"{where}.samples: must be an integer >= 1, got {samples!r}")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{where}.space: must map dotted keys to distributions")
    for key, dist in space.items():
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise ConfigError(f"{where}.space.{key}: one of {{choice: [..]}}, {{uniform: [lo, "
                              f"hi]}}, {{loguniform: [lo, hi]}}, {{randint: [lo, hi]}}")
        kind, args = next(iter(dist.items()))
        if not isinstance(args, list) or not args or (kind != "choice" and len(args) != 2):
            raise ConfigError(f"{where}.space.{key}.{kind}: expected a list "
                              f"({'values' if kind == 'choice' else '[lo, hi]'})")
        if kind == "loguniform" and not min(args) > 0:
            raise ConfigError(f"{where}.space.{key}.loguniform: bounds must be > 0")
    return {"samples": samples, "seed": int(section.get("seed", 0)), "space": space}


def _early_stopping(section: Any, path: Path) -> dict[str, Any] | None:
    if section is None:
        return None
    where = f"{path}: early_stopping"
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: must be a mapping (scheduler, grace_period, "
                          "reduction_factor)")
    unknown = sorted(set(section) - {"scheduler", "grace_period", "reduction_factor"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} (scheduler, grace_period, "
                          "reduction_factor)")
    scheduler = section.get("scheduler", "asha")
    if scheduler not in SCHEDULERS:
        raise ConfigError(f"{where}.scheduler: one of {list(SCHEDULERS)}, got {scheduler!r}")
    grace = section.get("grace_period")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)
                              or grace < 1):
        raise ConfigError(f"{where}.grace_period: env steps, an integer >= 1, got {grace!r}")
    factor = section.get("reduction_factor", 3)
    if not isinstance(factor, int | float) or isinstance(factor, bool) or not factor > 1:
        raise ConfigError(f"{where}.reduction_factor: a number > 1, got {factor!r}")
    return {"scheduler": scheduler, "grace_period": grace, "reduction_factor": factor}


def _seeds(seeds: Any, path: Path) -> list[int]:
    if isinstance(seeds, dict) and set(seeds) == {"first", "count"}:
        seeds = list(range(int(seeds["first"]), int(seeds["first"]) + int(seeds["count"])))
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                       for s in seeds)):
        raise ConfigError(f"{path}: seeds: a non-empty list of integers >= 0, or "
                          f"{{first: N, count: K}}; got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{path}: seeds: {seeds} repeats a seed")
    return seeds


def sample_space(random: dict[str, Any]) -> list[dict[str, Any]]:
    """The random points, a pure function of the spec's ``random`` section."""
    rng = np.random.default_rng(random["seed"])
    points = []
    for _ in range(random["samples"]):
        point = {}
        for key, dist in random["space"].items():
            kind, args = next(iter(dist.items()))
            if kind == "choice":
                value = args[int(rng.integers(len(args)))]
            elif kind == "uniform":
                value = float(rng.uniform(args[0], args[1]))
            elif kind == "loguniform":
                value = float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
            else:
                value = int(rng.integers(args[0], args[1] + 1))
            point[key] = value
        points.append(point)
    return points


def points_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Grid combinations crossed with random samples (either may be absent)."""
    keys = list(spec["grid"])
    grid = [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(spec["grid"][k] for k in keys))]
    sampled = sample_space(spec["random"]) if spec["random"] else [{}]
    return [{**g, **r} for g in grid for r in sampled]


def point_hash(cfg) -> str:
    """The config hash of a trial's settings with the seed set aside."""
    return config_hash(replace(cfg, train=replace(cfg.train, seed=0)))


def expand_trials(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (point, seed) of the spec as a validated, named trial."""
    base = read_yaml(Path(spec["base"]).read_text(), spec["base"])
    trials = []
    for point in points_of(spec):
        for seed in spec["seeds"]:
            overrides = {**spec["set"], **point, "train.seed": seed, "train.progress": False}
            try:
                cfg = config_from_dict(base, overrides)
            except ConfigError as exc:
                raise ConfigError(f"{spec['path']}: trial {point or 'base'} seed {seed}: "
                                  f"{exc}") from None
            trials.append({"name": f"{spec['name']}-{point_hash(cfg)}-s{seed}", "seed": seed,
                           "point": point, "config": to_dict(cfg),
                           "config_hash": config_hash(cfg)})
    names = [t["name"] for t in trials]
    if len(set(names)) != len(names):
        raise ConfigError(f"{spec['path']}: two points of the search give the same config "
                          "(a grid value repeated, or a key the base already sets that way)")
    return trials


# ----------------------------------------------------------------------------- one trial

def _node() -> str:
    """This worker's Ray node id when run by Ray, else the host name."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            return ray.get_runtime_context().get_node_id()
        except Exception:  # noqa: BLE001 (a driver-side call outside a task)
            pass
    return socket.gethostname()


def _record_attempt(root, name: str, fields: dict[str, Any]) -> Path | str:
    if not isinstance(root, Path):  # a synced store: a unique name, no exclusive create
        return root.record_attempt(name, fields)
    folder = root / ATTEMPTS / name
    folder.mkdir(parents=True, exist_ok=True)
    for n in itertools.count():
        path = folder / f"{n:03d}.json"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps({"attempt": n, **fields}))
        return path
    raise AssertionError("unreachable")


class Lease:
    """One writer per trial. An attempt holds ``lease.json`` in the trial's attempts
    folder and rewrites it every ``BEAT`` seconds; a new attempt (Ray's retry after a
    node was lost, or a re-run) waits until the old holder has been silent for
    ``STALE`` seconds before it takes over. A holder that finds its lease taken over
    exits at once: a worker cut off from its node never writes beside its successor."""

    BEAT, STALE, WAIT = 1.0, 8.0, 120.0

    def __init__(self, folder: Path, holder: dict[str, Any]) -> None:
        self.path, self.holder = folder / "lease.json", holder
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a beat in flight never rewrites a released lease

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _write(self) -> None:
        atomic_write_text(self.path, json.dumps({**self.holder, "beat": time.time()}))

    def acquire(self) -> None:
        deadline = time.monotonic() + self.WAIT
        while True:
            held = self._read()
            if held is None or time.time() - held.get("beat", 0.0) > self.STALE:
                break
            if time.monotonic() > deadline:
                raise UserError(f"{self.path}: trial still held by {held} after "
                                f"{self.WAIT:.0f} s; is another sweep running it?")
            time.sleep(self.BEAT)
        self._write()
        threading.Thread(target=self._beat, daemon=True, name="trial-lease").start()

    def _beat(self) -> None:
        while not self._stop.wait(self.BEAT):
            with self._lock:
                if self._stop.is_set():
                    return
                held = self._read()
                if held is not None and held.get("token") != self.holder["token"]:
                    os._exit(3)  # fenced: another attempt owns the trial now
                self._write()

    def _remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        with self._lock:
            self._stop.set()
            if (self._read() or {}).get("token") == self.holder["token"]:
                self._remove()


class StoreLease(Lease):
    """The lease as one object in a synced store, rewritten in place every beat (a
    store has no rename); takeover and fencing as on a disk."""

    def __init__(self, store, name: str, holder: dict[str, Any]) -> None:
        super().__init__(Path(ATTEMPTS) / name, holder)
        self.store, self.rel = store, f"{ATTEMPTS}/{name}/lease.json"
        self.path = f"{store.uri}/{self.rel}"  # named in messages only

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.store.read_text(self.rel) or "null")
        except (UserError, ValueError):
            return None

    def _write(self) -> None:
        self.store.write_text(self.rel, json.dumps({**self.holder, "beat": time.time()}))

    def _remove(self) -> None:
        self.store.delete(self.rel)


def trial_state(path: Path) -> str:
    """'new', 'unfinished', 'finished' or 'stopped' (by early stopping), from the run
    directory alone."""
    if not (path / "meta.json").is_file():
        return "new"
    run = RunDir.open(path)
    meta = run.read_meta()
    cfg = run.sealed_config()
    if meta.get("status") == "stopped":
        return "stopped"
    done = meta.get("status") == "finished" and meta.get("env_steps") == cfg.train.total_steps
    return "finished" if done else "unfinished"


def run_trial(trial: dict[str, Any], storage: str, token: str,
              on_eval: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Start, resume or skip one trial (see the module docstring); a trial's own
    expected failure (a non-finite loss, a tampered run) is returned, not raised, so
    the other trials go on. ``on_eval`` is the trainer's evaluation hook (early
    stopping). Top-level: it is what the backends pickle."""
    root = resolve_storage(storage)
    if isinstance(root, Path):
        return _run_trial(trial, root, root / trial["name"], token, on_eval)
    try:  # a synced store: the run trains in a scratch copy, pushed as it goes
        return _run_trial(trial, root, root.scratch(trial["name"]), token, on_eval)
    finally:
        root.clear_scratch(trial["name"])


def _run_trial(trial: dict[str, Any], root, path: Path, token: str,
               on_eval: Callable[[dict[str, Any]], bool] | None) -> dict[str, Any]:
    from robolabor.experiments.trainer import resume_run, start_run

    node, synced = _node(), not isinstance(root, Path)
    out = {"trial": trial["name"], "seed": trial["seed"], "point": trial["point"],
           "config_hash": trial["config_hash"], "node": node}
    holder = {"node": node, "pid": os.getpid(), "token": secrets.token_hex(8)}
    lease = (StoreLease(root, trial["name"], holder) if synced
             else Lease(root / ATTEMPTS / trial["name"], holder))
    push = None
    try:
        if synced:
            root.check(token, node)
        else:
            check_storage(root, token, node)
            lease.path.parent.mkdir(parents=True, exist_ok=True)
        lease.acquire()
        if synced and not root.pull_records(trial["name"], path):
            root.delete_dir(trial["name"])  # a start killed before its first push ended
        state = trial_state(path)
        _record_attempt(root, trial["name"], {"node": node, "pid": os.getpid(),
                                              "host": socket.gethostname(), "state": state,
                                              "at": now_iso()})
        if state != "new":
            recorded = RunDir.open(path).read_meta().get("config_hash")
            if recorded != trial["config_hash"]:
                where = f"{root.uri}/{trial['name']}" if synced else path
                raise UserError(f"{where}: holds a run of config {recorded}, not this trial's "
                                f"{trial['config_hash']}: move it away or use another storage")
        if synced and state in ("new", "unfinished"):
            if state == "unfinished":
                root.pull_checkpoint(trial["name"], path)

            pushed: dict[str, str] = {}  # what this attempt sent (unchanged: not resent)

            def push(run: RunDir, _ckpt: Path | None = None) -> None:
                root.push(trial["name"], run.path, pushed)
        if state == "new":
            start_run(config_from_dict(trial["config"]), path, on_eval=on_eval,
                      on_checkpoint=push)
        elif state == "unfinished":
            resume_run(path, on_eval=on_eval, on_checkpoint=push)
        if push is not None and state in ("new", "unfinished"):
            push(RunDir(path))  # the final status, after the last checkpoint
        out["action"] = {"new": "started", "unfinished": "resumed",
                         "finished": "skipped", "stopped": "skipped"}[state]
    except UserError as exc:
        if push is not None and (path / "meta.json").is_file():
            with contextlib.suppress(UserError):  # the failure recorded in the store too
                push(RunDir(path))
        return out | {"action": "failed", "status": "failed", "error": str(exc)}
    finally:
        lease.release()
    return out | trial_result(path)


def trial_result(path: Path) -> dict[str, Any]:
    """The headline of a trial's run: its status and final evaluation."""
    meta = RunDir.open(path).read_meta()
    evals = read_table(path / "evals.parquet")
    final = evals[-1] if evals else {}
    return {"status": meta.get("status"), "env_steps": meta.get("env_steps"),
            "resumed_from": meta.get("resumed_from"),
            "pct_of_frontier": final.get("pct_of_frontier"),
            "sla_verdict": final.get("sla_verdict"), "wall_seconds": meta.get("wall_seconds")}


# ----------------------------------------------------------------------------- the sweep

@contextlib.contextmanager
def stdout_to_stderr():
    """File descriptor 1 pointed at stderr for the duration (threads and C code too)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def attempt_records(root, name: str) -> list[dict[str, Any]]:
    """Every attempt recorded at a trial (a disk's numbered files or a store's)."""
    if not isinstance(root, Path):
        return root.attempts(name)
    return [json.loads(a.read_text())
            for a in sorted((root / ATTEMPTS / name).glob("[0-9]*.json"))]


def run_sweep(spec_path: str | Path, backend: str = "local", address: str | None = None,
              storage: str | None = None, overrides: dict[str, Any] | None = None,
              workers: int | None = None, max_retries: int = 3) -> dict[str, Any]:
    """Run every trial of a spec on a backend; writes ``sweep.json`` into the storage
    root and returns the same summary (one row per trial, in spec order)."""
    spec = load_spec(spec_path, overrides)
    trials = expand_trials(spec)
    root = resolve_storage(storage or spec["storage"] or Path("runs") / f"sweep-{spec['name']}")
    if backend == "local" and workers is None:
        workers = 1  # one heavy process at a time unless asked for more
    early = spec["early_stopping"]
    if early and backend != "ray":
        raise UserError(f"{spec['path']}: early_stopping runs Ray Tune's ASHA: use "
                        "--backend ray (without --address it starts a local Ray instance)")
    if early:
        from robolabor.experiments.sweep_tune import asha_settings

        asha_settings(early, trials)  # its errors before anything is written
    synced = not isinstance(root, Path)
    token = root.prepare() if synced else prepare_storage(root)
    where = root.uri if synced else str(root)
    t0 = time.perf_counter()
    jobs = [{"trial": t, "storage": where, "token": token} for t in trials]
    try:
        with stdout_to_stderr():  # Ray's messages (a node lost) never mix into --json
            if early:
                from robolabor.experiments.sweep_tune import run_with_early_stopping

                results = run_with_early_stopping(jobs, early, root, address=address,
                                                  workers=workers, max_retries=max_retries)
            else:
                runner = get_backend(backend, workers, address=address,
                                     max_retries=max_retries)
                try:
                    results = runner.map(run_trial, jobs)
                finally:
                    getattr(runner, "close", lambda: None)()
    finally:
        if synced:
            root.release(token)
        else:
            release_storage(root, token)
    for result in results:
        attempts = attempt_records(root, result["trial"])
        result["attempts"] = len(attempts)
        result["nodes"] = sorted({a["node"] for a in attempts})
    counts = dict(Counter(r["action"] for r in results))
    statuses = dict(Counter(str(r.get("status")) for r in results))
    summary = {"name": spec["name"], "spec": str(spec_path), "base": spec["base"],
               "storage": where, "backend": backend, "early_stopping": early,
               "trials": results, "counts": counts, "statuses": statuses,
               "wall_seconds": time.perf_counter() - t0}
    text = json.dumps(summary, indent=2, default=float)
    if synced:
        root.write_text("sweep.json", text)
    else:
        atomic_write_text(root / "sweep.json", text)
    failed = [r for r in results if r["action"] == "failed"]
    if failed:
        summary["failed"] = [f"{r['trial']}: {r['error']}" for r in failed]
    return summary
