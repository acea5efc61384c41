"""The training loop: SAC with a Lagrangian quality constraint, economics per episode.

One screen of logic (``Trainer.run``): act, step, store, update, and at each
episode end write the episode's ledger row, take a dual-ascent step on λ (from
the episodes ``lagrange.measure_every`` picks, acted deterministically, never from
the uniform warm-up), and when due evaluate against the exact optimum and
checkpoint. Checkpoints and
evaluations happen only at episode boundaries, so a resumed run continues from
a fresh ``reset`` with the environment's random generator restored: the resumed
run is step-for-step the run that was killed.

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
``pct_of_optimum`` (mean episode profit / exact optimal expected profit) and
the per-episode MP list used for ΔMPL between checkpoints.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robolabor.agents.constraint import LagrangeMultiplier
from robolabor.agents.replay import ReplayBuffer
from robolabor.agents.sac import SAC, NonFiniteError
from robolabor.envs.optimum import optimum_for_env
from robolabor.experiments.config import RunConfig, config_hash, dump_config, load_config
from robolabor.experiments.rollout import (
    EpisodeTally,
    env_econ,
    ledger_from_tallies,
    make_env,
    mean_ci,
    run_episodes,
)
from robolabor.experiments.runs import (
    CheckpointError,
    RunDir,
    atomic_write_text,
    now_iso,
    read_table,
    verify_checkpoint,
    write_table,
)


class TrainingFailed(RuntimeError):
    """Training stopped (e.g. a non-finite loss); the last good checkpoint is kept."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_agent(cfg: RunConfig, env) -> SAC:
    space = env.observation_space
    return SAC(obs_shape=space.shape, obs_dtype=space.dtype, action_dim=env.action_space.shape[0],
               sac_cfg=cfg.sac, encoder_cfg=cfg.encoder, seed=cfg.train.seed)


def frame_stack_of(env) -> int | None:
    """Image observations (T, C, H, W) uint8 are stored one frame per step."""
    space = env.observation_space
    return int(space.shape[0]) if space.dtype == np.uint8 and len(space.shape) == 4 else None


def load_checkpoint(agent: SAC, ckpt: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a checkpoint against its manifest, load the agent's weights from it and
    return (the torch blob, state.json); any damage is a ``CheckpointError``."""
    verify_checkpoint(ckpt)
    try:
        blob = torch.load(ckpt / "agent.pt", map_location=agent.device, weights_only=False)
        state = json.loads((ckpt / "state.json").read_text())
        agent.load_state_dict(blob["agent"])
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{ckpt}: cannot be loaded ({exc})") from None
    return blob, state


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
    # The SLA is on the shift's pooled error rate; report it as the constraint sees it.
    out["pooled_error_rate"] = float(led.broken.sum() / max(led.attempts.sum(), 1.0))
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
    def __init__(self, cfg: RunConfig, run: RunDir, resume: bool = False) -> None:
        self.cfg, self.run_dir = cfg, run
        torch.set_num_threads(cfg.train.threads)
        seed_everything(cfg.train.seed)
        self.env = make_env(cfg.env.id, cfg.env.config)
        self.eval_env = make_env(cfg.env.id, cfg.env.config)
        self.agent = build_agent(cfg, self.env)
        self.sla = float(self.env.unwrapped.sla)  # the SLA evaluations are judged against;
        # lagrange.sla, when set, is only the dual target (e.g. a safety margin below it)
        self.lagrange = LagrangeMultiplier(cfg.lagrange, sla=self.sla)
        self.buffer = ReplayBuffer(capacity=cfg.sac.buffer_size,
                                   obs_shape=self.env.observation_space.shape,
                                   obs_dtype=self.env.observation_space.dtype,
                                   action_dim=self.env.action_space.shape[0],
                                   frame_stack=frame_stack_of(self.env), seed=cfg.train.seed)
        self.rng = np.random.default_rng(cfg.train.seed + 1)  # warm-up actions
        self.step = 0
        self.episode = 0
        self.next_eval = cfg.train.eval_every
        self.next_ckpt = cfg.train.checkpoint_every
        self.episode_rows: list[dict[str, Any]] = []
        self.eval_rows: list[dict[str, Any]] = []
        self.last_update_metrics: dict[str, float] = {}
        self.wall_offset = 0.0
        if resume:
            self._restore()
            self.obs, _ = self.env.reset()
        else:
            self._initialise_run_dir()
            self.obs, _ = self.env.reset(seed=cfg.train.seed)
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
        path = self.run_dir.path
        atomic_write_text(path / "config.yaml", dump_config(self.cfg))
        self.optimum = optimum_for_env(self.env).to_json()
        atomic_write_text(path / "optimum.json", json.dumps(self.optimum, indent=2))
        self.run_dir.update_meta(config_hash=config_hash(self.cfg), seed=self.cfg.train.seed,
                                 env_id=self.cfg.env.id, encoder=self.cfg.encoder.type,
                                 created=now_iso(), status="running", torch=torch.__version__,
                                 device=str(self.agent.device))

    def _checkpoint(self) -> Path:
        write_table(self.run_dir.episodes_path, self.episode_rows)
        write_table(self.run_dir.evals_path, self.eval_rows)
        tmp = self.run_dir.new_checkpoint_dir(self.step)
        torch.save({"agent": self.agent.state_dict(), "torch_rng": torch.get_rng_state()},
                   tmp / "agent.pt")
        np.savez(tmp / "replay.npz", **self.buffer.state_dict())
        state = {
            "step": self.step, "episode": self.episode, "next_eval": self.next_eval,
            "next_ckpt": self.next_ckpt,
            "n_episode_rows": len(self.episode_rows), "n_eval_rows": len(self.eval_rows),
            "lagrange": self.lagrange.state_dict(),
            "rng": self.rng.bit_generator.state,
            "env_rng": self.env.unwrapped.np_random.bit_generator.state,
            "py_random": list(random.getstate()[1]), "py_random_pos": random.getstate()[2],
            "np_global": _np_global_state(),
            "wall_seconds": self.wall_offset + (time.perf_counter() - self.t0),
        }
        (tmp / "state.json").write_text(json.dumps(state))
        final = self.run_dir.commit_checkpoint(tmp, self.step, self.cfg.train.keep_checkpoints)
        self.run_dir.update_meta(last_checkpoint=final.name, env_steps=self.step)
        return final

    def _restore(self) -> None:
        ckpt = self.run_dir.latest_valid_checkpoint()
        blob, state = load_checkpoint(self.agent, ckpt)
        try:
            with np.load(ckpt / "replay.npz") as replay:
                self.buffer.load_state_dict({k: replay[k] for k in replay.files})
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{ckpt}: replay cannot be loaded ({exc})") from None
        torch.set_rng_state(blob["torch_rng"].cpu())  # map_location may have moved it
        self.lagrange.load_state_dict(state["lagrange"])
        self.rng.bit_generator.state = state["rng"]
        self.env.unwrapped.np_random.bit_generator.state = state["env_rng"]
        random.setstate((3, tuple(state["py_random"]), state["py_random_pos"]))
        _set_np_global_state(state["np_global"])
        for key in ("step", "episode", "next_eval", "next_ckpt"):
            setattr(self, key, state[key])
        self.wall_offset = state["wall_seconds"]
        self.episode_rows = read_table(self.run_dir.episodes_path)[: state["n_episode_rows"]]
        self.eval_rows = read_table(self.run_dir.evals_path)[: state["n_eval_rows"]]
        self.optimum = json.loads((self.run_dir.path / "optimum.json").read_text())
        self.run_dir.update_meta(status="running", resumed_from=ckpt.name)

    # ----- the loop ----------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg, sac = self.cfg.train, self.cfg.sac
        self.t0 = time.perf_counter()
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.run_dir.path / "tb"), purge_step=self.step or None)
        bar = _progress(cfg, self.step)
        tally = EpisodeTally(len(env_econ(self.env).prices))
        try:
            while self.step < cfg.total_steps:
                if self.step < sac.learning_starts:
                    action = self.rng.uniform(0.0, 1.0, size=self.env.action_space.shape)
                else:
                    action = self.agent.act(self.obs, deterministic=self.cfg.lagrange
                                            .measure_every > 1 and self._moves_lambda())
                next_obs, reward, terminated, truncated, info = self.env.step(
                    action.astype(np.float32))
                cost = self.lagrange.cost(info["errs"], info["attempts"])
                self.buffer.add(self.obs, action, float(reward), cost, next_obs,
                                terminated, truncated)
                tally.add(info)
                self.obs = next_obs
                self.step += 1
                bar.update(1)
                due = self.agent.updates_due(self.step)
                if due:  # schedules are functions of progress: a resumed run agrees
                    self.agent.anneal((self.step - sac.learning_starts)
                                      / max(1, cfg.total_steps - sac.learning_starts))
                for _ in range(due):
                    batch = self.buffer.sample(sac.batch_size)
                    self.last_update_metrics = self.agent.update(batch, self.lagrange.lam)
                if terminated or truncated:
                    self._end_episode(tally, writer, bar)
                    tally = EpisodeTally(len(env_econ(self.env).prices))
                    self.obs, _ = self.env.reset()
                    self.episode_start = self.step
        except NonFiniteError as exc:
            bar.close()
            writer.close()
            last = self.run_dir.list_checkpoints()
            kept = last[-1].name if last else "none (no checkpoint was written yet)"
            message = (f"training stopped at env step {self.step}: non-finite loss ({exc}); "
                       f"last good checkpoint: {kept}")
            self.run_dir.update_meta(status="failed", failure=message)
            raise TrainingFailed(message) from None
        bar.close()
        if not self.eval_rows or self.eval_rows[-1]["step"] != self.step:
            self._evaluate(writer)
        while self.next_eval <= self.step:  # a run extended later does not re-evaluate here
            self.next_eval += cfg.eval_every
        self._checkpoint()
        writer.close()
        self.run_dir.update_meta(status="finished", env_steps=self.step,
                                 wall_seconds=self.eval_rows[-1]["wall_seconds"])
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
        if self.step >= self.next_eval:
            self._evaluate(writer)
            self.next_eval += self.cfg.train.eval_every
        if self.step >= self.next_ckpt:
            self._checkpoint()
            self.next_ckpt += self.cfg.train.checkpoint_every

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
        for key in ("pct_of_optimum", "mp", "error_rate", "wage_parity", "profit"):
            writer.add_scalar(f"eval/{key}", ev[key], self.step)
        return ev


def _progress(cfg, initial: int):
    from tqdm.auto import tqdm

    return tqdm(total=cfg.total_steps, initial=initial, disable=not cfg.progress,
                unit="step", dynamic_ncols=True, mininterval=0.5)


def _np_global_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached": float(cached)}


def _set_np_global_state(s: dict[str, Any]) -> None:
    np.random.set_state(("MT19937", np.array(s["keys"], dtype=np.uint32), s["pos"],
                         s["has_gauss"], s["cached"]))


def start_run(cfg: RunConfig, out: str | Path | None = None, name: str = "run") -> dict:
    """Train a new run of ``cfg`` into ``out`` (default ``runs/NAME-sSEED-HASH``)."""
    if out is None:
        out = Path("runs") / f"{name}-s{cfg.train.seed}-{config_hash(cfg)}"
    trainer = Trainer(cfg, RunDir.create(Path(out)))
    return trainer.run() | {"run_dir": str(trainer.run_dir.path)}


def resume_run(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> dict:
    """Continue a killed (or finished, with more ``train.total_steps``) run."""
    run = RunDir.open(Path(run_dir))
    cfg = load_config(run.path / "config.yaml", overrides)
    trainer = Trainer(cfg, run, resume=True)
    return trainer.run() | {"run_dir": str(trainer.run_dir.path)}
