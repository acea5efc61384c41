"""DrQ-style random shift: replicate-pad by ``pad`` pixels, crop back at a random offset.

Small translations are the augmentation that made pixel SAC work (DrQ): the
critic can no longer fit single pixels. All frames of one sample get the SAME
shift (a stack must stay aligned in time); each sample draws its own. Integer
crops by two ``gather`` calls: exact, no interpolation, one path on CPU and GPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(x: torch.Tensor, pad: int = 4,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift float images ``(B, T, C, H, W)`` or ``(B, C, H, W)`` by up to ``pad`` pixels."""
    if x.dim() not in (4, 5):
        raise ValueError(f"random_shift expects (B, C, H, W) or (B, T, C, H, W), "
                         f"got {tuple(x.shape)}")
    if pad == 0:
        return x
    shape = x.shape
    b, h, w = shape[0], shape[-2], shape[-1]
    flat = x.reshape(b, -1, h, w)
    padded = F.pad(flat, (pad, pad, pad, pad), mode="replicate")  # (B, K, H+2p, W+2p)
    off = torch.randint(0, 2 * pad + 1, (2, b, 1, 1, 1), device=x.device, generator=generator)
    k = flat.shape[1]
    rows = (off[0] + torch.arange(h, device=x.device).view(1, 1, h, 1))   # (B, 1, H, 1)
    cols = (off[1] + torch.arange(w, device=x.device).view(1, 1, 1, w))   # (B, 1, 1, W)
    out = padded.gather(2, rows.expand(b, k, h, padded.shape[-1]))
    out = out.gather(3, cols.expand(b, k, h, w))
    return out.reshape(shape)
