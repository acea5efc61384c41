"""The one t-interval of the economics: a mean with its confidence interval."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["mean_interval"]


def mean_interval(x, confidence: float = 0.95, axis: int = 0):
    """``(mean, low, high, se)`` of ``x`` along ``axis``: ``x̄ ± t_{(1+c)/2, n−1}·s/√n`` with
    ``s`` the sample standard deviation (ddof 1). Floats for 1-d input, arrays otherwise."""
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    m = x.mean(axis=axis)
    se = x.std(axis=axis, ddof=1) / np.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * se
    if np.ndim(m) == 0:
        return float(m), float(m - half), float(m + half), float(se)
    return m, m - half, m + half, se
