"""Calibrate the shift model to the MuJoCo scene, solve it, and score its DP policy in
the physics env.

    python benchmarks/physics_calibration.py --grid 6 --dishes 300 --episodes 200 \\
        --write --plot benchmarks/results/physics/calibration.png --json

1. Sweep (speed, care) on a ``grid x grid`` grid: per dish type the planned handling
   rate and the broken share of ``--dishes`` simulated releases (same uniforms at every
   action) (:func:`robolabor.envs.physics_fit.sweep`).
2. Fit the shift task's rate and error model to it; R² and residuals per type.
   ``--write`` stores the fit in ``robolabor/envs/physics_fit.json``, from where the
   physics env takes its ``params`` (so ``optimum_for_env`` solves the fitted model).
3. Solve the fitted shift task exactly (:func:`robolabor.envs.optimum.solve`) and run
   its DP policy, its best constant action and the scripted baseline for ``--episodes``
   reported evaluation episodes (seeds from 1,000,000) in the physics env, and the DP
   policy in the fitted shift env as a check of the solver against simulation.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit  # noqa: E402

from robolabor.envs.optimum import solve  # noqa: E402
from robolabor.envs.physics import DishwashingPhysicsEnv, scripted_policy  # noqa: E402
from robolabor.envs.physics_fit import (  # noqa: E402
    error_model,
    fit,
    fitted_shift_params,
    rate_model,
    save_fit,
    sweep,
)
from robolabor.envs.physics_scene import PhysicsParams  # noqa: E402
from robolabor.envs.shift import DishwashingShiftEnv  # noqa: E402
from robolabor.experiments.protocol import REPORT_EVAL_SEED  # noqa: E402
from robolabor.experiments.rollout import mean_ci, run_episodes  # noqa: E402
from robolabor.experiments.scoring import score_episodes  # noqa: E402


def summarize(tallies, optimum: dict) -> dict:
    """Mean profit ± 95% CI, % of the fitted DP value, and the project's frontier score
    and statistical SLA verdict (:func:`robolabor.experiments.scoring.score_episodes`)."""
    profit = np.array([t.profit for t in tallies])
    m, h = mean_ci(profit)
    sc = score_episodes(profit, np.array([t.errors for t in tallies]),
                        np.array([t.attempts for t in tallies]), optimum)
    return {"profit_mean": round(m, 3), "profit_ci95": round(h, 3),
            "pct_of_fitted_dp_value": round(100 * m / optimum["expected_profit"], 2),
            "pct_of_fitted_frontier": round(sc["pct_of_frontier"], 2),
            "pct_of_fitted_frontier_ci": [round(sc["pct_of_frontier_lo"], 2),
                                          round(sc["pct_of_frontier_hi"], 2)],
            "error_rate": round(sc["pooled_error_rate"], 5),
            "error_rate_ci": [round(sc["pooled_error_rate_lo"], 5),
                              round(sc["pooled_error_rate_hi"], 5)],
            "sla_verdict": sc["sla_verdict"],
            "attempts_per_episode": round(sum(t.attempts for t in tallies) / len(tallies), 1)}


def plot(data: dict, report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = np.asarray(data["levels"])
    S, C = np.meshgrid(levels, levels, indexing="ij")
    s, c = S.ravel(), C.ravel()
    K = len(data["types"])
    sh = report["shared"]
    per = report["per_type"]
    rt = np.r_[[per[n]["base_rate"] for n in data["types"]], sh["speed_floor"], sh["care_cost"]]
    et = np.r_[[per[n]["p_min"] for n in data["types"]],
               [per[n]["fragility"] for n in data["types"]],
               sh["care_effect"], sh["q_speed"], sh["q_care"]]
    rate_hat, p_hat = rate_model(rt, s, c, K), error_model(et, s, c, K)
    fig, axes = plt.subplots(1, K, figsize=(4.2 * K, 3.8))
    for k, name in enumerate(data["types"]):
        ax = axes[k]
        rate = np.asarray(data["rate"][k]).ravel()
        p = np.asarray(data["broken"][k]).ravel() / data["dishes"]
        sc = ax.scatter(100 * p, rate, c=c, cmap="viridis", s=22, label="scene (MuJoCo)")
        ax.scatter(100 * p_hat[k], rate_hat[k], c=c, cmap="viridis", marker="x", s=22,
                   label="fitted shift model")
        ax.set_title(f"{name}: rate R²={per[name]['rate_r2']:.2f}, "
                     f"error R²={per[name]['p_r2']:.2f}", fontsize=9)
        ax.set_xlabel("break probability, %")
        ax.set_ylabel("dishes/min")
        if k == 0:
            ax.legend(fontsize=7)
    fig.colorbar(sc, ax=axes, label="care")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=6)
    ap.add_argument("--dishes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0, help="seed of the sweep's uniforms")
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--write", action="store_true", help="store the fit for the env")
    ap.add_argument("--plot", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    params = PhysicsParams()
    t0 = time.perf_counter()
    data = sweep(params, args.grid, args.dishes, args.seed)
    fitted, report = fit(data, params.shift)
    sweep_s = time.perf_counter() - t0
    if args.write:
        save_fit(params, fitted, report, {"grid": args.grid, "dishes": args.dishes,
                                          "seed": args.seed,
                                          "command": "benchmarks/physics_calibration.py"})
        assert fitted_shift_params(params) == fitted
    opt = solve(fitted)
    result = {"grid": args.grid, "dishes_per_point": args.dishes, "seed": args.seed,
              "sweep_seconds": round(sweep_s, 1), "fit": report,
              "fitted_dp": {"expected_profit": opt.expected_profit,
                            "error_rate": opt.error_rate, "lambda_star": opt.lambda_star,
                            "best_constant_action": opt.best_constant_action.tolist(),
                            "best_constant_profit": opt.best_constant_profit,
                            "sla": opt.sla}}
    if args.episodes:
        phys = DishwashingPhysicsEnv(params=params)
        if not args.write and not phys.fitted_model:
            phys.params = fitted  # an unstored fit: score against it all the same
        shift = DishwashingShiftEnv(params=fitted)
        dp = {"phys": lambda _o: opt.action(phys.state),
              "shift": lambda _o: opt.action(shift.state)}
        const = opt.best_constant_action.astype(np.float32)
        evals = {
            "dp_policy_in_physics": run_episodes(phys, dp["phys"], args.episodes,
                                                 REPORT_EVAL_SEED),
            "dp_policy_in_fitted_shift": run_episodes(shift, dp["shift"], args.episodes,
                                                      REPORT_EVAL_SEED),
            "best_constant_in_physics": run_episodes(phys, lambda _o: const, args.episodes,
                                                     REPORT_EVAL_SEED),
            "scripted_in_physics": run_episodes(phys, scripted_policy(phys), args.episodes,
                                                REPORT_EVAL_SEED),
        }
        result["episodes"] = args.episodes
        result["eval_seed"] = REPORT_EVAL_SEED
        result["evaluation"] = {k: summarize(v, opt.to_json()) for k, v in evals.items()}
    if args.plot:
        plot(data, report, args.plot)
        result["plot"] = args.plot
    emit(result, args.json)
    return result


if __name__ == "__main__":
    main()
