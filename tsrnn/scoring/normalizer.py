"""The normalizer: each channel's raw value divided by its own running tail quantile.

A channel's values (errors, distances) are counted in a histogram of log-spaced bins that starts
from what training saw (the channel's prior) and forgets with a time constant of `memory` rows,
so a series whose normal level drifts finds its new normal. The scale in use, the histogram's
`quantile` (the 99th percentile by default), is refreshed every BLOCK rows of the series' own
row count: a row is scored with statistics of the rows before its block, and feeding rows in any
increments gives the same scores as feeding them at once. r = value / scale is comparable across
channels (1 is "as large as the 1 % largest normal values"), so channels fuse by max, and the
score r / (1 + r) stays below 1, so a threshold sweep still tells large from huge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsrnn.encoding import pack_sparse, unpack_sparse

PER_DECADE = 16
LOW_DECADE = -7  # values are in scaled units; bins cover 1e-7 .. 1e5
BINS = PER_DECADE * 12
BLOCK = 256  # rows between refreshes of the scale (and of the threshold)
FLOOR = 1e-6  # the smallest scale: a channel that was always 0 still divides by something


def value_bins(values: np.ndarray) -> np.ndarray:
    """Histogram bin of each (finite, non-negative) value."""
    logs = np.log10(np.maximum(values, 10.0**LOW_DECADE))
    bins = ((logs - LOW_DECADE) * PER_DECADE).astype(np.int64)
    return np.minimum(np.maximum(bins, 0, out=bins), BINS - 1, out=bins)  # np.clip's, without its wrapper


def histogram(values: np.ndarray) -> np.ndarray:
    """(BINS,) counts of the finite values."""
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return np.bincount(value_bins(finite), minlength=BINS).astype(np.float64)


def hist_quantile(counts: np.ndarray, q: float) -> float:
    """The q-quantile of a histogram, interpolated log-linearly inside its bin (FLOOR if empty)."""
    total = float(counts.sum())
    if total <= 0:
        return FLOOR
    cum = np.cumsum(counts)
    target = q * total
    i = min(int(np.searchsorted(cum, target)), BINS - 1)
    below = float(cum[i - 1]) if i else 0.0
    frac = (target - below) / counts[i] if counts[i] > 0 else 1.0
    return max(10.0 ** (LOW_DECADE + (i + min(max(frac, 0.0), 1.0)) / PER_DECADE), FLOOR)


def bin_centers() -> np.ndarray:
    """(BINS,) the value at the middle of each bin (log scale)."""
    return 10.0 ** (LOW_DECADE + (np.arange(BINS) + 0.5) / PER_DECADE)


def to_ratio(score: float) -> float:
    """Score in [0, 1) → ratio (math.inf for 1)."""
    return score / (1.0 - score) if score < 1.0 else math.inf


@dataclass
class RunningScale:
    """One channel's running tail quantile: decayed counts, counts since the refresh, the scale."""

    hist: np.ndarray  # (BINS,) decayed counts up to the last refresh
    pending: np.ndarray  # (BINS,) counts since the last refresh (whole numbers)
    scale: float

    @classmethod
    def start(cls, prior: np.ndarray, memory: int, quantile: float) -> RunningScale:
        """From the prior histogram, weighted at most `memory` rows."""
        weight = float(prior.sum())
        hist = prior * (min(1.0, memory / weight) if weight > 0 else 0.0)
        return cls(hist, np.zeros(BINS), hist_quantile(hist, quantile))

    def learn(self, values: np.ndarray) -> None:
        """Count finite values (they change the scale at the next refresh, not before)."""
        if values.size:
            self.pending += np.bincount(value_bins(values), minlength=BINS)

    def refresh(self, decay: float, quantile: float) -> None:
        self.hist = self.hist * decay + self.pending
        self.pending = np.zeros(BINS)
        self.scale = hist_quantile(self.hist, quantile)

    def to_dict(self) -> dict[str, Any]:
        return {"hist": pack_sparse(self.hist), "pending": pack_sparse(self.pending), "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunningScale:
        return cls(unpack_sparse(data["hist"], BINS), unpack_sparse(data["pending"], BINS), float(data["scale"]))


def ewma(r: np.ndarray, ok: np.ndarray, alpha: float, carry: float | None) -> np.ndarray:
    """Exponentially weighted mean of the ratio over valid rows, from the carry before them
    (row by row in closed form: y_k = (1-a)^(k+1) y_-1 + a * sum_j (1-a)^(k-j) x_j)."""
    out = np.zeros_like(r)
    x = r[ok]
    if x.size == 0:
        return out
    keep = 1.0 - alpha
    step = max(1, int(6 * math.log(10) / -math.log(keep)))  # keep**-step stays below 1e6: no loss of precision
    prev = carry if carry is not None else float(x[0])
    y = np.empty_like(x)
    for a in range(0, x.size, step):
        part = x[a : a + step]
        powers = keep ** np.arange(part.size)
        y[a : a + step] = keep * powers * prev + alpha * np.cumsum(part / powers) * powers
        prev = float(y[a + part.size - 1])
    out[ok] = y
    return out
