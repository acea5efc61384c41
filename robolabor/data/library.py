"""The pack table: every pack of a store as one run sees it, measured and predicted.

``value_pack`` records each counterfactual valuation in the valued run's directory::

    RUN/valuations/SETTING/NAME@vN.json     one valuation (value_pack's result)
    RUN/valuations/features-CKPT.json       the estimator's features of each pack,
                                            computed against checkpoint CKPT

SETTING names what the arms shared (checkpoint, continued steps, seeds, evaluation
episodes, task), so one table never mixes valuations made under different budgets.
``pack_table`` joins the store's packs with the valuations of one setting: per pack
its provenance, size, novelty against the run's replay, measured ΔMPL and Δ% of the
frontier with their CIs over seeds, the estimator's prediction (``data.estimator``;
a valued pack is predicted by a model fitted on the other valued packs, so every
prediction shown for a valued pack is held out), its audit against its own task
(``data.audit``: a pack that fails is refused a price), price and tier. Where the store holds
deliberately corrupted packs (their collecting record names the corruption), the table
also scores corrupted-pack detection as OpenDataVal does: 2-means on the values, the
lower cluster flagged, F1 against the labels, and the audit's own F1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.data.audit import audit_summary, audit_transitions, screened_price
from robolabor.data.estimator import (
    FEATURES,
    RidgeEstimator,
    critic_features,
    estimator_scores,
    pack_features,
)
from robolabor.errors import UserError

__all__ = ["VALUATIONS", "valuation_setting", "read_valuations", "pack_table",
           "format_pack_table", "plot_pack_values", "two_means", "detection_f1"]

VALUATIONS = "valuations"
TARGETS = ("delta_mp", "delta_pct_of_frontier")
CRITIC_SAMPLE = 5000  # replay transitions behind the TD-error ratio's denominator


def valuation_setting(result: dict[str, Any]) -> str:
    """The folder name of a valuation's setting (what every arm of it shared)."""
    task = "own-task" if result["eval_task"] == "the run's own task" \
        else Path(result["eval_task"]).stem
    seeds = result["seeds"]
    return (f"{result['checkpoint']}-{result['steps']}steps-seeds{seeds[0]}x{len(seeds)}-"
            f"{result['episodes']}episodes-{task}")


def read_valuations(run_dir, setting: str | None = None
                    ) -> tuple[str | None, dict[str, dict], list[str]]:
    """(setting, {pack ref: valuation}, settings available); the default setting is the
    one with the most valued packs (the newest on a tie)."""
    root = Path(run_dir) / VALUATIONS
    settings = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime
                      ) if root.is_dir() else []
    names = [d.name for d in settings]
    if setting is not None and setting not in names:
        raise UserError(f"--setting {setting!r}: no such valuation setting in {root} "
                        f"(have: {', '.join(names) or 'none'})")
    if setting is None:
        if not settings:
            return None, {}, []
        setting = max(settings, key=lambda d: (len(list(d.glob("*.json"))),
                                               d.stat().st_mtime)).name
    out = {}
    for f in sorted((root / setting).glob("*.json")):
        try:
            rec = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{f}: not valid JSON ({exc})") from None
        out[rec["pack"]] = rec
    return setting, out, names


def two_means(x, iters: int = 100) -> np.ndarray:
    """1-d k-means with k = 2 started from the extremes; True = the lower cluster."""
    x = np.asarray(x, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    low = x <= (lo + hi) / 2
    for _ in range(iters):
        c0 = x[low].mean()
        c1 = x[~low].mean() if (~low).any() else hi
        new = np.abs(x - c0) <= np.abs(x - c1)
        if np.array_equal(new, low):
            break
        low = new
    return low


def detection_f1(flagged, truth) -> float:
    """F1 of flagged packs against the corrupted ones (0 when none is caught)."""
    flagged, truth = np.asarray(flagged, bool), np.asarray(truth, bool)
    tp = float((flagged & truth).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / flagged.sum(), tp / truth.sum()
    return 2 * precision * recall / (precision + recall)


def _features(opened, packs: dict[str, Any], cache: Path, novelty_cfg, compute: bool
              ) -> dict[str, dict]:
    """Features of every pack, from the cache or (``compute``) computed and cached."""
    from robolabor.data.novelty import (
        DiffusionNovelty,
        KNNNovelty,
        encode_observations,
        replay_latents,
    )
    from robolabor.experiments.checkpoints import load_replay
    from robolabor.experiments.files import atomic_write_text
    from robolabor.schema import to_dict

    key = json.dumps(to_dict(novelty_cfg), sort_keys=True)
    blob = json.loads(cache.read_text()) if cache.is_file() else {}
    if not compute:  # whatever was computed last, under the config it names
        return blob.get("packs", {})
    if blob.get("novelty_config") != key:
        blob = {"novelty_config": key, "packs": {}}
    missing = [r for r in packs if r not in blob["packs"]]
    if missing:
        buffer = load_replay(opened)
        fit_z, hold_z = replay_latents(opened.agent, buffer)
        n = CRITIC_SAMPLE if buffer.frame_stack is None else CRITIC_SAMPLE // 5  # stacks
        sample = np.random.default_rng(0).permutation(buffer.live_ids())[:n]
        replay = buffer.transitions(np.sort(sample))
        diffusion = DiffusionNovelty(novelty_cfg).fit(fit_z, holdout=hold_z)
        knn = KNNNovelty().fit(fit_z if hold_z is None else np.concatenate([fit_z, hold_z]))
        lam = float(opened.state["lagrange"]["lam"])
        dual_target = float(opened.state["lagrange"]["sla"])
        for ref in missing:
            pack = packs[ref]
            z = encode_observations(opened.agent, pack.transitions.obs)
            critic = critic_features(opened.agent, pack.transitions, replay, lam, dual_target)
            blob["packs"][ref] = pack_features(pack, z, diffusion, knn, critic)
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps(blob, indent=2))
    return blob["packs"]


def _interval(d: dict | None) -> dict | None:
    return None if d is None else {k: d[k] for k in ("mean", "ci_low", "ci_high", "n")}


def pack_table(run_dir, store=None, setting: str | None = None, novelty_cfg=None,
               compute_features: bool = True) -> dict[str, Any]:
    """The pack table of a run (module docstring). ``compute_features=False`` reads
    cached features only (a pack without them shows no novelty and no prediction)."""
    from robolabor.data.novelty import DiffusionConfig
    from robolabor.data.packs import list_packs, open_pack
    from robolabor.experiments.runs import open_run

    opened = open_run(run_dir, load_agent=compute_features)
    setting, valued, settings = read_valuations(opened.run.path, setting)
    packs = {r["pack"]: open_pack(r["pack"], store) for r in list_packs(store)}
    for ref, rec in valued.items():  # a valued pack is shown from its own store too
        if ref not in packs and rec.get("store") and Path(rec["store"]).is_dir():
            packs[ref] = open_pack(ref, rec["store"])
    novelty_cfg = novelty_cfg or DiffusionConfig()
    cache = opened.run.path / VALUATIONS / f"features-{opened.checkpoint.name}.json"
    feats = _features(opened, packs, cache, novelty_cfg, compute_features)
    rows = []
    for ref, pack in packs.items():
        rec = valued.get(ref)
        policy = pack.meta.get("policy") or {}
        audit = audit_summary(audit_transitions(pack.transitions, pack.meta["env_id"],
                                                pack.meta["env_params"]))
        price = screened_price(rec["price"], audit) if rec else None
        rows.append({
            "pack": ref, "provenance": pack.provenance, "transitions": len(pack.transitions),
            "task": pack.meta.get("env_source") or pack.meta.get("env_id"),
            "policy": policy.get("kind"), "corrupted": policy.get("corrupted") or "",
            "features": feats.get(ref),
            "novelty_mean": (feats.get(ref) or {}).get("novelty_mean"),
            "valued": rec is not None,
            **{t: _interval(rec[t]) if rec else None for t in TARGETS},
            "audit": audit,
            "price_per_robot_hour": price["per_robot_hour"] if price else None,
            "tier": price["tier"] if price else None,
        })
    result = {"run_dir": str(opened.run.path), "checkpoint": opened.checkpoint.name,
              "setting": setting, "settings_available": settings, "rows": rows,
              "estimator": {}, "detection": {}}
    _predict(result)
    _detect(result)
    return result


def _predict(table: dict) -> None:
    """Held-out predictions for valued packs, a fit on all valued ones for the rest."""
    fit = [r for r in table["rows"] if r["valued"] and r["features"] is not None]
    for r in table["rows"]:
        r["predicted_delta_mp"] = None
    if len(fit) < 4:
        table["estimator"] = {"reason": f"{len(fit)} valued packs with features; the "
                                        "held-out score needs at least 4"}
        return
    for target in TARGETS:
        y = [r[target]["mean"] for r in fit]
        scores = estimator_scores([r["features"] for r in fit], y)
        table["estimator"][target] = {k: v for k, v in scores.items() if k != "predicted"}
        if target == "delta_mp":
            for r, p in zip(fit, scores["predicted"], strict=True):
                r["predicted_delta_mp"] = p
            rest = [r for r in table["rows"] if not r["valued"] and r["features"] is not None]
            if rest:
                est = RidgeEstimator().fit([r["features"] for r in fit], y)
                for r, p in zip(rest, est.predict([r["features"] for r in rest]), strict=True):
                    r["predicted_delta_mp"] = float(p)


def _detect(table: dict) -> None:
    labelled = np.array([bool(r["corrupted"]) for r in table["rows"]])
    if labelled.any() and not labelled.all():
        flagged = np.array([not r["audit"]["consistent"] for r in table["rows"]])
        table["detection"]["audit"] = {
            "f1": detection_f1(flagged, labelled),
            "flagged": [r["pack"] for r, f in zip(table["rows"], flagged, strict=True) if f],
            "corrupted": [r["pack"] for r, t in zip(table["rows"], labelled, strict=True)
                          if t]}
    valued = [r for r in table["rows"] if r["valued"]]
    truth = np.array([bool(r["corrupted"]) for r in valued])
    if not truth.any() or truth.all():
        table["detection"]["reason"] = ("no corrupted pack among the valued ones"
                                        if not truth.any() else "every valued pack is "
                                        "corrupted")
        return
    for target in TARGETS:
        flagged = two_means([r[target]["mean"] for r in valued])
        table["detection"][target] = {
            "f1": detection_f1(flagged, truth),
            "flagged": [r["pack"] for r, f in zip(valued, flagged, strict=True) if f],
            "corrupted": [r["pack"] for r, t in zip(valued, truth, strict=True) if t]}


def _ci(d: dict | None, digits: int = 2) -> str:
    if d is None:
        return "not valued"
    if not (math.isfinite(d["ci_low"]) and math.isfinite(d["ci_high"])):
        return f"{d['mean']:+.{digits}f} (1 seed, no CI)"
    return f"{d['mean']:+.{digits}f} [{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]"


def format_pack_table(table: dict) -> str:
    """The table as Markdown (the CLI prints it, the run report embeds it)."""
    head = ("| pack | provenance | transitions | audit | novelty | predicted ΔMPL | measured "
            "ΔMPL items/h [95% CI] | Δ% frontier [95% CI] | price $/robot-h | tier |\n"
            "|---|---|---:|---|---:|---:|---:|---:|---:|---|\n")
    lines = []
    for r in table["rows"]:
        nov = "–" if r["novelty_mean"] is None else f"{r['novelty_mean']:.2f}"
        pred = "–" if r["predicted_delta_mp"] is None else f"{r['predicted_delta_mp']:+.2f}"
        price = "–" if r["price_per_robot_hour"] is None else f"{r['price_per_robot_hour']:.3f}"
        bad = f" (corrupted: {r['corrupted']})" if r["corrupted"] else ""
        audit = "passes" if r["audit"]["consistent"] else "fails"
        lines.append(f"| {r['pack']}{bad} | {r['provenance']} | {r['transitions']:,} | {audit} "
                     f"| {nov} "
                     f"| {pred} | {_ci(r['delta_mp'])} | {_ci(r['delta_pct_of_frontier'])} "
                     f"| {price} | {r['tier'] or '–'} |")
    notes = [f"Valuation setting `{table['setting']}` (checkpoint, continued steps, seeds, "
             f"evaluation episodes, task); CIs are 95% t-intervals over seeds."
             if table["setting"] else "No pack has been valued for this run "
             "(`robolabor value-data RUN --pack NAME`)."]
    est = table["estimator"].get("delta_mp")
    if est:
        notes.append(f"Estimator (ridge on {', '.join(FEATURES)}), ΔMPL predicted for each "
                     f"valued pack by a fit on the other {est['packs'] - 1}: Spearman "
                     f"{est['spearman_estimator']:.2f} (size alone "
                     f"{est['spearman_size_only']:.2f}, minus kNN novelty "
                     f"{est['spearman_knn_novelty']:.2f}).")
    elif "reason" in table["estimator"]:
        notes.append(f"No prediction: {table['estimator']['reason']}.")
    failed = [r for r in table["rows"] if not r["audit"]["consistent"]]
    notes.append(f"Audit against each pack's own task (`robolabor pack audit`): "
                 f"{len(failed)} of {len(table['rows'])} fail and are refused a price"
                 + (": " + "; ".join(f"{r['pack']}: {r['audit']['reasons'][0]}"
                                     for r in failed) if failed else "") + ".")
    for target, d in table["detection"].items():
        if isinstance(d, dict):
            how = ("the audit's verdict" if target == "audit"
                   else f"{target} (2-means, lower cluster flagged)")
            notes.append(f"Corrupted-pack detection on {how}: F1 {d['f1']:.2f}; flagged "
                         f"{', '.join(d['flagged']) or 'none'}.")
    return head + "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def plot_pack_values(table: dict, path) -> str | None:
    """Predicted (held out) against measured ΔMPL with the measured CI; None when fewer
    than two valued packs have a prediction."""
    rows = [r for r in table["rows"] if r["valued"] and r["predicted_delta_mp"] is not None]
    if len(rows) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robolabor.econ import save_figure

    pred = np.array([r["predicted_delta_mp"] for r in rows])
    y = np.array([r["delta_mp"]["mean"] for r in rows])
    lo = np.array([r["delta_mp"]["ci_low"] for r in rows])
    hi = np.array([r["delta_mp"]["ci_high"] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.errorbar(pred, y, yerr=[np.nan_to_num(y - lo), np.nan_to_num(hi - y)], fmt="none",
                ecolor="0.6")
    ax.scatter(pred, y, c=["tab:red" if r["corrupted"] else "tab:blue" for r in rows])
    for r, a, b in zip(rows, pred, y, strict=True):
        ax.annotate(r["pack"].split("@")[0], (a, b), fontsize=7)
    span = [min(pred.min(), y.min()), max(pred.max(), y.max())]
    ax.plot(span, span, "k:", lw=1)
    est = table["estimator"].get("delta_mp", {})
    ax.set(xlabel="predicted ΔMPL, items/h (held out)",
           ylabel="measured ΔMPL, items/h (95% CI over seeds)",
           title=f"Spearman {est.get('spearman_estimator', float('nan')):.2f} "
                 "(red: corrupted)")
    save_figure(fig, Path(path))
    return str(path)
