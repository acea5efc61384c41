"""A library of data packs valued counterfactually, corrupted ones among them.

Packs vary size, provenance, task variant and collecting policy; three are corrupted
copies of a good pack (``data.packs.corrupt``: random actions, shuffled rewards,
duplicated transitions). Each is valued on the run with ``value_pack`` (the same seeds
and episodes for all, the without-pack arms shared), and its mean latent novelty against
the run's replay is recorded (the diffusion detector fitted on the replay's latents).
Corrupted-pack detection as OpenDataVal scores it: 2-means on the values, the
lower-valued cluster flagged, F1 against the true labels.

    OMP_NUM_THREADS=1 python benchmarks/pack_library.py runs/base-state-s0 --json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _report import emit

from robolabor.data.novelty import DiffusionNovelty, KNNNovelty, encode_observations
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
]


def build_library(run_dir: str, store: Path) -> list[str]:
    refs = []
    for name, prov, variant, policy, episodes, seed, bad in LIBRARY:
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


def two_means(x: np.ndarray, iters: int = 100) -> np.ndarray:
    """1-d k-means with k = 2 from the extremes; True = the lower cluster."""
    lo, hi = float(x.min()), float(x.max())
    low = x <= (lo + hi) / 2
    for _ in range(iters):
        c0, c1 = x[low].mean(), x[~low].mean() if (~low).any() else hi
        new = np.abs(x - c0) <= np.abs(x - c1)
        if np.array_equal(new, low):
            break
        low = new
    return low


def f1(flagged: np.ndarray, truth: np.ndarray) -> float:
    tp = float((flagged & truth).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / flagged.sum(), tp / truth.sum()
    return 2 * precision * recall / (precision + recall)


FEATURES = ("log_size", "novelty_mean", "novelty_p90", "reward_per_step", "error_rate",
            "customer", "platform")


def features(row: dict) -> list[float]:
    return [np.log(row["transitions"]), row["novelty_mean"], row["novelty_p90"],
            row["reward_per_step"], row["error_rate"], float(row["provenance"] == "customer"),
            float(row["provenance"] == "platform")]


def loo_ridge(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Each pack's value predicted by a ridge fitted on the other packs (standardised)."""
    pred = np.empty_like(y)
    for i in range(len(y)):
        m = np.arange(len(y)) != i
        mu, sd = x[m].mean(0), np.maximum(x[m].std(0), 1e-9)
        a = (x[m] - mu) / sd
        w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (y[m] - y[m].mean()))
        pred[i] = y[m].mean() + ((x[i] - mu) / sd) @ w
    return pred


def estimator_scores(rows: list[dict], metric: str) -> dict:
    """Spearman of held-out predictions with the measured values, beside two baselines
    (pack size alone; minus the kNN novelty: the nearer the data, the more useful)."""
    from scipy.stats import spearmanr

    y = np.array([r[metric]["mean"] for r in rows])
    x = np.array([features(r) for r in rows])
    pred = loo_ridge(x, y)
    return {"target": metric, "features": list(FEATURES), "validation": "leave-one-pack-out",
            "spearman_estimator": float(spearmanr(pred, y).statistic),
            "spearman_size_only": float(spearmanr([r["transitions"] for r in rows], y).statistic),
            "spearman_knn_novelty": float(spearmanr([-r["knn_novelty_mean"] for r in rows],
                                                    y).statistic),
            "predicted": pred.tolist()}


def plot(result: dict, path: str) -> None:
    """Predicted (held out) against measured Δ% of the frontier, one point per pack."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, pred = result["packs"], result["estimator"]["predicted"]
    y = [r["delta_pct_of_frontier"]["mean"] for r in rows]
    err = [[r["delta_pct_of_frontier"]["mean"] - r["delta_pct_of_frontier"]["ci_low"]
            for r in rows], [r["delta_pct_of_frontier"]["ci_high"]
                             - r["delta_pct_of_frontier"]["mean"] for r in rows]]
    fig, ax = plt.subplots(figsize=(6, 5))
    colors = ["tab:red" if r["corrupted"] else "tab:blue" for r in rows]
    ax.errorbar(pred, y, yerr=err, fmt="none", ecolor="0.6")
    ax.scatter(pred, y, c=colors)
    for r, x_, y_ in zip(rows, pred, y, strict=True):
        ax.annotate(r["pack"].split("@")[0], (x_, y_), fontsize=7)
    lo, hi = min(min(pred), min(y)), max(max(pred), max(y))
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set_xlabel("predicted Δ% of frontier (leave-one-pack-out)")
    ax.set_ylabel("measured Δ% of frontier (95% CI over seeds)")
    ax.set_title(f"Spearman {result['estimator']['spearman_estimator']:.2f} (red: corrupted)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--store", default="runs/packs-library")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--plot", default=None, help="PNG of predicted against measured value")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    store = Path(args.store)
    t0 = time.perf_counter()
    refs = build_library(args.run_dir, store)
    opened = open_run(args.run_dir)
    with np.load(opened.checkpoint / "replay.npz") as replay:
        replay_z = encode_observations(opened.agent, replay["obs"])
    det = DiffusionNovelty().fit(replay_z)
    knn = KNNNovelty().fit(replay_z)
    out = Path(args.run_dir).parent / f"{Path(args.run_dir).name}-library"
    rows = []
    for ref, spec in zip(refs, LIBRARY, strict=True):
        pack = open_pack(ref, store)
        z = encode_observations(opened.agent, pack.transitions.obs)
        nov = det.score(z)
        tr = pack.transitions
        r = value_pack(args.run_dir, ref, seeds=args.seeds, steps=args.steps,
                       episodes=args.episodes, out=out, store=store, workers=args.workers)
        rows.append({"pack": ref, "provenance": pack.provenance, "variant": spec[2] or "run task",
                     "policy": spec[3], "transitions": len(pack.transitions),
                     "corrupted": spec[6] or "", "novelty_mean": float(nov.mean()),
                     "novelty_p90": float(np.quantile(nov, 0.9)),
                     "knn_novelty_mean": float(knn.score(z).mean()),
                     "reward_per_step": float(tr.reward.mean()),
                     "error_rate": float(tr.broken.sum() / max(tr.attempts.sum(), 1)),
                     **{k: r[k] for k in ("delta_mp", "delta_pct_of_frontier",
                                          "delta_profit_per_hour")},
                     "price_per_robot_hour": r["price"]["per_robot_hour"],
                     "tier": r["price"]["tier"]})
    truth = np.array([bool(r["corrupted"]) for r in rows])
    result = {"run_dir": args.run_dir, "seeds": args.seeds, "steps": args.steps,
              "episodes": args.episodes, "packs": rows}
    for metric in ("delta_pct_of_frontier", "delta_mp"):
        values = np.array([r[metric]["mean"] for r in rows])
        flagged = two_means(values)
        result[f"detection_f1_{metric}"] = f1(flagged, truth)
        result[f"flagged_{metric}"] = [r["pack"] for r, f in zip(rows, flagged, strict=True) if f]
    result["estimator"] = estimator_scores(rows, "delta_pct_of_frontier")
    result["wall_seconds"] = time.perf_counter() - t0
    if args.plot:
        plot(result, args.plot)
    emit(result, args.json)


if __name__ == "__main__":
    main()
