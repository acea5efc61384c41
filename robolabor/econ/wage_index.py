"""The human-wage benchmark w_h(t).

``w_h(t) = α·m(t) + (1 − α)·w_h(t−1)`` on *nominal* market observations m(t).
Real values divide by the *cumulative* price level ``Π(1 + π_i)``; nominal and
real are kept as separate series. The prototype divided the wage by ``(1 + π)``
at every update, so its benchmark fell as inflation rose; here inflation never
lowers the nominal index, it only changes how the nominal index is deflated.
"""

from __future__ import annotations

import csv
import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from robolabor.econ._checks import (
    EconInputError,
    as_float_array,
    check_nonneg,
    check_positive,
    scalar,
)

__all__ = ["WageIndexPath", "WageIndex", "wage_index", "price_level", "load_wage_csv",
           "random_walk_wages", "indexed_prices"]


def _alpha(alpha) -> float:
    a = scalar("alpha", alpha)
    if not 0 < a <= 1:
        raise EconInputError(f"alpha: must lie in (0, 1], got {a}")
    return a


def price_level(inflation, n: int | None = None, initial: float = 1.0) -> np.ndarray:
    """Cumulative price level after each period: ``initial·Π_{i≤t}(1 + π_i)``.

    ``inflation`` is a per-period rate, scalar (needs ``n``) or (T,); each π > −1.
    """
    pi = as_float_array("inflation", inflation)
    if pi.ndim == 0:
        if n is None:
            raise EconInputError("inflation: a scalar rate needs the number of periods n")
        pi = np.full(int(n), float(pi))
    elif n is not None and pi.shape[0] != n:
        raise EconInputError(f"inflation: expected a scalar or shape ({n},), got {pi.shape}")
    if pi.size and (pi <= -1).any():
        raise EconInputError(f"inflation: each rate must be > -1, got {pi[pi <= -1][0]!r}")
    init = scalar("initial", initial, sign=">0")
    return init * np.cumprod(1.0 + pi)


@dataclass(frozen=True)
class WageIndexPath:
    """Index after each observation; (T,) arrays. Nominal and real never mix."""

    nominal_observation: np.ndarray
    nominal: np.ndarray
    price_level: np.ndarray
    real: np.ndarray
    real_observation: np.ndarray
    alpha: float

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"nominal_observation": self.nominal_observation, "nominal": self.nominal,
                "price_level": self.price_level, "real": self.real,
                "real_observation": self.real_observation}


def wage_index(observations, inflation=0.0, alpha: float = 0.1,
               initial_wage: float | None = None) -> WageIndexPath:
    """EMA index of nominal market wages, vectorised with a first-order filter.

    observations: (T,) nominal wages > 0. inflation: per-period rate, scalar or
    (T,), realised between observations. initial_wage: w_h before the first
    observation (default: the first observation, so the index starts there).
    """
    m = check_positive("observations", as_float_array("observations", observations, ndim=(1,)))
    if m.shape[0] == 0:
        raise EconInputError("observations: need at least one market observation")
    a = _alpha(alpha)
    w0 = float(m[0]) if initial_wage is None else scalar("initial_wage", initial_wage, sign=">0")
    nominal, _ = lfilter([a], [1.0, -(1.0 - a)], m, zi=[(1.0 - a) * w0])
    level = price_level(inflation, n=m.shape[0])
    return WageIndexPath(nominal_observation=m, nominal=nominal, price_level=level,
                         real=nominal / level, real_observation=m / level, alpha=a)


class WageIndex:
    """Incremental form of ``wage_index`` for a training loop or the macro simulation.

    Call ``update(market_wage, inflation)`` each time a new observation arrives
    (every N episodes, or per month); ``nominal`` and ``real`` read the state.
    """

    def __init__(self, initial_wage: float = 18.0, alpha: float = 0.1,
                 initial_price_level: float = 1.0):
        self.alpha = _alpha(alpha)
        self._nominal = scalar("initial_wage", initial_wage, sign=">0")
        self._level = scalar("initial_price_level", initial_price_level, sign=">0")
        self.updates = 0

    @property
    def nominal(self) -> float:
        return self._nominal

    @property
    def price_level(self) -> float:
        return self._level

    @property
    def real(self) -> float:
        return self._nominal / self._level

    def update(self, market_wage: float, inflation: float = 0.0) -> float:
        """Blend in one nominal observation; accumulate the price level. Returns nominal w_h."""
        m = scalar("market_wage", market_wage, sign=">0")
        pi = scalar("inflation", inflation)
        if pi <= -1:
            raise EconInputError(f"inflation: must be > -1, got {pi}")
        self._nominal = self.alpha * m + (1.0 - self.alpha) * self._nominal
        self._level *= 1.0 + pi
        self.updates += 1
        return self._nominal


def load_wage_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``date,wage`` rows (ISO dates, strictly increasing; wages > 0, nominal $/h).

    Returns (dates as datetime64[D], wages). Every problem names the line.
    """
    p = Path(path)
    if not p.is_file():
        raise EconInputError(f"path: no wage file at {p}")
    dates: list[np.datetime64] = []
    wages: list[float] = []
    with p.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise EconInputError(f"{p}: empty file; expected a header 'date,wage'")
        if [h.strip().lower() for h in header] != ["date", "wage"]:
            raise EconInputError(f"{p}:1: header must be 'date,wage', got {','.join(header)!r}")
        for lineno, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2:
                raise EconInputError(f"{p}:{lineno}: expected 2 fields 'date,wage', got {row!r}")
            d_txt, w_txt = row[0].strip(), row[1].strip()
            try:
                d = np.datetime64(_dt.date.fromisoformat(d_txt), "D")
            except ValueError:
                raise EconInputError(f"{p}:{lineno}: date {d_txt!r} is not an ISO date "
                                     "(YYYY-MM-DD)") from None
            try:
                w = float(w_txt)
            except ValueError:
                raise EconInputError(f"{p}:{lineno}: wage {w_txt!r} is not a number") from None
            if not np.isfinite(w) or w <= 0:
                raise EconInputError(f"{p}:{lineno}: wage must be a finite number > 0, "
                                     f"got {w_txt!r}")
            if dates and d <= dates[-1]:
                raise EconInputError(f"{p}:{lineno}: date {d_txt} is not after the previous "
                                     f"date {dates[-1]}; rows must be strictly increasing")
            dates.append(d)
            wages.append(w)
    if not wages:
        raise EconInputError(f"{p}: no data rows after the header")
    return np.array(dates, dtype="datetime64[D]"), np.array(wages)


def random_walk_wages(n: int, initial: float = 18.0, drift: float = 0.03 / 12,
                      volatility: float = 0.01, seed: int = 0) -> np.ndarray:
    """Seeded geometric random walk of nominal market wages: ``log m`` steps by
    ``drift − σ²/2 + σ·z``, so ``E[m(t+1)/m(t)] = e^drift``."""
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise EconInputError(f"n: expected an integer >= 1, got {n!r}")
    m0 = scalar("initial", initial, sign=">0")
    mu = scalar("drift", drift)
    sigma = scalar("volatility", volatility, sign=">=0")
    rng = np.random.default_rng(seed)
    steps = mu - 0.5 * sigma**2 + sigma * rng.standard_normal(int(n) - 1)
    return m0 * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


def indexed_prices(prices, level) -> np.ndarray:
    """Output prices ``p_k`` following the sector price level, (T, K), so parity
    compares nominal output value with a nominal wage."""
    p = np.atleast_1d(check_nonneg("prices", as_float_array("prices", prices)))
    lv = check_positive("level", as_float_array("level", level, ndim=(1,)))
    return lv[:, None] * p[None, :]
