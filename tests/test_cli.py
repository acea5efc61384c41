"""End-to-end tests of every CLI command on tiny configs (seconds each, CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robolabor.cli import build_parser, main
from robolabor.experiments.compare import FINAL_EVAL_SEED
from robolabor.experiments.evaluate import evaluate_run
from robolabor.experiments.runs import read_table

TINY = """
train: {total_steps: 480, eval_every: 240, checkpoint_every: 240, eval_episodes: 2,
        progress: false, seed: 3}
sac: {learning_starts: 120, batch_size: 32, hidden_sizes: [64, 64]}
encoder: {hidden_dim: 64, latent_dim: 32}
"""


@pytest.fixture()
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def run_cli(*args: str) -> tuple[int, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "robolabor.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_train_evaluate_report_roundtrip(tiny_config, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(tiny_config), "--out", str(out), "--json"]) == 0
    final = json.loads(capsys.readouterr().out)
    assert final["step"] == 480 and 0 < final["pct_of_optimum"] < 150
    episodes = read_table(out / "episodes.parquet")
    assert len(episodes) == 480 // 120 and {"mp", "wage_parity", "lambda"} <= set(episodes[0])
    assert len(read_table(out / "evals.parquet")) == 2
    assert any((out / "tb").iterdir())
    assert main(["evaluate", str(out), "--episodes", "3", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    for key in ("mp", "error_rate", "parity", "profit", "pct_of_optimum", "pct_of_frontier",
                "pooled_error_rate_lo", "pooled_error_rate_hi", "sla_verdict", "lambda",
                "lambda_star", "sla", "env_steps"):
        assert key in ev, key
    assert ev["env_steps"] == 480 and ev["lambda_star"] > 0
    assert ev["sla_verdict"] in ("met", "not_rejected", "broken")
    assert ev["pooled_error_rate_lo"] <= ev["pooled_error_rate"] <= ev["pooled_error_rate_hi"]
    # the frontier score never exceeds the SLA-blind one, and equals it under the SLA
    assert ev["pct_of_frontier"] <= ev["pct_of_optimum"] + 1e-9
    if ev["pooled_error_rate"] <= ev["sla"]:
        assert ev["pct_of_frontier"] == pytest.approx(ev["pct_of_optimum"])
    assert main(["report", str(out), "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)
    assert Path(paths["figure"]).stat().st_size > 10_000
    md = Path(paths["markdown"]).read_text()
    assert "% of the exact frontier" in md and "SLA verdict" in md


def test_lambda_waits_for_the_policy_then_moves(tiny_config, tmp_path, capsys):
    """The warm-up episode (uniform-random actions) leaves λ at its initial value."""
    out = tmp_path / "run"
    assert main(["train", str(tiny_config), "--out", str(out), "--json",
                 "--set", "lagrange.init=0.3", "--set", "lagrange.lr=0.05",
                 "--set", "lagrange.measure_every=1"]) == 0
    rows = read_table(out / "episodes.parquet")
    lams = [row["lambda"] for row in rows]
    assert lams[0] == 0.3                      # episode 0 = steps 0-119, warm-up 120 steps
    assert all(lam != 0.3 for lam in lams[1:])
    assert [row["moved_lambda"] for row in rows] == [False, True, True, True]


def test_lambda_measured_on_deterministic_episodes(tiny_config, tmp_path, capsys):
    """measure_every 2: episodes 2, 4, ... are acted deterministically and alone move λ."""
    out = tmp_path / "run"
    assert main(["train", str(tiny_config), "--out", str(out), "--json", "--steps", "600",
                 "--set", "lagrange.init=0.3", "--set", "lagrange.measure_every=2"]) == 0
    rows = read_table(out / "episodes.parquet")
    assert [row["moved_lambda"] for row in rows] == [False, False, True, False, True]
    lams = [row["lambda"] for row in rows]
    assert lams[0] == lams[1] == 0.3 and lams[2] != 0.3 and lams[3] == lams[2]
    assert lams[4] != lams[3]


def test_entropy_annealing_runs_without_lr_decay(tiny_config, tmp_path, monkeypatch, capsys):
    """The entropy schedule runs even with a constant lr; progress rises to ~1 by the end."""
    from robolabor.agents.sac import SAC

    seen = []
    real = SAC.anneal
    monkeypatch.setattr(SAC, "anneal", lambda self, p: (seen.append(p), real(self, p))[1])
    assert main(["train", str(tiny_config), "--out", str(tmp_path / "run"), "--json",
                 "--steps", "600", "--set", "sac.lr_final=1.0",
                 "--set", "sac.target_entropy_start=-1.0"]) == 0
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0, abs=0.01)


def test_same_seed_same_metrics(tiny_config, tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["train", str(tiny_config), "--out", str(tmp_path / name), "--json",
                     "--steps", "300"]) == 0
    a, b = (read_table(tmp_path / n / "episodes.parquet") for n in ("a", "b"))
    assert a == b


def test_resume_after_kill_is_lossless(tiny_config, tmp_path):
    """kill -9 after the first checkpoint; the resumed run equals an uninterrupted one."""
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    code, text = run_cli("train", str(tiny_config), "--out", str(ref))
    assert code == 0, text
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "robolabor.cli", "train", str(tiny_config),
                             "--out", str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((killed / "checkpoints").glob("step-*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if (killed / "meta.json").exists() and \
            json.loads((killed / "meta.json").read_text()).get("status") == "finished":
        pytest.skip("the run finished before it could be killed")
    code, text = run_cli("train", "--resume", str(killed))
    assert code == 0, text
    assert read_table(ref / "episodes.parquet") == read_table(killed / "episodes.parquet")
    ref_ev, got_ev = (read_table(p / "evals.parquet") for p in (ref, killed))
    drop = {"wall_seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in ref_ev] == \
        [{k: v for k, v in r.items() if k not in drop} for r in got_ev]


def test_extending_a_finished_run_keeps_the_evaluation_schedule(tiny_config, tmp_path, capsys):
    """A run whose last step (300) is an evaluation step but not an episode end
    (episodes of 120), extended to 480, is not evaluated again at the first episode end."""
    out = tmp_path / "run"
    assert main(["train", str(tiny_config), "--out", str(out), "--steps", "300",
                 "--set", "train.eval_every=300"]) == 0
    assert main(["train", "--resume", str(out), "--set", "train.total_steps=480"]) == 0
    capsys.readouterr()
    assert [r["step"] for r in read_table(out / "evals.parquet")] == [300, 480]


def test_dual_target_below_the_sla_is_logged_apart_from_it(tiny_config, tmp_path, capsys):
    """lagrange.margin sets the learner's dual target; rows judge against the env's SLA."""
    out = tmp_path / "run"
    assert main(["train", str(tiny_config), "--out", str(out), "--steps", "240",
                 "--set", "lagrange.margin=0.25"]) == 0
    capsys.readouterr()
    for table in ("episodes.parquet", "evals.parquet"):
        rows = read_table(out / table)
        assert {(r["sla"], round(r["dual_target"], 12)) for r in rows} == {(0.04, 0.03)}, table


def test_nan_stops_and_keeps_last_good_checkpoint(tiny_config, tmp_path, monkeypatch, capsys):
    import torch

    from robolabor.agents.sac import SAC

    original = SAC.update
    calls = {"n": 0}

    def poisoned(self, batch, lam=0.0):
        calls["n"] += 1
        if calls["n"] == 200:  # after the first checkpoint (step 240 → 120 updates)
            with torch.no_grad():
                for p in self.critic.parameters():
                    p.fill_(float("nan"))
        return original(self, batch, lam)

    monkeypatch.setattr(SAC, "update", poisoned)
    out = tmp_path / "nan"
    assert main(["train", str(tiny_config), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "non-finite" in err.lower() and "last good checkpoint: step-000000240" in err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "failed"
    monkeypatch.setattr(SAC, "update", original)
    assert main(["evaluate", str(out), "--episodes", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["env_steps"] == 240


@pytest.mark.parametrize("yaml_text, fragment", [
    ("sac: {batch_sise: 32}", "sac: unknown key(s) ['batch_sise']"),
    ("sac: {gamma: 1.5}", "sac.gamma: must be <= 1.0"),
    ("train: {total_steps: ten}", "train.total_steps: expected an integer"),
    ("encoder: {type: vit}", "encoder.type: must be one of"),
    ("env: {config: {shift_minutes: -5}}", "shift_minutes"),
])
def test_bad_config_is_a_clear_error(tmp_path, capsys, yaml_text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    assert main(["train", str(path), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_missing_and_truncated_checkpoints_are_clear_errors(tiny_config, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 1
    assert "not a robolabor run directory" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["train", str(tiny_config), "--out", str(out), "--steps", "240"]) == 0
    capsys.readouterr()
    ckpt = sorted((out / "checkpoints").glob("step-*"))[-1]
    data = (ckpt / "agent.pt").read_bytes()
    (ckpt / "agent.pt").write_bytes(data[:100])
    assert main(["evaluate", str(out), "--checkpoint", ckpt.name]) == 1
    err = capsys.readouterr().err
    assert "truncated" in err and "agent.pt" in err
    # without a name it falls back to the step-0 checkpoint, and says so (stderr and JSON)
    assert main(["evaluate", str(out), "--episodes", "1", "--json"]) == 0
    captured = capsys.readouterr()
    ev = json.loads(captured.out)
    assert ev["checkpoint"] == "step-000000000" and ev["env_steps"] == 0
    assert "fell back to step-000000000" in captured.err and "truncated" in captured.err
    assert "truncated" in ev["checkpoint_warnings"][0]


def test_optimum_command(capsys):
    assert main(["optimum", "--env", "classic", "--json"]) == 0
    opt = json.loads(capsys.readouterr().out)
    assert abs(opt["mp"] - 102.7) < 0.5 and abs(opt["parity"] - 1.58) < 0.01
    assert opt["lambda_star"] == 0.0
    assert main(["optimum", "--env", "shift", "--json"]) == 0
    opt = json.loads(capsys.readouterr().out)
    for key in ("expected_profit", "parity", "mp", "error_rate", "sla", "lambda_star",
                "best_constant_profit", "random_parity", "solve_seconds"):
        assert key in opt
    assert opt["lambda_star"] > 0 and opt["random_parity"] < 1 < 1.3 < opt["parity"]
    assert "frontier" not in opt


def test_optimum_frontier_command(capsys, tmp_path):
    plot = tmp_path / "f.png"
    assert main(["optimum", "--env", "shift", "--frontier", "--plot", str(plot), "--json"]) == 0
    opt = json.loads(capsys.readouterr().out)
    points = opt["frontier"]
    assert [set(p) for p in points] == [{"error_rate", "expected_profit", "lambda"}] * len(points)
    at_sla = [p for p in points if p["error_rate"] == opt["sla"]]
    assert at_sla[0]["expected_profit"] == opt["expected_profit"]
    assert points[-1]["expected_profit"] == pytest.approx(opt["unconstrained_profit"])
    assert plot.stat().st_size > 5_000


def test_demo_command_writes_a_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--steps", "360", "--final-episodes", "5", "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert Path(summary["report"]).is_file()
    assert (out / "report.png").stat().st_size > 10_000
    assert summary["lambda_star"] > 0 and summary["env_steps"] == 360
    # scored on fresh episodes, with the frontier score and the SLA verdict
    assert summary["final_eval_seed"] == 1_000_000 and summary["final_episodes"] == 5
    assert summary["sla_verdict"] in ("met", "not_rejected", "broken")
    assert json.loads((out / "meta.json").read_text())["seed"] == 100
    # the default recipe (configs/shift_state.yaml), on a shortened budget only
    from robolabor.experiments.config import DEFAULT_RECIPE, load_config
    from robolabor.schema import to_dict

    ran, recipe = (to_dict(load_config(p)) for p in (out / "config.yaml", DEFAULT_RECIPE))
    assert {k: v for k, v in ran.items() if k != "train"} == \
        {k: v for k, v in recipe.items() if k != "train"}


def test_compare_command(tiny_config, tmp_path, capsys):
    other = tmp_path / "tiny_b.yaml"
    other.write_text(TINY)
    out = tmp_path / "cmp"
    assert main(["compare", "--modes", f"{tiny_config},{other}", "--seeds", "2", "--steps",
                 "240", "--workers", "1", "--out", str(out), "--margin", "100",
                 "--final-episodes", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["table"]) == {str(tiny_config), str(other)}
    row = summary["table"][str(tiny_config)]
    assert len(row["pct_of_frontier_seeds"]) == 2 and "curve" in row
    assert summary["training_seeds"] == [100, 101]  # never a tuning seed (< 100)
    assert len(row["sla_verdicts"]) == 2
    # identical configs and seeds train identical runs: no difference, and within a margin
    # wider than any seed-to-seed spread of these 240-step runs the test calls them equivalent
    assert summary["equivalence"]["diff"] == 0.0
    assert summary["equivalence"]["verdict"] == "equivalent"
    assert (out / "compare.md").is_file() and (out / "compare.png").stat().st_size > 5_000
    # every final policy rescored on the same episodes (100 unless told), not the periodic ones
    assert summary["final_episodes"] == 4 and summary["final_eval_seed"] == FINAL_EVAL_SEED
    assert build_parser().parse_args(["compare"]).final_episodes == 100


def test_compare_rerun_reuses_runs_and_refuses_another_config(tiny_config, tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "--modes", str(tiny_config), "--seeds", "2", "--steps", "240",
            "--workers", "1", "--out", str(out), "--json"]
    assert main(args + ["--final-episodes", "0"]) == 0
    first = json.loads(capsys.readouterr().out)["table"][str(tiny_config)]
    ckpt = out / "tiny-seed100" / "checkpoints"  # reported seeds start at 100
    before = {p.name for p in ckpt.iterdir()}
    assert main(args + ["--final-episodes", "3"]) == 0  # rescore: no training again
    again = json.loads(capsys.readouterr().out)
    assert {p.name for p in ckpt.iterdir()} == before
    assert again["final_episodes"] == 3
    row = again["table"][str(tiny_config)]
    assert row["wall_seconds"] == first["wall_seconds"]
    rescored = [evaluate_run(out / f"tiny-seed{s}", episodes=3, seed=FINAL_EVAL_SEED)
                for s in (100, 101)]
    assert row["pct_of_frontier_seeds"] == [r["pct_of_frontier"] for r in rescored]
    assert main(args + ["--set", "sac.gamma=0.7"]) == 1
    assert "holds a run of another config" in capsys.readouterr().err


def test_claims_command_with_control(tiny_config, tmp_path, capsys):
    runs = []
    for seed in (0, 1):
        out = tmp_path / f"run{seed}"
        assert main(["train", str(tiny_config), "--out", str(out), "--seed", str(seed),
                     "--set", "train.eval_every=120"]) == 0
        runs.append(str(out))
    control = tmp_path / "control"
    assert main(["train", str(tiny_config), "--out", str(control), "--frozen-control",
                 "--set", "train.eval_every=120"]) == 0
    capsys.readouterr()
    assert main(["claims", *runs, "--control", str(control), "--pricing", "split",
                 "--intervention-episodes", "16", "--out", str(tmp_path / "claims"),
                 "--json"]) == 0
    claims = json.loads(capsys.readouterr().out)["claims"]
    verdicts = {"holds", "holds_by_construction", "not_supported", "fails"}
    assert {"claim1_per_hour", "claim1_per_item", "claim1_per_real_output", "claim2", "claim3",
            "claim4_items", "claim4_laspeyres", "claim4_tornqvist",
            "claim4_negative_control_laspeyres"} <= set(claims)
    assert all(c["verdict"] in verdicts for c in claims.values())
    assert claims["claim1_per_hour"]["verdict"] == "fails"  # split charges above w_h per hour
    assert claims["claim4_negative_control_laspeyres"]["verdict"] == "not_supported"  # frozen
    assert claims["claim4_laspeyres"]["numbers"]["negative_control"] == "not_supported"
    assert (tmp_path / "claims" / "claims.png").is_file()
    assert json.loads((control / "meta.json").read_text())["control"] == "frozen"


def test_macro_command(tmp_path, capsys):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text("name: tiny\nn_establishments: 500\nmonths: 12\n")
    out = tmp_path / "macro"
    assert main(["macro", str(scenario), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary and (out / "macro.parquet").is_file()
    assert main(["macro", str(tmp_path / "missing.yaml")]) == 1
