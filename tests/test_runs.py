"""Run directories: checkpoints are sealed by a manifest; a cut-short one is refused,
pruning keeps the newest valid ones, a start appears only when complete."""

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


def _new_run(tmp_path) -> RunDir:
    run = RunDir.begin(tmp_path / "run")
    run.publish()
    return run


def _write_ckpt(run: RunDir, step: int, keep: int = 2) -> None:
    tmp = run.new_checkpoint_dir(step)
    for name in ("agent.pt", "replay.npz", "state.json"):
        (tmp / name).write_bytes(f"{name}-{step}".encode() * 100)
    run.commit_checkpoint(tmp, step, keep=keep)


def _damage(ckpt) -> None:
    data = (ckpt / "agent.pt").read_bytes()
    (ckpt / "agent.pt").write_bytes(data[: len(data) // 2])


def test_checkpoints_are_pruned_and_verified(tmp_path):
    run = _new_run(tmp_path)
    for step in (10, 20, 30):
        _write_ckpt(run, step)
    names = [p.name for p in run.list_checkpoints()]
    assert names == ["step-000000020", "step-000000030"]
    assert verify_checkpoint(run.latest_valid_checkpoint())["_step"] == 30


def test_pruning_keeps_valid_checkpoints_and_drops_damaged_ones(tmp_path):
    """A damaged newer checkpoint does not count: the valid older ones are kept."""
    run = _new_run(tmp_path)
    _write_ckpt(run, 10)
    _write_ckpt(run, 20)
    _damage(run.list_checkpoints()[-1])           # step 20 goes bad on disk
    _write_ckpt(run, 30)                          # prunes: keep 2 valid = 30 and 10
    assert [p.name for p in run.list_checkpoints()] == ["step-000000010", "step-000000030"]
    _damage(run.list_checkpoints()[-1])           # the newest goes bad, keep=1
    run.prune(keep=1)
    assert [p.name for p in run.list_checkpoints()] == ["step-000000010"]


def test_truncated_checkpoint_falls_back_with_a_warning(tmp_path):
    run = _new_run(tmp_path)
    _write_ckpt(run, 10)
    _write_ckpt(run, 20)
    newest = run.list_checkpoints()[-1]
    _damage(newest)
    with pytest.raises(CheckpointError, match="truncated"):
        verify_checkpoint(newest)
    ckpt, warnings = run.choose_checkpoint()
    assert ckpt.name == "step-000000010"
    assert len(warnings) == 1 and "fell back to step-000000010" in warnings[0]
    with pytest.raises(CheckpointError, match="truncated"):
        run.choose_checkpoint("step-000000020")


@pytest.mark.parametrize("manifest", ["[]", '{"agent.pt": 3}', "not json"])
def test_a_manifest_that_is_not_one_is_refused(tmp_path, manifest):
    run = _new_run(tmp_path)
    _write_ckpt(run, 10)
    (run.list_checkpoints()[0] / "MANIFEST.json").write_text(manifest)
    with pytest.raises(CheckpointError, match="MANIFEST.json"):
        run.latest_valid_checkpoint()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    run = _new_run(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint was written yet"):
        run.latest_valid_checkpoint()
    tmp = run.new_checkpoint_dir(5)  # an interrupted write never sealed
    (tmp / "agent.pt").write_bytes(b"x")
    with pytest.raises(CheckpointError):
        run.latest_valid_checkpoint()
    run.clear_partials()
    assert not any(run.checkpoints.iterdir())


def test_run_dir_refuses_reuse_and_non_runs(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("1")
    with pytest.raises(RunDirError, match="already exists"):
        RunDir.begin(tmp_path / "full")
    with pytest.raises(RunDirError, match="not a robolabor run"):
        RunDir.open(tmp_path / "full")
    (tmp_path / "file").write_text("1")
    with pytest.raises(RunDirError, match="is a file"):
        RunDir.begin(tmp_path / "file")


def test_a_start_appears_only_when_published(tmp_path):
    run = RunDir.begin(tmp_path / "run")
    (run.path / "config.yaml").write_text("x")
    assert not (tmp_path / "run").exists()
    again = RunDir.begin(tmp_path / "run")       # a killed start is cleared and redone
    assert not (again.path / "config.yaml").exists()
    again.abandon()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()                 # an empty folder made by the user is fine
    run = RunDir.begin(tmp_path / "empty")
    run.publish()
    assert run.path == tmp_path / "empty" and (run.path / "checkpoints").is_dir()


def test_tables_roundtrip(tmp_path):
    rows = [{"step": 1, "mp": 1.5, "xs": [1.0, 2.0]}, {"step": 2, "mp": 2.5, "xs": [3.0]}]
    write_table(tmp_path / "t.parquet", rows)
    assert read_table(tmp_path / "t.parquet") == rows
    assert json.dumps(read_table(tmp_path / "missing.parquet")) == "[]"
    assert not (tmp_path / "t.parquet.tmp").exists()
