"""The training loop: SAC with a Lagrangian quality constraint, economics per episode.

One screen of logic (``Trainer._train``): act, step, store, update, and at each
episode end write the episode's ledger row, take a dual-ascent step on λ (from
the episodes ``lagrange.measure_every`` picks, acted deterministically, never from
the uniform warm-up), and when due evaluate against the exact optimum and
checkpoint. Checkpoints and evaluations happen only at episode boundaries, before
the next ``reset`` (taken when the next step is), so a resumed run continues from
that reset with the environment's random generator restored: the resumed run is
step-for-step the run that was killed, whichever checkpoint it starts from (the
step-0 one a start writes included). With ``replay.prioritised`` the loop also
refits the novelty model and rescores the replay every ``replay.refresh_every`` steps
(``novelty_replay``) and samples with β annealed like the learning rates. The trainer
only trains: what a checkpoint holds is ``checkpoints``, how a run directory is opened
and checked is ``runs``.

Metrics written per training episode (``episodes.parquet``):
  step, episode          env steps so far (end of episode) and episode index
  return_profit          $ earned in the episode (the env's reward, before λ)
  mp, error_rate         units/h and broken/attempts (econ ledger)
  implied_wage, profit_per_hour, wage_parity   $/h and ŵ_r / w_h (econ ledger)
  lambda, sla            the multiplier after this episode's dual step, and e*
  moved_lambda           whether this episode fed dual ascent (then acted deterministically
                         when measure_every > 1)
  speed, care            mean action over the episode
Per evaluation (``evals.parquet``): the same economics over ``eval_episodes``
deterministic episodes with common random numbers, each with a 95% CI, plus
``pct_of_frontier`` (the headline: profit / V*(max(e*, ê)), ``lo``/``hi`` its
bootstrap CI), ``pct_of_optimum`` (profit / V*(e*)), ``pooled_error_rate`` with its
bootstrap CI and ``sla_verdict`` (met / not_rejected / broken; see
``experiments.scoring``), and the raw per-episode counts.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium.utils import seeding

from robolabor.agents.constraint import LagrangeMultiplier
from robolabor.agents.sac import SAC, NonFiniteError
from robolabor.envs.optimum import optimum_for_env
from robolabor.errors import UserError, describe_os_error, disk_error
from robolabor.experiments.checkpoints import (
    build_agent,
    build_buffer,
    load_training_state,
    save_training_state,
)
from robolabor.experiments.config import RunConfig, config_from_dict, config_hash
from robolabor.experiments.faults import kill_point
from robolabor.experiments.novelty_replay import annealed_beta, refresh_due, refresh_priorities
from robolabor.experiments.rollout import (
    EpisodeTally,
    env_econ,
    ledger_from_tallies,
    make_env,
    mean_ci,
    run_episodes,
)
from robolabor.experiments.runs import (
    RunDir,
    RunDirError,
    atomic_write_text,
    now_iso,
    open_run,
    warn,
    write_table,
)
from robolabor.experiments.scoring import score_episodes
from robolabor.schema import ConfigError, to_dict

RESUME_KEYS = ("train.total_steps", "train.progress")  # all a resume may change


class TrainingFailed(UserError, RuntimeError):
    """Training stopped (a non-finite loss, a full disk); the last good checkpoint is kept."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; carries the run directory so the hint names it."""

    def __init__(self, run_dir: Path | None) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate_agent(agent: SAC, env, episodes: int, seed: int, optimum: dict) -> dict[str, Any]:
    """Deterministic episodes with seeds seed..seed+episodes-1, scored by the ledger."""
    tallies = run_episodes(env, lambda o: agent.act(o, deterministic=True), episodes, seed)
    led = ledger_from_tallies(tallies, env_econ(env))
    profits = np.array([t.profit for t in tallies])
    out: dict[str, Any] = {}
    for name, values in (("mp", led.mp), ("error_rate", led.error_rate),
                         ("wage_parity", led.wage_parity), ("profit", profits),
                         ("profit_per_hour", led.profit_per_hour),
                         ("implied_wage", led.implied_wage),
                         ("pct_of_optimum", 100.0 * profits / optimum["expected_profit"])):
        out[name], out[f"{name}_ci95"] = mean_ci(values)
    # The SLA is on the shift's pooled error rate: its bootstrap CI gives the verdict,
    # and the frontier score charges the errors spent beyond e* (experiments.scoring).
    out.update(score_episodes(profits, np.array([t.errors for t in tallies]),
                              np.array([t.attempts for t in tallies]), optimum))
    # Raw per-episode counts, so the economics layer can recompute any ledger
    # (pricing rule, wage index, ΔMPL with common random numbers) from the table.
    out["mp_episodes"] = [float(x) for x in led.mp]
    out["profit_episodes"] = [float(x) for x in profits]
    out["good_by_type_episodes"] = [t.good.tolist() for t in tallies]
    out["broken_by_type_episodes"] = [t.broken.tolist() for t in tallies]
    out["hours_episodes"] = [float(h) for h in led.hours]
    out["operating_cost_episodes"] = [t.operating_cost for t in tallies]
    return out


class Trainer:
    """Trains one run. A new run (``resume_from`` None) is written into a staged
    ``RunDir`` and published once its step-0 checkpoint exists; a resumed one starts
    from the checkpoint ``runs.open_run`` chose."""

    def __init__(self, cfg: RunConfig, run: RunDir, resume_from: Path | None = None,
                 on_eval: Callable[[dict[str, Any]], bool] | None = None,
                 on_checkpoint: Callable[[RunDir, Path], None] | None = None) -> None:
        self.cfg, self.run_dir = cfg, run
        # called with each evaluation's row once it is written and checkpointed (at
        # every evaluation, then); True stops the run there (a sweep's early stopping)
        self.on_eval, self.stop_requested = on_eval, False
        # called with the run and each sealed checkpoint once meta.json names it, and
        # once more when the run is marked finished (a synced store's push)
        self.on_checkpoint = on_checkpoint
        torch.set_num_threads(cfg.train.threads)
        seed_everything(cfg.train.seed)
        self.env = make_env(cfg.env.id, cfg.env.config)
        self.eval_env = make_env(cfg.env.id, cfg.env.config)
        self.agent = build_agent(cfg, self.env)
        self.sla = float(self.env.unwrapped.sla)  # the SLA evaluations are judged against;
        # the dual target is lagrange.margin under it (LagrangeMultiplier.sla)
        self.lagrange = LagrangeMultiplier(cfg.lagrange, sla=self.sla)
        self.buffer = build_buffer(cfg, self.env)
        self.rng = np.random.default_rng(cfg.train.seed + 1)  # warm-up actions
        self.step = 0
        self.episode = 0
        self.next_eval = cfg.train.eval_every
        self.next_ckpt = cfg.train.checkpoint_every
        self.episode_rows: list[dict[str, Any]] = []
        self.eval_rows: list[dict[str, Any]] = []
        self.last_update_metrics: dict[str, float] = {}
        self.wall_offset = 0.0
        self.t0 = time.perf_counter()
        if resume_from is not None:
            self._restore(resume_from)
        else:
            # Seeded as reset(seed=...) would, but not reset yet: the step-0 checkpoint
            # then resumes exactly like this fresh start (the loop resets, in both cases).
            self.env.unwrapped.np_random = seeding.np_random(cfg.train.seed)[0]
            self._initialise_run_dir()
        self.obs = None  # reset when the next step is taken (a finished run takes none)
        self.episode_start = self.step

    def _moves_lambda(self) -> bool:
        """Whether the current episode feeds dual ascent: never one begun in the
        uniform-random warm-up (not the policy's errors); with measure_every k > 1 only
        every k-th episode, which is then acted deterministically; none when lr = 0."""
        lg = self.cfg.lagrange
        return (lg.lr > 0 and self.episode_start >= self.cfg.sac.learning_starts
                and self.episode % lg.measure_every == 0)

    # ----- run directory -------------------------------------------------------
    def _initialise_run_dir(self) -> None:
        """Config, optimum, meta and the step-0 checkpoint into the staged run, then
        rename it into place: a run directory never exists without a state to resume."""
        run = self.run_dir
        digest = run.write_config(self.cfg)
        self.optimum = optimum_for_env(self.env).to_json()
        atomic_write_text(run.path / "optimum.json", json.dumps(self.optimum, indent=2))
        run.update_meta(config_hash=digest, seed=self.cfg.train.seed,
                        env_id=self.cfg.env.id, encoder=self.cfg.encoder.type,
                        created=now_iso(), status="running", torch=torch.__version__,
                        device=str(self.agent.device))
        self._checkpoint()
        run.publish()

    def _checkpoint(self) -> Path:
        write_table(self.run_dir.episodes_path, self.episode_rows)
        write_table(self.run_dir.evals_path, self.eval_rows)
        kill_point("tables")
        tmp = self.run_dir.new_checkpoint_dir(self.step)
        state = {
            "step": self.step, "episode": self.episode, "next_eval": self.next_eval,
            "next_ckpt": self.next_ckpt,
            "n_episode_rows": len(self.episode_rows), "n_eval_rows": len(self.eval_rows),
            "lagrange": self.lagrange.state_dict(),
            "rng": self.rng.bit_generator.state,
            "env_rng": self.env.unwrapped.np_random.bit_generator.state,
            "wall_seconds": self.wall_offset + (time.perf_counter() - self.t0),
        }
        save_training_state(tmp, self.agent, self.buffer, state)
        final = self.run_dir.commit_checkpoint(tmp, self.step, self.cfg.train.keep_checkpoints)
        self.run_dir.update_meta(last_checkpoint=final.name, env_steps=self.step)
        if self.on_checkpoint is not None:
            self.on_checkpoint(self.run_dir, final)
        return final

    def _restore(self, ckpt: Path) -> None:
        run = self.run_dir
        run.clear_partials()
        state = load_training_state(ckpt, self.agent, self.buffer)
        episode_rows = run.checkpointed_rows(run.episodes_path, state["n_episode_rows"], ckpt)
        eval_rows = run.checkpointed_rows(run.evals_path, state["n_eval_rows"], ckpt)
        self.episode_rows, self.eval_rows = episode_rows, eval_rows
        self.lagrange.load_state_dict(state["lagrange"])
        self.rng.bit_generator.state = state["rng"]
        self.env.unwrapped.np_random.bit_generator.state = state["env_rng"]
        for key in ("step", "episode", "next_eval", "next_ckpt"):
            setattr(self, key, state[key])
        self.wall_offset = state["wall_seconds"]
        self.optimum = json.loads((run.path / "optimum.json").read_text())
        stale = {"stopped": None} if "stopped" in run.read_meta() else {}  # an early stop
        run.update_meta(status="running", resumed_from=ckpt.name, **stale)

    def _stop(self, status: str, message: str) -> str:
        """Record why the run stopped; a half-written checkpoint is removed first (it
        also frees the space a full disk needs for meta.json)."""
        self.run_dir.clear_partials()
        try:
            self.run_dir.update_meta(status=status, failure=message)
        except OSError:
            try:
                self.run_dir.force_meta(status=status, failure=message)
            except OSError as exc:
                message += f" (meta.json could not be updated: {describe_os_error(exc)})"
        return message

    def _last_checkpoint_name(self) -> str:
        last = self.run_dir.list_checkpoints()
        return last[-1].name if last else "none (no checkpoint was written yet)"

    # ----- the loop ----------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from torch.utils.tensorboard import SummaryWriter

        self.t0 = time.perf_counter()
        writer = bar = None
        try:
            writer = SummaryWriter(str(self.run_dir.path / "tb"), purge_step=self.step or None)
            bar = _progress(self.cfg.train, self.step)
            return self._train(writer, bar)
        except NonFiniteError as exc:
            raise TrainingFailed(self._stop("failed", (
                f"training stopped at env step {self.step}: non-finite loss ({exc}); "
                f"last good checkpoint: {self._last_checkpoint_name()}"))) from None
        except KeyboardInterrupt:
            self._stop("interrupted", f"interrupted at env step {self.step}")
            raise RunInterrupted(self.run_dir.path) from None
        except OSError as exc:
            if not disk_error(exc):
                raise
            raise TrainingFailed(self._stop("failed", (
                f"{self.run_dir.path}: cannot write ({describe_os_error(exc)}) at env step "
                f"{self.step}; last good checkpoint: {self._last_checkpoint_name()}"))) from None
        finally:
            for closing in (bar, writer):
                try:
                    if closing is not None:
                        closing.close()
                except OSError:
                    pass  # a full disk: the failure above is the one to report

    def _train(self, writer, bar) -> dict[str, Any]:
        """The loop: one screen, as the module docstring describes."""
        cfg, sac = self.cfg.train, self.cfg.sac
        tally = EpisodeTally(len(env_econ(self.env).prices))
        while self.step < cfg.total_steps and not self.stop_requested:
            if self.obs is None:  # checkpoints hold the env before this reset
                self.obs, _ = self.env.reset()
            if self.step < sac.learning_starts:
                action = self.rng.uniform(0.0, 1.0, size=self.env.action_space.shape)
            else:
                action = self.agent.act(self.obs, deterministic=self.cfg.lagrange
                                        .measure_every > 1 and self._moves_lambda())
            next_obs, reward, terminated, truncated, info = self.env.step(
                action.astype(np.float32))
            cost = self.lagrange.cost(info["broken"], info["attempts"])
            self.buffer.add(self.obs, action, float(reward), cost, next_obs,
                            terminated, truncated)
            tally.add(info)
            self.obs = next_obs
            self.step += 1
            kill_point("step")
            bar.update(1)
            if refresh_due(self.step, sac.learning_starts, self.cfg.replay):
                refresh_priorities(self.agent, self.buffer, self.cfg.replay, cfg.seed)
            due = self.agent.updates_due(self.step)
            progress = (self.step - sac.learning_starts) / max(1, cfg.total_steps
                                                               - sac.learning_starts)
            if due:  # schedules are functions of progress: a resumed run agrees
                self.agent.anneal(progress)
            beta = annealed_beta(self.cfg.replay, progress)
            for _ in range(due):
                batch = self.buffer.sample(sac.batch_size, beta=beta)
                self.last_update_metrics = self.agent.update(batch, self.lagrange.lam)
            if terminated or truncated:
                self._end_episode(tally, writer, bar)
                tally = EpisodeTally(len(env_econ(self.env).prices))
                self.obs = None
                self.episode_start = self.step
        if self.stop_requested:
            return self._stop_early()
        if not self.eval_rows or self.eval_rows[-1]["step"] != self.step:
            self._evaluate(writer)
        while self.next_eval <= self.step:  # a run extended later does not re-evaluate here
            self.next_eval += cfg.eval_every
        last = self._checkpoint()
        self.run_dir.update_meta(status="finished", env_steps=self.step,
                                 wall_seconds=self.eval_rows[-1]["wall_seconds"], failure=None)
        if self.on_checkpoint is not None:  # the finished record too, before the report
            self.on_checkpoint(self.run_dir, last)  # (which may end this process)
        if self.on_eval is not None:  # the last, once the run is sealed: nothing to stop
            self.on_eval(self.eval_rows[-1])
        return self.eval_rows[-1]

    def _end_episode(self, tally: EpisodeTally, writer, bar) -> None:
        led = ledger_from_tallies([tally], env_econ(self.env))
        moves_lambda = self._moves_lambda()
        if moves_lambda:
            self.lagrange.update(tally.errors, tally.attempts)
        lam = self.lagrange.lam
        row = {"step": self.step, "episode": self.episode, "return_profit": tally.profit,
               "mp": float(led.mp[0]), "error_rate": float(led.error_rate[0]),
               "implied_wage": float(led.implied_wage[0]),
               "profit_per_hour": float(led.profit_per_hour[0]),
               "wage_parity": float(led.wage_parity[0]), "lambda": float(lam), "sla": self.sla,
               "dual_target": self.lagrange.sla,
               "speed": tally.speed_sum / tally.steps, "care": tally.care_sum / tally.steps,
               "moved_lambda": moves_lambda}
        row.update({f"loss_{k}": float(v) for k, v in self.last_update_metrics.items()})
        self.episode_rows.append(row)
        self.episode += 1
        for key in ("return_profit", "mp", "error_rate", "wage_parity", "lambda"):
            writer.add_scalar(f"episode/{key}", row[key], self.step)
        for key, value in self.last_update_metrics.items():
            writer.add_scalar(f"losses/{key}", value, self.step)
        bar.set_postfix(mp=f"{row['mp']:.0f}/h", err=f"{row['error_rate']:.3f}",
                        parity=f"{row['wage_parity']:.2f}", lam=f"{lam:.2f}", refresh=False)
        evaluated = self.step >= self.next_eval
        if evaluated:
            self._evaluate(writer)
            self.next_eval += self.cfg.train.eval_every
        checkpointed = self.step >= self.next_ckpt
        if checkpointed:
            # advanced first: the checkpoint must hold the schedule a resume continues
            self.next_ckpt += self.cfg.train.checkpoint_every
            self._checkpoint()
        if evaluated and self.on_eval is not None and self.step < self.cfg.train.total_steps:
            if not checkpointed:  # sealed before it is reported: whoever acts on the
                self._checkpoint()  # report (and may end this process) finds it resumable
            self.stop_requested = bool(self.on_eval(self.eval_rows[-1]))

    def _stop_early(self) -> dict[str, Any]:
        """End the run at its last evaluation, as asked by ``on_eval``; that evaluation
        was checkpointed before it was reported (``_end_episode``)."""
        self.run_dir.mark_stopped(self.step, self.cfg.train.total_steps,
                                  wall_seconds=self.eval_rows[-1]["wall_seconds"])
        return self.eval_rows[-1]

    def _evaluate(self, writer) -> dict[str, Any]:
        cfg = self.cfg.train
        seed = cfg.eval_seed + (self.step * cfg.eval_episodes if cfg.eval_fresh_episodes else 0)
        ev = evaluate_agent(self.agent, self.eval_env, cfg.eval_episodes, seed, self.optimum)
        ev.update(step=self.step, episode=self.episode, **{"lambda": self.lagrange.lam},
                  lambda_star=float(self.optimum["lambda_star"]), sla=self.sla,
                  dual_target=self.lagrange.sla,
                  wall_seconds=self.wall_offset + (time.perf_counter() - self.t0))
        self.eval_rows.append(ev)
        # Visible while the run goes on; a resume truncates it to its checkpoint.
        write_table(self.run_dir.evals_path, self.eval_rows)
        for key in ("pct_of_frontier", "pct_of_optimum", "mp", "error_rate", "wage_parity",
                    "profit", "pooled_error_rate"):
            writer.add_scalar(f"eval/{key}", ev[key], self.step)
        return ev


def _progress(cfg, initial: int):
    from tqdm.auto import tqdm

    return tqdm(total=cfg.total_steps, initial=initial, disable=not cfg.progress,
                unit="step", dynamic_ncols=True, mininterval=0.5)


def start_run(cfg: RunConfig, out: str | Path | None = None, name: str = "run",
              on_eval: Callable[[dict[str, Any]], bool] | None = None,
              on_checkpoint: Callable[[RunDir, Path], None] | None = None) -> dict:
    """Train a new run of ``cfg`` into ``out`` (default ``runs/NAME-sSEED-HASH``).

    Nothing appears at ``out`` until the run's config, meta and step-0 checkpoint are
    written; a start that fails leaves nothing there."""
    if out is None:
        out = Path("runs") / f"{name}-s{cfg.train.seed}-{config_hash(cfg)}"
    run = RunDir.begin(Path(out))
    try:
        trainer = Trainer(cfg, run, on_eval=on_eval, on_checkpoint=on_checkpoint)
    except BaseException as exc:
        run.abandon()
        if isinstance(exc, KeyboardInterrupt):
            raise RunInterrupted(None) from None
        if disk_error(exc):
            raise RunDirError(f"{out}: the run could not be started ({describe_os_error(exc)});"
                              " nothing was left there") from None
        raise
    return trainer.run() | {"run_dir": str(trainer.run_dir.path)}


def resume_run(run_dir: str | Path, overrides: dict[str, Any] | None = None,
               on_eval: Callable[[dict[str, Any]], bool] | None = None,
               on_checkpoint: Callable[[RunDir, Path], None] | None = None) -> dict:
    """Continue a killed run from its newest valid checkpoint, or a finished one whose
    ``train.total_steps`` is raised (written back to the sealed record first). Any
    other change is refused: a run with another config is another run."""
    opened = open_run(run_dir, load_agent=False)
    for message in opened.warnings:
        warn(message)
    cfg = opened.cfg
    overrides = dict(overrides or {})
    wanted = config_from_dict(to_dict(cfg), overrides)  # validates the values
    changed = [k for k in overrides if k not in RESUME_KEYS
               and _dotted(to_dict(wanted), k) != _dotted(to_dict(cfg), k)]
    if changed:
        raise ConfigError(
            f"{opened.run.config_path}: --resume takes no --set that changes the run "
            f"({', '.join(changed)}): a run with another config is a new run; continue "
            f"this one's checkpoint as one with `robolabor train --resume {opened.run.path} "
            f"--fork NEW_DIR --set ...`, or start afresh with `robolabor train "
            f"{opened.run.config_path} --out NEW_DIR --set ...` (a resume may only raise "
            "train.total_steps)")
    _checkpointed_tables(opened)  # before anything is rewritten
    steps = wanted.train.total_steps
    if steps < cfg.train.total_steps:
        raise ConfigError(f"{opened.run.config_path}: train.total_steps: a resume can only "
                          f"extend the run ({cfg.train.total_steps} steps), got {steps}")
    if steps > cfg.train.total_steps:
        cfg = opened.run.extend_total_steps(cfg, steps)
    runtime = config_from_dict(to_dict(cfg), {"train.progress": wanted.train.progress})
    trainer = Trainer(runtime, opened.run, resume_from=opened.checkpoint, on_eval=on_eval,
                      on_checkpoint=on_checkpoint)
    return trainer.run() | {"run_dir": str(trainer.run_dir.path)}


def fork_run(run_dir: str | Path, new_dir: str | Path,
             overrides: dict[str, Any] | None = None, prepare=None) -> dict:
    """Continue a run's newest valid checkpoint as a new run in ``new_dir`` with
    ``overrides`` applied (any key but ``env.*``: the rows carried over were scored on
    that task). The source is only read; the fork records where it came from
    (``meta.json`` ``forked_from``) and appears, like any start, only once complete.
    ``prepare(trainer)``, when given, runs on the restored trainer before it trains (a
    data-valuation arm reseeds it and adds a data pack to its replay there)."""
    opened = open_run(run_dir, load_agent=False)
    for message in opened.warnings:
        warn(message)
    overrides = dict(overrides or {})
    cfg = config_from_dict(to_dict(opened.cfg), overrides)
    env_changed = [k for k in overrides if k.startswith("env.")
                   and _dotted(to_dict(cfg), k) != _dotted(to_dict(opened.cfg), k)]
    if env_changed:
        raise ConfigError(f"--fork: {', '.join(env_changed)}: a fork continues the same task "
                          "(its first rows were scored on it); train a new run for another")
    episodes, evals = _checkpointed_tables(opened)
    src, ckpt = opened.run, opened.checkpoint
    run = RunDir.begin(Path(new_dir))
    try:
        shutil.copytree(ckpt, run.checkpoints / ckpt.name)
        shutil.copy2(src.path / "optimum.json", run.path / "optimum.json")
        write_table(run.episodes_path, episodes)
        write_table(run.evals_path, evals)
        digest = run.write_config(cfg)
        kept = {k: opened.meta[k] for k in ("seed", "env_id", "encoder", "device")
                if k in opened.meta}
        run.update_meta(**kept, config_hash=digest, created=now_iso(), status="running",
                        torch=torch.__version__, env_steps=int(opened.state["step"]),
                        forked_from={"run_dir": str(src.path), "checkpoint": ckpt.name,
                                     "config_hash": opened.meta.get("config_hash"),
                                     "overrides": {k: str(v) for k, v in overrides.items()}})
        trainer = Trainer(cfg, run, resume_from=run.checkpoints / ckpt.name)
        if prepare is not None:
            prepare(trainer)
        run.publish()
    except BaseException:
        run.abandon()
        raise
    return trainer.run() | {"run_dir": str(trainer.run_dir.path)}


def _checkpointed_tables(opened) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows the chosen checkpoint recorded (an error if the tables hold fewer)."""
    run, state = opened.run, opened.state
    return (run.checkpointed_rows(run.episodes_path, state["n_episode_rows"], opened.checkpoint),
            run.checkpointed_rows(run.evals_path, state["n_eval_rows"], opened.checkpoint))


def _dotted(data: dict, key: str) -> Any:
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data
