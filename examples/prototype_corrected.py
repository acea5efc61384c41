"""The prototype's headline number, corrected: under ``capped`` pricing ρ_hour is pinned at 1.

The prototype reported ρ = P / w_h as "the robot's cost relative to a human" and
watched it sit at 1 while the robot learned. Above parity the capped rule sets
P = w_h exactly, so that ρ cannot move whatever the robot does. The unit-cost
ratio ρ_ULC = (P / MP_r) / (w_h / MP_h) is what falls as the policy learns.

This script trains a short state-based SAC run on the classic task (the
prototype's), prices every evaluation checkpoint with the capped rule from the
run's own per-episode counts (common random numbers across checkpoints), prints
a table, and writes a figure::

    python examples/prototype_corrected.py --steps 3000 --out runs/prototype_corrected
    python examples/prototype_corrected.py --json      # the numbers as JSON on stdout

An existing finished run in ``OUT/run`` is reused instead of retrained.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from robolabor.econ import claim_structural_deflation, ols_slope
from robolabor.experiments.config import config_from_dict, load_config
from robolabor.experiments.ledgers import checkpoint_ledgers
from robolabor.experiments.trainer import start_run

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "classic_state.yaml"


def training_config(steps: int, seed: int):
    """``configs/classic_state.yaml`` when the project has it, else a small classic config."""
    n_evals = 10
    schedule = {"train.total_steps": steps, "train.seed": seed,
                "train.eval_every": max(1, steps // n_evals),
                "train.checkpoint_every": steps, "train.progress": False}
    if CONFIG.is_file():
        return load_config(CONFIG, schedule)
    data = {"env": {"id": "robolabor/DishwashingClassic-v0"},
            "sac": {"learning_starts": min(500, steps // 5), "batch_size": 128,
                    "hidden_sizes": [64, 64]},
            "train": {"eval_episodes": 10, "threads": 1}}
    for dotted, value in schedule.items():
        section, key = dotted.split(".")
        data.setdefault(section, {})[key] = value
    return config_from_dict(data)


def finished(run: Path) -> bool:
    meta = run / "meta.json"
    return meta.is_file() and json.loads(meta.read_text()).get("status") == "finished"


def analyse(rows: list[dict], eps_parity: float) -> dict:
    """The two facts the prototype missed, checked on the checkpoints."""
    above = [r for r in rows if r["share_above_threshold"] == 1.0]
    pinned = all(abs(r["rho_hour"] - 1.0) < 1e-12 for r in above)
    steps = np.array([r["step"] for r in rows], dtype=float)
    rho = np.array([r["rho_ulc_items"] for r in rows], dtype=float)
    out = {"n_checkpoints": len(rows), "n_above_parity": len(above),
           "rho_hour_pinned_at_1_above_parity": bool(above) and pinned,
           "rho_ulc_first": float(rho[0]), "rho_ulc_last": float(rho[-1]),
           "mp_first": rows[0]["mp"], "mp_last": rows[-1]["mp"]}
    if len(rows) >= 3 and np.isfinite(rho).all():
        b, lo, hi = ols_slope(steps, rho)
        out.update(rho_ulc_slope_per_1k_steps=1e3 * b, rho_ulc_slope_ci=[1e3 * lo, 1e3 * hi])
        c4 = claim_structural_deflation(rho, steps, rho_hour=[r["rho_hour"] for r in rows])
        out.update(claim4_one_seed=c4.verdict, claim4_detail=c4.detail)
    return out


def finite(x):
    """JSON-safe copy: NaN and ±inf become null."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def figure(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].plot(steps, [r["mp"] for r in rows], "o-", label="MP_r (units/h)")
    mp_h = rows[0]["human_wage"] / rows[0]["ulc_human_items"]
    ax[0].axhline(mp_h, color="grey", lw=0.5, label=f"MP_h = {mp_h:g}/h (human)")
    ax[0].set(xlabel="env steps", ylabel="units/h", title="Robot marginal product (eval)")
    a2 = ax[0].twinx()
    a2.plot(steps, [r["wage_parity"] for r in rows], "s--", color="C1", label="wage parity")
    a2.set_ylabel("ŵ_r / w_h")
    ax[0].legend(loc="upper left", fontsize=8)
    a2.legend(loc="lower right", fontsize=8)
    ax[1].plot(steps, [r["rho_hour"] for r in rows], "o-", label="ρ_hour = P / w_h (prototype)")
    ax[1].plot(steps, [r["rho_ulc_items"] for r in rows], "s-", label="ρ_ULC = ULC_r / ULC_h")
    ax[1].axhline(1.0, color="k", lw=0.5)
    ax[1].set(xlabel="env steps", ylabel="ratio", title="Capped pricing: cost ratios")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3000, help="training env steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/prototype_corrected"))
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if args.steps < 30:
        ap.error("--steps must be at least 30")
    import torch

    torch.set_num_threads(1)
    run = args.out / "run"
    cfg = training_config(args.steps, args.seed)
    if not finished(run):
        start_run(cfg, run)
    rows = checkpoint_ledgers(run, "capped", eps_parity=cfg.econ.eps_parity,
                              base_fee=cfg.econ.base_fee)
    result = {"run_dir": str(run), "pricing": "capped", "checks": analyse(rows,
                                                                          cfg.econ.eps_parity),
              "figure": str(figure(rows, args.out / "prototype_corrected.png")),
              "checkpoints": [{k: r[k] for k in ("step", "mp", "error_rate", "wage_parity",
                                                 "price", "rho_hour", "rho_ulc_items",
                                                 "cs_per_hour",
                                                 "cs_per_unit", "capture", "capture_realised")}
                              for r in rows]}
    if args.json:
        print(json.dumps(finite(result), indent=2, allow_nan=False, ensure_ascii=False))
        return 0
    head = (f"{'step':>7} {'MP/h':>7} {'err':>6} {'parity':>7} {'P $/h':>7} {'ρ_hour':>7} "
            f"{'ρ_ULC':>7} {'CS $/h':>7} {'C $':>7} {'C cash':>7}")
    print(head)
    for r in result["checkpoints"]:
        print(f"{r['step']:>7} {r['mp']:>7.1f} {r['error_rate']:>6.3f} {r['wage_parity']:>7.3f} "
              f"{r['price']:>7.2f} {r['rho_hour']:>7.3f} {r['rho_ulc']:>7.3f} "
              f"{r['cs_per_hour']:>7.2f} {r['capture']:>7.2f} {r['capture_realised']:>7.2f}")
    c = result["checks"]
    print(f"\nρ_hour pinned at 1 in every checkpoint above parity: "
          f"{c['rho_hour_pinned_at_1_above_parity']} ({c['n_above_parity']} of "
          f"{c['n_checkpoints']} checkpoints fully above parity)")
    if "rho_ulc_slope_per_1k_steps" in c:
        lo, hi = c["rho_ulc_slope_ci"]
        print(f"ρ_ULC {c['rho_ulc_first']:.3f} → {c['rho_ulc_last']:.3f}; slope "
              f"{c['rho_ulc_slope_per_1k_steps']:+.4f} per 1k steps (95% CI [{lo:+.4f}, "
              f"{hi:+.4f}]); claim 4 on this one seed: {c['claim4_one_seed']}")
    print(f"figure: {result['figure']}")
    return 0 if not math.isnan(c["rho_ulc_last"]) else 1


if __name__ == "__main__":
    sys.exit(main())
