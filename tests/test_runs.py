"""Run directories: checkpoints are sealed by a manifest; a cut-short one is refused."""

import json

import pytest

from robolabor.experiments.runs import (
    CheckpointError,
    RunDir,
    RunDirError,
    read_table,
    verify_checkpoint,
    write_table,
)


def _write_ckpt(run: RunDir, step: int) -> None:
    tmp = run.new_checkpoint_dir(step)
    for name in ("agent.pt", "replay.npz", "state.json"):
        (tmp / name).write_bytes(f"{name}-{step}".encode() * 100)
    run.commit_checkpoint(tmp, step, keep=2)


def test_checkpoints_are_pruned_and_verified(tmp_path):
    run = RunDir.create(tmp_path / "run")
    for step in (10, 20, 30):
        _write_ckpt(run, step)
    names = [p.name for p in run.list_checkpoints()]
    assert names == ["step-000000020", "step-000000030"]
    assert verify_checkpoint(run.latest_valid_checkpoint())["_step"] == 30


def test_truncated_checkpoint_falls_back_to_previous(tmp_path):
    run = RunDir.create(tmp_path / "run")
    _write_ckpt(run, 10)
    _write_ckpt(run, 20)
    newest = run.list_checkpoints()[-1]
    data = (newest / "agent.pt").read_bytes()
    (newest / "agent.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        verify_checkpoint(newest)
    assert run.latest_valid_checkpoint().name == "step-000000010"


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    run = RunDir.create(tmp_path / "run")
    with pytest.raises(CheckpointError, match="no checkpoint was written yet"):
        run.latest_valid_checkpoint()
    tmp = run.new_checkpoint_dir(5)  # an interrupted write never sealed
    (tmp / "agent.pt").write_bytes(b"x")
    with pytest.raises(CheckpointError):
        run.latest_valid_checkpoint()


def test_run_dir_refuses_reuse_and_non_runs(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("1")
    with pytest.raises(RunDirError, match="already exists"):
        RunDir.create(tmp_path / "full")
    with pytest.raises(RunDirError, match="not a robolabor run"):
        RunDir.open(tmp_path / "full")


def test_tables_roundtrip(tmp_path):
    rows = [{"step": 1, "mp": 1.5, "xs": [1.0, 2.0]}, {"step": 2, "mp": 2.5, "xs": [3.0]}]
    write_table(tmp_path / "t.parquet", rows)
    assert read_table(tmp_path / "t.parquet") == rows
    assert json.dumps(read_table(tmp_path / "missing.parquet")) == "[]"
