"""The pack audit: its false-positive rate on honest packs, its power against partly
corrupted ones, and its verdicts on the valued library (``robolabor.data.audit``).

* **Null control** (can fail): ``--null-packs`` honest packs (fixed before any was
  audited: 400), collected by the uniform-random and the exact optimal policy on the
  shift task and its three held-out variants, ``--episodes`` each, on fresh episode
  seeds from 5,000,000. The audit at ``alpha`` should flag about ``alpha`` of them; the
  fit statistic z should be N(0, 1) (its mean, standard deviation and the share under
  the threshold are reported).
* **Power**: ``--power-packs`` fresh honest optimum packs per corruption kind and
  fraction of damaged rows (``data.packs.corrupt(..., fraction=f)``): the share flagged.
* **Library**: every pack of ``--store`` (``benchmarks/pack_library.py`` writes it),
  audited, with detection F1 against the corruption labels.

    OMP_NUM_THREADS=1 python benchmarks/pack_audit.py --json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _report import emit, git_commit

from robolabor.data.audit import audit_transitions
from robolabor.data.library import detection_f1
from robolabor.data.packs import CORRUPTIONS, collect, corrupt, list_packs, make_policy, open_pack
from robolabor.experiments.config import load_config
from robolabor.experiments.rollout import make_env
from robolabor.schema import to_dict

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
TASKS = ("shift_state.yaml", "variants/heldout_late_rush.yaml",
         "variants/heldout_glassware.yaml", "variants/heldout_fragile.yaml")
FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
NULL_SEED = 5_000_000
POWER_SEED = 6_000_000


def _envs():
    for task in TASKS:
        cfg = load_config(CONFIGS / task)
        env = make_env(cfg.env.id, cfg.env.config)
        yield task, cfg.env.id, to_dict(env.unwrapped.params), env


def null_control(packs: int, episodes: int, alpha: float) -> dict:
    rows = []
    per_cell = max(1, packs // (2 * len(TASKS)))
    for task, env_id, params, env in _envs():
        for policy in ("random", "optimum"):
            act, _ = make_policy(policy, env, seed=NULL_SEED)
            for _ in range(per_cell):
                seed = NULL_SEED + 1000 * len(rows)
                a = audit_transitions(collect(env, act, episodes, seed), env_id, params, alpha)
                rows.append({"task": task, "policy": policy, "seed": seed,
                             "fit_z": a["fit_z"], "consistent": a["consistent"],
                             "reasons": a["reasons"]})
        env.close()
    z = np.array([r["fit_z"] for r in rows])
    flagged = [r for r in rows if not r["consistent"]]
    return {"packs": len(rows), "episodes_per_pack": episodes, "alpha": alpha,
            "false_positives": len(flagged), "false_positive_rate": len(flagged) / len(rows),
            "flagged": flagged, "z_mean": float(z.mean()), "z_sd": float(z.std(ddof=1)),
            "z_min": float(z.min()),
            "by_cell": {f"{t}/{p}": float(np.mean([r["fit_z"] for r in rows
                                                   if r["task"] == t and r["policy"] == p]))
                        for t in TASKS for p in ("random", "optimum")}}


def power(packs: int, episodes: int, alpha: float) -> dict:
    task, env_id, params, env = next(_envs())
    act, _ = make_policy("optimum", env, seed=POWER_SEED)
    honest = [collect(env, act, episodes, POWER_SEED + 1000 * i) for i in range(packs)]
    env.close()
    out = {}
    for kind in CORRUPTIONS:
        out[kind] = {}
        for f in FRACTIONS:
            hits = [not audit_transitions(corrupt(tr, kind, seed=i, fraction=f), env_id,
                                          params, alpha)["consistent"]
                    for i, tr in enumerate(honest)]
            out[kind][str(f)] = float(np.mean(hits))
    return {"task": task, "policy": "optimum", "packs": packs, "episodes_per_pack": episodes,
            "fractions": list(FRACTIONS), "detected": out}


def library(store: str, alpha: float) -> dict:
    rows = []
    for r in list_packs(store):
        pack = open_pack(r["pack"], store)
        a = audit_transitions(pack.transitions, pack.meta["env_id"], pack.meta["env_params"],
                              alpha)
        corrupted = (pack.meta.get("policy") or {}).get("corrupted") or ""
        rows.append({"pack": pack.ref, "corrupted": corrupted, "consistent": a["consistent"],
                     "fit_z": a["fit_z"], "identity_fraction": a.get("identity_fraction"),
                     "duplicate_fraction": a["duplicate_fraction"], "reasons": a["reasons"]})
    truth = np.array([bool(r["corrupted"]) for r in rows])
    flagged = np.array([not r["consistent"] for r in rows])
    return {"store": store, "packs": len(rows), "corrupted": int(truth.sum()),
            "flagged": int(flagged.sum()), "f1": detection_f1(flagged, truth), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--null-packs", type=int, default=400)
    ap.add_argument("--power-packs", type=int, default=30)
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--alpha", type=float, default=1e-3)
    ap.add_argument("--store", default="runs/packs-library",
                    help="the valued library (skipped when absent)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = {"commit": git_commit(), "null": null_control(args.null_packs, args.episodes,
                                                            args.alpha),
              "power": power(args.power_packs, args.episodes, args.alpha)}
    if Path(args.store).is_dir():
        result["library"] = library(args.store, args.alpha)
    result["wall_seconds"] = time.perf_counter() - t0
    emit(result, args.json)


if __name__ == "__main__":
    main()
