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
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the sweep extra (ray[tune]) is not installed")
pytest.importorskip("duckdb", reason="the sweep extra (duckdb) is not installed")

from robolabor.experiments.loopback_cluster import (  # noqa: E402
    WORKER_IP,
    LoopbackCluster,
    comparable_tables,
    sweep_command,
    sweep_losing_the_worker,
)
from robolabor.experiments.run_table import RunTable  # noqa: E402

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


def test_sweep_survives_losing_the_worker_node(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.format(base=ROOT / "configs" / "shift_state.yaml"))
    on_ray, local = tmp_path / "ray", tmp_path / "local"
    with LoopbackCluster(ROOT) as cluster:
        _, worker_node = cluster.raylet(WORKER_IP)
        # stdout must be the JSON alone, whatever Ray printed when the node went
        summary, killed, _ = sweep_losing_the_worker(cluster, spec, on_ray)
    assert not cluster.pids()  # both nodes and their workers are gone
    assert not list(on_ray.glob(".sweep-attempts/*/lease.json"))  # every lease released
    trials = {t["trial"]: t for t in summary["trials"]}
    assert len(trials) == 4 and all(t["status"] == "finished" for t in trials.values())
    assert all(t["env_steps"] == 960 for t in trials.values())
    lost = trials[killed]
    assert lost["action"] == "resumed" and lost["attempts"] >= 2
    assert worker_node in lost["nodes"] and len(lost["nodes"]) == 2  # retried elsewhere
    assert lost["resumed_from"] not in (None, "step-000000000")  # from a real checkpoint

    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    base = subprocess.run(sweep_command(spec, local), env=env, capture_output=True,
                          text=True, timeout=300)
    assert base.returncode == 0, base.stderr[-3000:]
    assert {t["trial"] for t in json.loads(base.stdout)["trials"]} == set(trials)
    assert comparable_tables(on_ray) == comparable_tables(local)  # every row, bit for bit
    keep = "* EXCLUDE (wall_seconds)"
    by_name = "ORDER BY config_hash"
    assert (RunTable(on_ray).query(f"SELECT {keep} FROM runs {by_name}")
            == RunTable(local).query(f"SELECT {keep} FROM runs {by_name}"))


def test_ray_backend_keeps_order_and_raises_what_a_job_raised(monkeypatch):
    """On a private local instance: results in job order; a job's UserError comes back
    as that one-line error, a bug as the bug (its traceback kept), not retried."""
    from robolabor.experiments.config import parse_overrides
    from robolabor.experiments.storage import StorageError, resolve_storage
    from robolabor.experiments.sweep import get_backend

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    backend = get_backend("ray", workers=1)
    try:
        assert backend.map(resolve_storage, [{"uri": "/a"}, {"uri": "file:///b"}]) == [
            Path("/a"), Path("/b")]
        with pytest.raises(StorageError, match="not a storage this installation") as info:
            backend.map(resolve_storage, [{"uri": "/a"}, {"uri": "ftp://x/y"}])
        assert type(info.value) is StorageError and "\n" not in str(info.value)
        with pytest.raises(TypeError) as bug:
            backend.map(parse_overrides, [{"items": 5}])
        assert type(bug.value) is TypeError
    finally:
        backend.close()
