"""Early stopping for a sweep: each trial a Ray Tune trial under the ASHA scheduler.

Each trial is run as ``sweep_runner.run_trial`` runs it everywhere else: start,
resume or skip its run directory in the shared storage. The only addition is the
trainer's evaluation hook, which reports ``pct_of_frontier`` (the score that charges
a policy for the errors it spent over the SLA) at the evaluation's env step to Tune.
ASHA (asynchronous successive halving; Li et al. 2020) lets a trial past a rung only
if it is in the top ``1/reduction_factor`` of the trials that reached that rung so
far; rungs sit at ``grace_period · reduction_factor^k`` env steps up to the trials'
``total_steps``. When ASHA stops a trial, Tune raises ``SystemExit`` inside the
report; the hook turns that into the trainer's stop request. Every evaluation is
checkpointed before it is reported, so a trial Tune ends at once (it may end the
process right after that report) is sealed at the evaluation that stopped it; it is
then marked ``stopped``, by the trial itself or, failing that, by the driver.

A worker or node lost mid-trial is retried by Tune (``max_failures``) and the retry
resumes the run directory from its last sealed checkpoint, as on the plain Ray
backend. Each trial's outcome is written beside its attempts in the storage (the
driver reads it there: every node reaches the storage by construction), through the
store's file system API on a synced store; Tune's own experiment state then stays
in the driver's scratch folder (no Tune checkpoint is ever written).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from robolabor.experiments.files import atomic_write_text
from robolabor.experiments.storage import ATTEMPTS
from robolabor.experiments.sweep import RayBackend
from robolabor.schema import ConfigError

OUTCOME = "outcome.json"
METRIC, TIME_ATTR = "pct_of_frontier", "env_steps"


def _report_to_tune(row: dict[str, Any]) -> bool:
    """The trainer's hook: report one evaluation; True when Tune says stop."""
    from ray import tune

    score = row.get(METRIC)
    if score is None or not math.isfinite(float(score)):
        return False  # nothing to rank it by (a task without an exact optimum)
    try:
        tune.report({METRIC: float(score), TIME_ATTR: int(row["step"]),
                     "sla_verdict": str(row.get("sla_verdict"))})
    except SystemExit:  # how Tune ends a function trial it has stopped
        return True
    return False


def _tune_trial(config: dict[str, Any], jobs: dict[str, dict[str, Any]]) -> None:
    """A Tune function trainable: one sweep trial, its outcome written to storage."""
    from robolabor.experiments.storage import resolve_storage
    from robolabor.experiments.sweep_runner import run_trial

    job = jobs[config["trial"]]
    outcome = run_trial(**job, on_eval=_report_to_tune)
    root, rel = resolve_storage(job["storage"]), f"{ATTEMPTS}/{job['trial']['name']}/{OUTCOME}"
    if isinstance(root, Path):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / rel, json.dumps(outcome, default=float))
    else:
        root.write_text(rel, json.dumps(outcome, default=float))


def asha_settings(early: dict[str, Any], trials: list[dict[str, Any]]) -> dict[str, Any]:
    """ASHA's arguments for these trials: ``max_t`` their longest total_steps and, by
    default, ``grace_period`` two evaluation intervals past the longest uniform warm-up
    (a rung inside the warm-up would rank policies that have not learned yet, which
    is refused when asked for)."""
    train = [t["config"]["train"] for t in trials]
    warmup = max(int(t["config"]["sac"]["learning_starts"]) for t in trials)
    max_t = max(int(t["total_steps"]) for t in train)
    grace = early["grace_period"] or warmup + 2 * int(train[0]["eval_every"])
    if grace <= warmup:
        raise ConfigError(f"early_stopping.grace_period: {grace} env steps falls within the "
                          f"uniform warm-up (sac.learning_starts {warmup}): the first rung "
                          "would rank policies that have not learned yet")
    return {"time_attr": TIME_ATTR, "metric": METRIC, "mode": "max", "max_t": max_t,
            "grace_period": min(grace, max_t), "reduction_factor": early["reduction_factor"]}


def run_with_early_stopping(jobs: list[dict[str, Any]], early: dict[str, Any], root,
                            address: str | None = None, workers: int | None = None,
                            max_retries: int = 3) -> list[dict[str, Any]]:
    """Run the sweep's jobs as Tune trials under ASHA; one outcome per job, in order.
    ``root``: the storage's path, or its synced store."""
    settings = asha_settings(early, [j["trial"] for j in jobs])  # checked before Ray starts
    synced = not isinstance(root, Path)
    tune_dir = root.scratch(".tune") if synced else (root / ".tune").resolve()
    backend = RayBackend(address=address, workers=workers, max_retries=max_retries)
    try:
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler

        by_name = {job["trial"]["name"]: job for job in jobs}
        for name in by_name:  # an outcome left by an earlier run of the spec is not this one's
            if synced:
                root.delete(f"{ATTEMPTS}/{name}/{OUTCOME}")
            else:
                (root / ATTEMPTS / name / OUTCOME).unlink(missing_ok=True)
        scheduler = ASHAScheduler(**settings)
        trainable = tune.with_resources(tune.with_parameters(_tune_trial, jobs=by_name),
                                        {"cpu": 1})
        tuner = tune.Tuner(
            trainable, param_space={"trial": tune.grid_search(list(by_name))},
            tune_config=tune.TuneConfig(scheduler=scheduler,
                                        max_concurrent_trials=workers or None),
            run_config=tune.RunConfig(
                name="tune", storage_path=str(tune_dir), verbose=0,
                failure_config=tune.FailureConfig(max_failures=max_retries)))
        grid = tuner.fit()
        errors = {r.config["trial"]: r.error for r in grid if r.error is not None}
    finally:
        backend.close()
    return [_outcome(root, name, job["trial"], errors.get(name)) for name, job in by_name.items()]


def _outcome(root, name: str, trial: dict[str, Any], error: Any) -> dict[str, Any]:
    """A trial's outcome: as its worker wrote it, else rebuilt from its run directory
    (on a synced store: from a scratch copy of its record files, the status written
    back to the store's meta.json).

    Tune may end a stopped trial's process right after the report that stopped it,
    before the worker records anything: the run is then sealed at that evaluation
    (the trainer checkpoints before it reports) but still marked running, and is
    marked ``stopped`` here. A trial Tune reports as failed stays failed."""
    synced = not isinstance(root, Path)
    written = (root.read_text(f"{ATTEMPTS}/{name}/{OUTCOME}") if synced else
               (root / ATTEMPTS / name / OUTCOME).read_text()
               if (root / ATTEMPTS / name / OUTCOME).is_file() else None)
    if written is not None:
        return json.loads(written)
    out = {"trial": name, "seed": trial["seed"], "point": trial["point"],
           "config_hash": trial["config_hash"]}
    if not synced:
        return _rebuilt(root, root / name, name, out, error)
    try:
        found = error is None and root.pull_records(name, root.scratch(name))
        return _rebuilt(root, root.scratch(name) if found else None, name, out, error)
    finally:
        root.clear_scratch(name)


def _rebuilt(root, run: Path | None, name: str, out: dict[str, Any],
             error: Any) -> dict[str, Any]:
    from robolabor.experiments.runs import RunDir
    from robolabor.experiments.sweep_runner import attempt_records, trial_result

    if error is not None or run is None or not (run / "meta.json").is_file():
        reason = " ".join(str(error or "the trial left no run directory").split())[:300]
        return out | {"action": "failed", "status": "failed", "error": reason}
    meta = RunDir.open(run).read_meta()
    if meta.get("status") == "running":
        total = meta["config"]["train"]["total_steps"] if "config" in meta else "?"
        RunDir.open(run).mark_stopped(meta.get("env_steps"), total)
        if not isinstance(root, Path):  # the store's record, not only the scratch copy
            root.upload(run / "meta.json", f"{name}/meta.json")
    attempts = attempt_records(root, name)
    state = attempts[-1]["state"] if attempts else "new"
    action = {"new": "started", "unfinished": "resumed"}.get(state, "skipped")
    return out | {"action": action} | trial_result(run)
