"""Calibration of the physics scene: its own throughput and breakage over (speed, care),
and the shift task's parametric model fitted to them.

Why: the shift task has an exact optimum (:mod:`robolabor.envs.optimum`); the physics
scene does not. Fitting the shift's rate and error model to the scene gives a shift
task (a ``ShiftParams``) whose DP policy is an approximate optimum for the physics env,
and the fit's R² says how far to trust it.

* :func:`sweep` measures, per dish type and grid action, the planned handling rate
  (60 / (handling time + mean search), dishes/min) and the broken share of ``dishes``
  simulated releases (the same uniforms at every action: common random numbers, so
  the surface is smooth in the action).
* :func:`fit` fits ``rate_k = base_k·(f + (1-f)·s)·(1 - care_cost·c)`` (relative least
  squares) and ``p_k = p_min_k + fragility_k·s^q_s·(1 - care_effect·c)^q_c`` (least
  squares weighted by the binomial standard error) with the shift's shared exponents,
  and returns the fitted ``ShiftParams`` with R² and residuals per type.

``physics_fit.json`` beside this module holds the fit of the default scene, written by
``benchmarks/physics_calibration.py --write``; :func:`fitted_shift_params` serves it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from robolabor.envs.params import ShiftParams
from robolabor.envs.physics_scene import (
    NOISE_COLS,
    PhysicsParams,
    Scene,
    plan_motion,
    release_of,
    strength_of,
)
from robolabor.schema import from_dict, to_dict

FIT_PATH = Path(__file__).with_name("physics_fit.json")
RATE_FIELDS = ("speed_floor", "care_cost")
ERROR_FIELDS = ("care_effect", "q_speed", "q_care")


def sweep(params: PhysicsParams, grid: int = 6, dishes: int = 300, seed: int = 0,
          scene: Scene | None = None) -> dict:
    """Rates and broken shares of every type on a ``grid x grid`` action grid."""
    scene = scene or Scene(params, gl=False)
    levels = np.linspace(0.0, 1.0, grid)
    K = len(params.dishes)
    rate = np.zeros((K, grid, grid))
    broken = np.zeros((K, grid, grid), dtype=np.int64)
    for k, body in enumerate(params.dishes):
        u = np.random.default_rng([seed, k]).random((dishes, NOISE_COLS))
        strength = [strength_of(body, row[1]) for row in u]
        for i, s in enumerate(levels):
            for j, c in enumerate(levels):
                motion = plan_motion(params, k, float(s), float(c))
                rate[k, i, j] = 60.0 / (motion.plan_s + params.search_mean_s)
                broken[k, i, j] = sum(
                    scene.simulate_release(k, release_of(params, motion, row)).peak_force
                    > strength[n] for n, row in enumerate(u))
    return {"levels": levels.tolist(), "dishes": dishes, "seed": seed,
            "types": [b.name for b in params.dishes], "rate": rate.tolist(),
            "broken": broken.tolist()}


def _r2(obs: np.ndarray, pred: np.ndarray) -> float:
    ss = float(np.sum((obs - obs.mean()) ** 2))
    return 1.0 - float(np.sum((obs - pred) ** 2)) / ss if ss > 0 else float("nan")


def rate_model(theta: np.ndarray, s: np.ndarray, c: np.ndarray, K: int) -> np.ndarray:
    base, f, cc = theta[:K], theta[K], theta[K + 1]
    return base[:, None] * ((f + (1 - f) * s) * (1 - cc * c))[None, :]


def error_model(theta: np.ndarray, s: np.ndarray, c: np.ndarray, K: int) -> np.ndarray:
    p_min, frag = theta[:K], theta[K:2 * K]
    e, qs, qc = theta[2 * K:]
    risk = s ** qs * np.clip(1 - e * c, 0.0, 1.0) ** qc
    return p_min[:, None] + frag[:, None] * risk[None, :]


def fit(data: dict, shift: ShiftParams) -> tuple[ShiftParams, dict]:
    """The shift model fitted to a :func:`sweep`: ``(fitted ShiftParams, report)``."""
    from scipy.optimize import least_squares

    levels = np.asarray(data["levels"])
    S, C = np.meshgrid(levels, levels, indexing="ij")
    s, c = S.ravel(), C.ravel()
    rate = np.asarray(data["rate"]).reshape(len(data["types"]), -1)
    p = np.asarray(data["broken"]).reshape(rate.shape) / data["dishes"]
    K = rate.shape[0]
    n = data["dishes"]

    def rate_res(th):
        return (rate_model(th, s, c, K) / rate - 1.0).ravel()

    th0 = np.r_[rate[:, -1].clip(0.1, 30), 0.3, 0.5]
    r_fit = least_squares(rate_res, th0, bounds=(np.r_[np.full(K, 0.01), 0.0, 0.0],
                                                  np.r_[np.full(K, 30.0), 1.0, 0.999]))
    se = np.sqrt(np.maximum(p * (1 - p), 1.0 / n) / n)

    def err_res(th):
        return ((error_model(th, s, c, K) - p) / se).ravel()

    th0 = np.r_[np.full(K, 0.01), p.max(axis=1).clip(0.01, 0.9), 0.8, 1.2, 1.5]
    lo = np.r_[np.zeros(K), np.zeros(K), 0.0, 0.05, 0.05]
    hi = np.r_[np.full(K, 0.5), np.full(K, 1.0), 1.0, 6.0, 6.0]
    e_fit = least_squares(err_res, th0, bounds=(lo, hi))
    rt, et = r_fit.x, e_fit.x
    rate_hat, p_hat = rate_model(rt, s, c, K), error_model(et, s, c, K)
    types = []
    for k, dt in enumerate(shift.dish_types):
        types.append(dataclasses.replace(dt, base_rate=float(rt[k]), p_min=float(et[k]),
                                         fragility=float(et[K + k])))
    fitted = dataclasses.replace(shift, dish_types=tuple(types), speed_floor=float(rt[K]),
                                 care_cost=float(rt[K + 1]), care_effect=float(et[2 * K]),
                                 q_speed=float(et[2 * K + 1]), q_care=float(et[2 * K + 2]))
    report = {"types": data["types"], "per_type": {}}
    for k, name in enumerate(data["types"]):
        report["per_type"][name] = {
            "rate_r2": _r2(rate[k], rate_hat[k]), "p_r2": _r2(p[k], p_hat[k]),
            "rate_max_rel_resid": float(np.max(np.abs(rate_hat[k] / rate[k] - 1))),
            "p_max_abs_resid": float(np.max(np.abs(p_hat[k] - p[k]))),
            "p_rms_resid": float(np.sqrt(np.mean((p_hat[k] - p[k]) ** 2))),
            "p_resid_over_se_rms": float(np.sqrt(np.mean(((p_hat[k] - p[k]) / se[k]) ** 2))),
            "base_rate": float(rt[k]), "p_min": float(et[k]), "fragility": float(et[K + k])}
    report["shared"] = {"speed_floor": float(rt[K]), "care_cost": float(rt[K + 1]),
                        "care_effect": float(et[2 * K]), "q_speed": float(et[2 * K + 1]),
                        "q_care": float(et[2 * K + 2])}
    report["rate_r2_all"] = _r2(rate.ravel(), rate_hat.ravel())
    report["p_r2_all"] = _r2(p.ravel(), p_hat.ravel())
    return fitted, report


def scene_key(params: PhysicsParams) -> dict:
    """What a fit depends on: every scene field, the shift's dish-type names and the
    attempt cap (not the arrivals, prices or SLA, which the fit leaves as they are)."""
    d = to_dict(params)
    shift = d.pop("shift")
    d["type_names"] = [t["name"] for t in shift["dish_types"]]
    return d


def save_fit(params: PhysicsParams, fitted: ShiftParams, report: dict, meta: dict,
             path: Path = FIT_PATH) -> None:
    keep = {f: getattr(fitted, f) for f in RATE_FIELDS + ERROR_FIELDS}
    types = [{"name": t.name, "base_rate": t.base_rate, "p_min": t.p_min,
              "fragility": t.fragility} for t in fitted.dish_types]
    path.write_text(json.dumps({"scene": scene_key(params), "shared": keep, "types": types,
                                "report": report, "meta": meta}, indent=1) + "\n")


def fitted_shift_params(params: PhysicsParams, path: Path = FIT_PATH) -> ShiftParams | None:
    """``params.shift`` with its rate and error fields from the stored fit, or ``None``
    when no fit of this scene is stored."""
    if not path.exists():
        return None
    blob = json.loads(path.read_text())
    if blob.get("scene") != json.loads(json.dumps(scene_key(params))):
        return None
    shift = to_dict(params.shift)
    shift.update(blob["shared"])
    by_name = {t["name"]: t for t in blob["types"]}
    for t in shift["dish_types"]:
        fitted = by_name[t["name"]]
        t.update(base_rate=fitted["base_rate"], p_min=fitted["p_min"],
                 fragility=fitted["fragility"])
    return from_dict(ShiftParams, shift)
