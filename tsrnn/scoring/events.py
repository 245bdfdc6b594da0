"""Flagged rows → events: consecutive anomalous rows are one incident."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Event:
    """One incident: a run of consecutive anomalous rows of one series."""

    series: str
    start: str  # timestamp text of the first anomalous row
    end: str  # timestamp text of the last anomalous row
    rows: int  # anomalous rows in the event
    peak_time: str
    peak_score: float
    observed: list[float]  # values at the peak, per feature
    expected: list[float]  # the model's values at the peak, per feature
    column: str  # the feature furthest from its expected value at the peak, in scaled units

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_events(
    flags: np.ndarray,
    scores: np.ndarray,
    time_text: list[str],
    observed: np.ndarray,
    expected: np.ndarray,
    *,
    cooldown: int = 0,
    series: str = "",
    columns: list[str] | None = None,
    scale: np.ndarray | None = None,
) -> list[Event]:
    """Merge flagged rows (rows,) into events; observed/expected are (rows, features).

    An anomalous row within `cooldown` rows after an event's last anomalous row joins that event
    rather than starting a new one, so one incident that flickers raises one alert.
    """
    flagged = np.flatnonzero(flags)
    if flagged.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(flagged) > cooldown + 1)
    firsts = np.concatenate(([0], breaks + 1))
    lasts = np.concatenate((breaks, [flagged.size - 1]))
    events = []
    for i, j in zip(firsts, lasts):
        a, b = int(flagged[i]), int(flagged[j]) + 1  # rows [a, b) hold the event
        peak = a + int(np.argmax(scores[a:b]))
        off = np.abs(observed[peak] - expected[peak]) / (scale if scale is not None else 1.0)
        worst = int(np.argmax(np.nan_to_num(off, nan=-1.0)))
        events.append(
            Event(
                series=series,
                start=time_text[a],
                end=time_text[b - 1],
                rows=int(j - i + 1),
                peak_time=time_text[peak],
                peak_score=float(scores[peak]),
                observed=[float(v) for v in observed[peak]],
                expected=[float(v) for v in expected[peak]],
                column=columns[worst] if columns else str(worst),
            )
        )
    return events
