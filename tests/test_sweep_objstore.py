"""Sweeps on an object store (the synced storage mode), through ``sync+file://``: a local
folder driven by exactly the object-store code (pyarrow.fs, no renames), so nothing
here touches the network. Each "node" is a scratch folder of its own
(``ROBOLABOR_SYNC_SCRATCH``): a trial killed on one resumes on another from the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_sweep import ROOT, sweep_cli, write_spec

from robolabor.cli import main
from robolabor.experiments.runs import read_table, verify_checkpoint
from robolabor.experiments.storage import StorageError, resolve_storage
from robolabor.experiments.synced_storage import SCRATCH_ENV, SyncedStore

GRID = {"sac.lr_actor": [3e-4, 1e-3]}


def sync_uri(path: Path) -> str:
    return f"sync+file://{path}"


def without_wall(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in rows]


def tables(root: Path, names: list[str]) -> dict:
    return {(n, t): without_wall(read_table(root / n / f"{t}.parquet"))
            for n in names for t in ("episodes", "evals")}


def checkpoints(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The spec swept uninterrupted into a local path (the POSIX mode)."""
    folder = tmp_path_factory.mktemp("reference")
    spec = write_spec(folder, grid=GRID)
    rc, out, err = sweep_cli(spec, folder / "local")
    assert rc == 0, err[-3000:]
    names = [t["trial"] for t in json.loads(out)["trials"]]
    return {"root": folder / "local", "names": names, "tables": tables(folder / "local", names)}


# ----------------------------------------------------------------------------- URIs

def test_storage_uris_resolve_to_a_path_or_a_store(tmp_path):
    assert resolve_storage(str(tmp_path)) == tmp_path  # the POSIX mode, as before
    store = resolve_storage(sync_uri(tmp_path / "s"))
    assert isinstance(store, SyncedStore) and store.base == str(tmp_path / "s")
    # an s3 URI with its region named resolves without asking the network for it
    s3 = resolve_storage("s3://bucket/runs/x?region=us-east-1&endpoint_override=127.0.0.1:9"
                         "&scheme=http")
    assert isinstance(s3, SyncedStore) and s3.base == "bucket/runs/x"
    for uri, message in (("ftp://host/runs", "not a storage this installation can open"),
                         ("nosuch://a/b", "not a storage this installation can open"),
                         ("sync+file://relative/path", "sync+ takes a local folder"),
                         ("sync+s3://bucket/x", "sync+ takes a local folder"),
                         ("sync+file://otherhost/x", "sync+ takes a local folder")):
        with pytest.raises(StorageError) as info:
            resolve_storage(uri)
        assert message in str(info.value) and "\n" not in str(info.value)


def test_the_store_keeps_the_run_directory_constants():
    from robolabor.experiments import runs, sweep_runner, synced_storage

    assert synced_storage.CHECKPOINT_FILES == runs.CHECKPOINT_FILES
    assert synced_storage.ATTEMPTS == sweep_runner.ATTEMPTS


def test_bad_uris_are_one_line_errors(tmp_path, capsys):
    spec = write_spec(tmp_path)
    for uri in ("ftp://b/x", "sync+file://rel"):
        assert main(["sweep", str(spec), "--storage", uri]) == 1
        err = capsys.readouterr().err
        assert err.startswith("robolabor: error: --storage ") and err.count("\n") == 1
    pytest.importorskip("duckdb")
    assert main(["runs", sync_uri(tmp_path / "missing")]) == 1
    assert "no such folder in the store" in capsys.readouterr().err
    assert main(["runs", "ftp://b/x"]) == 1
    assert "not a storage" in capsys.readouterr().err


# ----------------------------------------------------------------------------- coordination

def test_attempt_records_have_unique_names_and_read_back(tmp_path):
    store = resolve_storage(sync_uri(tmp_path))
    for n in range(3):
        store.record_attempt("trial", {"node": f"n{n}"})
    store.write_text(".sweep-attempts/trial/lease.json", "{}")  # not an attempt
    assert [a["node"] for a in store.attempts("trial")] == ["n0", "n1", "n2"]
    assert store.attempts("other") == []
    token = store.prepare()
    store.check(token, "node-a")
    store.release(token)
    with pytest.raises(StorageError, match="not visible on node node-a"):
        store.check(token, "node-a")


def test_a_store_lease_waits_for_a_live_holder_and_fences_a_lost_one(tmp_path, monkeypatch):
    from robolabor.experiments.sweep_runner import Lease, StoreLease

    monkeypatch.setattr(Lease, "STALE", 1.5)
    monkeypatch.setattr(Lease, "BEAT", 0.1)
    store = resolve_storage(sync_uri(tmp_path))
    rel = ".sweep-attempts/t/lease.json"
    store.write_text(rel, json.dumps({"token": "old", "beat": time.time()}))
    t0 = time.monotonic()
    lease = StoreLease(store, "t", {"token": "new"})
    lease.acquire()
    assert time.monotonic() - t0 >= 1.4
    assert json.loads(store.read_text(rel))["token"] == "new"
    lease.release()
    assert store.read_text(rel) is None

    script = textwrap.dedent(f"""
        import time
        from robolabor.experiments.storage import resolve_storage
        from robolabor.experiments.sweep_runner import Lease, StoreLease
        Lease.BEAT = 0.1
        StoreLease(resolve_storage({sync_uri(tmp_path)!r}), "u", {{"token": "first"}}).acquire()
        print("held", flush=True)
        time.sleep(30)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stdout.readline().strip() == "held"
    store.write_text(".sweep-attempts/u/lease.json",
                     json.dumps({"token": "second", "beat": time.time()}))
    assert proc.wait(timeout=10) == 3  # fenced: it stops instead of writing on


# ----------------------------------------------------------------------------- end to end

def test_a_sweep_on_a_store_equals_one_on_a_path(tmp_path, reference, monkeypatch, capsys):
    pytest.importorskip("duckdb")
    spec = write_spec(tmp_path, grid=GRID)
    store, node = tmp_path / "store", tmp_path / "node-a"
    monkeypatch.setenv(SCRATCH_ENV, str(node))
    assert main(["sweep", str(spec), "--storage", sync_uri(store), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    names = [t["trial"] for t in summary["trials"]]
    assert names == reference["names"] and summary["storage"] == sync_uri(store)
    assert [t["action"] for t in summary["trials"]] == ["started"] * 2
    assert all(t["status"] == "finished" and t["attempts"] == 1 for t in summary["trials"])
    assert tables(store, names) == reference["tables"]
    for name in names:  # every run with its checkpoints, each complete
        run = store / name
        assert checkpoints(run) == checkpoints(reference["root"] / name)
        for ckpt in checkpoints(run):
            verify_checkpoint(run / "checkpoints" / ckpt)
        assert json.loads((run / "meta.json").read_text())["status"] == "finished"
        assert not (run / "tb").exists()  # TensorBoard stays on the node
    assert json.loads((store / "sweep.json").read_text())["counts"] == {"started": 2}
    assert not list(store.glob(".robolabor-sweep-*"))  # the marker released
    assert not list(store.glob(".sweep-attempts/*/lease.json"))  # every lease released
    assert not list(node.rglob("meta.json"))  # the scratch copies removed

    # the runs table over the store: the same rows as over the local path
    assert main(["runs", sync_uri(store), "--json"]) == 0
    on_store = json.loads(capsys.readouterr().out)
    assert main(["runs", str(reference["root"]), "--json"]) == 0
    assert without_wall(on_store) == without_wall(json.loads(capsys.readouterr().out))
    assert [r["run_dir"] for r in on_store] == sorted(names)  # names relative to the store
    assert main(["runs", "query", "SELECT run_dir, count(*) AS n FROM episodes GROUP BY 1 "
                 "ORDER BY 1", sync_uri(store), "--json"]) == 0
    assert [r["n"] for r in json.loads(capsys.readouterr().out)] == [4, 4]
    cache = resolve_storage(sync_uri(store)).records_cache()
    assert not list(cache.rglob("checkpoints"))  # never a checkpoint mirrored

    # a re-run (from another node) skips both; the attempts read back from the store
    monkeypatch.setenv(SCRATCH_ENV, str(tmp_path / "node-b"))
    assert main(["sweep", str(spec), "--storage", sync_uri(store), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["trials"]
    assert [t["action"] for t in again] == ["skipped"] * 2 and all(
        t["attempts"] == 2 and t["pct_of_frontier"] == s["pct_of_frontier"]
        for t, s in zip(again, summary["trials"], strict=True))

    # a run removed from the store leaves the table too
    import shutil

    shutil.rmtree(store / names[0])
    assert main(["runs", sync_uri(store), "--json"]) == 0
    assert [r["run_dir"] for r in json.loads(capsys.readouterr().out)] == [names[1]]


def test_killed_on_one_node_resumes_on_another_from_the_store(tmp_path, reference):
    spec = write_spec(tmp_path, grid=GRID)
    store = tmp_path / "store"
    rc, _, _ = sweep_cli(spec, sync_uri(store), {"ROBOLABOR_TEST_KILL_AT": "step@300",
                                                 SCRATCH_ENV: str(tmp_path / "node-a")})
    assert rc == -9  # killed inside its first trial, after the step-240 push
    first = store / reference["names"][0]
    assert checkpoints(first) == ["step-000000000", "step-000000240"]
    rc, out, err = sweep_cli(spec, sync_uri(store), {SCRATCH_ENV: str(tmp_path / "node-b")})
    assert rc == 0, err[-3000:]
    trials = json.loads(out)["trials"]
    assert [t["action"] for t in trials] == ["resumed", "started"]
    assert trials[0]["resumed_from"] == "step-000000240"  # not from the start
    assert tables(store, reference["names"]) == reference["tables"]


@pytest.mark.parametrize("point, stored, resumed_from", [
    # (objects: step 0: 2 tables, config, optimum, 3 files, manifest, meta; then each
    # checkpoint: the 2 tables, 3 files, manifest, meta: unchanged files are not resent)
    # inside the step-240 push: agent.pt and replay.npz up, state.json and the manifest not
    ("push@13", ["step-000000000", "step-000000240"], "step-000000000"),
    # at step 480: step-0's manifest deleted (pruned), its files not yet
    ("push@24", ["step-000000000", "step-000000240", "step-000000480"], "step-000000480"),
])
def test_a_kill_during_a_push_leaves_the_store_resumable(tmp_path, reference, point, stored,
                                                         resumed_from):
    spec = write_spec(tmp_path, grid=GRID)
    store = tmp_path / "store"
    rc, _, _ = sweep_cli(spec, sync_uri(store), {"ROBOLABOR_TEST_KILL_AT": point,
                                                 SCRATCH_ENV: str(tmp_path / "node-a")})
    assert rc == -9
    first = store / reference["names"][0]
    assert checkpoints(first) == stored
    assert not (first / "checkpoints" / stored[0 if point == "push@24" else -1]
                / "MANIFEST.json").exists()  # the half-written or half-deleted one
    rc, out, err = sweep_cli(spec, sync_uri(store), {SCRATCH_ENV: str(tmp_path / "node-b")})
    assert rc == 0, err[-3000:]
    trials = json.loads(out)["trials"]
    assert [t["action"] for t in trials] == ["resumed", "started"]
    assert trials[0]["resumed_from"] == resumed_from
    assert tables(store, reference["names"]) == reference["tables"]
    assert checkpoints(first) == checkpoints(reference["root"] / reference["names"][0])


def test_asha_on_a_store_keeps_its_outcomes_and_decisions_there(tmp_path):
    """test_sweep's ASHA sweep, on a store: the outcome files and the stopped run's
    checkpoint are objects in the store, and a re-run skips both trials."""
    pytest.importorskip("ray")
    from test_sweep import TINY_SET

    spec = write_spec(tmp_path, grid={"sac.lr_actor": [1.0, 0.1]},
                      set={**TINY_SET, "train.eval_every": 120, "sac.init_alpha": 10.0},
                      early_stopping={"grace_period": 240, "reduction_factor": 2})
    store, env = tmp_path / "store", {SCRATCH_ENV: str(tmp_path / "node")}
    args = ("--backend", "ray", "--workers", "1")
    rc, out, err = sweep_cli(spec, sync_uri(store), env, args=args)
    assert rc == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["statuses"] == {"finished": 1, "stopped": 1}
    first, second = summary["trials"]
    assert first["status"] == "finished" and first["env_steps"] == 480
    # an outcome is its worker's file, or (Tune ended the actor after the trial's last
    # report) rebuilt from its run's records in the store: the same row either way
    from robolabor.experiments.sweep_tune import _outcome

    (store / ".sweep-attempts" / second["trial"] / "outcome.json").unlink(missing_ok=True)
    trial = {k: second[k] for k in ("seed", "point", "config_hash")}
    rebuilt = _outcome(resolve_storage(sync_uri(store)), second["trial"], trial, None)
    assert rebuilt == {k: v for k, v in second.items() if k not in ("attempts", "nodes",
                                                                     "node")}
    # and if Tune ended it before even the stopped status was pushed: marked in the store
    meta_path = store / second["trial"] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "status": "running", "stopped": None}))
    assert _outcome(resolve_storage(sync_uri(store)), second["trial"], trial,
                    None)["status"] == "stopped"
    assert json.loads(meta_path.read_text())["status"] == "stopped"
    run = store / second["trial"]
    assert checkpoints(run)[-1] == "step-000000240"
    assert json.loads((run / "meta.json").read_text())["status"] == "stopped"
    assert not (store / ".tune").exists()  # Tune's own state stays on the driver
    rc, out, err = sweep_cli(spec, sync_uri(store), env, args=args)
    assert rc == 0, err[-3000:]
    assert [t["action"] for t in json.loads(out)["trials"]] == ["skipped", "skipped"]


def test_a_store_on_the_loopback_cluster_survives_losing_the_worker(tmp_path):
    """test_ray_cluster's drill on a store, each node with its own scratch folder: the
    trial lost with the worker node resumes on the head from the store's checkpoint."""
    pytest.importorskip("ray")
    pytest.importorskip("duckdb")
    from test_ray_cluster import SPEC

    from robolabor.experiments.loopback_cluster import (
        HEAD_IP,
        WORKER_IP,
        LoopbackCluster,
        comparable_tables,
        sweep_command,
        sweep_losing_the_worker,
    )

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.format(base=ROOT / "configs" / "shift_state.yaml"))
    store, local = tmp_path / "store", tmp_path / "local"
    scratch = {ip: {SCRATCH_ENV: str(tmp_path / f"scratch-{ip}")} for ip in (HEAD_IP, WORKER_IP)}
    with LoopbackCluster(ROOT, node_env=scratch) as cluster:
        _, worker_node = cluster.raylet(WORKER_IP)
        summary, killed, _ = sweep_losing_the_worker(cluster, spec, store, uri=sync_uri(store))
    trials = {t["trial"]: t for t in summary["trials"]}
    assert len(trials) == 4 and all(t["status"] == "finished" for t in trials.values())
    lost = trials[killed]
    assert lost["action"] == "resumed" and worker_node in lost["nodes"]
    assert len(lost["nodes"]) == 2 and lost["resumed_from"] not in (None, "step-000000000")
    assert not list(store.glob(".sweep-attempts/*/lease.json"))

    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    base = subprocess.run(sweep_command(spec, local), env=env, capture_output=True, text=True,
                          timeout=300)
    assert base.returncode == 0, base.stderr[-3000:]
    assert comparable_tables(store) == comparable_tables(local)
