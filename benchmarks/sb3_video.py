"""Our video SAC against Stable-Baselines3 SAC ``CnnPolicy`` on the same video env.

The video twin of ``benchmarks/sb3_shift.py``. Both learners see
``robolabor/DishwashingShiftVideo-v0`` (8 stacked 64x64 RGB frames) and the same
reward: the step's profit minus λ*·(errors − e*·attempts) with λ fixed at the
exact shadow price (no dual ascent on either side). SB3 gets the frames as its
channel-first image, (T·C, 64, 64) uint8 in ``Box(0, 255)``, so its NatureCNN
sees all 8 frames at once; it runs with its defaults (batch 256, UTD 1,
learning_starts 100, separate actor and critic CNNs) except ``buffer_size``,
which is cut because SB3 stores obs and next_obs as full stacks (2 × 98 KB per
transition: 20,000 transitions ≈ 3.9 GB). Ours runs ``configs/shift_video.yaml``
(pixel encoder, frame-once replay) with λ fixed.

Reported for each: env steps/s while learning (from the first step after
``learning_starts`` to the last, evaluations excluded), the ratio ours/SB3, and
the score at equal env steps on the same evaluation seeds: % of the exact
optimal expected profit and the pooled error rate (against the SLA e*). The
step rate reflects each side's configuration (ours updates once per 2 env
steps at batch 64, SB3 once per step at batch 256), so the updates each made
are printed too; ``--sb3-matched`` gives SB3 our batch size and update rate
(``train_freq`` = 1 / our updates per step) for a like-for-like step rate.

    python benchmarks/sb3_video.py --steps 20000 --seeds 0 1 2 [--json]
    python benchmarks/sb3_video.py --steps 600 --learning-starts 200 --episodes 2  # smoke

Needs the ``bench`` extra (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from _report import emit
from gymnasium import spaces

from robolabor.envs.optimum import optimum_for_env
from robolabor.envs.wrappers import FixedLagrangianReward
from robolabor.experiments.compare import FINAL_EVAL_SEED
from robolabor.experiments.config import load_config
from robolabor.experiments.rollout import ledger_from_tallies, make_env, run_episodes
from robolabor.experiments.runs import RunDir
from robolabor.experiments.trainer import Trainer

EVAL_SEED = FINAL_EVAL_SEED  # the episodes `robolabor compare` scores on


class StackAsChannels(gym.ObservationWrapper):
    """(T, C, H, W) uint8 frames -> (T·C, H, W): the channel-first image SB3's CNN takes."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        t, c, h, w = env.observation_space.shape
        self.observation_space = spaces.Box(0, 255, (t * c, h, w), np.uint8)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        return obs.reshape(self.observation_space.shape)


class StepClock(gym.Wrapper):
    """Times env steps after the first ``after`` ones: steps/s while learning."""

    def __init__(self, env: gym.Env, after: int) -> None:
        super().__init__(env)
        self.after, self.n = after, 0
        self.t_first: float | None = None
        self.t_last = 0.0

    def step(self, action):
        out = self.env.step(action)
        self.n += 1
        now = time.perf_counter()
        if self.n == self.after + 1:
            self.t_first = now
        self.t_last = now
        return out

    def rate(self) -> float:
        """Steps/s between step ``after + 1`` and the last step (nan if too short)."""
        timed = self.n - self.after - 1
        if self.t_first is None or timed < 1:
            return float("nan")
        return timed / (self.t_last - self.t_first)


def score(env_id: str, env_config: dict, act, episodes: int, optimum) -> dict[str, float]:
    env = make_env(env_id, env_config)
    tallies = run_episodes(env, act, episodes, EVAL_SEED)
    led = ledger_from_tallies(tallies, env.unwrapped.econ)
    profits = np.array([t.profit for t in tallies])
    return {"pct_of_optimum": float(100 * profits.mean() / optimum.expected_profit),
            "error_rate": float(led.broken.sum() / max(led.attempts.sum(), 1.0))}


def run_sb3(cfg, steps: int, seed: int, lam: float, optimum, episodes: int,
            buffer_size: int, learning_starts: int | None, matched: bool) -> dict[str, float]:
    from stable_baselines3 import SAC as SB3SAC

    torch.set_num_threads(1)
    kwargs = {} if learning_starts is None else {"learning_starts": learning_starts}
    if matched:
        if not 0 < cfg.sac.updates_per_step <= 1 or (1 / cfg.sac.updates_per_step) % 1:
            raise SystemExit(f"--sb3-matched needs updates_per_step = 1/k, got "
                             f"{cfg.sac.updates_per_step}")
        kwargs |= {"batch_size": cfg.sac.batch_size,
                   "train_freq": round(1 / cfg.sac.updates_per_step)}
    starts = learning_starts if learning_starts is not None else \
        inspect.signature(SB3SAC).parameters["learning_starts"].default
    clock = StepClock(FixedLagrangianReward(make_env(cfg.env.id, cfg.env.config), lam), starts)
    env = StackAsChannels(clock)
    model = SB3SAC("CnnPolicy", env, seed=seed, verbose=0, device="cpu",
                   buffer_size=buffer_size, **kwargs)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - t0
    shape = env.observation_space.shape
    out = score(cfg.env.id, cfg.env.config,
                lambda o: model.predict(o.reshape(shape), deterministic=True)[0],
                episodes, optimum)
    return out | {"steps_per_s": clock.rate(), "wall_seconds": wall,
                  "updates": int(model._n_updates), "learning_starts": starts,
                  "batch_size": model.batch_size, "buffer_size": buffer_size,
                  "updates_per_step": model.gradient_steps / model.train_freq.frequency}


def run_ours(config: str, steps: int, seed: int, lam: float, episodes: int,
             learning_starts: int | None) -> dict[str, float]:
    overrides = {"train.total_steps": steps, "train.seed": seed,
                 "train.eval_every": steps, "train.checkpoint_every": steps,
                 "train.eval_episodes": episodes, "train.eval_seed": EVAL_SEED,
                 "train.progress": False, "lagrange.lr": 0.0, "lagrange.init": lam}
    if learning_starts is not None:
        overrides["sac.learning_starts"] = learning_starts
    cfg = load_config(config, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, RunDir.begin(Path(tmp) / "run"))
        clock = StepClock(trainer.env, cfg.sac.learning_starts)
        trainer.env = clock  # the loop only steps, resets and reads .unwrapped
        t0 = time.perf_counter()
        final = trainer.run()
        wall = time.perf_counter() - t0
    return {"pct_of_optimum": final["pct_of_optimum"], "error_rate": final["pooled_error_rate"],
            "steps_per_s": clock.rate(), "wall_seconds": wall,
            "updates": trainer.agent.num_updates, "learning_starts": cfg.sac.learning_starts,
            "batch_size": cfg.sac.batch_size, "buffer_size": cfg.sac.buffer_size,
            "updates_per_step": cfg.sac.updates_per_step}


def _median(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return statistics.median(finite) if finite else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20_000, help="env steps per learner and seed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--episodes", type=int, default=20, help="evaluation episodes")
    p.add_argument("--config", default="configs/shift_video.yaml")
    p.add_argument("--sb3-buffer", type=int, default=20_000,
                   help="SB3 replay capacity (full stacks: ~197 KB per transition)")
    p.add_argument("--learning-starts", type=int, default=None,
                   help="for both learners (default: each its own, SB3 100, ours the config's)")
    p.add_argument("--sb3-matched", action="store_true",
                   help="SB3 with our batch size and updates per env step (else its defaults)")
    p.add_argument("--only", choices=("ours", "sb3"), default=None,
                   help="run one side only (no ratio)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    optimum = optimum_for_env(make_env(cfg.env.id, cfg.env.config))
    lam = optimum.lambda_star
    sides = [args.only] if args.only else ["ours", "sb3"]
    rows: dict[str, list[dict]] = {name: [] for name in sides}
    for seed in args.seeds:
        if "ours" in rows:
            rows["ours"].append(run_ours(args.config, args.steps, seed, lam, args.episodes,
                                         args.learning_starts))
        if "sb3" in rows:
            rows["sb3"].append(run_sb3(cfg, args.steps, seed, lam, optimum, args.episodes,
                                       args.sb3_buffer, args.learning_starts,
                                       args.sb3_matched))
        if not args.json:
            for name in rows:
                print(f"seed {seed} {name:>4}: {rows[name][-1]}")
    summary = {"env": cfg.env.id, "config": args.config, "steps": args.steps,
               "seeds": args.seeds, "eval_episodes": args.episodes, "eval_seed": EVAL_SEED,
               "lambda": lam, "threads": torch.get_num_threads()}
    for name, rs in rows.items():
        for key in ("steps_per_s", "pct_of_optimum", "error_rate", "updates"):
            summary[f"{name}_{key}_median"] = _median([r[key] for r in rs])
            summary[f"{name}_{key}"] = [r[key] for r in rs]
        for key in ("learning_starts", "batch_size", "buffer_size", "updates_per_step"):
            summary[f"{name}_{key}"] = rs[0][key]
    if len(rows) == 2:
        summary["steps_per_s_ratio_ours_over_sb3"] = (summary["ours_steps_per_s_median"]
                                                     / summary["sb3_steps_per_s_median"])
    summary["sla"] = float(optimum.sla)
    emit(summary, args.json)


if __name__ == "__main__":
    main()
