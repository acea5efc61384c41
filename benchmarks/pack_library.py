"""A library of data packs valued counterfactually, corrupted ones among them.

Twenty packs vary size, provenance, task variant and collecting policy; six are
corrupted copies of good packs (``data.packs.corrupt``: random actions, shuffled
rewards, duplicated transitions). Each is valued on the run with ``value_pack`` (the
same seeds and episodes for all, the without-pack arms shared), which records it in the
run's ``valuations/``; the table, the estimator's held-out scores and corrupted-pack
detection (OpenDataVal's: 2-means on the values, the lower cluster flagged, F1 against
the labels) then come from ``data.library.pack_table``, as ``robolabor pack table``
prints them. The second ten packs, and the 5,000-step, three-seed setting, were fixed
before any of their values was seen.

    OMP_NUM_THREADS=1 python benchmarks/pack_library.py runs/base-state-s0 --json
    OMP_NUM_THREADS=1 python benchmarks/pack_library.py runs/base-state-s0 --seeds 3 \
        --steps 5000 --out runs/base-state-s0-library-5k --json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _report import emit, git_commit

from robolabor.data.estimator import RidgeEstimator, prediction_scores
from robolabor.data.library import detection_f1, pack_table, plot_pack_values, two_means
from robolabor.data.packs import collect, corrupt, make_policy, open_pack, write_pack
from robolabor.data.valuation import value_pack
from robolabor.experiments.config import load_config
from robolabor.experiments.rollout import make_env
from robolabor.experiments.runs import open_run
from robolabor.schema import to_dict

VARIANTS = Path(__file__).resolve().parent.parent / "configs" / "variants"
# name, provenance, variant (None = the run's task), policy, episodes, seed, corruption
LIBRARY = [
    ("kitchen-optimum", "customer", None, "optimum", 40, 2_000_000, None),
    ("kitchen-optimum-small", "customer", None, "optimum", 10, 2_001_000, None),
    ("kitchen-optimum-large", "customer", None, "optimum", 80, 2_006_000, None),
    ("kitchen-run", "customer", None, "run", 20, 2_002_000, None),
    ("kitchen-random", "synthetic", None, "random", 60, 2_003_000, None),
    ("bar-optimum", "platform", "heldout_glassware.yaml", "optimum", 30, 2_004_000, None),
    ("rush-optimum", "platform", "heldout_late_rush.yaml", "optimum", 40, 2_005_000, None),
    ("bad-random-actions", "synthetic", None, "optimum", 40, 2_000_000, "random_actions"),
    ("bad-shuffled-rewards", "synthetic", None, "optimum", 40, 2_000_000, "shuffled_rewards"),
    ("bad-duplicates", "synthetic", None, "optimum", 40, 2_000_000, "duplicates"),
    # the second ten, fixed before any of their values was seen
    ("kitchen-optimum-tiny", "customer", None, "optimum", 5, 2_007_000, None),
    ("kitchen-run-large", "customer", None, "run", 60, 2_008_000, None),
    ("kitchen-random-small", "synthetic", None, "random", 20, 2_009_000, None),
    ("fragile-optimum", "platform", "heldout_fragile.yaml", "optimum", 40, 2_010_000, None),
    ("far-optimum", "platform", "novelty_far_dish_types.yaml", "optimum", 40, 2_011_000, None),
    ("bar-run", "platform", "heldout_glassware.yaml", "run", 30, 2_012_000, None),
    ("rush-random", "synthetic", "heldout_late_rush.yaml", "random", 40, 2_013_000, None),
    ("bad-random-actions-large", "synthetic", None, "optimum", 80, 2_006_000, "random_actions"),
    ("bad-shuffled-rewards-bar", "synthetic", "heldout_glassware.yaml", "optimum", 30,
     2_004_000, "shuffled_rewards"),
    ("bad-duplicates-run", "synthetic", None, "run", 20, 2_002_000, "duplicates"),
]
# Library B: ten fresh packs, fixed after the estimator's features were chosen on the
# twenty above and before any value of these was seen. The estimator fitted on the
# twenty (never refitted) predicts these: its held-out score (``--library b``).
LIBRARY_B = [
    ("b-kitchen-optimum", "customer", None, "optimum", 30, 3_000_000, None),
    ("b-kitchen-run", "customer", None, "run", 40, 3_001_000, None),
    ("b-kitchen-random", "synthetic", None, "random", 40, 3_002_000, None),
    ("b-bar-random", "synthetic", "heldout_glassware.yaml", "random", 30, 3_003_000, None),
    ("b-fragile-run", "platform", "heldout_fragile.yaml", "run", 30, 3_004_000, None),
    ("b-rush-optimum-small", "platform", "heldout_late_rush.yaml", "optimum", 15, 3_005_000,
     None),
    ("b-far-run", "platform", "novelty_far_dish_types.yaml", "run", 30, 3_006_000, None),
    ("b-bad-random-actions", "synthetic", None, "optimum", 20, 3_007_000, "random_actions"),
    ("b-bad-shuffled-rewards", "synthetic", "heldout_fragile.yaml", "optimum", 40, 3_008_000,
     "shuffled_rewards"),
    ("b-bad-duplicates", "synthetic", "heldout_glassware.yaml", "optimum", 30, 3_009_000,
     "duplicates"),
]


def build_library(run_dir: str, store: Path, library: list[tuple]) -> list[str]:
    refs = []
    for name, prov, variant, policy, episodes, seed, bad in library:
        if (store / name).is_dir():
            refs.append(open_pack(name, store).ref)
            continue
        cfg = load_config(VARIANTS / variant) if variant else open_run(run_dir).cfg
        env = make_env(cfg.env.id, cfg.env.config)
        act, record = make_policy(f"run:{run_dir}" if policy == "run" else policy, env, seed)
        tr = collect(env, act, episodes, seed)
        if bad:
            tr = corrupt(tr, bad, seed)
            record = dict(record, corrupted=bad)
        path = write_pack(tr, name, prov, cfg.env.id, to_dict(env.unwrapped.params), record,
                          store, extra={"env_source": variant or "run task", "seed": seed})
        env.close()
        refs.append(f"{name}@{path.name}")
    return refs


def held_out_library(table: dict, fit_names: set[str], test_names: set[str]) -> dict:
    """The estimator fitted on one library's valued packs scores another's
    (``prediction_scores`` of ΔMPL), with corrupted-pack detection on the held-out packs
    alone."""
    def pick(names):
        return [r for r in table["rows"] if r["valued"] and r["pack"].split("@")[0] in names]

    fit, test = pick(fit_names), pick(test_names)
    est = RidgeEstimator().fit([r["features"] for r in fit], [r["delta_mp"]["mean"] for r in fit])
    pred = est.predict([r["features"] for r in test])
    y = [r["delta_mp"]["mean"] for r in test]
    truth = np.array([bool(r["corrupted"]) for r in test])
    flagged = two_means(y)
    return {"fit_packs": len(fit), "test_packs": len(test), "target": "delta_mp",
            **prediction_scores([r["features"] for r in test], y, pred),
            "predicted": {r["pack"]: float(p) for r, p in zip(test, pred, strict=True)},
            "detection_f1_delta_mp": detection_f1(flagged, truth),
            "flagged": [r["pack"] for r, f in zip(test, flagged, strict=True) if f]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--store", default="runs/packs-library")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None,
                    help="folder for the arms (default RUN_DIR-library; one per --steps)")
    ap.add_argument("--plot", default=None, help="PNG of predicted against measured ΔMPL")
    ap.add_argument("--library", default="a", choices=("a", "b"),
                    help="a: the twenty packs; b: ten fresh ones scored by the estimator "
                         "fitted on a (value a first)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    store = Path(args.store)
    t0 = time.perf_counter()
    library = LIBRARY_B if args.library == "b" else LIBRARY
    refs = build_library(args.run_dir, store, library)
    out = Path(args.out) if args.out else \
        Path(args.run_dir).parent / f"{Path(args.run_dir).name}-library"
    setting = None
    for ref in refs:
        r = value_pack(args.run_dir, ref, seeds=args.seeds, steps=args.steps,
                       episodes=args.episodes, out=out, store=store, workers=args.workers)
        setting = Path(r["record"]).parent.name
    table = pack_table(args.run_dir, store, setting)
    result = {"run_dir": args.run_dir, "seeds": args.seeds, "steps": args.steps,
              "episodes": args.episodes, "setting": setting,
              "packs": table["rows"],
              "estimator": table["estimator"], "detection": table["detection"],
              "commit": git_commit(), "wall_seconds": time.perf_counter() - t0}
    if args.library == "b":
        result["held_out_library"] = held_out_library(table, {n[0] for n in LIBRARY},
                                                      {n[0] for n in LIBRARY_B})
    if args.plot:
        result["figure"] = plot_pack_values(table, args.plot)
    emit(result, args.json)


if __name__ == "__main__":
    main()
