"""Our SAC against Stable-Baselines3 SAC, side by side in one run: implementation and recipe.

``--mode implementation`` compares implementations at identical compute: the same
networks (state: SB3's MLP given our encoder's and heads' depth and widths; pixels: SB3
given *our* ``pixel`` encoder as its features extractor, shared by actor and critic as
ours is, on the same newest frames), the same batch, updates per env step, actor update
every step, learning starts, γ, learning rates, and the same reward for both: profit −
λ*·(errors − e*·attempts) with λ fixed at the exact shadow price (no dual ascent on
either side). Reported: env steps/s while learning (from the first step after
``learning_starts`` to the last), per seed, medians, and the ratio ours/SB3. What still
differs is named in the output (``differences``).

``--mode recipe`` compares recipes: each learner at its best settings for the task,
ours the default recipe (``configs/shift_state.yaml``, with its own dual ascent on λ),
SB3 at its defaults given the λ*-priced reward (generous: it needs no constraint
handling). Both are evaluated every ``--eval-every`` env steps on the same 30 episodes;
reported: env steps and wall-clock to 90% of the exact frontier with the SLA verdict
not ``broken``, and the final frontier score on ``--episodes`` fresh episodes.

    python benchmarks/sb3_like_for_like.py --mode implementation --modality state --json
    python benchmarks/sb3_like_for_like.py --mode implementation --modality pixels --json
    python benchmarks/sb3_like_for_like.py --mode recipe --steps 30000 --json

Seeds default to the reported ones (100, 101, 102). Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import emit
from sb3_video import StepClock

from robolabor.envs.optimum import optimum_for_env
from robolabor.envs.wrappers import FixedLagrangianReward
from robolabor.experiments.config import load_config
from robolabor.experiments.protocol import REPORT_EVAL_SEED, report_seeds
from robolabor.experiments.report import steps_to_reach
from robolabor.experiments.rollout import EpisodeTally, make_env, run_episodes
from robolabor.experiments.runs import RunDir, read_table
from robolabor.experiments.scoring import score_episodes
from robolabor.experiments.trainer import Trainer

CONFIGS = {"state": "configs/shift_state.yaml", "pixels": "configs/shift_video.yaml"}
PERIODIC_EVAL_EPISODES = 30
CURVE_KEYS = ("step", "wall_seconds", "pct_of_frontier", "sla_verdict")


def frontier_score(env_id: str, env_config: dict, act, episodes: int, seed: int,
                   optimum: dict) -> dict:
    tallies: list[EpisodeTally] = run_episodes(make_env(env_id, env_config), act, episodes,
                                               seed)
    return score_episodes(np.array([t.profit for t in tallies]),
                          np.array([t.errors for t in tallies]),
                          np.array([t.attempts for t in tallies]), optimum)


def _ours_config(modality: str, mode: str, seed: int, steps: int, lam: float,
                 learning_starts: int, eval_every: int):
    ov = {"train.total_steps": steps, "train.seed": seed, "train.progress": False,
          "train.checkpoint_every": steps, "train.eval_every": eval_every,
          "train.eval_episodes": PERIODIC_EVAL_EPISODES}
    if mode == "implementation":
        ov |= {"lagrange.lr": 0.0, "lagrange.init": lam, "lagrange.margin": 0.0,
               "sac.actor_update_every": 1, "sac.learning_starts": learning_starts}
    return load_config(CONFIGS[modality], ov)


def run_ours(cfg) -> tuple[dict, object]:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, RunDir.begin(Path(tmp) / "run"))
        clock = StepClock(trainer.env, cfg.sac.learning_starts)
        trainer.env = clock  # the loop only steps, resets and reads .unwrapped
        t0 = time.perf_counter()
        trainer.run()
        wall = time.perf_counter() - t0
        evals = read_table(trainer.run_dir.evals_path)
    agent = trainer.agent
    return {"steps_per_s": clock.rate(), "wall_seconds": wall, "updates": agent.num_updates,
            "curve": [{k: r[k] for k in CURVE_KEYS} for r in evals]}, \
        (lambda o: agent.act(o, deterministic=True))


def _sb3_extractor(cfg):
    """Our pixel encoder as an SB3 features extractor (identical network)."""
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    from robolabor.agents.encoders import build_encoder

    class OurEncoder(BaseFeaturesExtractor):
        def __init__(self, observation_space):
            super().__init__(observation_space, cfg.encoder.latent_dim)
            self.enc = build_encoder(cfg.encoder, observation_space.shape)

        def forward(self, obs):  # SB3 hands uint8 frames over as floats in [0, 255]
            return self.enc(obs / 255.0)

    return OurEncoder


def run_sb3(cfg, modality: str, mode: str, seed: int, steps: int, lam: float, optimum: dict,
            learning_starts: int, eval_every: int) -> tuple[dict, object]:
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    kwargs: dict = {}
    if mode == "implementation":
        s = cfg.sac
        kwargs = {"batch_size": s.batch_size, "learning_starts": learning_starts,
                  "gamma": s.gamma, "tau": s.tau, "learning_rate": s.lr_critic,
                  "train_freq": max(1, round(1 / s.updates_per_step)),
                  "gradient_steps": max(1, round(s.updates_per_step)),
                  "buffer_size": min(s.buffer_size, steps)}
        if modality == "state":
            depth = [cfg.encoder.hidden_dim, cfg.encoder.latent_dim, *s.hidden_sizes]
            kwargs["policy_kwargs"] = {"net_arch": {"pi": depth, "qf": depth}}
        else:
            kwargs["policy_kwargs"] = {"features_extractor_class": _sb3_extractor(cfg),
                                       "share_features_extractor": True,
                                       "net_arch": list(s.hidden_sizes),
                                       "normalize_images": False}
    starts = kwargs.get("learning_starts", 100)
    clock = StepClock(FixedLagrangianReward(make_env(cfg.env.id, cfg.env.config), lam), starts)
    # pixels: "MlpPolicy" with our encoder as the features extractor (the frames stay
    # (T, C, H, W) uint8 in replay; the extractor scales them to [0, 1] as ours does)
    model = SB3SAC("MlpPolicy", clock, seed=seed, verbose=0, device="cpu", **kwargs)
    t0 = time.perf_counter()
    curve: list = []

    def act(o):
        return model.predict(o, deterministic=True)[0]

    class Callback(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                elapsed = time.perf_counter() - t0
                sc = frontier_score(cfg.env.id, cfg.env.config, act, PERIODIC_EVAL_EPISODES,
                                    cfg.train.eval_seed, optimum)
                curve.append({"step": self.num_timesteps, "wall_seconds": elapsed,
                              **{k: sc[k] for k in CURVE_KEYS[2:]}})
            return True

    model.learn(total_timesteps=steps, callback=Callback())
    wall = time.perf_counter() - t0
    return {"steps_per_s": clock.rate(), "wall_seconds": wall,
            "updates": int(model._n_updates), "curve": curve}, act


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("implementation", "recipe"), default="implementation")
    p.add_argument("--modality", choices=tuple(CONFIGS), default="state")
    p.add_argument("--steps", type=int, default=None,
                   help="env steps (default: learning starts + 2,500 for implementation, "
                        "30,000 for recipe)")
    p.add_argument("--learning-starts", type=int, default=1000,
                   help="implementation mode: uniform-random steps before learning, both")
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--episodes", type=int, default=100, help="final evaluation episodes")
    p.add_argument("--eval-every", type=int, default=3000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.mode == "recipe" and args.modality == "pixels":
        raise SystemExit("--mode recipe is built for --modality state only (SB3's pixel "
                         "recipe at its defaults is benchmarks/sb3_video.py)")
    torch.set_num_threads(1)
    seeds = args.seeds or report_seeds(3)
    steps = args.steps or (args.learning_starts + 2500 if args.mode == "implementation"
                           else 30_000)
    base = load_config(CONFIGS[args.modality])
    opt = optimum_for_env(make_env(base.env.id, base.env.config))
    optimum, lam = opt.to_json(), opt.lambda_star
    eval_every = steps if args.mode == "implementation" else args.eval_every
    rows: dict[str, list[dict]] = {"ours": [], "sb3": []}
    for seed in seeds:
        cfg = _ours_config(args.modality, args.mode, seed, steps, lam, args.learning_starts,
                           eval_every)
        for name in ("ours", "sb3"):
            if name == "ours":
                out, act = run_ours(cfg)
            else:
                out, act = run_sb3(cfg, args.modality, args.mode, seed, steps, lam, optimum,
                                   args.learning_starts, eval_every)
            final = frontier_score(cfg.env.id, cfg.env.config, act, args.episodes,
                                   REPORT_EVAL_SEED, optimum)
            s90, w90 = steps_to_reach(out["curve"], 90.0)
            rows[name].append({"seed": seed, **out, "steps_to_90": s90, "wall_to_90": w90,
                               "final_pct_of_frontier": final["pct_of_frontier"],
                               "final_sla_verdict": final["sla_verdict"],
                               "final_pooled_error_rate": final["pooled_error_rate"]})
            if not args.json:
                print(seed, name, {k: v for k, v in rows[name][-1].items() if k != "curve"})
    summary = {"mode": args.mode, "modality": args.modality, "config": CONFIGS[args.modality],
               "steps": steps, "seeds": seeds, "final_episodes": args.episodes,
               "final_eval_seed": REPORT_EVAL_SEED, "lambda_star": lam}
    if args.mode == "implementation":
        summary["differences"] = (
            "ours shares one encoder between actor and critic (SB3 state MLPs do not), "
            "fuses the twin critics into one batched network with a second (cost) output, "
            "and applies DrQ random shift to pixels (SB3 does not augment); everything "
            "else (widths, depths, batch, update rate, γ, lr, reward) is identical")
    else:
        summary["differences"] = (
            "each at its own settings: ours the default recipe with dual ascent on λ; SB3 "
            "its defaults (256-256 MLPs, batch 256, UTD 1, γ 0.99, learning_starts 100) "
            "with the reward priced at the exact λ*")
    for name, rs in rows.items():
        for key in ("steps_per_s", "final_pct_of_frontier", "steps_to_90", "wall_to_90",
                    "wall_seconds"):
            vals = [r[key] for r in rs]
            summary[f"{name}_{key}"] = vals
            finite = [v for v in vals if v is not None and np.isfinite(v)]
            summary[f"{name}_{key}_median"] = statistics.median(finite) if finite else None
        summary[f"{name}_final_sla_verdicts"] = [r["final_sla_verdict"] for r in rs]
        summary[f"{name}_curves"] = [r["curve"] for r in rs]
        summary[f"{name}_updates"] = [r["updates"] for r in rs]
    ours, sb3 = summary["ours_steps_per_s_median"], summary["sb3_steps_per_s_median"]
    # None when a side never got past its warm-up in the budget
    summary["steps_per_s_ratio_ours_over_sb3"] = ours / sb3 if ours and sb3 else None
    emit(summary, args.json)


if __name__ == "__main__":
    main()
