"""Parameters and CPU/GPU cost of every video encoder (``list_encoders``).

    python benchmarks/encoders.py [--batch 64] [--device cpu] [--variants] [--json]

``--variants`` adds the pixel encoder's design choices: DrQ's strides
(2, 1, 1, 1) against the default (2, 2, 1, 1), and 8 frames against the
newest 3. Timings use one thread unless ``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
import json

import torch

from robolabor.agents.video_encoders import (
    ENCODER_TYPES,
    PixelEncoder,
    list_encoders,
    measure_encoder,
)


def pixel_variants(obs_shape, batch, device, repeats) -> list[dict]:
    rows = []
    for strides in ((2, 1, 1, 1), (2, 2, 1, 1)):
        for frames in (obs_shape[0], 3):
            enc = PixelEncoder(obs_shape, 128, frames=frames, strides=strides)
            rows.append({"name": f"pixel strides={strides} frames={frames}",
                         **measure_encoder(enc, obs_shape, batch, device, repeats)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="frame height and width")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--names", nargs="+", default=list(ENCODER_TYPES), choices=ENCODER_TYPES)
    parser.add_argument("--r3d18-cpu-batch", type=int, default=2)
    parser.add_argument("--variants", action="store_true", help="also time pixel variants")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    obs_shape = (args.frames, 3, args.size, args.size)
    rows = list_encoders(obs_shape, args.batch, args.names, args.device, args.repeats,
                         args.r3d18_cpu_batch)
    if args.variants:
        rows += pixel_variants(obs_shape, args.batch, args.device, args.repeats)
    if args.json:
        print(json.dumps({"obs_shape": obs_shape, "batch": args.batch, "device": args.device,
                          "threads": args.threads, "encoders": rows}))
        return
    print(f"obs {obs_shape}, batch {args.batch}, {args.device}, {args.threads} thread(s)")
    print(f"{'encoder':<38}{'params':>12}{'batch':>7}{'fwd ms':>10}{'fwd+bwd ms':>12}"
          f"{'ms/sample':>11}  note")
    for r in rows:
        print(f"{r['name']:<38}{r['params']:>12,}{r['batch']:>7}{r['forward_ms']:>10.1f}"
              f"{r['forward_backward_ms']:>12.1f}{r['forward_ms_per_sample']:>11.3f}  "
              f"{r.get('note', '')}")


if __name__ == "__main__":
    main()
