"""What a synced store (an object store; here ``sync+file://``) costs a sweep trial.

The same 3k-step state trial (``configs/shift_state.yaml``, 3,000 steps, updates from
step 1,000, a checkpoint every 1,000, one evaluation of 10 episodes) runs once on a
local path (the POSIX mode) and once on a ``sync+file://`` store, in this process.
For the store: every push (after each sealed checkpoint and at the end) with its
seconds and the bytes it sent, the trial's wall-clock against the path's, and a
pull as another node's resume makes it (record files and the newest checkpoint,
verified). ``sync+file://`` runs exactly the object-store code, so this is the sync
protocol's own cost (hashing, listing, copying) on a local disk; on a real object
store add the bytes sent over its bandwidth.

    python benchmarks/sweep_store.py --json
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit, git_commit  # noqa: E402

from robolabor.experiments.config import config_hash, load_config  # noqa: E402
from robolabor.experiments.storage import prepare_storage, resolve_storage  # noqa: E402
from robolabor.experiments.sweep_runner import run_trial  # noqa: E402
from robolabor.experiments.synced_storage import SyncedStore  # noqa: E402
from robolabor.schema import to_dict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STATE_3K = {"train.total_steps": 3000, "train.eval_every": 3000, "train.checkpoint_every": 1000,
            "train.eval_episodes": 10, "sac.learning_starts": 1000, "train.progress": False}


def trial(seed: int) -> dict:
    cfg = load_config(ROOT / "configs" / "shift_state.yaml", {**STATE_3K, "train.seed": seed})
    return {"name": f"state3k-{config_hash(cfg)}", "seed": seed, "point": {},
            "config": to_dict(cfg), "config_hash": config_hash(cfg)}


def sent_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure(seed: int, work: Path) -> dict:
    job = trial(seed)
    path = work / "path"
    token = prepare_storage(path)
    t0 = time.perf_counter()
    on_path = run_trial(job, str(path), token)
    path_s = time.perf_counter() - t0

    pushes: list[dict] = []
    push = SyncedStore.upload

    def counted(self, local, rel):  # every object a push sends, with its size
        push(self, local, rel)
        pushes[-1]["bytes"] += local.stat().st_size
        pushes[-1]["sent_checkpoint"] |= "/checkpoints/" in rel

    original = SyncedStore.push

    def timed(self, name, run, pushed=None):
        pushes.append({"bytes": 0, "sent_checkpoint": False})
        t = time.perf_counter()
        original(self, name, run, pushed)
        pushes[-1]["seconds"] = time.perf_counter() - t
        pushes[-1]["checkpoints"] = sorted(p.name for p in (run / "checkpoints").glob("step-*"))

    SyncedStore.upload, SyncedStore.push = counted, timed
    uri = f"sync+file://{work / 'store'}"
    store = resolve_storage(uri)
    try:
        token = store.prepare()
        t0 = time.perf_counter()
        on_store = run_trial(job, uri, token)
        store_s = time.perf_counter() - t0
    finally:
        SyncedStore.upload, SyncedStore.push = push, original
    assert on_path["status"] == on_store["status"] == "finished", (on_path, on_store)
    assert on_path["pct_of_frontier"] == on_store["pct_of_frontier"]

    t0 = time.perf_counter()  # another node picking the run up to resume it
    dest = store.scratch(job["name"])
    store.pull_records(job["name"], dest)
    pulled = store.pull_checkpoint(job["name"], dest)
    pull_s = time.perf_counter() - t0
    pulled_bytes = sent_bytes(dest)
    store.clear_scratch(job["name"])
    checkpoint_pushes = [p for p in pushes if p["sent_checkpoint"]]
    return {"seed": seed, "config_hash": job["config_hash"],
            "trial_on_path_s": path_s, "trial_on_store_s": store_s,
            "store_overhead_pct": 100.0 * (store_s - path_s) / path_s,
            "pushes": pushes, "push_s_total": sum(p["seconds"] for p in pushes),
            "push_s_per_checkpoint_mean": (sum(p["seconds"] for p in checkpoint_pushes)
                                           / max(1, len(checkpoint_pushes))),
            "bytes_per_checkpoint_push_mean": (sum(p["bytes"] for p in checkpoint_pushes)
                                               / max(1, len(checkpoint_pushes))),
            "pull_s": pull_s, "pulled": pulled, "pulled_bytes": pulled_bytes,
            "store_bytes": sent_bytes(work / "store" / job["name"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="tuning seeds (< 100)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        work = Path(tempfile.mkdtemp(prefix="rl-store-"))
        os.environ["ROBOLABOR_SYNC_SCRATCH"] = str(work / "scratch")
        try:
            rows.append(measure(seed, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    emit({"benchmark": "sweep_store", "commit": git_commit(), "load_average": os.getloadavg(),
          "recipe": STATE_3K, "trials": rows}, args.json)


if __name__ == "__main__":
    main()
