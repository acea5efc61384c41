"""DrQ-style random shift: replicate-pad by ``pad`` pixels, crop back at a random offset.

Small translations are the augmentation that made pixel SAC work (DrQ): the
critic can no longer fit single pixels. All frames of one sample get the SAME
shift (a stack must stay aligned in time); each sample draws its own. Integer
crops, exact, no interpolation. Two ways to cut the same crops from the same
draws: on a CPU one slice copy per sample (an index gather is slow there: it
was the largest single cost of a pixel update in a profile), on a GPU two
``gather`` calls (no host sync, no per-sample launches). A test holds them equal.
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
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    flat = x.reshape(b, -1, h, w)
    padded = F.pad(flat, (pad, pad, pad, pad), mode="replicate")  # (B, K, H+2p, W+2p)
    off = torch.randint(0, 2 * pad + 1, (2, b), device=x.device, generator=generator)
    crop = _crop_by_slices if x.device.type == "cpu" else _crop_by_gather
    return crop(padded, off, h, w).reshape(x.shape)


def _crop_by_slices(padded: torch.Tensor, off: torch.Tensor, h: int, w: int) -> torch.Tensor:
    out = padded.new_empty(padded.shape[:2] + (h, w))
    for i, (dy, dx) in enumerate(off.t().tolist()):
        out[i] = padded[i, :, dy:dy + h, dx:dx + w]
    return out


def _crop_by_gather(padded: torch.Tensor, off: torch.Tensor, h: int, w: int) -> torch.Tensor:
    b, k = padded.shape[:2]
    ar_h = torch.arange(h, device=padded.device)
    ar_w = torch.arange(w, device=padded.device)
    rows = off[0].view(b, 1, 1, 1) + ar_h.view(1, 1, h, 1)   # (B, 1, H, 1)
    cols = off[1].view(b, 1, 1, 1) + ar_w.view(1, 1, 1, w)   # (B, 1, 1, W)
    out = padded.gather(2, rows.expand(b, k, h, padded.shape[-1]))
    return out.gather(3, cols.expand(b, k, h, w))
