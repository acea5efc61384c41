"""Counterfactual ΔMPL of a pack end to end on a tiny run, and the subset values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robolabor.cli import main
from robolabor.data.packs import create_pack
from robolabor.data.valuation import leave_one_out, shapley_tmc, value_pack, write_data_value
from robolabor.errors import UserError
from robolabor.experiments.config import config_from_dict
from robolabor.experiments.ledgers import price_run
from robolabor.experiments.runs import read_table
from robolabor.experiments.trainer import start_run

TINY = {"train": {"total_steps": 240, "eval_every": 240, "checkpoint_every": 240,
                  "eval_episodes": 2, "progress": False, "seed": 3},
        "sac": {"learning_starts": 120, "batch_size": 32, "hidden_sizes": [32, 32]},
        "encoder": {"hidden_dim": 32, "latent_dim": 16}}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("val")
    start_run(config_from_dict(TINY), root / "runs" / "base")
    store = root / "packs"
    create_pack("kitchen", None, "customer", "random", 2, 0, store)
    create_pack("bar", None, "platform", "random", 1, 5, store)
    return root, root / "runs" / "base", store


def test_value_pack_pairs_arms_by_seed(tiny_run):
    root, run, store = tiny_run
    r = value_pack(run, "kitchen", seeds=2, steps=30, episodes=2, out=root / "runs" / "v",
                   store=store, workers=1)
    assert r["seeds"] == [100, 101] and r["pack"] == "kitchen@v1"
    assert r["provenance"] == "customer" and r["pack_transitions"] == 240
    for key in ("delta_mp", "delta_real_output_per_hour", "delta_profit_per_hour",
                "delta_pct_of_frontier"):
        d = r[key]
        assert d["n"] == 2 and d["ci_low"] <= d["mean"] <= d["ci_high"]
    for row in r["per_seed"]:
        with_dir, without_dir = root / row["with_run"], root / row["without_run"]
        meta_w = json.loads((with_dir / "meta.json").read_text())
        meta_wo = json.loads((without_dir / "meta.json").read_text())
        assert meta_w["data_packs"][0]["pack"] == "kitchen@v1" and meta_wo["data_packs"] == []
        assert meta_w["valuation"]["seed"] == meta_wo["valuation"]["seed"] == row["seed"]
        assert read_table(with_dir / "evals.parquet")[-1]["step"] == 270
        assert row["delta_mp"] == pytest.approx(row["mp_with"] - row["mp_without"])
    # the measured value feeds the ledger of each with-pack arm
    files = write_data_value(r)
    assert len(files) == 2
    step = str(read_table(Path(files[0]).parent / "evals.parquet")[-1]["step"])
    blob = json.loads(Path(files[0]).read_text())["delta_mpl_cust"][step]
    assert blob["mean"] == pytest.approx(r["delta_mp"]["mean"])
    final = price_run(Path(files[0]).parent).checkpoints[-1].row
    assert final["delta_mpl_cust_source"] == "data_value.json"
    assert isinstance(final["s_cust_reason"], str)
    plain = price_run(run).checkpoints[-1].row
    assert plain["s_cust"] == 0.0 and "no customer data pack" in plain["s_cust_reason"]


def test_same_seed_same_arm(tiny_run):
    root, run, store = tiny_run
    a = value_pack(run, "bar", seeds=1, steps=20, episodes=2, out=root / "runs" / "a",
                   store=store, workers=1)
    b = value_pack(run, "bar", seeds=1, steps=20, episodes=2, out=root / "runs" / "b",
                   store=store, workers=1)
    assert a["per_seed"][0]["mp_with"] == b["per_seed"][0]["mp_with"]
    assert a["per_seed"][0]["mp_without"] == b["per_seed"][0]["mp_without"]
    again = value_pack(run, "bar", seeds=1, steps=20, episodes=2, out=root / "runs" / "a",
                       store=store, workers=1)       # finished arms are reused, not retrained
    assert again["per_seed"] == a["per_seed"]
    with pytest.raises(UserError, match="holds another run"):
        value_pack(run, "bar", seeds=1, steps=25, episodes=2, out=root / "runs" / "a",
                   store=store, workers=1)
    assert np.isnan(a["delta_mp"]["ci_low"])         # one seed: no interval...
    assert write_data_value(a) == []                 # ...and a platform pack: nothing written


def test_arms_on_the_ray_backend_equal_local_ones(tiny_run):
    pytest.importorskip("ray")
    root, run, store = tiny_run
    kw = dict(seeds=1, steps=20, episodes=2, store=store, workers=1)
    local = value_pack(run, "bar", out=root / "runs" / "local", **kw)
    on_ray = value_pack(run, "bar", out=root / "runs" / "ray", backend="ray", **kw)
    strip = ("with_run", "without_run")
    assert ([{k: v for k, v in r.items() if k not in strip} for r in on_ray["per_seed"]]
            == [{k: v for k, v in r.items() if k not in strip} for r in local["per_seed"]])
    with pytest.raises(UserError, match="--backend ray"):
        value_pack(run, "bar", out=root / "runs" / "x", address="h:1", **kw)


def test_value_data_cli(tiny_run, capsys):
    root, run, store = tiny_run
    assert main(["value-data", str(run), "--pack", "kitchen", "--seeds", "2", "--steps", "10",
                 "--episodes", "2", "--workers", "1", "--store", str(store), "--out",
                 str(root / "runs" / "cli"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pack"] == "kitchen@v1" and len(out["data_value_files"]) == 2
    assert "out_path" not in out and out["price"]["tier"] in ("basic", "standard", "premium")
    assert main(["value-data", str(run), "--pack", "nope", "--store", str(store)]) == 1
    assert "not found" in capsys.readouterr().err
    with pytest.raises(UserError, match="episodes"):
        value_pack(run, "kitchen", episodes=1, store=store)


def additive(values: dict[str, float], base: float = 1.0):
    return lambda s: base + sum(values[p] for p in s)


def test_loo_and_shapley_of_an_additive_utility_are_the_pack_values():
    values = {"a": 2.0, "b": -1.0, "c": 0.5}
    assert leave_one_out(additive(values), list(values)) == pytest.approx(values)
    shap = shapley_tmc(additive(values), list(values), permutations=5, seed=1)
    assert {p: v["mean"] for p, v in shap.items()} == pytest.approx(values)


def test_shapley_of_duplicates_splits_their_value():
    # two copies of the same pack: either alone gives all of it, together no more
    u = lambda s: 3.0 if s else 0.0  # noqa: E731
    shap = shapley_tmc(u, ["x", "y"], permutations=200, seed=0)
    assert shap["x"]["mean"] + shap["y"]["mean"] == pytest.approx(3.0)
    assert abs(shap["x"]["mean"] - 1.5) < 0.5


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=5), st.integers(1, 6),
       st.integers(0, 100))
def test_shapley_without_truncation_is_efficient(vals, perms, seed):
    """Σ_i φ_i = U(all) − U(∅) for any sampled permutations (each telescopes)."""
    packs = [f"p{i}" for i in range(len(vals))]
    weights = dict(zip(packs, vals, strict=True))
    u = lambda s: sum(weights[p] for p in s) ** 2  # noqa: E731  (not additive)
    shap = shapley_tmc(u, packs, perms, seed=seed)
    assert sum(v["mean"] for v in shap.values()) == pytest.approx(u(set(packs)), abs=1e-9)
