"""How far can a faster implementation go? FLOPs and time of one SAC update, ours and
Stable-Baselines3's, at the like-for-like settings of ``sb3_like_for_like.py``.

Both learners are built exactly as ``sb3_like_for_like.py --mode implementation
--modality state`` builds them (identical widths and depths, batch 256, actor every
update, reward priced at λ*), warmed up on 1,000 uniform-random steps, and then timed
update by update. ``torch.utils.flop_counter`` counts the FLOPs of one update of each
(matrix products, forward and backward). The ceiling: the same shapes as a bare chain of
linear layers, forward and backward with nothing else, timed on this core: the FLOP rate
no implementation of these networks can beat here. From it, the fastest any
implementation of each learner's update could be, and the largest env-steps/s ratio
ours/SB3 that is reachable at all.

    OMP_NUM_THREADS=1 python benchmarks/update_flops.py --json
    OMP_NUM_THREADS=1 python benchmarks/update_flops.py --modality pixels --json

Pixels: SB3 is given our ``pixel`` encoder as its shared features extractor (as in
``sb3_like_for_like.py``), batch 64; the ceiling is that encoder and the critic's widths
alone, forward and backward on one batch of the newest frames.

Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _report import emit, git_commit
from sb3_like_for_like import _ours_config, _sb3_extractor
from torch.utils.flop_counter import FlopCounterMode

from robolabor.envs.optimum import optimum_for_env
from robolabor.envs.wrappers import FixedLagrangianReward
from robolabor.experiments.config import config_hash, load_config
from robolabor.experiments.rollout import make_env
from robolabor.experiments.runs import RunDir
from robolabor.experiments.trainer import Trainer

WARMUP = 1000


def _timed(fn, repeats: int) -> list[float]:
    fn()  # first call: allocations
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def ours(cfg, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, RunDir.begin(Path(tmp) / "run"))
        trainer.run()
        agent, buf = trainer.agent, trainer.buffer
        lam = trainer.lagrange.lam
        batch = cfg.sac.batch_size

        def update():
            agent.update(buf.sample(batch), lam)

        return {"flops_per_update": _flops(update), "seconds": _timed(update, repeats),
                "sample_seconds": _timed(lambda: buf.sample(batch), repeats)}


def sb3(cfg, lam: float, repeats: int, modality: str) -> dict:
    from stable_baselines3 import SAC as SB3SAC

    s = cfg.sac
    depth = [cfg.encoder.hidden_dim, cfg.encoder.latent_dim, *s.hidden_sizes]
    policy_kwargs = {"net_arch": {"pi": depth, "qf": depth}} if modality == "state" else {
        "features_extractor_class": _sb3_extractor(cfg), "share_features_extractor": True,
        "net_arch": list(s.hidden_sizes), "normalize_images": False}
    model = SB3SAC("MlpPolicy", FixedLagrangianReward(make_env(cfg.env.id, cfg.env.config),
                                                      lam),
                   seed=cfg.train.seed, verbose=0, device="cpu", batch_size=s.batch_size,
                   learning_starts=WARMUP, gamma=s.gamma, tau=s.tau,
                   learning_rate=s.lr_critic, train_freq=1, gradient_steps=1,
                   buffer_size=2 * WARMUP, policy_kwargs=policy_kwargs)
    model.learn(total_timesteps=WARMUP)

    def update():
        model.train(gradient_steps=1, batch_size=s.batch_size)

    return {"flops_per_update": _flops(update), "seconds": _timed(update, repeats),
            "net_arch": depth if modality == "state" else list(s.hidden_sizes)}


def ceiling(batch: int, widths: list[int], repeats: int, encoder=None,
            frames: torch.Tensor | None = None) -> dict:
    """GFLOP/s of a bare chain (forward + backward, ReLU between) at these shapes: linear
    layers of ``widths``, after ``encoder`` applied to ``frames`` when given."""
    layers = [] if encoder is None else [encoder]
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    x = torch.randn(batch, widths[0]) if frames is None else frames

    def step():
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()

    flops = _flops(step)
    secs = statistics.median(_timed(step, repeats))
    return {"widths": widths, "batch": batch, "flops": flops, "seconds": secs,
            "gflops_per_s": flops / secs / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--modality", choices=("state", "pixels"), default="state")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = load_config("configs/shift_state.yaml")
    lam = optimum_for_env(make_env(base.env.id, base.env.config)).lambda_star
    cfg = _ours_config(args.modality, "implementation", args.seed, WARMUP, lam, WARMUP,
                       WARMUP)
    o = ours(cfg, args.repeats)
    b = sb3(cfg, lam, args.repeats, args.modality)
    space = make_env(cfg.env.id, cfg.env.config).observation_space
    if args.modality == "state":
        chain = ceiling(cfg.sac.batch_size, [space.shape[0] + 2, *b["net_arch"], 1],
                        args.repeats)
    else:
        from robolabor.agents.encoders import build_encoder

        enc = build_encoder(cfg.encoder, space.shape)
        frames = torch.rand(cfg.sac.batch_size, cfg.encoder.frames, *space.shape[1:])
        chain = ceiling(cfg.sac.batch_size, [cfg.encoder.latent_dim, *b["net_arch"], 1],
                        args.repeats, enc, frames)
    rate = chain["gflops_per_s"] * 1e9
    res = {"commit": git_commit(), "modality": args.modality,
           "config_hash": config_hash(cfg), "seed": args.seed,
           "batch": cfg.sac.batch_size, "repeats": args.repeats, "ceiling": chain}
    for name, r in (("ours", o), ("sb3", b)):
        med = statistics.median(r["seconds"])
        res[name] = {"flops_per_update": r["flops_per_update"],
                     "update_ms_median": 1e3 * med,
                     "achieved_gflops_per_s": r["flops_per_update"] / med / 1e9,
                     "update_ms_at_ceiling": 1e3 * r["flops_per_update"] / rate,
                     "share_of_ceiling": r["flops_per_update"] / rate / med}
    res["ours"]["sample_ms_median"] = 1e3 * statistics.median(o["sample_seconds"])
    res["update_time_ratio_sb3_over_ours"] = (res["sb3"]["update_ms_median"]
                                              / res["ours"]["update_ms_median"])
    res["largest_reachable_update_ratio"] = (res["sb3"]["update_ms_median"]
                                             / res["ours"]["update_ms_at_ceiling"])
    emit(res, args.json)


if __name__ == "__main__":
    main()
