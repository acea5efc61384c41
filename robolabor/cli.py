"""``robolabor`` command line: train, evaluate, solve, report, and the demo.

Every command that produces numbers can print them as JSON (``--json``). Expected
bad input (a config key, a run directory, a checkpoint, a full or read-only disk)
ends with one line on stderr, ``robolabor: error: FILE: dotted.key: reason``, and
exit code 1 (2 for a malformed command line); anything else is a bug and keeps its
traceback. ``--debug`` shows the traceback of an expected error too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from robolabor.errors import UserError

ENV_ALIASES = {
    "shift": "robolabor/DishwashingShift-v0",
    "classic": "robolabor/DishwashingClassic-v0",
    "physics": "robolabor/DishwashingPhysics-v0",  # its optimum: the fitted shift model's
}


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=float))
        return
    for key, value in obj.items():
        if isinstance(value, list):
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{key:>28}: {value}")


def cmd_train(args: argparse.Namespace) -> int:
    from robolabor.experiments.config import load_config, parse_overrides
    from robolabor.experiments.trainer import fork_run, resume_run, start_run

    overrides = parse_overrides(args.set)
    if args.steps is not None:
        overrides["train.total_steps"] = args.steps
    if args.no_progress:
        overrides["train.progress"] = False
    if args.resume:
        if args.config or args.seed is not None:
            raise UserError("--resume continues a run with its own config and seed; "
                            "do not pass CONFIG or --seed with it")
        result = (fork_run(args.resume, args.fork, overrides) if args.fork
                  else resume_run(args.resume, overrides))
    elif args.fork:
        raise UserError("--fork NEW_DIR continues a run given by --resume RUN_DIR")
    else:
        if not args.config:
            raise UserError("train needs a CONFIG file (e.g. configs/shift_state.yaml, "
                            "or shift_state for the packaged default recipe) or --resume RUN_DIR")
        if args.seed is not None:
            overrides["train.seed"] = args.seed
        cfg = load_config(args.config, overrides)
        if args.frozen_control:
            from robolabor.experiments.controls import start_frozen_control

            result = start_frozen_control(cfg, args.out)
        else:
            result = start_run(cfg, args.out, name=Path(args.config).stem)
    _print(result, args.json)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from robolabor.experiments.evaluate import evaluate_run

    _print(evaluate_run(args.run_dir, episodes=args.episodes, seed=args.seed,
                        checkpoint=args.checkpoint), args.json)
    return 0


def cmd_optimum(args: argparse.Namespace) -> int:
    from robolabor.envs.optimum import optimum_for_env
    from robolabor.envs.registration import ENV_IDS
    from robolabor.experiments.rollout import make_env

    env_id = ENV_ALIASES.get(args.env, args.env)
    if env_id not in ENV_IDS:
        raise UserError(f"--env: unknown task {args.env!r}; one of "
                        f"{sorted(ENV_ALIASES)} or {list(ENV_IDS)}")
    env_config = {}
    if args.config:
        from robolabor.experiments.config import load_config

        cfg = load_config(args.config)
        env_id, env_config = cfg.env.id, cfg.env.config
    from robolabor.schema import ConfigError

    try:
        opt = optimum_for_env(make_env(env_id, env_config))
    except ConfigError as exc:  # e.g. an SLA no policy can meet
        where = f"{args.config}: env.config." if args.config else "env.config."
        raise ConfigError(f"{where}{exc}") from None
    out = {"env": env_id, **opt.to_json()}
    out.pop("frontier")
    if args.frontier:
        from robolabor.experiments.report import plot_frontier

        out["frontier"] = [{"error_rate": e, "expected_profit": v, "lambda": lam}
                           for e, v, lam in opt.frontier]
        out["frontier_plot"] = plot_frontier(opt.frontier, opt.sla, args.plot, env_id)
    _print(out, args.json)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from robolabor.experiments.report import write_report

    _print(write_report(args.run_dir), args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from robolabor.experiments.demo import run_demo

    _print(run_demo(out=args.out, steps=args.steps, seed=args.seed,
                    final_episodes=args.final_episodes), args.json)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from robolabor.experiments.compare import compare
    from robolabor.experiments.config import parse_overrides

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    out = args.out or f"runs/compare-{'-'.join(Path(m).stem for m in modes)}"
    summary = compare(modes, seeds=args.seeds, steps=args.steps, out=out, margin=args.margin,
                      backend=args.backend, workers=args.workers,
                      overrides=parse_overrides(args.set), final_episodes=args.final_episodes,
                      first_seed=args.first_seed)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        print(Path(out, "compare.md").read_text())
    return 0


MIN_CLAIM_EPISODES = 10  # fewer evaluation episodes per checkpoint: claims warns


def cmd_claims(args: argparse.Namespace) -> int:
    from robolabor.experiments.claims_report import write_claims_report
    from robolabor.experiments.claims_runner import CLAIM3_PAIRS, claims_for_runs
    from robolabor.experiments.runs import open_run, warn

    warnings = []
    for run_dir in [*args.run_dirs, *(args.control or [])]:  # each verified against its seal
        warnings += open_run(run_dir, load_agent=False).completeness_warnings(
            MIN_CLAIM_EPISODES)
    for message in warnings:
        warn(message)
    pairs = args.intervention_episodes or CLAIM3_PAIRS
    result, runs = claims_for_runs(args.run_dirs, pricing=args.pricing,
                                   control_dirs=args.control, intervention_episodes=pairs,
                                   n_null_controls=args.null_controls)
    result["warnings"] = warnings
    out = Path(args.out or Path(args.run_dirs[0]).parent / f"claims-{result['pricing']}")
    paths = write_claims_report(result, runs, out)
    print(Path(paths["json" if args.json else "markdown"]).read_text())
    return 0


def cmd_macro(args: argparse.Namespace) -> int:
    from robolabor.experiments.config import resolve_config_path
    from robolabor.experiments.macro_runner import run_macro

    scenario = resolve_config_path(args.scenario)
    out = args.out or f"runs/macro-{scenario.stem}"
    summary = run_macro(scenario, out, run_dirs=args.runs, seeds=args.seeds,
                        backend=args.backend, workers=args.workers)
    _print(summary, args.json)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from robolabor.experiments.media import render_episode

    if args.seed < 0:
        raise UserError(f"--seed: must be >= 0, got {args.seed}")
    summary = render_episode(args.env, args.out, seed=args.seed, steps=args.steps,
                             policy=args.policy)
    _print(summary, args.json)
    return 0


ENCODER_NOTES = {
    "mlp": "state vectors, not frames (measured on the shift env's observation)",
    "pixel": "default video encoder on CPU: frames stacked as channels, 4 convs",
    "cnn2d": "per-frame 2D CNN pooled over time (the prototype's)",
    "cnn3d": "3D CNN over (C, T, H, W) (the prototype's)",
    "r3d18": "ResNet3D-18 backbone + Linear projection; freeze it on CPU",
}


def cmd_encoders(args: argparse.Namespace) -> int:
    """Every ``encoder.type`` a config can name, with its size and CPU cost."""
    import math

    import torch

    from robolabor.agents.encoders import EncoderConfig, build_encoder
    from robolabor.agents.video_encoders import ENCODER_TYPES, list_encoders, measure_encoder
    from robolabor.experiments.rollout import make_env

    if args.batch < 1 or args.repeats < 1 or args.threads < 1:
        raise UserError("--batch, --repeats and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    video_shape = tuple(make_env("robolabor/DishwashingShiftVideo-v0").observation_space.shape)
    state_shape = tuple(make_env("robolabor/DishwashingShift-v0").observation_space.shape)
    torch.manual_seed(0)
    mlp = build_encoder(EncoderConfig(type="mlp"), state_shape)
    rows = [{"name": "mlp", **measure_encoder(mlp, state_shape, args.batch, "cpu", args.repeats),
             "device": "cpu", "threads": torch.get_num_threads(), "note": "",
             "obs_shape": list(state_shape)}]
    for row in list_encoders(video_shape, batch=args.batch, names=ENCODER_TYPES,
                             repeats=args.repeats):
        rows.append(row | {"obs_shape": list(video_shape)})
    for row in rows:
        row["notes"] = "; ".join(x for x in (ENCODER_NOTES.get(row["name"], ""), row.pop("note"))
                                 if x)
        for key, value in row.items():  # NaN is not JSON
            if isinstance(value, float) and math.isnan(value):
                row[key] = None
    if args.json:
        print(json.dumps({"batch": args.batch, "threads": args.threads, "encoders": rows},
                         indent=2))
        return 0
    print(f"encoders at batch {args.batch} on cpu, {args.threads} thread(s); "
          f"frames {video_shape}, state {state_shape}")
    print(f"{'name':<7} {'params':>12} {'batch':>5} {'fwd ms':>9} {'fwd+bwd ms':>11} "
          f"{'ms/sample':>9}  notes")
    for r in rows:
        bwd = "-" if r["forward_backward_ms"] is None else f"{r['forward_backward_ms']:.2f}"
        print(f"{r['name']:<7} {r['params']:>12,} {r['batch']:>5} {r['forward_ms']:>9.2f} "
              f"{bwd:>11} {r['forward_ms_per_sample']:>9.3f}  {r['notes']}")
    return 0


# ----------------------------------------------------------------------- data value
def cmd_pack(args: argparse.Namespace) -> int:
    """``pack create|list|show|verify|audit``: thin shells over ``robolabor.data.packs``
    and ``robolabor.data.audit``."""
    from robolabor.data import packs

    if args.pack_command == "create":
        result = packs.create_pack(args.name, args.env, args.provenance, args.policy,
                                   args.episodes, args.seed, args.store, args.notes)
    elif args.pack_command == "list":
        rows = packs.list_packs(args.store)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                print(f"{r['pack']:<32} {r['provenance']:<9} {r['policy'] or '-':<8} "
                      f"{r['transitions']:>8} transitions {r['episodes']:>5} episodes")
            if not rows:
                print(f"no packs in {args.store or packs.default_store()}")
        return 0
    elif args.pack_command == "table":
        return _pack_table(args)
    elif args.pack_command == "audit":
        return _pack_audit(args)
    elif args.pack_command == "show":
        result = packs.show_pack(args.name, args.store)
    else:
        result = packs.verify_pack(args.name, args.store)
    _print(result, args.json)
    return 0


def _pack_audit(args: argparse.Namespace) -> int:
    """``pack audit NAME``: exit status 1 when the pack fails (``data.audit.audit_pack``)."""
    from robolabor.data.audit import audit_pack

    result = audit_pack(args.name, args.store, args.alpha, args.max_duplicates)
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    else:
        verdict = "consistent with" if result["consistent"] else "INCONSISTENT with"
        print(f"{result['pack']}: {verdict} {result['env_id']} ({result['transitions']} "
              f"transitions)")
        fit = "skipped" if result.get("fit_z") is None else \
            f"z = {result['fit_z']:+.2f} (fails below {result['fit_threshold']:.2f})"
        print(f"  identities broken: {result.get('identity_fraction', float('nan')):.1%} "
              f"of rows; outcome fit: {fit}; duplicates: {result['duplicate_fraction']:.1%}")
        for check, why in result["skipped"].items():
            print(f"  {check} not checked: {why}")
        for reason in result["reasons"]:
            print(f"  fails: {reason}")
    return 0 if result["consistent"] else 1


def _pack_table(args: argparse.Namespace) -> int:
    """``pack table RUN_DIR``: ``robolabor.data.library.pack_table``, printed."""
    from robolabor.data.library import format_pack_table, pack_table, plot_pack_values
    from robolabor.data.novelty import DiffusionConfig

    table = pack_table(args.run_dir, args.store, args.setting,
                       DiffusionConfig(train_iters=args.novelty_iters))
    table["figure"] = plot_pack_values(table, args.plot) if args.plot else None
    if args.json:
        print(json.dumps(table, indent=2, default=float))
        return 0
    print(f"packs of {args.store or 'the default store'} for {table['run_dir']} "
          f"({table['checkpoint']})")
    print(format_pack_table(table), end="")
    if table["figure"]:
        print(f"- figure: {table['figure']}")
    return 0


def cmd_value_data(args: argparse.Namespace) -> int:
    """Counterfactual ΔMPL of one pack (``robolabor.data.valuation.value_pack``)."""
    from robolabor.data.valuation import value_pack, write_data_value

    result = value_pack(args.run_dir, args.pack, args.eval_env, args.seeds, args.steps,
                        args.episodes, args.out, args.store, args.workers,
                        backend=args.backend, address=args.address)
    result["data_value_files"] = write_data_value(result)
    result.pop("out_path", None)
    if args.json:
        print(json.dumps(result, indent=2, default=float))
        return 0
    print(f"{result['pack']} ({result['provenance']}, {result['pack_transitions']} "
          f"transitions) on {result['run_dir']} {result['checkpoint']}, "
          f"{len(result['seeds'])} seeds x {result['steps']} steps, evaluated on "
          f"{result['eval_task']} ({result['episodes']} episodes)")
    for key, unit in (("delta_mp", "items/h"), ("delta_real_output_per_hour", "base $/h"),
                      ("delta_profit_per_hour", "$/h"), ("delta_pct_of_frontier", "pts")):
        d = result[key]
        print(f"{key:>28}: {d['mean']:+.3f} {unit}  95% CI [{d['ci_low']:+.3f}, "
              f"{d['ci_high']:+.3f}] over {d['n']} seeds")
    pr = result["price"]
    print(f"{'price':>28}: ${pr['per_robot_hour']:.4f} per robot-hour (tier {pr['tier']}, "
          f"κ = {pr['kappa']:.2f}; shared ${pr['per_robot_hour_shared']:.4f})")
    print(f"{'valuation recorded':>28}: {result['record']} (robolabor pack table "
          f"{result['run_dir']})")
    files = result["data_value_files"]
    print(f"{'data_value.json':>28}: " + (", ".join(files) if files else
          "not written (only a customer pack with an interval over >= 2 seeds is)"))
    return 0


def add_data_commands(sub) -> None:
    """The ``pack`` and ``value-data`` subcommands."""
    pk = sub.add_parser("pack", help="create, list, show or verify data packs")
    pks = pk.add_subparsers(dest="pack_command", required=True)
    store_help = "pack store (default $ROBOLABOR_PACKS or packs/)"
    c = pks.add_parser("create", help="collect episodes into a new pack (or its next version)")
    c.add_argument("name")
    c.add_argument("--env", default=None,
                   help="YAML config whose env section is the pack's task (default: the "
                        "default task)")
    c.add_argument("--provenance", required=True, help="customer, platform or synthetic")
    c.add_argument("--policy", default="random", help="random, optimum or run:RUN_DIR")
    c.add_argument("--episodes", type=int, default=20)
    c.add_argument("--seed", type=int, default=0, help="first episode seed")
    c.add_argument("--notes", default="")
    for name, helptext in (("list", "packs in the store"), ("show", "a pack's record"),
                           ("verify", "check a pack against its manifest"),
                           ("audit", "check a pack's transitions against the task it says "
                                     "it came from (exit 1 when they disagree)")):
        q = pks.add_parser(name, help=helptext)
        if name != "list":
            q.add_argument("name", help="NAME (newest version) or NAME@vN")
        if name == "audit":
            q.add_argument("--alpha", type=float, default=1e-3,
                           help="false-positive rate of the outcome-fit test per honest pack")
            q.add_argument("--max-duplicates", type=float, default=0.05,
                           help="largest fraction of exactly repeated rows allowed")
    t = pks.add_parser("table", help="every pack as a run sees it: novelty, predicted "
                                     "and measured ΔMPL with CI, price, tier, provenance")
    t.add_argument("run_dir")
    t.add_argument("--setting", default=None,
                   help="valuation setting (a folder of RUN/valuations; default: the one "
                        "with the most valued packs)")
    t.add_argument("--novelty-iters", type=int, default=8000,
                   help="training steps of the latent diffusion model scoring novelty")
    t.add_argument("--plot", default=None, help="PNG of predicted against measured ΔMPL")
    for q in pks.choices.values():
        q.add_argument("--store", default=None, help=store_help)
        q.add_argument("--json", action="store_true")
    pk.set_defaults(func=cmd_pack)

    v = sub.add_parser("value-data", help="counterfactual ΔMPL of a data pack for a run")
    v.add_argument("run_dir")
    v.add_argument("--pack", required=True, help="NAME or NAME@vN")
    v.add_argument("--eval-env", default=None,
                   help="YAML config of the customer's task (default: the run's own)")
    v.add_argument("--seeds", type=int, default=3, help="training seeds (from 100)")
    v.add_argument("--steps", type=int, default=1500, help="env steps each arm trains on")
    v.add_argument("--episodes", type=int, default=30, help="evaluation episodes per arm")
    v.add_argument("--workers", type=int, default=2, help="arms trained in parallel")
    v.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="where the arms train: local processes or Ray tasks (--out then "
                        "a folder every node mounts)")
    v.add_argument("--address", default=None,
                   help="Ray cluster to attach to (default: RAY_ADDRESS, else a local one)")
    v.add_argument("--out", default=None, help="folder for the arms' runs")
    v.add_argument("--store", default=None, help=store_help)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_value_data)


def cmd_sweep(args: argparse.Namespace) -> int:
    from robolabor.experiments.config import parse_overrides
    from robolabor.experiments.run_table import format_rows
    from robolabor.experiments.sweep_runner import run_sweep

    summary = run_sweep(args.spec, backend=args.backend, address=args.address,
                        storage=args.storage, overrides=parse_overrides(args.set),
                        workers=args.workers, max_retries=args.max_retries)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        print(format_rows(summary["trials"], ["trial", "action", "status", "attempts",
                                              "pct_of_frontier", "sla_verdict",
                                              "wall_seconds"]))
        print(f"{len(summary['trials'])} trials in {summary['storage']} "
              f"({summary['counts']}); list them with `robolabor runs {summary['storage']}`")
    for line in summary.get("failed", []):
        print(f"robolabor: error: trial {line}", file=sys.stderr)
    return 1 if summary.get("failed") else 0


def cmd_runs(args: argparse.Namespace) -> int:
    from robolabor.experiments.run_table import SHOWN, format_rows, table_for

    words = list(args.target)
    if words[:1] == ["query"]:
        if len(words) not in (2, 3):
            raise UserError('runs query takes one SQL string and an optional DIR: '
                            'robolabor runs query "SELECT ..." [DIR]')
        if args.where:
            raise UserError("--where filters the runs listing; put it in the query's SQL")
        table = table_for(words[2] if len(words) == 3 else "runs")
        rows = table.query(words[1])
        columns = list(rows[0]) if rows else []
    else:
        if len(words) > 1:
            raise UserError("runs takes one DIR (or: runs query \"SELECT ...\" [DIR])")
        table = table_for(words[0] if words else "runs")
        rows = table.runs(args.where)
        columns = [] if args.json else [*SHOWN, *table.varying_config_keys(rows)]
    if args.json:  # one row per line: the C encoder (indent= is pure Python), still valid JSON
        print("[" + ",".join("\n  " + json.dumps(r, default=str) for r in rows) + "\n]")
    else:
        print(format_rows(rows, columns) if rows else "(no rows)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="robolabor", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of expected errors too")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="train the default recipe, score it on fresh episodes, report")
    d.add_argument("--out", default=None, help="run directory (default runs/demo-...)")
    d.add_argument("--steps", type=int, default=None,
                   help="env steps (default: the recipe's own; fewer for a smoke test)")
    d.add_argument("--seed", type=int, default=100, help="training seed (reported seeds: >= 100)")
    d.add_argument("--final-episodes", type=int, default=100,
                   help="fresh episodes the final policy is scored on")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train a run from a YAML config, or resume one")
    t.add_argument("config", nargs="?", help="YAML config (configs/*.yaml)")
    t.add_argument("--out", default=None, help="run directory (must be new)")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--steps", type=int, default=None, help="total env steps")
    t.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue a killed run (or raise its --steps)")
    t.add_argument("--fork", default=None, metavar="NEW_DIR",
                   help="with --resume: continue its newest checkpoint as a new run in "
                        "NEW_DIR, with any --set but env.*")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set sac.batch_size=128")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.add_argument("--frozen-control", action="store_true",
                   help="the negative control for `claims`: same pipeline, no learning, "
                        "each checkpoint evaluated on fresh episodes")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="score a run against the exact optimum")
    e.add_argument("run_dir")
    e.add_argument("--episodes", type=int, default=20)
    e.add_argument("--seed", type=int, default=None, help="first eval seed (default: run's)")
    e.add_argument("--checkpoint", default=None, metavar="step-N",
                   help="a named checkpoint (default: the newest valid one)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    o = sub.add_parser("optimum", help="solve a task exactly (DP with a Lagrange multiplier)")
    o.add_argument("--env", default="shift", help="shift | classic | a registered id")
    o.add_argument("--config", default=None, help="take env id and parameters from a config")
    o.add_argument("--frontier", action="store_true",
                   help="also print (and plot) V*(e), the optimum under each error-rate cap e")
    o.add_argument("--plot", default="frontier.png", help="where --frontier saves its plot")
    o.add_argument("--json", action="store_true")
    o.set_defaults(func=cmd_optimum)

    c = sub.add_parser("compare", help="train modes over seeds and compare them with CIs")
    c.add_argument("--modes", default="state,video",
                   help="comma list: state, video, classic, physics, physics_video or "
                        "YAML config paths")
    c.add_argument("--seeds", type=int, default=3)
    c.add_argument("--first-seed", type=int, default=None,
                   help="first training seed (default 100: seeds below 100 are for tuning)")
    c.add_argument("--steps", type=int, default=None, help="env steps per run")
    c.add_argument("--out", default=None)
    c.add_argument("--margin", type=float, default=5.0,
                   help="equivalence margin in percentage points of the optimum")
    c.add_argument("--backend", default="local", choices=("local", "ray"))
    c.add_argument("--workers", type=int, default=None, help="parallel runs (default: cores)")
    c.add_argument("--final-episodes", type=int, default=100,
                   help="episodes scoring each final policy, from one seed shared by all modes "
                        "(0: each run's last periodic evaluation)")
    c.add_argument("--set", action="append", metavar="KEY=VALUE")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_compare)

    cl = sub.add_parser("claims", help="test the four economic claims on real runs")
    cl.add_argument("run_dirs", nargs="+", help="training runs (several seeds)")
    cl.add_argument("--pricing", default=None, choices=("capped", "split"),
                    help="pricing rule (default: the runs' econ.pricing)")
    cl.add_argument("--control", nargs="*", default=None,
                    help="negative-control runs (train --frozen-control) for claim 4")
    cl.add_argument("--intervention-episodes", type=int, default=None,
                    help="paired episodes per arm of claim 3's speed intervention (default: "
                         "the library's pre-registered CLAIM3_PAIRS, from its power analysis)")
    cl.add_argument("--null-controls", type=int, default=400,
                    help="simulated negative controls for claim 4's false-positive rate")
    cl.add_argument("--out", default=None, help="report folder (default beside the runs)")
    cl.add_argument("--json", action="store_true")
    cl.set_defaults(func=cmd_claims)

    m = sub.add_parser("macro", help="simulate a sector with learning robots")
    m.add_argument("scenario", help="scenario YAML (configs/macro/*.yaml)")
    m.add_argument("--out", default=None)
    m.add_argument("--runs", nargs="*", default=None,
                   help="run directories to fit the robot learning curve from")
    m.add_argument("--seeds", type=int, default=1)
    m.add_argument("--backend", default="local", choices=("local", "ray"))
    m.add_argument("--workers", type=int, default=None)
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_macro)

    r = sub.add_parser("report", help="(re)write a run's report (markdown, html, figure)")
    r.add_argument("run_dir")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_report)

    rn = sub.add_parser("render", help="save an episode's frames as a GIF, MP4 or PNG sheet")
    rn.add_argument("env", help="shift | classic | physics | a registered id (state or video "
                                "twin)")
    rn.add_argument("--out", required=True, help="FILE.gif, FILE.mp4 or FILE.png (contact "
                                                 "sheet)")
    rn.add_argument("--seed", type=int, default=0)
    rn.add_argument("--steps", type=int, default=None, help="at most this many env steps "
                                                            "(default: the whole episode)")
    rn.add_argument("--policy", default="random", choices=("random", "optimal", "scripted"),
                    help="uniform random actions, the exact optimum's policy (physics: of "
                         "the fitted shift model), or the physics scripted baseline")
    rn.add_argument("--json", action="store_true")
    rn.set_defaults(func=cmd_render)

    en = sub.add_parser("encoders", help="parameters and CPU cost of every encoder type")
    en.add_argument("--batch", type=int, default=64)
    en.add_argument("--repeats", type=int, default=3, help="timed calls (median reported)")
    en.add_argument("--threads", type=int, default=1, help="torch threads")
    en.add_argument("--json", action="store_true")
    en.set_defaults(func=cmd_encoders)
    add_data_commands(sub)

    sw = sub.add_parser("sweep", help="run a sweep spec (grid/random x seeds), locally or on "
                                      "a Ray cluster; re-running it skips finished trials")
    sw.add_argument("spec", help="sweep spec YAML (configs/sweeps/*.yaml)")
    sw.add_argument("--backend", default="local", choices=("local", "ray"))
    sw.add_argument("--address", default=None,
                    help="Ray cluster to attach to (default: RAY_ADDRESS, else a local one)")
    sw.add_argument("--storage", default=None, metavar="URI",
                    help="where the run directories go, shared by every node: a path, or "
                         "an object store (s3://, gs://, ...; sync+file:///PATH) "
                         "(default: the spec's storage, else runs/sweep-NAME)")
    sw.add_argument("--workers", type=int, default=None,
                    help="parallel trials: local processes (default 1), or the CPUs of a "
                         "local Ray instance")
    sw.add_argument("--max-retries", type=int, default=3,
                    help="ray: times a trial whose worker or node died is retried")
    sw.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value in every trial")
    sw.add_argument("--json", action="store_true")
    sw.set_defaults(func=cmd_sweep)

    ru = sub.add_parser("runs", help="list every run below DIR as one table (DuckDB), or "
                                     "`runs query SQL [DIR]` over runs/evaluations/episodes")
    ru.add_argument("target", nargs="*", metavar="DIR | query SQL [DIR]",
                    help="folder holding run directories (default runs/), or a sweep's "
                         "storage URI")
    ru.add_argument("--where", default=None, metavar="SQL",
                    help='filter, e.g. --where "status = \'finished\' AND seed >= 100"; '
                         'config keys are columns: "sac.actor_lr"')
    ru.add_argument("--json", action="store_true")
    ru.set_defaults(func=cmd_runs)
    return p


def _expected_errors() -> tuple[type[Exception], ...]:
    """UserError, and the econ layer's input error when that layer is loaded (it is, if
    it raised one): importing it only to name its error costs every command scipy."""
    econ = sys.modules.get("robolabor.econ._checks")
    return (UserError, econ.EconInputError) if econ else (UserError,)


def main(argv: list[str] | None = None) -> int:
    from robolabor.errors import describe_os_error, disk_error

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _expected_errors() as exc:
        if args.debug:
            raise
        print(f"robolabor: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader closed the pipe (`| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if args.debug or not disk_error(exc):
            raise
        print(f"robolabor: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        run_dir = getattr(exc, "run_dir", None)
        run_dir = run_dir or (getattr(args, "resume", None) if args.command == "train"
                              and not getattr(args, "fork", None) else None)
        if run_dir is not None:
            hint = f"resume with `robolabor train --resume {run_dir}`"
        elif args.command == "train" and not getattr(args, "resume", None):
            hint = "the run had not started: nothing was written"
        else:
            hint = "nothing to resume"
        print(f"robolabor: interrupted; {hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
