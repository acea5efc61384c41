"""Ledgers of run directories rebuilt from evaluation counts, and the claims on runs.

Synthetic run directories (evals rows with known counts) pin the numbers by hand;
one very short real training run and its frozen control exercise claim 3's
intervention and the negative control end to end.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from robolabor.econ import EconInputError
from robolabor.experiments.claims_report import write_claims_report
from robolabor.experiments.claims_runner import claim_speed_intervention, claims_for_runs
from robolabor.experiments.config import config_from_dict, config_hash, dump_config
from robolabor.experiments.controls import frozen_control_config, start_frozen_control
from robolabor.experiments.ledgers import (
    LEDGER_FILE,
    checkpoint_ledgers,
    load_data_value,
    price_run,
    write_ledgers,
)
from robolabor.experiments.runs import read_table, write_table

CLASSIC = "robolabor/DishwashingClassic-v0"  # p = 0.30 $, c = 1 $, w_h = 18 $/h, MP_h = 60/h


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def make_run(path, steps, good, broken, seed=0, hours=1.0, op_per_hour=0.1):
    """A run directory whose evals.parquet holds the given per-episode counts.

    good, broken: (n_checkpoints, n_episodes) single-type counts.
    """
    path.mkdir(parents=True)
    cfg = config_from_dict({"env": {"id": CLASSIC}, "train": {"seed": seed}})
    (path / "config.yaml").write_text(dump_config(cfg))
    (path / "meta.json").write_text(json.dumps({"seed": seed, "config_hash": config_hash(cfg)}))
    rows = []
    for step, g, b in zip(steps, good, broken, strict=True):
        g, b = np.asarray(g, float), np.asarray(b, float)
        rows.append({"step": int(step), "mp": float(g.mean() / hours),
                     "pct_of_optimum": 0.0, "lambda": 0.0,
                     "mp_episodes": (g / hours).tolist(),
                     "good_by_type_episodes": [[x] for x in g],
                     "broken_by_type_episodes": [[x] for x in b],
                     "hours_episodes": [hours] * len(g),
                     "operating_cost_episodes": [op_per_hour * hours] * len(g)})
    write_table(path / "evals.parquet", rows)
    return path


GOOD = [[80, 85, 75], [90, 96, 84], [91, 95, 84]]
BROKEN = [[2, 2, 2], [3, 3, 3], [3, 3, 3]]


def test_checkpoint_ledgers_match_hand_computation(tmp_path):
    run = make_run(tmp_path / "run", [100, 200, 300], GOOD, BROKEN)
    rows = checkpoint_ledgers(run, "capped")
    assert [r["step"] for r in rows] == [100, 200, 300]
    r = rows[1]
    # ŵ = 0.30·S − 1·E per hour: 24, 25.8, 22.2; all above 1.05·18, so SV = ŵ − 18
    assert r["implied_wage"] == pytest.approx(24.0)
    assert r["spread_value"] == pytest.approx(6.0)
    assert r["s_cust"] == 0.0 and r["s_plat"] == 1.0
    assert r["rebate"] == 0.0 and r["capture"] == pytest.approx(6.0)
    # capped: P = min(ŵ − 0, 18) = 18 = w_h; the customer keeps all of SV, C is not cash
    assert r["price"] == pytest.approx(18.0) and r["rho_hour"] == pytest.approx(1.0)
    assert r["customer_payment"] == pytest.approx(18.0)
    assert r["customer_gain"] == pytest.approx(6.0)
    assert r["platform_margin"] == pytest.approx(17.9)
    assert r["capture_realised"] == 0.0 and r["capture_unrealised"] == pytest.approx(6.0)
    assert r["capture_realised_fraction"] == 0.0
    assert r["cs_per_hour"] == 0.0
    # checkpoint ULC_r = Σ P·H / Σ S = 54 / 270 $ per item, ULC_h = 18 / 60 → ρ = 2/3; one
    # product, so real output (0.30 $ per item at base prices) gives the same ρ
    assert r["rho_ulc_items"] == pytest.approx(54 / 270 / 0.3)
    assert r["rho_ulc_real"] == pytest.approx(r["rho_ulc_items"])
    assert r["ulc_robot_real"] == pytest.approx(54 / (0.3 * 270))
    assert r["cs_per_unit"] == pytest.approx(np.mean([0.3 - 18 / m for m in (90, 96, 84)]))
    # ΔMPL paired by episode: diffs 10, 11, 9 → mean 10, sd 1, t(2) interval
    half = stats.t.ppf(0.975, 2) / np.sqrt(3)
    assert r["delta_mpl_total"] == pytest.approx(10.0)
    assert r["delta_mpl_total_ci_low"] == pytest.approx(10 - half)
    assert r["delta_mpl_total_ci_high"] == pytest.approx(10 + half)
    assert r["delta_mpl_total_significant"]
    assert np.isnan(rows[0]["delta_mpl_total"]) and not rows[0]["delta_mpl_total_significant"]
    # checkpoint 3: diffs 1, −1, 0 → no credible gain
    assert not rows[2]["delta_mpl_total_significant"]
    assert rows[0]["delta_mpl_cust_source"] == "none"


def test_data_value_file_sets_the_customer_share(tmp_path):
    run = make_run(tmp_path / "run", [100, 200, 300], GOOD, BROKEN)
    (run / "data_value.json").write_text(json.dumps({"delta_mpl_cust": {
        "200": 5.0,                                             # half of ΔMPL_total = 10
        "300": 5.0,                                             # but ΔMPL_total is noise here
        "100": {"mean": 2.0, "ci_low": -1.0, "ci_high": 5.0},  # interval includes 0
    }}))
    assert load_data_value(run) == {200: 5.0, 300: 5.0, 100: 0.0}
    capped = checkpoint_ledgers(run, "capped")
    r = capped[1]
    assert r["s_cust"] == pytest.approx(0.5) and r["delta_mpl_cust"] == 5.0
    assert r["rebate"] == pytest.approx(3.0) and r["capture"] == pytest.approx(3.0)
    assert r["price"] == pytest.approx(18.0)  # ŵ − R/H = 21, 21.9, 20.1: still capped at w_h
    assert capped[2]["s_cust"] == 0.0  # no significant total gain: nothing to attribute
    assert r["delta_mpl_cust_source"] == "data_value.json"
    split = checkpoint_ledgers(run, "split")[1]
    # split: P = w_h + C/H, the customer keeps exactly R, the platform receives C in cash
    assert split["price"] == pytest.approx(21.0)
    assert split["customer_gain"] == pytest.approx(3.0)
    assert split["capture_realised"] == pytest.approx(3.0)
    assert split["capture_realised_fraction"] == pytest.approx(1.0)
    assert split["rho_hour"] == pytest.approx(21.0 / 18.0)


def test_bad_data_value_file_is_rejected(tmp_path):
    run = make_run(tmp_path / "run", [100, 200, 300], GOOD, BROKEN)
    (run / "data_value.json").write_text(json.dumps({"delta_mpl_cust": {"200": "lots"}}))
    with pytest.raises(EconInputError, match="finite number"):
        checkpoint_ledgers(run)


def test_write_ledgers_round_trips(tmp_path):
    run = make_run(tmp_path / "run", [100, 200, 300], GOOD, BROKEN)
    path = write_ledgers(run, "split")
    assert path.name == LEDGER_FILE
    rows = read_table(path)
    assert [r["step"] for r in rows] == [100, 200, 300]
    assert {r["pricing"] for r in rows} == {"split"}


def _seed_runs(root, prefix, n_seeds, learning):
    rng = np.random.default_rng(0)
    dirs = []
    steps = [1000, 2000, 3000, 4000, 5000]
    for s in range(n_seeds):
        level = 70 + rng.integers(-3, 4)
        episodes = np.array([0, 4, -4, 2])
        if learning:
            good = [level + 10 * k + episodes + rng.integers(-2, 3) for k in range(5)]
        else:  # a frozen policy on fresh episodes at every checkpoint: noise, no trend
            good = [level + rng.integers(-4, 5, size=4) for _ in range(5)]
        broken = [[2, 2, 2, 2]] * 5
        dirs.append(make_run(root / f"{prefix}{s}", steps, good, broken, seed=s))
    return dirs


def test_claims_on_synthetic_runs_learning_vs_frozen(tmp_path):
    learning = _seed_runs(tmp_path, "learn", 3, True)
    frozen = _seed_runs(tmp_path, "frozen", 3, False)
    res, runs = claims_for_runs(learning, "capped", control_dirs=frozen, n_null_controls=200)
    c = res["claims"]
    for m in ("items", "laspeyres", "tornqvist"):
        assert c[f"claim4_{m}"]["verdict"] == "holds"
        assert c[f"claim4_{m}"]["numbers"]["slope_ci"][1] < 0
        assert c[f"claim4_negative_control_{m}"]["verdict"] == "not_supported"
        assert c[f"claim4_{m}"]["numbers"]["negative_control"] == "not_supported"
    fpr = c["claim4_negative_control_laspeyres"]["numbers"]["false_positive_rate"]
    assert fpr["n_controls"] == 200 and fpr["false_positive_rate"] <= 0.05 + 3 * fpr["mc_se"]
    assert c["claim4_items"]["numbers"]["rho_hour_last"] == pytest.approx(1.0)  # capped
    for k in ("claim1_per_hour", "claim1_per_item", "claim1_per_real_output", "claim2"):
        assert c[k]["numbers"]["control_planted_violation"] == "fails"
    assert c["claim1_per_hour"]["verdict"] == "holds_by_construction"
    assert c["claim2"]["verdict"] == "fails"  # capped: C is never received as cash
    assert c["claim2"]["counterexample"] is not None
    assert c["claim3"]["verdict"] == "not_supported"  # synthetic runs have no policy
    # the frozen runs on their own: no trend, not supported
    alone, _ = claims_for_runs(frozen, "capped")
    assert alone["claims"]["claim4_laspeyres"]["verdict"] == "not_supported"
    json.dumps(res, allow_nan=False)
    paths = write_claims_report(res, runs, tmp_path / "report")
    for p in paths.values():
        assert (tmp_path / "report" / p.split("/")[-1]).stat().st_size > 0
    assert "claim4" in (tmp_path / "report" / "claims.md").read_text()


def test_a_control_that_trends_invalidates_claim4(tmp_path):
    learning = _seed_runs(tmp_path, "learn", 3, True)
    res, _ = claims_for_runs(learning, "capped", control_dirs=learning, n_null_controls=10)
    c = res["claims"]
    assert c["claim4_negative_control_items"]["verdict"] == "holds"  # a "control" that learns
    assert c["claim4_items"]["verdict"] == "not_supported"
    assert c["claim4_items"]["numbers"]["verdict_before_controls"] == "holds"


# --------------------------------------------------------------------------- real runs

def _short_cfg(learning_starts=100):
    return config_from_dict({
        "env": {"id": CLASSIC},
        "sac": {"learning_starts": learning_starts, "batch_size": 32, "hidden_sizes": [32, 32]},
        "train": {"total_steps": 300, "eval_every": 60, "eval_episodes": 3,
                  "checkpoint_every": 300, "progress": False},
    })


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory):
    from robolabor.experiments.trainer import start_run

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    trained = start_run(_short_cfg(), root / "trained")["run_dir"]
    frozen = start_frozen_control(_short_cfg(), root / "frozen")["run_dir"]
    return trained, frozen


def test_frozen_control_is_a_config_transform():
    cfg = _short_cfg()
    ctl = frozen_control_config(cfg)
    assert ctl.sac.learning_starts == cfg.train.total_steps + 1
    assert ctl.train.eval_fresh_episodes and not cfg.train.eval_fresh_episodes
    assert ctl.train.seed == cfg.train.seed and ctl.env == cfg.env and ctl.encoder == cfg.encoder


def test_frozen_control_never_changes_its_policy_and_sees_fresh_episodes(short_runs):
    from robolabor.experiments.checkpoints import build_agent
    from robolabor.experiments.rollout import make_env
    from robolabor.experiments.runs import open_run

    _, frozen = short_runs
    meta = json.loads((Path(frozen) / "meta.json").read_text())
    assert meta["control"] == "frozen"
    rows = read_table(Path(frozen) / "evals.parquet")
    assert len(rows) >= 3
    first = rows[0]["good_by_type_episodes"]
    assert any(r["good_by_type_episodes"] != first for r in rows[1:])  # fresh episodes
    cfg = frozen_control_config(_short_cfg())
    env = make_env(cfg.env.id, cfg.env.config)
    init, final = build_agent(cfg, env), open_run(frozen).agent
    obs, _ = env.reset(seed=3)
    np.testing.assert_array_equal(init.act(obs, deterministic=True),
                                  final.act(obs, deterministic=True))  # never updated
    led = checkpoint_ledgers(frozen)
    assert not any(r["delta_mpl_total_significant"] for r in led)  # no pairing across fresh


def test_claim3_by_speed_intervention(short_runs):
    trained, _ = short_runs
    res = claim_speed_intervention(price_run(trained, "capped"), episodes=48, slow_factor=0.7)
    n = res.numbers
    # the policy sees its own counters, so the arms' states drift apart slightly
    assert n["speed_base"] == pytest.approx(0.7 * n["speed_faster"], rel=0.02)
    assert n["delta_mp"] > 0
    assert abs(n["delta_error_rate"]) < 0.02
    assert res.verdict in ("holds", "not_supported")
    assert res.numbers["negative_control"] == "not_supported"  # the placebo: noise only
    if n["share_above_threshold"] == 1.0:
        assert res.verdict == "holds"
        assert n["delta_capture"] > 0
        assert n["delta_capture_realised"] == 0.0  # capped: C is not cash above parity


def test_positive_control_policies_raise_mp_by_construction():
    """The shift task's exact policy slowed by rising speed factors (care re-solved for the
    same risk): MP rises with the factor on common-size fresh episode sets."""
    from robolabor.experiments.controls import speed_schedule_episodes
    from robolabor.experiments.media import scripted_policy
    from robolabor.experiments.rollout import make_env

    env = make_env("robolabor/DishwashingShift-v0")
    per_factor = speed_schedule_episodes(env, scripted_policy(env, "optimal", 0), (0.3, 1.0),
                                         20, 7_000)
    mp = [np.mean([t.good.sum() / (t.steps / 60) for t in ts]) for ts in per_factor]
    assert mp[1] > mp[0] + 10
