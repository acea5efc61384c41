"""A sweep on a real two-node Ray cluster (loopback only) survives losing a node.

The cluster is two ``ray start`` nodes on 127.0.0.2 / 127.0.0.3 with one CPU each
(``experiments.loopback_cluster``). Mid-sweep, once a trial running on the worker
node has sealed a checkpoint past step 0, the worker node's raylet is killed with
SIGKILL. Every trial must still finish; the lost one must have been retried on the
head node and resumed from a sealed checkpoint (not restarted); and the runs'
tables must equal those of the same spec run by local processes, uninterrupted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the sweep extra (ray[tune]) is not installed")
pytest.importorskip("duckdb", reason="the sweep extra (duckdb) is not installed")

from robolabor.experiments.loopback_cluster import WORKER_IP, LoopbackCluster  # noqa: E402
from robolabor.experiments.run_table import RunTable  # noqa: E402
from robolabor.experiments.runs import read_table  # noqa: E402
from robolabor.experiments.sweep_runner import ATTEMPTS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = """
name: tiny
base: {base}
set:
  train.total_steps: 960
  train.eval_every: 480
  train.checkpoint_every: 240
  train.eval_episodes: 2
  sac.learning_starts: 120
  sac.batch_size: 32
  sac.hidden_sizes: [64, 64]
  encoder.hidden_dim: 64
  encoder.latent_dim: 32
grid:
  sac.lr_actor: [3.0e-4, 1.0e-3]
seeds: [0, 1]
"""
TIMING = {"wall_seconds"}  # the only columns that may differ between two runs


def _sweep(spec: Path, storage: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "robolabor.cli", "sweep", str(spec),
                             "--storage", str(storage), "--json", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _trial_on_node_with_checkpoint(storage: Path, node: str) -> str | None:
    """A trial whose current attempt runs on ``node`` and has sealed a step > 0."""
    for attempt in storage.glob(f"{ATTEMPTS}/*/[0-9]*.json"):
        try:
            record = json.loads(attempt.read_text())
        except ValueError:
            continue  # being written
        trial = attempt.parent.name
        if record["node"] == node and any(
                not p.name.endswith("000000000")
                for p in (storage / trial / "checkpoints").glob("step-*")):
            return trial
    return None


def _tables(storage: Path) -> dict[str, dict[str, list]]:
    out = {}
    for run in sorted(p for p in storage.iterdir() if (p / "meta.json").is_file()):
        out[run.name] = {name: [{k: v for k, v in row.items() if k not in TIMING}
                                for row in read_table(run / f"{name}.parquet")]
                         for name in ("episodes", "evals")}
    return out


def test_sweep_survives_losing_the_worker_node(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.format(base=ROOT / "configs" / "shift_state.yaml"))
    on_ray, local = tmp_path / "ray", tmp_path / "local"
    with LoopbackCluster(ROOT) as cluster:
        _, worker_node = cluster.raylet(WORKER_IP)
        proc = _sweep(spec, on_ray, cluster.env, "--backend", "ray",
                      "--address", cluster.address)
        try:
            killed, deadline = None, time.monotonic() + 240
            while killed is None and proc.poll() is None and time.monotonic() < deadline:
                killed = _trial_on_node_with_checkpoint(on_ray, worker_node)
                if killed is None:
                    time.sleep(0.1)
            assert killed is not None, "no trial reached a checkpoint on the worker node"
            cluster.kill_worker_raylet()
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out)  # stdout is the JSON alone, whatever Ray printed
    trials = {t["trial"]: t for t in summary["trials"]}
    assert len(trials) == 4 and all(t["status"] == "finished" for t in trials.values())
    assert all(t["env_steps"] == 960 for t in trials.values())
    lost = trials[killed]
    assert lost["action"] == "resumed" and lost["attempts"] >= 2
    assert worker_node in lost["nodes"] and len(lost["nodes"]) == 2  # retried elsewhere
    assert lost["resumed_from"] not in (None, "step-000000000")  # from a real checkpoint

    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    base = _sweep(spec, local, env)
    out_local, err_local = base.communicate(timeout=300)
    assert base.returncode == 0, err_local[-3000:]
    assert {t["trial"] for t in json.loads(out_local)["trials"]} == set(trials)
    assert _tables(on_ray) == _tables(local)  # every row of every table, bit for bit
    keep = "* EXCLUDE (wall_seconds)"
    by_name = "ORDER BY config_hash"
    assert (RunTable(on_ray).query(f"SELECT {keep} FROM runs {by_name}")
            == RunTable(local).query(f"SELECT {keep} FROM runs {by_name}"))
