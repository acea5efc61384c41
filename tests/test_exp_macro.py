"""The macro runner writes its outputs, fits the learning curve from run directories,
and sweeps scenarios over the local backend."""

import json

import numpy as np
import pytest

from robolabor.econ import EconInputError
from robolabor.experiments.macro_runner import (
    learning_curve_from_runs,
    run_macro,
    sweep_macro,
)
from robolabor.experiments.runs import read_table, write_table


def tiny_scenario(path, name="tiny", **extra):
    lines = {"name": name, "n_establishments": 500, "months": 24,
             "sens_discount_rates": "[0.05, 0.10]", "sens_utilisations": "[0.8]",
             "sens_churns": "[0.0, 0.02]", **extra}
    path.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return path


def fake_runs(root, n=2):
    """Run directories whose evaluations follow mp = 110 − 30·exp(−step/5000)."""
    dirs = []
    for s in range(n):
        d = root / f"run{s}"
        d.mkdir()
        steps = np.arange(0, 30_001, 3000)
        mp = 110 - 30 * np.exp(-steps / 5000) + (s - 0.5)
        write_table(d / "evals.parquet", [{"step": int(a), "mp": float(b)}
                                          for a, b in zip(steps, mp, strict=True)])
        dirs.append(d)
    return dirs


def test_run_macro_writes_every_output(tmp_path):
    sc = tiny_scenario(tmp_path / "tiny.yaml")
    summary = run_macro(sc, tmp_path / "out", seeds=2, backend="local", workers=1)
    out = tmp_path / "out"
    for name in ("macro.parquet", "macro.png", "sensitivity.parquet", "sensitivity.md",
                 "macro.json"):
        assert (out / name).stat().st_size > 0, name
    series = read_table(out / "macro.parquet")
    assert len(series) == 2 * 24 and {r["seed"] for r in series} == {0, 1}
    sens = read_table(out / "sensitivity.parquet")
    assert len(sens) == 2 * 2 * 1 * 2
    assert summary == json.loads((out / "macro.json").read_text())
    assert summary["learning_curve"]["source"] == "scenario"
    assert len(summary["npv"]["per_seed"]) == 2
    assert 0.0 <= summary["final_month"]["adoption_share"] <= 1.0
    assert "| 0.05 | 0.8 | 0.02 |" in (out / "sensitivity.md").read_text()


def test_learning_curve_fitted_from_runs(tmp_path):
    runs = fake_runs(tmp_path)
    curve = learning_curve_from_runs(runs)
    assert curve.unit == "env_steps"
    assert curve.mp_inf == pytest.approx(110, abs=1.0)
    assert curve.tau == pytest.approx(5000, rel=0.1)


def shift_runs(root, n=3):
    """Shift-task run directories (plates, glasses, pots) whose evaluations learn: MP rises
    to ~250 items/h with per-type counts and breakage, 10 episodes of 2 h per checkpoint."""
    from robolabor.experiments.config import config_from_dict, config_hash, dump_config

    rng = np.random.default_rng(0)
    dirs = []
    for s in range(n):
        d = root / f"shift{s}"
        d.mkdir()
        cfg = config_from_dict({"train": {"seed": s}})
        (d / "config.yaml").write_text(dump_config(cfg))
        (d / "meta.json").write_text(json.dumps({"seed": s, "config_hash": config_hash(cfg)}))
        rows = []
        for step in range(2000, 20_001, 2000):
            level = 250 - 60 * np.exp(-step / 6000)
            good = np.column_stack([rng.normal(level * 1.2, 8, 10), rng.normal(level * 0.5, 5, 10),
                                    rng.normal(level * 0.3, 3, 10)])
            broken = good * np.array([0.02, 0.09, 0.01])
            rows.append({"step": step, "mp": float(good.sum(1).mean() / 2),
                         "good_by_type_episodes": good.tolist(),
                         "broken_by_type_episodes": broken.tolist(),
                         "hours_episodes": [2.0] * 10, "operating_cost_episodes": [0.2] * 10})
        write_table(d / "evals.parquet", rows)
        dirs.append(d)
    return dirs


def test_macro_fitted_to_runs_reproduces_their_wage_parity(tmp_path):
    runs = shift_runs(tmp_path)
    sc = tiny_scenario(tmp_path / "s.yaml", pricing_rule="split")
    summary = run_macro(sc, tmp_path / "out", run_dirs=runs)
    parity = summary["runs_wage_parity"]
    assert parity["n"] == 3 and parity["step"] == 20_000 and parity["mean"] > 1.05
    lo, hi = parity["ci"]
    assert lo <= summary["month0_wage_parity"] <= hi
    a = summary["assumptions"]
    assert a["output_prices"] == [0.075, 0.1, 0.225] and a["human_mp"] == 240.0
    assert a["initial_env_steps"] == 20_000 and a["error_rates"][1] == pytest.approx(0.09 / 1.09)
    assert summary["learning_curve"]["source"] == "fitted to training runs"
    # above parity the platform's share of the spread changes NPV
    other = run_macro(tiny_scenario(tmp_path / "t.yaml", pricing_rule="split", s_plat=0.2),
                      tmp_path / "out2", run_dirs=runs)
    assert other["month0_wage_parity"] == pytest.approx(summary["month0_wage_parity"])
    assert abs(other["npv"]["base_case"] - summary["npv"]["base_case"]) > 0.05 * abs(
        summary["npv"]["base_case"])


def test_learning_curve_needs_evaluations(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EconInputError, match="no evaluation rows"):
        learning_curve_from_runs([tmp_path / "empty"])


def test_sweep_over_two_scenarios(tmp_path):
    a = tiny_scenario(tmp_path / "slack.yaml", name="slack")
    b = tiny_scenario(tmp_path / "tight.yaml", name="tight", wage_growth_annual=0.08)
    res = sweep_macro([a, b], tmp_path / "sweep", backend="local", workers=1)
    assert set(res["scenarios"]) == {"slack", "tight"}
    for n in ("slack", "tight"):
        assert (tmp_path / "sweep" / n / "macro.json").is_file()
    tight, slack = res["scenarios"]["tight"], res["scenarios"]["slack"]
    assert tight["final_month"]["wage_index"] > slack["final_month"]["wage_index"]
    md = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "| slack |" in md and "| tight |" in md
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["scenarios"].keys() == \
        res["scenarios"].keys()
