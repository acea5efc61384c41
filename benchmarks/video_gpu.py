"""Video SAC on a GPU: encoder costs, full SAC updates/s per encoder, and a short r3d18 run.

    python benchmarks/video_gpu.py --out runs/gpu --json          # on a CUDA machine
    python benchmarks/video_gpu.py --device cpu --quick --json     # the same path, tiny, on CPU

Three parts, each on ``--device`` (default: cuda when available):

1. ``encoders``: parameters, forward and forward+backward ms at ``--batch`` for every
   video encoder (``list_encoders``, the same numbers ``robolabor encoders`` gives on CPU).
2. ``updates``: whole SAC updates per second at ``--batch`` with each encoder TRAINED by
   the critic's loss (``freeze: false``) and random-shift augmentation on, sampled from an
   image replay holding ``--fill`` real steps of the shift video env (uint8 frames rebuilt
   into stacks by index, as in training); plus the latency of one action. ``--configs
   FILE ...`` adds rows for those configs' own encoder and SAC settings (on a CPU:
   ``--device cpu --parts updates --skip cnn2d cnn3d r3d18 --configs configs/shift_video.yaml``).
3. ``train``: ``configs/video_r3d18.yaml`` with the backbone trained end to end
   (``encoder.freeze=false``, augmentation on) through the normal trainer on the same
   device: ``--train-steps`` env steps, a checkpoint, then a resume to ``--resume-steps``,
   and the final evaluation against the exact optimum. Reported: env steps/s and updates/s
   of each leg, wall-clock, % of the optimum (a few hundred updates: a throughput and
   code-path check, not a learning result).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from robolabor.agents.constraint import LagrangeMultiplier
from robolabor.agents.encoders import EncoderConfig
from robolabor.agents.replay import ReplayBuffer
from robolabor.agents.sac import SAC, SACConfig
from robolabor.agents.video_encoders import list_encoders, time_ms
from robolabor.experiments.checkpoints import frame_stack_of
from robolabor.experiments.config import load_config
from robolabor.experiments.rollout import make_env
from robolabor.experiments.runs import read_table
from robolabor.experiments.trainer import resume_run, start_run

VIDEO_ENV = "robolabor/DishwashingShiftVideo-v0"
TRAINED_ENCODERS = ("pixel", "cnn2d", "cnn3d", "r3d18")
TIMING_LAMBDA = 0.4  # any fixed λ: an update costs the same whatever λ is


def device_info(device: torch.device) -> dict:
    info = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info |= {"gpu": p.name, "gpu_memory_gib": round(p.total_memory / 2**30, 1),
                 "cuda": torch.version.cuda}
    return info


def filled_replay(fill: int, seed: int) -> tuple[ReplayBuffer, object]:
    """An image replay holding ``fill`` steps of uniformly random play on the video env."""
    env = make_env(VIDEO_ENV)
    space = env.observation_space
    rb = ReplayBuffer(fill, space.shape, space.dtype, env.action_space.shape[0],
                      frame_stack=frame_stack_of(env), seed=seed)
    lagrange = LagrangeMultiplier(sla=float(env.unwrapped.sla))  # the trainer's cost signal
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(fill):
        a = rng.uniform(0.0, 1.0, size=env.action_space.shape).astype(np.float32)
        nxt, r, term, trunc, info = env.step(a)
        rb.add(obs, a, float(r), lagrange.cost(info["broken"], info["attempts"]), nxt, term, trunc)
        obs = env.reset()[0] if (term or trunc) else nxt
    return rb, env


def time_updates(label: str, enc_cfg: EncoderConfig, cfg: SACConfig, rb: ReplayBuffer, env,
                 updates: int, repeats: int) -> dict:
    """Median seconds per full SAC update and per action."""
    agent = SAC(env.observation_space.shape, env.observation_space.dtype,
                env.action_space.shape[0], cfg, enc_cfg, seed=0)
    device, batch = agent.device, cfg.batch_size
    batches = [rb.sample(batch) for _ in range(8)]

    def some_updates() -> None:
        for i in range(updates):
            agent.update(batches[i % len(batches)], TIMING_LAMBDA)

    upd = time_ms(some_updates, repeats, device) / 1e3 / updates  # after one warm-up call
    obs, _ = env.reset(seed=1)
    agent.act(obs)
    t0 = time.perf_counter()
    for _ in range(20):
        agent.act(obs)
    act_s = (time.perf_counter() - t0) / 20
    params = sum(p.numel() for p in agent.encoder.parameters())
    return {"encoder": label, "encoder_params": params, "batch": batch,
            "frames": agent.encoder.frames, "frozen": enc_cfg.freeze,
            "ms_per_update": round(upd * 1e3, 2), "updates_per_s": round(1.0 / upd, 1),
            "ms_per_action": round(act_s * 1e3, 2),
            "peak_gpu_mem_gib": (round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
                                 if device.type == "cuda" else None)}


def train_r3d18(out: Path, device: torch.device, batch: int, steps: int, resume_steps: int,
                learning_starts: int, utd: float, eval_episodes: int) -> dict:
    """configs/video_r3d18.yaml, backbone trained, through start_run then resume_run."""
    overrides = {"encoder.freeze": False, "encoder.feature_cache": 0, "sac.augment": True,
                 "sac.device": device.type, "sac.batch_size": batch,
                 "sac.learning_starts": learning_starts, "sac.updates_per_step": utd,
                 "train.total_steps": steps, "train.eval_every": steps,
                 "train.checkpoint_every": steps, "train.eval_episodes": eval_episodes,
                 "train.progress": False, "train.seed": 0}
    run_dir = out / "r3d18-trained"
    t0 = time.perf_counter()
    start_run(load_config("configs/video_r3d18.yaml", overrides), run_dir)
    t1 = time.perf_counter()
    final = resume_run(run_dir, {"train.total_steps": resume_steps})
    t2 = time.perf_counter()
    evals = read_table(run_dir / "evals.parquet")

    def leg(start: int, end: int, wall: float) -> dict:
        updates = int(max(0, end - max(start, learning_starts)) * utd)
        return {"env_steps": end - start, "updates": updates, "wall_s": round(wall, 1),
                "env_steps_per_s": round((end - start) / wall, 1),
                "updates_per_s": round(updates / wall, 1)}

    return {"run_dir": str(run_dir), "first_leg": leg(0, steps, t1 - t0),
            "resumed_leg": leg(steps, resume_steps, t2 - t1),
            "evals": [{k: row[k] for k in ("step", "pct_of_optimum", "error_rate", "lambda")}
                      for row in evals],
            "final_pct_of_optimum": final["pct_of_optimum"], "final_step": final["step"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--fill", type=int, default=2000, help="replay steps for part 2")
    ap.add_argument("--updates", type=int, default=50, help="updates per timing repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--resume-steps", type=int, default=2000)
    ap.add_argument("--learning-starts", type=int, default=500)
    ap.add_argument("--utd", type=float, default=0.5, help="updates per env step, part 3")
    ap.add_argument("--eval-episodes", type=int, default=3)
    ap.add_argument("--parts", nargs="+", default=["encoders", "updates", "train"],
                    choices=["encoders", "updates", "train"])
    ap.add_argument("--configs", nargs="*", default=[],
                    help="part 2 also times each config's own encoder and SAC settings")
    ap.add_argument("--skip", nargs="*", default=[], choices=TRAINED_ENCODERS,
                    help="part 2 leaves these encoders out (r3d18 takes minutes on a CPU)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes (CPU smoke run of the same code path)")
    ap.add_argument("--out", default="runs/video-gpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.batch, args.fill, args.updates, args.repeats = 4, 300, 2, 1
        args.train_steps, args.resume_steps, args.learning_starts = 120, 160, 80
        args.eval_episodes = 1
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # as the trainer's configs run (train.threads: 1)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"info": device_info(device)}
    print(json.dumps(result["info"]), flush=True)

    if "encoders" in args.parts:
        shape = tuple(make_env(VIDEO_ENV).observation_space.shape)
        result["encoders"] = list_encoders(shape, batch=args.batch, device=device,
                                           repeats=max(3, args.repeats))
        for row in result["encoders"]:
            print(json.dumps(row), flush=True)
    if "updates" in args.parts:
        rb, env = filled_replay(args.fill, seed=0)
        result["updates"] = []
        jobs = [(name, EncoderConfig(type=name, freeze=False),
                 SACConfig(batch_size=args.batch, device=device.type, augment=True))
                for name in TRAINED_ENCODERS if name not in args.skip]
        for path in args.configs:  # a config's own encoder and SAC settings, batch included
            cfg = load_config(path)
            jobs.append((path, cfg.encoder, replace(cfg.sac, device=device.type)))
        for label, enc_cfg, sac_cfg in jobs:
            row = time_updates(label, enc_cfg, sac_cfg, rb, env, args.updates, args.repeats)
            result["updates"].append(row)
            print(json.dumps(row), flush=True)
    if "train" in args.parts:
        result["train"] = train_r3d18(out, device, args.batch, args.train_steps, args.resume_steps,
                                      args.learning_starts, args.utd, args.eval_episodes)
        print(json.dumps(result["train"]), flush=True)
    (out / "video_gpu.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
