"""The online ΔMPL estimator, corrupted-pack detection and the pack table (CLI, report)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.cli import main
from robolabor.data.audit import duplicate_fraction
from robolabor.data.estimator import (
    FEATURES,
    RidgeEstimator,
    critic_features,
    estimator_scores,
    held_out_predictions,
)
from robolabor.data.library import VALUATIONS, detection_f1, pack_table, read_valuations, two_means
from robolabor.data.packs import corrupt, create_pack, open_pack
from robolabor.data.valuation import value_pack
from robolabor.errors import UserError
from robolabor.experiments.checkpoints import load_replay
from robolabor.experiments.config import config_from_dict
from robolabor.experiments.report import write_report
from robolabor.experiments.runs import open_run
from robolabor.experiments.trainer import start_run

TINY = {"train": {"total_steps": 240, "eval_every": 240, "checkpoint_every": 240,
                  "eval_episodes": 2, "progress": False, "seed": 5},
        "sac": {"learning_starts": 120, "batch_size": 32, "hidden_sizes": [32, 32]},
        "encoder": {"hidden_dim": 32, "latent_dim": 16}}


def rows_from(x: np.ndarray) -> list[dict]:
    return [dict(zip(FEATURES, map(float, r), strict=True)) for r in x]


# ------------------------------------------------------------------------ estimator
def test_ridge_recovers_a_linear_value_and_scores_it_held_out():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, len(FEATURES)))
    y = 3.0 * x[:, 0] - 2.0 * x[:, 7] + 0.01 * rng.normal(size=20)
    est = RidgeEstimator(alpha=1e-6).fit(rows_from(x), y)
    assert np.allclose(est.predict(rows_from(x)), y, atol=0.05)
    scores = estimator_scores(rows_from(x), y)
    assert scores["spearman_estimator"] > 0.95 and scores["packs"] == 20
    assert scores["spearman_size_only"] == pytest.approx(
        float(np.corrcoef(np.argsort(np.argsort(x[:, 0])), np.argsort(np.argsort(y)))[0, 1]))


def test_held_out_prediction_never_sees_its_own_value():
    rng = np.random.default_rng(1)
    rows = rows_from(rng.normal(size=(8, len(FEATURES))))
    y = rng.normal(size=8)
    moved = y.copy()
    moved[3] += 100.0
    a, b = held_out_predictions(rows, y), held_out_predictions(rows, moved)
    assert a[3] == pytest.approx(b[3])          # pack 3's own value is not in its fit
    assert not np.allclose(np.delete(a, 3), np.delete(b, 3))  # the others' fits use it


@settings(max_examples=25, deadline=None)
@given(st.floats(-50, 50), st.integers(3, 12), st.integers(0, 1000))
def test_a_constant_value_is_predicted_exactly(c, n, seed):
    rows = rows_from(np.random.default_rng(seed).normal(size=(n, len(FEATURES))))
    est = RidgeEstimator().fit(rows, [c] * n)
    assert np.allclose(est.predict(rows), c)


def test_estimator_needs_three_packs():
    with pytest.raises(UserError, match=">= 3 valued packs"):
        RidgeEstimator().fit(rows_from(np.zeros((2, len(FEATURES)))), [1.0, 2.0])


# ------------------------------------------------------------------------ detection
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 0), min_size=1, max_size=6),
       st.lists(st.floats(20, 30), min_size=1, max_size=6))
def test_two_means_flags_the_lower_of_two_separated_groups(low, high):
    x = np.array(low + high)
    truth = np.array([True] * len(low) + [False] * len(high))
    assert np.array_equal(two_means(x), truth)
    assert detection_f1(two_means(x), truth) == 1.0


def test_detection_f1_counts():
    truth = np.array([True, True, False, False])
    assert detection_f1([True, False, False, False], truth) == pytest.approx(2 / 3)
    assert detection_f1([False, False, True, True], truth) == 0.0


# ---------------------------------------------------------------- a run and its packs
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    run = root / "runs" / "base"
    start_run(config_from_dict(TINY), run)
    store = root / "packs"
    for name, prov, policy, eps, seed in (("k-opt", "customer", "optimum", 1, 0),
                                          ("k-rand", "synthetic", "random", 1, 10),
                                          ("p-opt", "platform", "optimum", 2, 20),
                                          ("k-rand2", "customer", "random", 2, 30)):
        create_pack(name, None, prov, policy, eps, seed, store)
    return root, run, store


def test_duplicates_and_critic_features(tiny):
    _, run, store = tiny
    tr = open_pack("p-opt", store).transitions
    assert duplicate_fraction(tr) == 0.0
    assert duplicate_fraction(corrupt(tr, "duplicates")) == pytest.approx(0.5)
    opened = open_run(run)
    buffer = load_replay(opened)
    replay = buffer.transitions(buffer.live_ids())
    lam, target = opened.state["lagrange"]["lam"], opened.state["lagrange"]["sla"]
    plain = critic_features(opened.agent, tr, replay, lam, target)
    lied = copy.deepcopy(tr)
    lied.reward = lied.reward + 10.0            # outcomes no action of the task produces
    assert critic_features(opened.agent, lied, replay, lam, target)["td_ratio"] > \
        plain["td_ratio"] + 1.0
    own = copy.deepcopy(tr)                     # the policy's own mean actions
    own.action = np.stack([opened.agent.act(o, deterministic=True) for o in tr.obs])
    assert abs(critic_features(opened.agent, own, replay, lam, target)["advantage"]) < 1e-4


def _fake_valuations(run, store, values: dict[str, float], setting: str = "fake-setting"
                     ) -> None:
    """Records with chosen values, holding what the table reads of value_pack's."""
    folder = run / VALUATIONS / setting
    folder.mkdir(parents=True, exist_ok=True)
    for ref, v in values.items():
        rec = {"pack": ref, "store": str(store),
               "price": {"per_robot_hour": 0.1, "tier": "standard"},
               **{key: {"mean": v, "ci_low": v - 1, "ci_high": v + 1, "n": 2}
                  for key in ("delta_mp", "delta_pct_of_frontier")}}
        (folder / f"{ref}.json").write_text(json.dumps(rec))


def test_pack_table_from_valuations(tiny, capsys):
    root, run, store = tiny
    r = value_pack(run, "k-opt", seeds=2, steps=10, episodes=2, out=root / "runs" / "v",
                   store=store, workers=1)
    setting, valued, settings_ = read_valuations(run)
    assert setting == r["record"].split("/")[-2] and list(valued) == ["k-opt@v1"]
    assert valued["k-opt@v1"]["delta_mp"] == pytest.approx(r["delta_mp"])
    # one valued pack: a table without predictions, and it says why
    table = pack_table(run, store, novelty_cfg=_small_diffusion())
    assert [row["pack"] for row in table["rows"]] == ["k-opt@v1", "k-rand@v1", "k-rand2@v1",
                                                        "p-opt@v1"]
    assert "needs at least 4" in table["estimator"]["reason"]
    assert all(row["features"] is not None for row in table["rows"])
    # four valued packs (one marked corrupted): held-out predictions and detection
    _fake_valuations(run, store, {"k-opt@v1": 9.0, "k-rand@v1": -2.0, "p-opt@v1": 6.0,
                           "k-rand2@v1": 1.0})
    bad = open_pack("k-rand", store)
    meta = json.loads((bad.path / "pack.json").read_text())
    table = pack_table(run, store, "fake-setting", novelty_cfg=_small_diffusion())
    assert table["setting"] == "fake-setting" and "fake-setting" in table["settings_available"]
    assert all(row["predicted_delta_mp"] is not None for row in table["rows"])
    assert table["estimator"]["delta_mp"]["packs"] == 4
    assert "no corrupted pack" in table["detection"]["reason"]
    assert meta["policy"]["kind"] == "random"
    with pytest.raises(UserError, match="no such valuation setting"):
        pack_table(run, store, "nope")
    assert main(["pack", "table", str(run), "--store", str(store), "--setting",
                 "fake-setting", "--novelty-iters", "30", "--plot",
                 str(root / "v.png")]) == 0
    out = capsys.readouterr().out
    assert "| k-opt@v1 | customer |" in out and "+9.00 [+8.00, +10.00]" in out
    assert "Spearman" in out and (root / "v.png").is_file()
    assert main(["pack", "table", str(run), "--store", str(store), "--setting",
                 "fake-setting", "--novelty-iters", "30", "--json"]) == 0
    blob = json.loads(capsys.readouterr().out)
    assert blob["rows"][0]["price_per_robot_hour"] is not None
    # the run's report carries the table, from the cached features
    paths = write_report(run)
    md = open(paths["markdown"]).read()
    assert "## Data packs valued for this run" in md and "k-rand2@v1" in md


def test_pack_table_detects_a_labelled_corrupted_pack(tiny):
    root, run, store = tiny
    tr = open_pack("k-opt", store)
    from robolabor.data.packs import write_pack

    write_pack(corrupt(tr.transitions, "shuffled_rewards"), "k-bad", "synthetic",
               tr.meta["env_id"], tr.meta["env_params"],
               dict(tr.meta["policy"], corrupted="shuffled_rewards"), store)
    _fake_valuations(run, store, {"k-opt@v1": 9.0, "k-rand@v1": 5.0, "p-opt@v1": 6.0,
                           "k-rand2@v1": 7.0, "k-bad@v1": -8.0}, "fake-detect")
    table = pack_table(run, store, "fake-detect", novelty_cfg=_small_diffusion())
    det = table["detection"]["delta_mp"]
    assert det["corrupted"] == ["k-bad@v1"] and det["flagged"] == ["k-bad@v1"]
    assert det["f1"] == 1.0
    # the audit flags it from its transitions alone, and refuses it a price
    assert table["detection"]["audit"]["flagged"] == ["k-bad@v1"]
    row = next(r for r in table["rows"] if r["pack"] == "k-bad@v1")
    assert not row["audit"]["consistent"] and row["tier"] == "refused"
    assert row["price_per_robot_hour"] == 0.0
    assert all(r["audit"]["consistent"] for r in table["rows"] if r["pack"] != "k-bad@v1")


def _small_diffusion():
    from robolabor.data.novelty import DiffusionConfig

    return DiffusionConfig(train_iters=30, hidden=32)


def test_a_video_pack_is_valued_and_tabled_on_a_pixel_run(tmp_path):
    """Frame-stack packs go through the same path: arms with the pack in a frame-stack
    replay, features from pixel latents and the pixel run's critic."""
    from pathlib import Path

    from robolabor.experiments.config import load_config

    root = Path(__file__).resolve().parent.parent
    cfg = load_config(root / "configs" / "shift_video.yaml", overrides={
        "train.total_steps": 60, "train.eval_every": 60, "train.checkpoint_every": 60,
        "train.eval_episodes": 1, "train.progress": False, "sac.learning_starts": 40,
        "sac.batch_size": 8, "env.config": {"shift_minutes": 20}})
    run = tmp_path / "runs" / "pixel"
    start_run(cfg, run)
    variant = tmp_path / "cam.yaml"
    variant.write_text("env:\n  id: robolabor/DishwashingShiftVideo-v0\n"
                       "  config: {shift_minutes: 20}\n")
    store = tmp_path / "packs"
    create_pack("cam", str(variant), "customer", "random", 1, 0, store)
    r = value_pack(run, "cam", seeds=2, steps=10, episodes=2, out=tmp_path / "runs" / "v",
                   store=store, workers=1)
    assert r["pack_transitions"] == 20 and r["delta_mp"]["n"] == 2
    table = pack_table(run, store, novelty_cfg=_small_diffusion())
    row = table["rows"][0]
    assert row["pack"] == "cam@v1" and row["valued"] and row["features"]["td_ratio"] > 0
    assert np.isfinite(row["novelty_mean"]) and row["features"]["duplicate_fraction"] == 0.0
