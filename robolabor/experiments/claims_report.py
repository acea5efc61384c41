"""The claims report: ``claims.json``, ``claims.md`` and the 4-panel ``claims.png``.

Written from a ``claims_for_runs`` result and the priced runs it was computed
from (nothing is priced again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.econ import ClaimResult, claims_figure
from robolabor.experiments.ledgers import PricedRun, concat_pricing

__all__ = ["claims_markdown", "write_claims_report"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    return "—" if v is None else str(v)


def _control(c: dict) -> str:
    n = c["numbers"]
    parts = [f"{k.replace('_', ' ')}: {n[k]}" for k in
             ("control_planted_violation", "negative_control", "positive_control") if k in n]
    if "power_at_effect" in n and n["power_at_effect"] is not None:
        parts.append(f"power {n['power_at_effect']:.2f} for ΔC = {n['effect_to_detect']:g} $ "
                     f"at n = {n['episodes']}")
    fpr = n.get("false_positive_rate")
    if isinstance(fpr, dict):
        parts.append(f"false-positive rate {fpr['false_positive_rate']:.3f} ± "
                     f"{fpr['mc_se']:.3f} over {fpr['n_controls']} simulated controls")
    return "; ".join(parts) or "—"


def claims_markdown(result: dict) -> str:
    hb = result["human_benchmark"]
    mix = dict(zip(hb["type_names"], hb["human_mix"], strict=True))
    lines = [f"# The four claims — pricing rule `{result['pricing']}`", "",
             f"Rule: `{result['rule']['formula']}`; guarantees by construction: "
             f"{', '.join(result['rule']['guarantees']) or 'none'}. ε_parity = "
             f"{result['eps_parity']:g}, base fee = {result['base_fee']:g} $/h.", "",
             f"Runs: {len(result['run_dirs'])} ({result['n_windows']} evaluation windows); "
             f"negative-control runs: {len(result['control_dirs'])}. Human benchmark: "
             f"{hb['human_mp']:g} items/h of mix {mix}"
             f" = {hb['real_output_per_human_hour']:.4g} $/h of real output at base prices.", "",
             "| claim | verdict | control | detail |", "|---|---|---|---|"]
    for name, c in result["claims"].items():
        lines.append(f"| {name} | **{c['verdict']}** | {_control(c)} | "
                     f"{c['detail'].replace('|', '/')} |")
    for name, c in result["claims"].items():
        lines += ["", f"## {name}: {c['verdict']}", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in c["numbers"].items()]
        if c["counterexample"]:
            lines += ["", "Counterexample: " + ", ".join(f"{k} = {_fmt(v)}"
                                                         for k, v in c["counterexample"].items())]
    return "\n".join(lines) + "\n"


def write_claims_report(result: dict, runs: list[PricedRun], out_dir) -> dict[str, str]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "claims.json", "markdown": out / "claims.md",
             "figure": out / "claims.png"}
    paths["json"].write_text(json.dumps(result, indent=2, allow_nan=False))
    paths["markdown"].write_text(claims_markdown(result))
    arrays = concat_pricing([c.pricing for r in runs for c in r.checkpoints]).to_dict()
    rho = result["claim4_series"]["laspeyres"]["runs"].get("rho_ulc")
    if rho and len(rho[0]) and all(v is not None for row in rho for v in row):
        arrays["rho_ulc_checkpoints"] = np.asarray(rho, dtype=float)
    results = [ClaimResult(c["claim"], c["verdict"], c["numbers"], c["counterexample"],
                           c["detail"]) for c in result["claims"].values()]
    claims_figure(results, arrays, paths["figure"])
    return {k: str(v) for k, v in paths.items()}
