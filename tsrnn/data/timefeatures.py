"""Time-of-day and day-of-week as model inputs (numpy only: training and watch share it).

Each period adds two inputs, sin and cos of the phase of the row's timestamp (UTC) in that
period, so midnight and the minute before it are neighbours. A model that reads them can learn
a daily or weekly rhythm from a few periods of history, and forecast it.
"""

from __future__ import annotations

import numpy as np

PERIODS = {"day": 86_400.0, "week": 604_800.0}


def periods(spec: str) -> list[float]:
    return [] if spec == "none" else [PERIODS[p] for p in spec.split("+")]


def count(spec: str) -> int:
    """Inputs the spec adds."""
    return 2 * len(periods(spec))


def time_features(times: np.ndarray, spec: str) -> np.ndarray:
    """times (rows,) datetime64 → (rows, count(spec)) float32."""
    seconds = np.asarray(times).astype("datetime64[us]").astype(np.int64) / 1e6
    cols = []
    for period in periods(spec):
        phase = 2.0 * np.pi * np.mod(seconds, period) / period
        cols += [np.sin(phase), np.cos(phase)]
    return np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((len(seconds), 0), np.float32)
