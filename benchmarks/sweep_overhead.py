"""Sweeps beyond one machine: what Ray costs per trial, how fast `runs` lists 1,000 runs,
and a 2 configs x 4 seeds sweep on a two-node loopback cluster that loses a node.

  ray      Trials of a 3k-step state run (the default recipe, 3,000 steps, updates from
           step 1,000) submitted one at a time to a local one-CPU Ray instance. Per
           trial: its wall-clock inside the task (start, train, evaluate, checkpoint)
           and the round trip the driver sees; the difference is Ray's scheduling
           overhead (the first trial also pays the worker's start and imports).
  runs     ``robolabor runs DIR --json`` over N synthetic run directories (copies of
           one real tiny run's meta, config and tables, each with its own seed, config
           hash and learning rate): in-process RunTable time, and the whole command.
  cluster  ``configs/sweeps/smoke.yaml`` widened to 4 seeds (8 trials of 1,200 steps) on
           the loopback cluster, the worker node's raylet killed once a trial on it has
           sealed a checkpoint; then the same spec by local processes: tables compared.

    python benchmarks/sweep_overhead.py --json                 # all three parts
    python benchmarks/sweep_overhead.py --parts runs --runs 1000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit, git_commit  # noqa: E402

from robolabor.experiments.config import (  # noqa: E402
    config_from_dict,
    config_hash,
    load_config,
)
from robolabor.experiments.runs import RunDir, atomic_write_text  # noqa: E402
from robolabor.experiments.storage import prepare_storage  # noqa: E402
from robolabor.experiments.sweep_runner import ATTEMPTS, run_trial  # noqa: E402
from robolabor.schema import to_dict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
STATE_3K = {"train.total_steps": 3000, "train.eval_every": 3000, "train.checkpoint_every": 1000,
            "train.eval_episodes": 10, "sac.learning_starts": 1000, "train.progress": False}


def timed_trial(trial: dict, storage: str, token: str) -> dict:
    t0 = time.perf_counter()
    result = run_trial(trial, storage, token)
    return result | {"in_task_s": time.perf_counter() - t0}


def ray_overhead(trials: int, work: Path) -> dict:
    import ray

    storage = work / "overhead"
    token = prepare_storage(storage)
    jobs = []
    for seed in range(trials):
        cfg = load_config(ROOT / "configs" / "shift_state.yaml", {**STATE_3K, "train.seed": seed})
        jobs.append({"name": f"state3k-{config_hash(cfg)}", "seed": seed, "point": {},
                     "config": to_dict(cfg), "config_hash": config_hash(cfg)})
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0
    remote = ray.remote(num_cpus=1, max_retries=3)(timed_trial)
    rows = []
    try:
        for job in jobs:
            t0 = time.perf_counter()
            result = ray.get(remote.remote(job, str(storage), token))
            roundtrip = time.perf_counter() - t0
            assert result["status"] == "finished", result
            rows.append({"seed": job["seed"], "config_hash": job["config_hash"],
                         "in_task_s": result["in_task_s"], "roundtrip_s": roundtrip,
                         "overhead_s": roundtrip - result["in_task_s"],
                         "train_wall_seconds": result["wall_seconds"]})
    finally:
        ray.shutdown()
    steady = rows[1:] or rows
    mean_task = sum(r["in_task_s"] for r in rows) / len(rows)
    mean_steady = sum(r["overhead_s"] for r in steady) / len(steady)
    return {"trial_config": "configs/shift_state.yaml + " + json.dumps(STATE_3K),
            "ray_init_s": init_s, "trials": rows, "mean_trial_wall_s": mean_task,
            "first_trial_overhead_s": rows[0]["overhead_s"],
            "steady_overhead_s": mean_steady,
            "steady_overhead_pct_of_trial": 100 * mean_steady / mean_task,
            "first_trial_overhead_pct_of_trial": 100 * rows[0]["overhead_s"] / mean_task,
            "amortised_overhead_pct_incl_init": 100 * (init_s + sum(r["overhead_s"]
                                                                  for r in rows))
                                                / sum(r["in_task_s"] for r in rows)}


def make_synthetic_runs(n: int, root: Path, work: Path) -> None:
    """N run directories from one real tiny run: its tables copied, meta and config
    rewritten per run (seed, lr) with a matching config hash (so each is sealed)."""
    template = work / "template"
    spec = {"train.total_steps": 480, "train.eval_every": 240, "train.checkpoint_every": 240,
            "train.eval_episodes": 2, "sac.learning_starts": 120, "sac.batch_size": 32,
            "sac.hidden_sizes": [64, 64], "encoder.hidden_dim": 64, "encoder.latent_dim": 32}
    subprocess.run([sys.executable, "-m", "robolabor.cli", "train",
                    str(ROOT / "configs" / "shift_state.yaml"), "--out", str(template),
                    "--no-progress", *sum((["--set", f"{k}={v}"] for k, v in spec.items()), [])],
                   check=True, capture_output=True, env=ENV)
    meta = json.loads((template / "meta.json").read_text())
    base = yaml.safe_load((template / "config.yaml").read_text())
    for i in range(n):
        run = root / f"group{i % 10}" / f"run-{i:04d}"
        run.mkdir(parents=True)
        cfg = config_from_dict(base, {"train.seed": i, "sac.lr_actor": 1e-4 * (1 + i % 5)})
        atomic_write_text(run / "meta.json", json.dumps(meta))
        digest = RunDir(run).write_config(cfg)  # config.yaml, and its copy in meta.json
        RunDir(run).update_meta(config_hash=digest, seed=i)
        for table in ("episodes.parquet", "evals.parquet"):
            shutil.copy2(template / table, run / table)


def runs_listing(n: int, work: Path, repeats: int = 3) -> dict:
    from robolabor.experiments.run_table import RunTable

    root = work / "many"
    t0 = time.perf_counter()
    make_synthetic_runs(n, root, work)
    build_s = time.perf_counter() - t0
    in_process = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = RunTable(root).runs()
        in_process.append(time.perf_counter() - t0)
    assert len(rows) == n and all(r["sealed"] for r in rows)
    command, cold = [], []
    for index_kept in [False] * repeats + [True] * repeats:
        if not index_kept:  # a listing of runs never listed before (the OS file cache
            (root / RunTable.INDEX).unlink()  # stays warm: the files were just written)
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "robolabor.cli", "runs", str(root),
                              "--json"], check=True, capture_output=True, text=True)
        (command if index_kept else cold).append(time.perf_counter() - t0)
        assert len(json.loads(out.stdout)) == n
    return {"runs": n, "synthetic_build_s": build_s, "runtable_s": sorted(in_process),
            "runtable_median_s": sorted(in_process)[repeats // 2],
            "command_s": sorted(command), "command_median_s": sorted(command)[repeats // 2],
            "command_cold_s": sorted(cold), "command_cold_median_s": sorted(cold)[repeats // 2],
            "target_s": 2.0}


def cluster_drill(work: Path, seeds: int) -> dict:
    from robolabor.experiments.loopback_cluster import (
        HEAD_IP,
        LoopbackCluster,
        comparable_tables,
        first_difference,
        sweep_command,
        sweep_losing_the_worker,
    )

    spec_data = yaml.safe_load((ROOT / "configs" / "sweeps" / "smoke.yaml").read_text())
    spec_data |= {"base": str(ROOT / "configs" / "shift_state.yaml"), "name": "drill",
                  "seeds": list(range(seeds))}
    spec = work / "drill.yaml"
    spec.write_text(yaml.safe_dump(spec_data))
    t0 = time.perf_counter()
    with LoopbackCluster(ROOT) as cluster:
        start_s = time.perf_counter() - t0
        head_node = cluster.raylet(HEAD_IP)[1]
        t0 = time.perf_counter()
        summary, killed, killed_at = sweep_losing_the_worker(cluster, spec, work / "drill-ray")
        ray_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(sweep_command(spec, work / "drill-local"), check=True, capture_output=True,
                   env=ENV)
    local_s = time.perf_counter() - t0
    on_ray = comparable_tables(work / "drill-ray")
    local = comparable_tables(work / "drill-local")
    trials = [{k: t[k] for k in ("trial", "action", "status", "attempts", "env_steps",
                                 "resumed_from", "pct_of_frontier", "sla_verdict")}
              | {"nodes": len(t["nodes"])} for t in summary["trials"]]
    return {"spec": "configs/sweeps/smoke.yaml with seeds 0-" + str(seeds - 1),
            "trials": trials, "cluster_start_s": start_s, "ray_sweep_s": ray_s,
            "local_sweep_s": local_s, "killed_trial": killed, "killed_at_s": killed_at,
            "all_finished": all(t["status"] == "finished" for t in trials),
            "tables_equal_local": on_ray == local,
            "trials_differing": sorted(k for k in on_ray if on_ray[k] != local.get(k)),
            "first_difference": first_difference(on_ray, local),
            "attempts_of_killed_trial": _attempts(work / "drill-ray" / ATTEMPTS / killed,
                                                  head_node)}


def _attempts(folder: Path, head_node: str) -> list[dict]:
    """Each attempt at a trial: which node (head or worker), what it found, when."""
    out = []
    for path in sorted(folder.glob("[0-9]*.json")):
        a = json.loads(path.read_text())
        out.append({"attempt": a["attempt"], "state": a["state"], "at": a["at"],
                    "node": "head" if a["node"] == head_node else "worker"})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="ray,runs,cluster")
    p.add_argument("--trials", type=int, default=3, help="ray: trials submitted in turn")
    p.add_argument("--runs", type=int, default=1000, help="runs: synthetic run directories")
    p.add_argument("--seeds", type=int, default=4, help="cluster: seeds per config")
    p.add_argument("--keep", default=None, help="work folder to keep (default: a temporary "
                                               "one, removed)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    result = {"commit": git_commit()}
    work = Path(args.keep or tempfile.mkdtemp(prefix="rl-sweep-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        parts = args.parts.split(",")
        if "ray" in parts:
            result["ray"] = ray_overhead(args.trials, work)
        if "runs" in parts:
            result["runs"] = runs_listing(args.runs, work)
        if "cluster" in parts:
            result["cluster"] = cluster_drill(work, args.seeds)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    emit(result, args.json)


if __name__ == "__main__":
    main()
