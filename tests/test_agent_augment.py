"""Random shift: an integer crop of the replicate-padded image, one shift per sample."""

import pytest
import torch
import torch.nn.functional as F

from robolabor.agents.augment import random_shift


def offsets_of(x, y, pad):
    """All (dy, dx) whose crop of the padded x equals y (x, y: (K, H, W))."""
    h, w = x.shape[-2:]
    p = F.pad(x[None], (pad,) * 4, mode="replicate")[0]
    return {(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
            if torch.equal(p[:, dy:dy + h, dx:dx + w], y)}


@pytest.mark.parametrize("shape", [(6, 3, 2, 10, 12), (6, 2, 10, 12)])
def test_shift_is_an_exact_crop_shared_by_all_frames_of_a_sample(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    y = random_shift(x, pad=4, generator=g)
    assert y.shape == x.shape and y.dtype == x.dtype
    found = []
    for b in range(shape[0]):
        xs, ys = x[b].reshape(-1, *shape[-2:]), y[b].reshape(-1, *shape[-2:])
        offs = offsets_of(xs, ys, 4)      # one offset explains every frame and channel
        assert len(offs) == 1
        found.append(offs.pop())
    assert len(set(found)) > 1            # samples draw their own shifts


def test_obs_and_next_obs_get_independent_shifts_and_pad_zero_is_identity():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 3, 16, 16, generator=g)
    assert not torch.equal(random_shift(x, generator=g), random_shift(x, generator=g))
    assert torch.equal(random_shift(x, pad=0), x)
    with pytest.raises(ValueError):
        random_shift(torch.rand(3, 16, 16))


def test_slice_and_gather_crops_agree():
    from robolabor.agents.augment import _crop_by_gather, _crop_by_slices
    g = torch.Generator().manual_seed(2)
    padded = torch.rand(7, 5, 18, 20, generator=g)
    off = torch.randint(0, 9, (2, 7), generator=g)
    assert torch.equal(_crop_by_slices(padded, off, 10, 12), _crop_by_gather(padded, off, 10, 12))
