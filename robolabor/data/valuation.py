"""Counterfactual data value: what a pack changes in the policy's marginal product.

``value_pack`` continues a run's newest valid checkpoint twice per seed, once with the
pack's transitions added to the replay and once without (``trainer.fork_run``, each arm
a sealed run of its own), and evaluates both final policies on the customer's task.
The two arms of one seed share everything but the pack: the same checkpoint, the same
torch / numpy / replay-sampler / env seeds (the shift env draws each source of noise
from its own generator, so the arms meet the same arrivals and dish sequence until
their policies differ), and the same evaluation episodes (seeds from 1,000,000,
common random numbers). Per seed the effect is the paired mean difference over those
episodes; the reported figure is the mean over seeds with a t-interval over seeds
(``econ.stats.mean_interval``), because the seeds are the independent replications of
the training: an episode-level interval would ignore training noise.

Reported per pack: ΔMPL (items/h), Δ real output per hour (good output at the task's
base prices, ``econ.output`` through the ledger), Δ profit per hour and Δ% of the
frontier, each with its CI over seeds, plus each seed's paired episode interval.
Every pack is audited against the task it says it came from (``data.audit``) before
any training; a pack that fails is still measured but refused a price, and a refused
customer pack moves no share (``write_data_value`` writes nothing for it).

Subsets: ``value_packs`` computes a utility U(S) = mean MP over seeds after training
with the packs in S (memoised per subset) and derives leave-one-out values
U(all) − U(all \\ i) and a truncated Monte-Carlo Shapley estimate (random permutations;
a permutation stops adding packs once its prefix is within ``truncation`` of U(all)),
with a CI over the sampled permutations.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from robolabor.data.audit import audit_summary, audit_transitions, screened_price
from robolabor.econ.allocation import delta_mpl
from robolabor.econ.data_price import pack_price
from robolabor.econ.stats import mean_interval
from robolabor.errors import UserError
from robolabor.experiments.protocol import REPORT_EVAL_SEED, report_seeds

__all__ = ["evaluate_policy_on", "value_pack", "value_packs", "write_data_value",
           "record_valuation", "shapley_tmc", "leave_one_out"]

METRICS = ("mp", "real_output_per_hour", "profit_per_hour", "pct_of_frontier")


def _task(eval_env: str | None, run_cfg):
    """(RunConfig whose env is the customer's task, its name)."""
    from robolabor.experiments.config import config_from_dict, load_config
    from robolabor.schema import to_dict

    if eval_env is None:
        return run_cfg, "the run's own task"
    cfg = load_config(eval_env)
    merged = config_from_dict(to_dict(run_cfg), {"env.id": cfg.env.id,
                                                 "env.config": cfg.env.config})
    return merged, Path(eval_env).name


def evaluate_policy_on(agent, task_cfg, episodes: int, seed: int = REPORT_EVAL_SEED
                       ) -> dict[str, Any]:
    """A policy's deterministic episodes on a task, as per-episode economics."""
    from robolabor.envs.optimum import optimum_for_env
    from robolabor.experiments.ledgers import episode_ledger, task_economics
    from robolabor.experiments.rollout import make_env
    from robolabor.experiments.trainer import evaluate_agent

    env = make_env(task_cfg.env.id, task_cfg.env.config)
    try:
        ev = evaluate_agent(agent, env, episodes, seed, optimum_for_env(env).to_json())
    finally:
        env.close()
    led = episode_ledger(ev["good_by_type_episodes"], ev["broken_by_type_episodes"],
                         ev["hours_episodes"], ev["operating_cost_episodes"],
                         task_economics(task_cfg))
    return {"mp": np.asarray(led.mp), "real_output_per_hour": led.real_output / led.hours,
            "profit_per_hour": np.asarray(led.profit_per_hour),
            "pct_of_frontier": float(ev["pct_of_frontier"]),
            "pooled_error_rate": float(ev["pooled_error_rate"]),
            "sla_verdict": ev["sla_verdict"]}


def _arm(run_dir: str, out: str, seed: int, steps: int, packs: list[str], store: str | None,
         eval_env: str | None, episodes: int) -> dict[str, Any]:
    """One arm: fork, reseed, add the packs, train ``steps`` more, evaluate (a worker job)."""
    import torch
    from gymnasium.utils import seeding

    from robolabor.data.packs import load_into_replay, open_pack
    from robolabor.experiments.runs import open_run, read_table
    from robolabor.experiments.trainer import fork_run, seed_everything

    opened = [open_pack(p, store) for p in packs]
    start = int(open_run(run_dir, load_agent=False).state["step"])

    def prepare(trainer) -> None:
        seed_everything(seed)
        trainer.env.unwrapped.np_random = seeding.np_random(seed)[0]
        trainer.buffer.rng = np.random.default_rng(seed)
        trainer.rng = np.random.default_rng(seed + 1)
        trainer.agent.generator.manual_seed(seed)
        added = sum(load_into_replay(p, trainer.buffer, trainer.lagrange.sla) for p in opened)
        trainer.run_dir.update_meta(data_packs=[{"pack": p.ref, "provenance": p.provenance,
                                                 "transitions": len(p.transitions)}
                                                for p in opened],
                                    valuation={"seed": seed, "steps": steps,
                                               "pack_transitions": added})

    out_path = Path(out)
    done = out_path / "meta.json"
    if not (done.is_file() and json.loads(done.read_text()).get("status") == "finished"):
        if done.is_file():
            shutil.rmtree(out_path)  # an arm of ours cut short is redone whole
        fork_run(run_dir, out_path, {"train.total_steps": start + steps,
                                     "train.progress": False}, prepare=prepare)
    fork = open_run(out_path)
    _check_reused(fork.meta, seed, [p.ref for p in opened], steps, out_path)
    torch.set_num_threads(fork.cfg.train.threads)
    task_cfg, _ = _task(eval_env, fork.cfg)
    ev = evaluate_policy_on(fork.agent, task_cfg, episodes)
    last = read_table(fork.run.evals_path)[-1]
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in ev.items()} | {
        "run_dir": str(out_path), "seed": seed, "packs": packs, "final_step": int(last["step"])}


def _check_reused(meta: dict, seed: int, refs: list[str], steps: int, path: Path) -> None:
    """A finished arm found at ``path`` is reused only if it is this arm."""
    val = meta.get("valuation") or {}
    if (val.get("seed"), val.get("steps"), [d["pack"] for d in meta.get("data_packs", [])]) \
            != (seed, steps, refs):
        raise UserError(f"{path}: holds another run (not seed {seed}, {steps} steps with "
                        f"{refs or 'no pack'}); pick a new --out")


def _interval(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return {"mean": float(x.mean()), "ci_low": float("nan"), "ci_high": float("nan"),
                "n": int(x.size)}
    m, lo, hi, se = mean_interval(x)
    return {"mean": m, "ci_low": lo, "ci_high": hi, "se": se, "n": int(x.size)}


def _run_arms(jobs: list[dict], workers: int, backend: str = "local",
              address: str | None = None) -> list[dict]:
    """The arms as jobs of a sweep backend: local processes, or Ray tasks (``address``
    or RAY_ADDRESS attaches to a cluster; the arms' ``out`` must then be a folder
    every node mounts, as a sweep's storage)."""
    from robolabor.experiments.sweep import get_backend

    runner = get_backend(backend, workers, address=address)
    try:
        return runner.map(_arm, jobs)
    finally:
        getattr(runner, "close", lambda: None)()


def _check(run_dir, seeds: int, steps: int, episodes: int):
    from robolabor.experiments.runs import open_run

    if seeds < 1 or steps < 1 or episodes < 2:
        raise UserError("--seeds and --steps must be >= 1 and --episodes >= 2 (paired "
                        "differences need two episodes)")
    return open_run(run_dir, load_agent=False)


def value_pack(run_dir, pack: str, eval_env: str | None = None, seeds: int = 3,
               steps: int = 3000, episodes: int = 50, out=None, store=None,
               workers: int = 2, seed_start: int = 100, backend: str = "local",
               address: str | None = None) -> dict[str, Any]:
    """ΔMPL of ``pack`` for the run (module docstring); arms go to ``out`` (default
    ``RUN_DIR/../NAME-value-PACK``), which ``write_data_value`` can then annotate."""
    opened = _check(run_dir, seeds, steps, episodes)
    from robolabor.data.packs import open_pack

    p = open_pack(pack, store)  # verified before any training starts
    audit = audit_summary(audit_transitions(p.transitions, p.meta["env_id"],
                                            p.meta["env_params"]))
    out = Path(out) if out is not None else \
        opened.run.path.parent / f"{opened.run.path.name}-value-{p.name}"
    seed_list = report_seeds(seeds, seed_start)
    # the without-arm of a seed is the same for every pack: named so a shared ``out``
    # trains it once (a finished arm is reused, ``_arm``)
    jobs = [dict(run_dir=str(opened.run.path),
                 out=str(out / (f"s{s}-with-{p.name}-v{p.meta['version']}" if arm == "with"
                                else f"s{s}-without-{opened.state['step']}+{steps}")),
                 seed=s,
                 steps=steps, packs=[p.ref] if arm == "with" else [],
                 store=str(store) if store else None, eval_env=eval_env, episodes=episodes)
            for s in seed_list for arm in ("with", "without")]
    results = _run_arms(jobs, workers, backend, address)
    arms = {(r["seed"], "with" if r["packs"] else "without"): r for r in results}
    base = _baseline(opened, eval_env, episodes)
    per_seed, deltas = [], {m: [] for m in METRICS}
    for s in seed_list:
        w, wo = arms[(s, "with")], arms[(s, "without")]
        row = {"seed": s, "with_run": _rel(w["run_dir"]), "without_run": _rel(wo["run_dir"])}
        for m in METRICS:
            d = (float(w[m] - wo[m]) if m == "pct_of_frontier"
                 else float(np.mean(np.asarray(w[m]) - np.asarray(wo[m]))))
            deltas[m].append(d)
            row[f"delta_{m}"] = d
        dm = delta_mpl(wo["mp"], w["mp"])
        row.update(delta_mp_episode_ci=[dm.ci_low, dm.ci_high], mp_with=float(np.mean(w["mp"])),
                   mp_without=float(np.mean(wo["mp"])),
                   pct_of_frontier_with=w["pct_of_frontier"],
                   pct_of_frontier_without=wo["pct_of_frontier"],
                   sla_verdict_with=w["sla_verdict"], sla_verdict_without=wo["sla_verdict"])
        per_seed.append(row)
    _, task_name = _task(eval_env, opened.cfg)
    result = {
        "run_dir": _rel(opened.run.path), "checkpoint": opened.checkpoint.name,
        "pack": p.ref, "provenance": p.provenance, "pack_transitions": len(p.transitions),
        "eval_task": task_name, "seeds": seed_list, "steps": steps, "episodes": episodes,
        "eval_seed": REPORT_EVAL_SEED, "out": _rel(out), "out_path": str(out),
        "checkpoint_mp": float(np.mean(base["mp"])),
        "checkpoint_pct_of_frontier": base["pct_of_frontier"],
        **{f"delta_{m}": _interval(np.array(v)) for m, v in deltas.items()},
        "per_seed": per_seed,
    }
    result["delta_mpl"] = result["delta_mp"]
    # the non-share price per robot-hour at one site: p = the task's $ per good unit
    # (real output over items, both arms' evaluations), κ from the interval over seeds
    unit_value = float(np.mean([np.mean(np.asarray(a["real_output_per_hour"]))
                                / max(np.mean(np.asarray(a["mp"])), 1e-12)
                                for a in results]))
    d = result["delta_mp"]
    low = d["ci_low"] if math.isfinite(d["ci_low"]) else min(0.0, d["mean"])  # none: κ = 0
    price = pack_price(unit_value, d["mean"], low, hours=1.0, sites=1.0)
    shared = pack_price(unit_value, d["mean"], low, hours=1.0, sites=1.0, shared=True)
    result["audit"] = audit
    result["price"] = screened_price(
        {"unit_value": unit_value, "kappa": price.kappa, "tier": price.tier,
         "per_robot_hour": price.price, "per_robot_hour_shared": shared.price,
         "formula": "P = p·κ·E[ΔMPL]·H·S (H = 1 h, S = 1 site)"}, audit)
    from robolabor.data.packs import default_store

    result["store"] = str(Path(store if store is not None else default_store()).resolve())
    result["record"] = record_valuation(result, opened.run.path)
    return result


def record_valuation(result: dict[str, Any], run_path: Path) -> str:
    """Keep a valuation in the valued run's directory, where ``data.library.pack_table``
    finds it (``RUN/valuations/SETTING/NAME@vN.json``); returns the file."""
    from robolabor.data.library import VALUATIONS, valuation_setting
    from robolabor.experiments.files import atomic_write_text

    path = Path(run_path) / VALUATIONS / valuation_setting(result) / f"{result['pack']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({k: v for k, v in result.items() if k != "out_path"},
                                       indent=2, default=float))
    return str(path)


def _baseline(opened, eval_env, episodes) -> dict[str, Any]:
    """The checkpoint itself on the same evaluation episodes (what both arms start from)."""
    from robolabor.experiments.runs import open_run

    agent_run = open_run(opened.run.path, opened.checkpoint.name)
    task_cfg, _ = _task(eval_env, agent_run.cfg)
    return evaluate_policy_on(agent_run.agent, task_cfg, episodes)


def _rel(path) -> str:
    parts = Path(path).parts
    return str(Path(*parts[parts.index("runs"):])) if "runs" in parts else str(path)


def write_data_value(result: dict[str, Any]) -> list[str]:
    """Record a customer pack's measured ΔMPL in each with-pack arm's ``data_value.json``
    at its final step (the ledger reads it: ``experiments.ledgers.load_data_value``).
    A pack of another provenance is not the customer's, and one seed gives no interval:
    both write nothing (returns the files written)."""
    from robolabor.experiments.ledgers import DATA_VALUE_FILE
    from robolabor.experiments.runs import atomic_write_text, read_table

    if result["provenance"] != "customer":
        return []
    if not result.get("audit", {"consistent": True})["consistent"]:
        return []  # refused data moves no share
    d = result["delta_mp"]
    entry = {"mean": d["mean"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
             "pack": result["pack"], "seeds": result["seeds"], "eval_task": result["eval_task"]}
    if not all(math.isfinite(entry[k]) for k in ("mean", "ci_low", "ci_high")):
        return []  # one seed: no interval, so nothing credible to attribute
    written = []
    for row in result["per_seed"]:
        run = Path(result["out_path"]) / Path(row["with_run"]).name
        step = int(read_table(run / "evals.parquet")[-1]["step"])
        atomic_write_text(run / DATA_VALUE_FILE,
                          json.dumps({"delta_mpl_cust": {str(step): entry}}, indent=2))
        written.append(str(run / DATA_VALUE_FILE))
    return written


# ------------------------------------------------------------------ several packs
def leave_one_out(utility, packs: list[str]) -> dict[str, float]:
    """U(all) − U(all without i) for each pack."""
    full = utility(frozenset(packs))
    return {p: full - utility(frozenset(packs) - {p}) for p in packs}


def shapley_tmc(utility, packs: list[str], permutations: int, truncation: float = 0.0,
                seed: int = 0) -> dict[str, dict[str, float]]:
    """Truncated Monte-Carlo Shapley: each pack's mean marginal contribution over random
    permutations, with a CI over permutations; a permutation's remaining packs get 0
    once its prefix utility is within ``truncation`` of U(all)."""
    rng = random.Random(seed)
    full, empty = utility(frozenset(packs)), utility(frozenset())
    contrib: dict[str, list[float]] = {p: [] for p in packs}
    for _ in range(permutations):
        order = packs[:]
        rng.shuffle(order)
        prefix, prev = frozenset(), empty
        for p in order:
            if truncation > 0 and abs(full - prev) <= truncation:
                contrib[p].append(0.0)
                continue
            prefix = prefix | {p}
            cur = utility(prefix)
            contrib[p].append(cur - prev)
            prev = cur
    return {p: _interval(np.array(v)) for p, v in contrib.items()}


def value_packs(run_dir, packs: list[str], eval_env: str | None = None, seeds: int = 2,
                steps: int = 2000, episodes: int = 50, out=None, store=None,
                workers: int = 2, permutations: int = 8, truncation: float = 0.0,
                seed_start: int = 100, backend: str = "local",
                address: str | None = None) -> dict[str, Any]:
    """Leave-one-out and TMC-Shapley values (ΔMPL, items/h) of several packs."""
    opened = _check(run_dir, seeds, steps, episodes)
    if len(set(packs)) != len(packs) or len(packs) < 2:
        raise UserError("--packs: give at least two distinct packs")
    out = Path(out) if out is not None else \
        opened.run.path.parent / f"{opened.run.path.name}-value-subsets"
    seed_list = report_seeds(seeds, seed_start)
    cache: dict[frozenset, float] = {}
    index = {p: i for i, p in enumerate(packs)}

    def utility(subset: frozenset) -> float:
        if subset not in cache:
            tag = "-".join(str(index[p]) for p in sorted(subset, key=index.get)) or "none"
            jobs = [dict(run_dir=str(opened.run.path), out=str(out / f"s{s}-{tag}"), seed=s,
                         steps=steps, packs=sorted(subset, key=index.get),
                         store=str(store) if store else None, eval_env=eval_env,
                         episodes=episodes) for s in seed_list]
            arms = _run_arms(jobs, workers, backend, address)
            cache[subset] = float(np.mean([np.mean(r["mp"]) for r in arms]))
        return cache[subset]

    loo = leave_one_out(utility, packs)
    shap = shapley_tmc(utility, packs, permutations, truncation)
    return {"run_dir": _rel(opened.run.path), "packs": packs, "seeds": seed_list,
            "steps": steps, "episodes": episodes, "utility": "mean MP (items/h) over seeds",
            "subsets_trained": len(cache),
            "utilities": {"+".join(sorted(k, key=index.get)) or "none": v
                          for k, v in cache.items()},
            "leave_one_out": loo, "shapley": shap}
