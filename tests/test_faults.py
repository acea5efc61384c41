"""Fault injection: kill -9 at seeded points of a run, resume, and compare with the
uninterrupted run table for table and tensor for tensor; a disk that fills up.

The kills use the documented test hook ``ROBOLABOR_TEST_KILL_AT=POINT@N``
(``robolabor.experiments.faults``): a forked copy of this test process trains and
sends itself SIGKILL at the named point, so nothing (no ``finally``, no atexit)
runs after it, exactly as with ``kill -9``. The disk-full runs use a real 450 kB
tmpfs where the kernel allows a private mount (``unshare -m``), and otherwise, and
always in addition, a checkpoint writer patched to raise ENOSPC half-way.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robolabor.cli import main
from robolabor.experiments import checkpoints, faults
from robolabor.experiments.runs import read_table

FAULT_CFG = """
train: {total_steps: 600, eval_every: 240, checkpoint_every: 240, keep_checkpoints: 2,
        eval_episodes: 2, progress: false, seed: 5}
sac: {learning_starts: 120, batch_size: 32, hidden_sizes: [32, 32]}
encoder: {hidden_dim: 32, latent_dim: 16}
"""
# Checkpoints at steps 0 (written by the start), 240, 480 and 600 (the end); pruning
# deletes step 0 when 480 is sealed and step 240 when 600 is.

_rng = np.random.default_rng(2024)
RANDOM_STEPS = sorted(int(x) for x in _rng.choice(np.arange(1, 600), size=4, replace=False))
KILL_POINTS = [f"step@{n}" for n in RANDOM_STEPS] + [
    "start",               # before the new run is renamed into place: same command again
    "checkpoint:agent@2",  # inside the first checkpoint after the start: resumes from 0
    "tables@3",            # step 480: tables written, checkpoint files not yet
    "checkpoint:seal@3",   # step 480: manifest written, folder not renamed
    "prune@1",             # step 480: step 0 renamed for deletion, not yet deleted
    "prune@2",             # step 600 (the end): step 240 mid-delete
]


@pytest.fixture(scope="module")
def fault_cfg(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "fault.yaml"
    path.write_text(FAULT_CFG)
    return path


@pytest.fixture(scope="module")
def reference(fault_cfg, tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(["train", str(fault_cfg), "--out", str(out)]) == 0
    return out


def run_killed(argv: list[str], point: str) -> None:
    """Run ``robolabor ARGV`` in a fork that kills itself (SIGKILL) at ``point``."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.environ[faults.ENV_VAR] = point
            faults._seen.clear()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            main(argv)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, \
        f"the run was not killed at {point} (exit status {status})"


def _tensors_equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            _tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_tensors_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def assert_same_run(got: Path, ref: Path, total_steps: int = 600) -> None:
    """Tables, checkpoint schedule, agent tensors, replay arrays and loop state equal."""
    def strip(rows):  # as JSON text, so that NaN (an undefined score) equals NaN
        return [json.dumps({k: v for k, v in r.items() if k != "wall_seconds"},
                           sort_keys=True, default=str) for r in rows]

    for table in ("episodes.parquet", "evals.parquet"):
        assert strip(read_table(got / table)) == strip(read_table(ref / table)), table
    names = sorted(p.name for p in (got / "checkpoints").iterdir())
    assert names == sorted(p.name for p in (ref / "checkpoints").iterdir())  # no leftovers
    for name in names:
        a, b = (torch.load(d / "checkpoints" / name / "agent.pt", weights_only=False)
                for d in (got, ref))
        assert _tensors_equal(a, b), f"{name}/agent.pt differs"
        with np.load(got / "checkpoints" / name / "replay.npz") as ra, \
                np.load(ref / "checkpoints" / name / "replay.npz") as rb:
            assert ra.files == rb.files
            assert all(np.array_equal(ra[k], rb[k]) for k in ra.files), f"{name}/replay.npz"
        sa, sb = (json.loads((d / "checkpoints" / name / "state.json").read_text())
                  for d in (got, ref))
        sa.pop("wall_seconds"), sb.pop("wall_seconds")
        assert sa == sb, f"{name}/state.json differs"
    meta = json.loads((got / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["env_steps"] == total_steps


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_and_resume_equals_the_uninterrupted_run(point, fault_cfg, reference, tmp_path,
                                                      capsys):
    out = tmp_path / "run"
    start = ["train", str(fault_cfg), "--out", str(out)]
    run_killed(start, point)
    if point == "start":
        assert not out.exists()  # nothing appears before the run is complete
        assert main(start) == 0  # the same command clears the killed start and redoes it
    else:
        state = json.loads((sorted((out / "checkpoints").glob("step-*"))[-1]
                            / "state.json").read_text())
        if point == "checkpoint:agent@2":
            assert state["step"] == 0  # a kill during the first checkpoint resumes from 0
        assert main(["train", "--resume", str(out)]) == 0
    assert_same_run(out, reference)


def test_two_kills_in_a_row(fault_cfg, reference, tmp_path, capsys):
    out = tmp_path / "run"
    run_killed(["train", str(fault_cfg), "--out", str(out)], "step@300")
    run_killed(["train", "--resume", str(out)], "prune@1")
    assert main(["train", "--resume", str(out)]) == 0
    assert_same_run(out, reference)


def test_resume_keeps_the_checkpoint_schedule(fault_cfg, tmp_path, capsys):
    """Resumed after the step-240 checkpoint, the run checkpoints at 480 and 600 only,
    as the uninterrupted run does (the saved schedule was once one step behind)."""
    keep = ["--set", "train.keep_checkpoints=10"]
    ref, out = tmp_path / "ref", tmp_path / "run"
    assert main(["train", str(fault_cfg), "--out", str(ref), *keep]) == 0
    run_killed(["train", str(fault_cfg), "--out", str(out), *keep], "step@300")
    assert main(["train", "--resume", str(out)]) == 0
    steps = [p.name for p in sorted((out / "checkpoints").iterdir())]
    assert steps == [p.name for p in sorted((ref / "checkpoints").iterdir())]
    assert steps == ["step-000000000", "step-000000240", "step-000000480", "step-000000600"]


def test_extension_killed_between_its_writes_completes(fault_cfg, tmp_path, capsys):
    """--steps on a resume is written back first; a kill between config.yaml and
    meta.json is completed on the next open, and a plain --resume then trains on."""
    ref, out = tmp_path / "ref", tmp_path / "run"
    for d in (ref, out):
        assert main(["train", str(fault_cfg), "--out", str(d), "--steps", "360"]) == 0
    assert main(["train", "--resume", str(ref), "--steps", "600"]) == 0
    assert "train.total_steps extended 360 -> 600" in capsys.readouterr().err
    run_killed(["train", "--resume", str(out), "--steps", "600"], "extend")
    run_killed(["train", "--resume", str(out), "--steps", "600"], "step@100")
    assert main(["train", "--resume", str(out)]) == 0  # no --steps: the record says 600
    assert "total_steps: 600" in (out / "config.yaml").read_text()
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]  # noqa: E731
    for table in ("episodes.parquet", "evals.parquet"):
        assert strip(read_table(out / table)) == strip(read_table(ref / table))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["env_steps"] == 600
    assert meta["pending_extension"] is None and len(meta["extensions"]) == 1


# ----------------------------------------------------------------------------- disk full

def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("robolabor: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_disk_full_during_a_checkpoint_fails_cleanly_and_loses_nothing(
        fault_cfg, reference, tmp_path, monkeypatch, capsys):
    """Simulated ENOSPC (np.savez patched to write half a file, then raise) at the third
    checkpoint: one line, meta.json 'failed', no partial folder; resumed once space is
    back, the run equals the uninterrupted one."""
    real = np.savez
    calls = {"n": 0}

    def full_disk(file, **arrays):
        calls["n"] += 1
        if calls["n"] == 3:
            Path(file).write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real(file, **arrays)

    monkeypatch.setattr(checkpoints.np, "savez", full_disk)
    out = tmp_path / "run"
    assert main(["train", str(fault_cfg), "--out", str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line and "last good checkpoint: step-000000240" in line
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "failed" and "No space left" in meta["failure"]
    assert not list((out / "checkpoints").glob(".tmp-step-*"))
    monkeypatch.setattr(checkpoints.np, "savez", real)
    assert main(["train", "--resume", str(out)]) == 0
    assert_same_run(out, reference)


def _private_tmpfs_works() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null && echo ok"],
                           capture_output=True, text=True)
    return probe.stdout.strip() == "ok"


TMPFS = pytest.mark.skipif(not _private_tmpfs_works(),
                           reason="needs a private tmpfs mount (unshare -m, as root)")

_INSIDE = """
import json, os, sys
from pathlib import Path
from robolabor.cli import main
out = Path(sys.argv[2]) / "run"
rc = main(["train", sys.argv[1], "--out", str(out)])
meta = json.loads((out / "meta.json").read_text()) if (out / "meta.json").exists() else None
left = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
print(json.dumps({"rc": rc, "meta": meta, "files": left}))
"""


def _train_on_tmpfs(cfg: Path, mount: Path, options: str) -> tuple[dict, str]:
    mount.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    script = (f"mount -t tmpfs -o {options} tmpfs {mount} && "
              f"{sys.executable} -c '{_INSIDE}' {cfg} {mount}")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                          text=True, env=env, timeout=240)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@TMPFS
@pytest.mark.parametrize("size", ["100k", "300k"])
def test_a_real_full_disk_fails_with_one_line(fault_cfg, tmp_path, size):
    """100 kB cannot hold the start (nothing is left); 300 kB holds it and
    fill up at a later checkpoint (meta.json says failed, no partial folders)."""
    result, err = _train_on_tmpfs(fault_cfg, tmp_path / "mnt", f"size={size}")
    assert result["rc"] == 1
    assert "No space left on device" in _one_error_line(err)
    if size == "100k":
        assert result["files"] == [] and result["meta"] is None
        return
    assert result["meta"]["status"] == "failed"
    assert "No space left on device" in result["meta"]["failure"]
    assert not [f for f in result["files"] if ".tmp-step-" in f or ".prune-" in f]
    assert any(f.startswith("checkpoints/step-") for f in result["files"])


@TMPFS
def test_a_read_only_target_fails_with_one_line_and_leaves_nothing(fault_cfg, tmp_path):
    result, err = _train_on_tmpfs(fault_cfg, tmp_path / "mnt", "ro,size=64k")
    assert result["rc"] == 1 and result["files"] == [] and result["meta"] is None
    assert "Read-only file system" in _one_error_line(err)


VIDEO_FAULT_CFG = """
env: {id: robolabor/DishwashingShiftVideo-v0}
encoder: {type: pixel, latent_dim: 16}
train: {total_steps: 240, eval_every: 120, checkpoint_every: 120, keep_checkpoints: 2,
        eval_episodes: 1, progress: false, seed: 7}
sac: {learning_starts: 60, batch_size: 8, hidden_sizes: [32, 32], updates_per_step: 0.5}
"""
# A video run stores frames once in replay: its checkpoints hold the frame store and
# the encoder's tensors, which a state run's do not. Checkpoints at 0, 120 and 240.


@pytest.fixture(scope="module")
def video_fault_cfg(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vcfg") / "video_fault.yaml"
    path.write_text(VIDEO_FAULT_CFG)
    return path


@pytest.fixture(scope="module")
def video_reference(video_fault_cfg, tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("vref") / "run"
    assert main(["train", str(video_fault_cfg), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("point", ["step@97", "checkpoint:agent@2", "checkpoint:seal@2"])
def test_a_killed_video_run_resumes_identical(point, video_fault_cfg, video_reference,
                                               tmp_path, capsys):
    out = tmp_path / "run"
    run_killed(["train", str(video_fault_cfg), "--out", str(out)], point)
    assert main(["train", "--resume", str(out)]) == 0
    assert_same_run(out, video_reference, total_steps=240)
