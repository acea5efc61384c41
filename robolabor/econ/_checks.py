"""Input checks shared by the economics modules.

Every public function in ``robolabor.econ`` validates its arrays here, so a NaN,
a negative count or a mismatched shape fails loudly with the argument's name
instead of producing a plausible-looking number (the prototype silently turned
``hours <= 0`` into MP = 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class EconInputError(ValueError):
    """An economics input is NaN, infinite, negative, mis-shaped or otherwise invalid."""


def as_float_array(name: str, x, *, ndim: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """``x`` as a float64 array with one of the allowed numbers of dimensions."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EconInputError(f"{name}: not numeric ({exc})") from None
    if arr.ndim not in ndim:
        raise EconInputError(f"{name}: expected {' or '.join(f'{d}-d' for d in ndim)} data, "
                             f"got shape {arr.shape}")
    if arr.size and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.ravel()))[0]
        raise EconInputError(f"{name}: must be finite, got {arr.ravel()[bad]!r} "
                             f"at flat index {bad}")
    return arr


def check_nonneg(name: str, arr: np.ndarray) -> np.ndarray:
    if arr.size and (arr < 0).any():
        bad = np.flatnonzero(arr.ravel() < 0)[0]
        raise EconInputError(f"{name}: must be >= 0, got {arr.ravel()[bad]!r} at flat index {bad}")
    return arr


def check_positive(name: str, arr: np.ndarray) -> np.ndarray:
    if arr.size and (arr <= 0).any():
        bad = np.flatnonzero(arr.ravel() <= 0)[0]
        raise EconInputError(f"{name}: must be > 0, got {arr.ravel()[bad]!r} at flat index {bad}")
    return arr


def check_unit_interval(name: str, arr: np.ndarray) -> np.ndarray:
    if arr.size and ((arr < 0) | (arr > 1)).any():
        bad = np.flatnonzero((arr.ravel() < 0) | (arr.ravel() > 1))[0]
        raise EconInputError(f"{name}: must lie in [0, 1], got {arr.ravel()[bad]!r} "
                             f"at flat index {bad}")
    return arr


def per_window(name: str, x, n: int, *, sign: str = "any") -> np.ndarray:
    """A scalar or (n,) argument broadcast to (n,), checked for ``sign`` ('any', '>=0', '>0')."""
    arr = as_float_array(name, x)
    if arr.ndim == 1 and arr.shape[0] != n:
        raise EconInputError(f"{name}: expected a scalar or shape ({n},), got shape {arr.shape}")
    if sign == ">=0":
        check_nonneg(name, arr)
    elif sign == ">0":
        check_positive(name, arr)
    elif sign == "[0,1]":
        check_unit_interval(name, arr)
    return np.full(n, float(arr)) if arr.ndim == 0 else arr


def scalar(name: str, x, *, sign: str = "any") -> float:
    """A finite Python float, checked for ``sign``."""
    arr = as_float_array(name, x, ndim=(0,))
    per_window(name, arr, 1, sign=sign)
    return float(arr)


def clipped_share(num_name: str, num, den_name: str, den) -> np.ndarray:
    """``clip(num / den, 0, 1)`` where ``den > 0``, else 0, elementwise after
    broadcasting: a share of a positive whole, and no share of none (no fudge term in
    the denominator)."""
    n = as_float_array(num_name, num)
    d = as_float_array(den_name, den)
    try:
        n, d = np.broadcast_arrays(n, d)
    except ValueError:
        raise EconInputError(f"{num_name}: shape {n.shape} does not broadcast with "
                             f"{den_name}'s shape {d.shape}") from None
    with np.errstate(over="ignore"):  # a tiny whole: the ratio overflows, then clips
        return np.clip(np.divide(n, d, out=np.zeros(d.shape), where=d > 0), 0.0, 1.0)


def save_figure(fig, path) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure; returns the path."""
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
