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
    summary = run_macro(tiny_scenario(tmp_path / "s.yaml"), tmp_path / "out", run_dirs=runs)
    assert summary["learning_curve"]["source"] == "fitted to training runs"
    assert summary["learning_curve"]["mp_inf"] == pytest.approx(curve.mp_inf)
    rows = read_table(tmp_path / "out" / "macro.parquet")
    # month m is 10 000 env steps (the default), so the robot is near mp_inf after a year
    assert rows[12]["robot_mp"] == pytest.approx(curve(120_000), rel=1e-9)


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
