"""Every bad input and damaged run directory once found to slip through, as a table:
each answers with one line (``robolabor: error: FILE: key: reason``, exit 1) and
changes nothing on disk. Kills, a full disk and a read-only target are in
test_faults.py; damaged checkpoints and pruning in test_runs.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from robolabor.cli import main
from robolabor.experiments.config import DEFAULT_RECIPE, RunConfig, config_from_dict, load_config
from robolabor.experiments.runs import RunDir
from robolabor.schema import to_dict

TINY = """
train: {total_steps: 480, eval_every: 240, checkpoint_every: 240, eval_episodes: 2,
        progress: false, seed: 3}
sac: {learning_starts: 120, batch_size: 32, hidden_sizes: [32, 32]}
encoder: {hidden_dim: 32, latent_dim: 16}
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tiny run (checkpoints at 0, 240, 480); cases work on copies."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("finished")
    (root / "tiny.yaml").write_text(TINY)
    assert main(["train", str(root / "tiny.yaml"), "--out", str(root / "run")]) == 0
    return root


def _copy(finished: Path, tmp: Path) -> Path:
    shutil.copytree(finished / "run", tmp / "run")
    return tmp / "run"


def _edit_config(finished, tmp):
    run = _copy(finished, tmp)
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("gamma: 0.5", "gamma: 0.9"))
    return run


def _file(tmp: Path, text: str) -> Path:
    (tmp / "bad.yaml").write_text(text)
    return tmp / "bad.yaml"


def _bad_manifest(finished, tmp):
    run = _copy(finished, tmp)
    (run / "checkpoints" / "step-000000480" / "MANIFEST.json").write_text("[]")
    return run


def _no_tables(finished, tmp):
    run = _copy(finished, tmp)
    (run / "episodes.parquet").unlink()
    (run / "evals.parquet").unlink()
    return run


# (id, argv builder (finished, tmp) -> argv, fragment of the one error line,
#  what must not exist afterwards (relative to tmp), or None)
CASES = [
    ("resume-set-changes-semantics",
     lambda f, t: ["train", "--resume", str(_copy(f, t)), "--set", "sac.gamma=0.99",
                   "--set", "env.config.human_wage=36.0"],
     "--resume takes no --set that changes the run (sac.gamma, env.config.human_wage)", None),
    ("resume-cannot-shorten",
     lambda f, t: ["train", "--resume", str(_copy(f, t)), "--steps", "240"],
     "train.total_steps: a resume can only extend the run (480 steps), got 240", None),
    ("evaluate-edited-config",
     lambda f, t: ["evaluate", str(_edit_config(f, t))], "does not match meta.json's", None),
    ("report-edited-config",
     lambda f, t: ["report", str(_edit_config(f, t))], "does not match meta.json's", None),
    ("claims-edited-config",
     lambda f, t: ["claims", str(_edit_config(f, t)), "--out", str(t / "claims")],
     "does not match meta.json's", "claims"),
    ("resume-edited-config",
     lambda f, t: ["train", "--resume", str(_edit_config(f, t))],
     "config.yaml was changed after the run was made", None),
    ("resume-without-tables",
     lambda f, t: ["train", "--resume", str(_no_tables(f, t)), "--steps", "720"],
     "episodes.parquet: is missing (0 rows), but step-000000480 recorded 4", None),
    ("missing-weights-path",
     lambda f, t: ["train", str(f / "tiny.yaml"), "--out", str(t / "new"),
                   "--set", "encoder.weights_path=/nonexistent/w.pt"],
     "encoder.weights_path", "new"),
    ("bad-env-config-in-file",
     lambda f, t: ["train", str(_file(t, "env: {config: {shift_minutes: -5}}")),
                   "--out", str(t / "new")],
     "bad.yaml: env.config.shift_minutes: must be >= 2", "new"),
    ("unknown-env-config-key",
     lambda f, t: ["train", str(_file(t, "env: {config: {nonsense: 1}}")),
                   "--out", str(t / "new")],
     "bad.yaml: env.config: unknown key(s) ['nonsense']", "new"),
    ("unknown-env-id",
     lambda f, t: ["train", str(f / "tiny.yaml"), "--out", str(t / "new"),
                   "--set", "env.id=CartPole-v1"],
     "env.id: 'CartPole-v1' is not a robolabor task", "new"),
    ("optimum-unknown-env",
     lambda f, t: ["optimum", "--env", "nonsense"], "--env: unknown task 'nonsense'", None),
    ("optimum-sla-zero",
     lambda f, t: ["optimum", "--config", str(_file(t, "env: {config: {sla: 0}}"))],
     "bad.yaml: env.config.sla: must be > 0.0", None),
    ("optimum-sla-infeasible",
     lambda f, t: ["optimum", "--config", str(_file(t, "env: {config: {sla: 1.0e-9}}"))],
     "bad.yaml: env.config.sla: 1e-09 is infeasible", None),
    ("set-unclosed-list",
     lambda f, t: ["train", str(f / "tiny.yaml"), "--out", str(t / "new"),
                   "--set", "sac.batch_size=[unclosed"],
     "--set sac.batch_size: not valid YAML", "new"),
    ("set-into-a-value",
     lambda f, t: ["train", str(f / "tiny.yaml"), "--out", str(t / "new"),
                   "--set", "sac.gamma.x=3"],
     "--set sac.gamma.x: sac.gamma is a value (0.5), not a section", "new"),
    ("evaluate-negative-seed",
     lambda f, t: ["evaluate", str(_copy(f, t)), "--seed", "-5"], "--seed: must be >= 0", None),
    ("render-negative-seed",
     lambda f, t: ["render", "shift", "--seed", "-1", "--out", str(t / "x.gif")],
     "--seed: must be >= 0", "x.gif"),
    ("manifest-is-a-list",
     lambda f, t: ["evaluate", str(_bad_manifest(f, t)), "--checkpoint", "step-000000480"],
     "MANIFEST.json is not a manifest", None),
    ("out-is-a-file",
     lambda f, t: ["train", str(f / "tiny.yaml"), "--out", str(_file(t, "x"))],
     "bad.yaml: exists and is a file", None),
    ("out-under-sys",
     lambda f, t: ["train", str(f / "tiny.yaml"), "--out", "/sys/robolabor-test/run"],
     "/sys/robolabor-test/run: cannot create the run directory", None),
    ("duplicate-yaml-key",
     lambda f, t: ["train", str(_file(t, "sac: {gamma: 0.5}\nsac: {tau: 0.01}\n")),
                   "--out", str(t / "new")],
     "bad.yaml: line 2: key 'sac' given twice (first on line 1)", "new"),
    ("buffer-smaller-than-batch",
     lambda f, t: ["train", str(f / "tiny.yaml"), "--out", str(t / "new"),
                   "--set", "sac.buffer_size=16"],
     "sac.buffer_size: must be >= sac.batch_size (32), got 16", "new"),
    ("warm-up-smaller-than-batch",
     lambda f, t: ["train", str(f / "tiny.yaml"), "--out", str(t / "new"),
                   "--set", "sac.learning_starts=8"],
     "sac.learning_starts: must be >= sac.batch_size (32)", "new"),
    ("config-not-found",
     lambda f, t: ["train", "no_such_recipe.yaml", "--out", str(t / "new")],
     "no_such_recipe.yaml: config file not found (packaged configs:", "new"),
]
if torch.cuda.is_available():
    CASES = [c for c in CASES if c[0] != "cuda-without-gpu"]
else:
    CASES.append(("cuda-without-gpu",
                  lambda f, t: ["train", str(f / "tiny.yaml"), "--out", str(t / "new"),
                                "--set", "sac.device=cuda"],
                  "sac.device: 'cuda' requested but no CUDA device is available", "new"))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_expected_errors_are_one_line_and_change_nothing(case, finished, tmp_path, capsys):
    _, argv_of, fragment, absent = case
    argv = argv_of(finished, tmp_path)
    before = _snapshot(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("robolabor: error: "), err
    assert fragment in lines[0]
    assert _snapshot(tmp_path) == before  # nothing written, nothing half-made
    if absent:
        assert not (tmp_path / absent).exists()
    assert not list(tmp_path.glob(".*.starting"))


def test_unexpected_errors_keep_their_traceback(finished, tmp_path, monkeypatch):
    """A bug (here a ValueError from inside the ledger) is not dressed up as bad input."""
    from robolabor.experiments import trainer

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(trainer, "ledger_from_tallies", broken)
    with pytest.raises(ValueError, match="broadcast"):
        main(["train", str(finished / "tiny.yaml"), "--out", str(tmp_path / "new")])


def test_debug_shows_the_traceback_of_expected_errors(tmp_path):
    from robolabor.schema import ConfigError

    with pytest.raises(ConfigError):
        main(["--debug", "optimum", "--config", str(_file(tmp_path, "env: {config: {sla: 0}}"))])


def test_ctrl_c_names_the_run_to_resume(finished, tmp_path, monkeypatch, capsys):
    from robolabor.agents.sac import SAC

    real, calls = SAC.update, {"n": 0}

    def interrupted(self, batch, lam=0.0):
        calls["n"] += 1
        if calls["n"] == 150:
            raise KeyboardInterrupt
        return real(self, batch, lam)

    monkeypatch.setattr(SAC, "update", interrupted)
    out = tmp_path / "run"
    assert main(["train", str(finished / "tiny.yaml"), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"resume with `robolabor train --resume {out}`" in err and "RUN_DIR" not in err
    assert json.loads((out / "meta.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(SAC, "update", real)
    assert main(["train", "--resume", str(out)]) == 0


def test_claims_warns_on_unfinished_runs_and_few_episodes(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    RunDir(run).update_meta(status="running")  # what a kill -9 leaves
    assert main(["claims", str(run), "--intervention-episodes", "4", "--out",
                 str(tmp_path / "claims"), "--json"]) == 0
    captured = capsys.readouterr()
    warnings = json.loads(captured.out)["warnings"]
    assert any("status 'running', not 'finished'" in w for w in warnings)
    assert any("evaluations of 2 episode(s), fewer than 10" in w for w in warnings)
    assert captured.err.count("robolabor: warning: ") == 2


def test_resume_with_no_progress_is_not_a_change(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    before = (run / "config.yaml").read_text()
    assert main(["train", "--resume", str(run), "--no-progress", "--set", "sac.gamma=0.5"]) == 0
    assert (run / "config.yaml").read_text() == before


# ----------------------------------------------------------------------------- one recipe

def test_empty_and_partial_configs_fill_from_the_default_recipe(tmp_path, monkeypatch):
    recipe = to_dict(load_config(DEFAULT_RECIPE))
    (tmp_path / "empty.yaml").write_text("")
    assert to_dict(load_config(tmp_path / "empty.yaml")) == recipe
    assert to_dict(RunConfig()) == recipe == to_dict(config_from_dict({}))
    partial = to_dict(config_from_dict({"sac": {"gamma": 0.7}}))
    assert partial["sac"]["gamma"] == 0.7
    assert partial["sac"]["hidden_sizes"] == [128, 128]       # the recipe's, not 256-256
    assert partial["sac"]["learning_starts"] == 10_000
    assert partial["lagrange"]["margin"] == 0.025 and partial["train"]["eval_episodes"] == 30
    monkeypatch.chdir(tmp_path)                               # packaged: any directory
    for name in ("shift_state", "shift_state.yaml", "configs/shift_state.yaml"):
        assert to_dict(load_config(name)) == recipe
    assert DEFAULT_RECIPE.read_text() == (Path(__file__).parent.parent / "configs"
                                          / "shift_state.yaml").read_text()


def test_numbers_are_read_as_yaml_1_2_reads_them(tmp_path):
    path = tmp_path / "sci.yaml"
    path.write_text("train: {total_steps: 1.0e3, eval_every: 5e2}\nsac: {lr_actor: 3e-4}\n")
    cfg = load_config(path)
    assert cfg.train.total_steps == 1000 and isinstance(cfg.train.total_steps, int)
    assert cfg.train.eval_every == 500 and cfg.sac.lr_actor == 3e-4
    path.write_text("train: {total_steps: 1.2345e3}\n")  # 1234.5 steps
    with pytest.raises(ValueError, match="train.total_steps: expected an integer"):
        load_config(path)


def test_fork_continues_a_checkpoint_as_a_new_run(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    before = _snapshot(run)
    fork = tmp_path / "fork"
    assert main(["train", "--resume", str(run), "--fork", str(fork), "--steps", "720",
                 "--set", "sac.gamma=0.9"]) == 0
    assert _snapshot(run) == before                      # the source is only read
    meta = json.loads((fork / "meta.json").read_text())
    assert meta["forked_from"]["checkpoint"] == "step-000000480" and meta["status"] == "finished"
    cfg = load_config(fork / "config.yaml")
    assert cfg.sac.gamma == 0.9 and cfg.train.total_steps == 720
    from robolabor.experiments.runs import read_table

    src_rows, fork_rows = (read_table(d / "episodes.parquet") for d in (run, fork))
    assert fork_rows[:4] == src_rows and len(fork_rows) == 6
    assert main(["evaluate", str(fork), "--episodes", "1"]) == 0  # a sealed run of its own
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--fork", str(tmp_path / "f2"),
                 "--set", "env.config.human_wage=36.0"]) == 1
    assert "a fork continues the same task" in capsys.readouterr().err
    assert not (tmp_path / "f2").exists()
