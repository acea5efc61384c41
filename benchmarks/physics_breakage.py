"""Break probability vs drop height (and impact speed) per dish type in the MuJoCo scene.

    python benchmarks/physics_breakage.py --dishes 400 --seed 0 --json --plot out.png

Each dish is released from rest ``h`` above the rack, tilted by the still, firm grip's
jitter (``tilt_base``·|Z|, random axis), and breaks when its peak contact force exceeds
its Weibull strength; every draw comes from one generator seeded by ``--seed``. For each
type and height: the broken share with its Wilson 95% interval, the mean peak force, the
impact speed sqrt(2gh) and two checks. ``impulse_ratio``: the simulated impact impulse
over m·v, which physics bounds by 1 (a dead stop) and 2 (an elastic bounce) plus the
weight carried after the impact. ``predicted``: the break probability implied by the
simulated forces and the Weibull law, mean(1 - exp(-(F/F0)^m)), which the counted share
must match within its interval. The whole curve is computed twice and must be identical
(``reproducible``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit  # noqa: E402

from robolabor.envs.physics_scene import (  # noqa: E402
    GRAVITY,
    PhysicsParams,
    Release,
    Scene,
    _half_normal,
    strength_of,
)

HEIGHTS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def curve(params: PhysicsParams, scene: Scene, dishes: int, seed: int) -> list[dict]:
    rows = []
    for k, body in enumerate(params.dishes):
        for j, h in enumerate(HEIGHTS):
            rng = np.random.default_rng([seed, k, j])
            u = rng.random((dishes, 3))
            forces, impulses, broken = [], [], 0
            for i in range(dishes):
                rel = Release(gap=h, velocity=(0.0, 0.0, 0.0),
                              tilt=params.tilt_base * _half_normal(u[i, 0]),
                              tilt_axis=2 * math.pi * u[i, 1])
                out = scene.simulate_release(k, rel)
                forces.append(out.peak_force)
                impulses.append(out.impulse)
                broken += out.peak_force > strength_of(body, u[i, 2])
            f = np.asarray(forces)
            v = math.sqrt(2 * GRAVITY * h)
            lo, hi = wilson(broken, dishes)
            pred = float(np.mean(1 - np.exp(-(f / body.strength) ** body.weibull_modulus)))
            weight = body.mass * GRAVITY * params.after_contact_s
            rows.append({
                "type": body.name, "drop_m": h, "impact_speed_mps": round(v, 4),
                "dishes": dishes, "broken": int(broken), "p_break": broken / dishes,
                "ci95": [round(lo, 4), round(hi, 4)], "predicted": round(pred, 4),
                "mean_peak_force_N": round(float(f.mean()), 2),
                "impulse_ratio": (round(float((np.mean(impulses) - weight) / (body.mass * v)), 3)
                                  if v > 0 else None)})
    return rows


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r["type"] for r in rows):
        rr = [r for r in rows if r["type"] == name]
        x = [100 * r["drop_m"] for r in rr]
        y = [r["p_break"] for r in rr]
        err = [[r["p_break"] - r["ci95"][0] for r in rr], [r["ci95"][1] - r["p_break"] for r in rr]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        ax.plot(x, [r["predicted"] for r in rr], ls=":", color="grey")
    ax.set_xlabel("drop height, cm (impact speed = sqrt(2gh))")
    ax.set_ylabel("break probability (95% Wilson CI)")
    ax.set_title("MuJoCo scene: breakage vs drop height (dotted: Weibull prediction)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dishes", type=int, default=400, help="dishes per type and height")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="write the curve to this PNG")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    params = PhysicsParams()
    scene = Scene(params, gl=False)
    rows = curve(params, scene, args.dishes, args.seed)
    again = curve(params, scene, args.dishes, args.seed)
    inside = all(r["ci95"][0] - 1e-9 <= r["predicted"] <= r["ci95"][1] + 1e-9 for r in rows)
    monotone = all(a["p_break"] <= b["p_break"] + 2.0 / a["dishes"]
                   for a, b in zip(rows, rows[1:], strict=False) if a["type"] == b["type"])
    ratios = [r["impulse_ratio"] for r in rows if r["impulse_ratio"] is not None]
    result = {"seed": args.seed, "dishes_per_point": args.dishes, "heights_m": list(HEIGHTS),
              "reproducible": rows == again, "prediction_inside_ci": inside,
              "monotone_in_height": monotone,
              "impulse_ratio_range": [min(ratios), max(ratios)],
              "rows": rows}
    if args.plot:
        plot(rows, args.plot)
        result["plot"] = args.plot
    emit(result, args.json)
    return result


if __name__ == "__main__":
    main()
