"""Latent novelty: the diffusion score against kNN, Mahalanobis and RND on a run's latents.

The detectors are fitted on the latents of a trained run's replay (its encoder applied to
every stored observation; every 5th episode held out to standardise the diffusion score).
Test sets are fresh episodes collected by the run's own agent (stochastic) on episode
seeds from 1,000,000, so in- and out-of-distribution differ only in the task:

* ``id``: the run's own task;
* ``near``: a shift variant the run never saw (default ``configs/variants/
  heldout_late_rush.yaml``: a later, sharper rush and a tighter SLA);
* ``near_mix``: another dish mix (``heldout_glassware.yaml``);
* ``far``: other dish types (``novelty_far_dish_types.yaml``).

A pixel run of the physics scene (``robolabor/DishwashingPhysicsVideo-v0``, the ``pixel``
encoder's latents of its frame stacks) gets its own sets: ``near`` the late rush in the
same scene (``novelty_near_late_rush_physics.yaml``), ``far`` the same scene in another
palette (``novelty_far_palette_physics.yaml``).

Reported per method and set: AUROC and FPR95 (OOD positive), and per method the scoring
throughput in latents/s on one core (torch and BLAS at one thread), fit seconds.
``--windows K1,K2`` adds the same metrics for a stream of latents rather than one: each
test episode cut into consecutive, non-overlapping windows of K minutes (the remainder
dropped), a window scored by the mean of its latents' scores (keys ``SET_wK``). A
variant that changes only part of a shift (a later rush) leaves many single frames
in-distribution; a window asks whether the last K minutes were.

    OMP_NUM_THREADS=1 python benchmarks/novelty.py runs/base-state-s0 --json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _report import emit, git_commit

from robolabor.data.novelty import (
    METHODS,
    auroc,
    build_detector,
    detection_metrics,
    encode_observations,
    replay_latents,
)
from robolabor.experiments.checkpoints import load_replay
from robolabor.experiments.config import config_hash, load_config
from robolabor.experiments.protocol import REPORT_EVAL_SEED
from robolabor.experiments.rollout import make_env
from robolabor.experiments.runs import open_run

VARIANTS = Path(__file__).resolve().parent.parent / "configs" / "variants"
SETS = {"near": "heldout_late_rush.yaml", "near_mix": "heldout_glassware.yaml",
        "far": "novelty_far_dish_types.yaml"}
SETS_BY_ENV = {  # the sets of a run on another env (pixel latents of the physics scene)
    "robolabor/DishwashingPhysicsVideo-v0": {"near": "novelty_near_late_rush_physics.yaml",
                                             "far": "novelty_far_palette_physics.yaml"}}


def test_latents(opened, config: str | None, episodes: int, seed: int) -> list[np.ndarray]:
    """Latents of ``episodes`` episodes (env seeds seed, seed+1, ...) acted by the run's
    agent (stochastic), encoded an episode at a time (frame stacks are never all kept);
    one array per episode."""
    cfg = load_config(config) if config else opened.cfg
    env = make_env(cfg.env.id, cfg.env.config)
    agent = opened.agent
    agent.generator.manual_seed(seed)
    out = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        seen, done = [], False
        while not done:
            seen.append(obs)
            obs, _, terminated, truncated, _ = env.step(agent.act(obs, deterministic=False))
            done = terminated or truncated
        out.append(encode_observations(agent, np.stack(seen)))
    env.close()
    return out


def window_scores(scores: np.ndarray, lengths: list[int], k: int) -> list[np.ndarray]:
    """Per episode, the mean score of each non-overlapping window of ``k`` consecutive
    latents (the episode's remainder dropped)."""
    out, start = [], 0
    for n in lengths:
        ep = scores[start:start + n]
        start += n
        m = n // k
        if m:
            out.append(ep[:m * k].reshape(m, k).mean(axis=1))
    if not out:
        raise SystemExit(f"--windows: {k} minutes is longer than every test episode")
    return out


def window_metrics(w_in: list[np.ndarray], w_out: list[np.ndarray], reps: int = 1000,
                   seed: int = 0) -> dict:
    """AUROC and FPR95 of window scores, with a 95% bootstrap CI of the AUROC over
    episodes (windows of one episode are not independent; episodes are)."""
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(reps):
        a = np.concatenate([w_in[i] for i in rng.integers(len(w_in), size=len(w_in))])
        b = np.concatenate([w_out[i] for i in rng.integers(len(w_out), size=len(w_out))])
        boot.append(auroc(a, b))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return detection_metrics(np.concatenate(w_in), np.concatenate(w_out)) | {
        "auroc_ci": [float(lo), float(hi)], "windows_id": int(sum(map(len, w_in))),
        "windows_out": int(sum(map(len, w_out))), "episodes": [len(w_in), len(w_out)]}


def throughput(det, z: np.ndarray, n: int, repeats: int = 3) -> float:
    reps = int(np.ceil(n / z.shape[0]))
    big = np.tile(z, (reps, 1))[:n]
    det.score(big[:1000])  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        det.score(big)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--episodes", type=int, default=20, help="episodes per test set")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seed", type=int, default=0, help="detector seed")
    ap.add_argument("--throughput-n", type=int, default=200_000)
    ap.add_argument("--episode-seed", type=int, default=REPORT_EVAL_SEED,
                    help="first episode seed of the test sets (each set 1,000 further on); "
                         "below 1,000,000 = tuning episodes")
    ap.add_argument("--noise", default=None,
                    help="diffusion noise modes to compare on one fitted model, e.g. "
                         "sampled,none (keys diffusion_MODE); default: the config's only")
    ap.add_argument("--levels", default=None,
                    help="diffusion level sets to compare on one fitted model, e.g. "
                         "'1,2,4;1,2;1' (keys diffusion_MODE_tLEVELS)")
    ap.add_argument("--throughput-only", action="store_true",
                    help="fit and time scoring only (on the replay's held-out latents): no "
                         "test sets, no detection metrics")
    ap.add_argument("--windows", default="",
                    help="comma list of window lengths in minutes (e.g. 10,120): "
                         "detection of a stream of latents, keys SET_wK")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    windows = [int(k) for k in args.windows.split(",") if k]
    if any(k < 1 for k in windows):
        raise SystemExit("--windows: lengths must be >= 1 minute")
    torch.set_num_threads(1)
    opened = open_run(args.run_dir)
    fit_z, hold_z = replay_latents(opened.agent, load_replay(opened))
    seed0 = args.episode_seed
    set_files = SETS_BY_ENV.get(opened.cfg.env.id, SETS)
    if args.throughput_only:
        set_files = {}
    episodes = {"id": [hold_z] if args.throughput_only else
                test_latents(opened, None, args.episodes, seed0)}
    for i, (name, fname) in enumerate(set_files.items()):
        episodes[name] = test_latents(opened, str(VARIANTS / fname), args.episodes,
                                      seed0 + 1000 * (i + 1))
    sets = {k: np.concatenate(v) for k, v in episodes.items()}
    lengths = {k: [len(e) for e in v] for k, v in episodes.items()}
    parts = Path(opened.run.path).parts
    result: dict = {
        "run_dir": str(Path(*parts[parts.index("runs"):])) if "runs" in parts
        else Path(opened.run.path).name,
        "checkpoint": opened.checkpoint.name, "config_hash": config_hash(opened.cfg),
        "encoder": opened.cfg.encoder.type, "latent_dim": int(fit_z.shape[1]),
        "fit_latents": int(fit_z.shape[0]), "holdout_latents": int(hold_z.shape[0]),
        "test_latents": {k: int(v.shape[0]) for k, v in sets.items()},
        "sets": {"id": "the run's own task", **set_files}, "threads": 1,
        "episode_seed": seed0, "commit": git_commit(),
        "episodes_kind": "reported" if seed0 >= REPORT_EVAL_SEED else "tuning",
        "windows": windows,
    }
    methods = []
    for method in args.methods.split(","):
        det = build_detector(method, seed=args.seed)
        t0 = time.perf_counter()
        det.fit(fit_z, holdout=hold_z) if method == "diffusion" else det.fit(fit_z)
        fit_s = time.perf_counter() - t0
        variants = {method: det}
        if method == "diffusion" and (args.noise or args.levels):
            modes = args.noise.split(",") if args.noise else [det.cfg.noise]
            levels = [tuple(int(t) for t in ls.split(",")) for ls in args.levels.split(";")] \
                if args.levels else [det.cfg.levels]
            variants = {f"diffusion_{m}" + (f"_t{'-'.join(map(str, ls))}" if args.levels
                                            else ""): det.rescored(noise=m, levels=ls)
                        for m in modes for ls in levels}
        for key, d in variants.items():
            scored = {name: d.score(z) for name, z in sets.items()}
            row = {name: detection_metrics(scored["id"], s) for name, s in scored.items()
                   if name != "id"}
            for k in windows:
                w_id = window_scores(scored["id"], lengths["id"], k)
                for name in set_files:
                    row[f"{name}_w{k}"] = window_metrics(
                        w_id, window_scores(scored[name], lengths[name], k))
            row["fit_seconds"] = fit_s
            row["latents_per_s"] = throughput(d, sets["id"], args.throughput_n)
            if method == "diffusion":
                row.update(components=d.k, noise=d.cfg.noise, levels=list(d.cfg.levels))
            result[key] = row
            methods.append(key)
    best = {s: max(methods, key=lambda m: result[m][s]["auroc"]) for s in set_files}
    result["best_auroc"] = best
    emit(result, args.json)


if __name__ == "__main__":
    main()
