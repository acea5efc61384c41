"""Early stopping for a sweep: each trial a Ray Tune trial under the ASHA scheduler.

Each trial is run as ``sweep_runner.run_trial`` runs it everywhere else: start,
resume or skip its run directory in the shared storage. The only addition is the
trainer's evaluation hook, which reports ``pct_of_frontier`` (the score that charges
a policy for the errors it spent over the SLA) at the evaluation's env step to Tune.
ASHA (asynchronous successive halving; Li et al. 2020) lets a trial past a rung only
if it is in the top ``1/reduction_factor`` of the trials that reached that rung so
far; rungs sit at ``grace_period · reduction_factor^k`` env steps up to the trials'
``total_steps``. When ASHA stops a trial, Tune raises ``SystemExit`` inside the
report; the hook turns that into the trainer's stop request, so the run is
checkpointed at that evaluation and marked ``stopped`` instead of being cut off
between checkpoints.

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
from robolabor.experiments.sweep import RayBackend

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
    from robolabor.experiments.sweep_runner import ATTEMPTS, run_trial

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
    default, ``grace_period`` two evaluation intervals of the first trial."""
    train = [t["config"]["train"] for t in trials]
    max_t = max(int(t["total_steps"]) for t in train)
    grace = early["grace_period"] or 2 * int(train[0]["eval_every"])
    return {"time_attr": TIME_ATTR, "metric": METRIC, "mode": "max", "max_t": max_t,
            "grace_period": min(grace, max_t), "reduction_factor": early["reduction_factor"]}


def recovered_outcome(root, trial: dict[str, Any]) -> dict[str, Any] | None:
    """The outcome of a trial whose thread was cut short after its run was recorded:
    Tune terminates a stopped trial's actor as soon as the stop is delivered, which
    can fall between the run's last write and the outcome file. Read from the run's
    records in the storage, only when they say stopped or finished; else None."""
    from robolabor.errors import UserError
    from robolabor.experiments.sweep_runner import attempt_records, trial_result

    name, synced = trial["name"], not isinstance(root, Path)
    path = root.scratch(name) if synced else root / name
    try:
        if synced and not root.pull_records(name, path):
            return None
        result = trial_result(path)
    except UserError:
        return None
    finally:
        if synced:
            root.clear_scratch(name)
    attempts = attempt_records(root, name)
    if result["status"] not in ("stopped", "finished") or not attempts:
        return None
    action = {"new": "started", "unfinished": "resumed"}.get(attempts[-1].get("state"),
                                                              "skipped")
    return {"trial": name, "seed": trial["seed"], "point": trial["point"],
            "config_hash": trial["config_hash"], "node": attempts[-1].get("node"),
            "action": action, "recovered": True} | result


def run_with_early_stopping(jobs: list[dict[str, Any]], early: dict[str, Any], root,
                            address: str | None = None, workers: int | None = None,
                            max_retries: int = 3) -> list[dict[str, Any]]:
    """Run the sweep's jobs as Tune trials under ASHA; one outcome per job, in order.
    ``root``: the storage's path, or its synced store."""
    from robolabor.experiments.sweep_runner import ATTEMPTS

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
        scheduler = ASHAScheduler(**asha_settings(early, [j["trial"] for j in jobs]))
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
    outcomes = []
    for name, job in by_name.items():
        rel = f"{ATTEMPTS}/{name}/{OUTCOME}"
        text = root.read_text(rel) if synced else (
            (root / rel).read_text() if (root / rel).is_file() else None)
        if text is not None:
            outcomes.append(json.loads(text))
            continue
        error = errors.get(name)
        recovered = None if error is not None else recovered_outcome(root, job["trial"])
        if recovered is not None:
            outcomes.append(recovered)
            continue
        outcomes.append({"trial": name, "seed": job["trial"]["seed"],
                         "point": job["trial"]["point"],
                         "config_hash": job["trial"]["config_hash"], "action": "failed",
                         "status": "failed",
                         "error": " ".join(str(error or "no outcome written").split())[:300]})
    return outcomes
