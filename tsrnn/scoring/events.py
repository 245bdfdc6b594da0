"""Events: flagged rows grouped into incidents, with a cooldown, a minimum duration and the peak.

Flagged rows within `cooldown` rows of an event's last flagged row join it; an event needs
`min_duration` flagged rows to be an alert. Each event keeps its peak: the row with the highest
score, the channel that fired there and by how much, and the column furthest from normal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Event:
    """One incident of one series: a run of flagged rows no more than `cooldown` rows apart."""

    series: str
    start: str  # timestamp text of the first flagged row
    end: str  # timestamp text of the last flagged row
    rows: int  # flagged rows in the event
    peak_time: str
    peak_score: float
    observed: list[float]  # values at the peak, per column
    expected: list[float]  # the model's values at the peak, per column (NaN without a forecast)
    column: str  # the column furthest from normal at the peak, for the channel that fired
    channel: str = "forecast"  # forecast | novelty | range: what lifted the peak's score
    ratio: float = 0.0  # how far: forecast, novelty: the channel's value / its running 99th percentile; range: the excess / the range's width
    ongoing: bool = False  # still open at the end of the run (its cooldown has not passed)
    continued: bool = False  # began in an earlier run (reported then); not a new alert

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Peak:
    """What an event says about its highest row."""

    score: float
    time: str
    observed: list[float]
    expected: list[float]
    column: str
    channel: str
    ratio: float


@dataclass
class OpenEvent:
    """An event that may still grow: rows are counted in the series' own row numbers."""

    series: str
    start: str
    end: str
    rows: int
    first_row: int
    last_row: int
    peak: Peak
    continued: bool = False

    def close(self, *, ongoing: bool) -> Event:
        p = self.peak
        return Event(self.series, self.start, self.end, self.rows, p.time, p.score, p.observed, p.expected, p.column, p.channel, p.ratio,
                     ongoing, self.continued)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenEvent:
        names = {f.name for f in fields(Peak)}
        peak = Peak(**{k: v for k, v in data["peak"].items() if k in names})
        return cls(data["series"], data["start"], data["end"], int(data["rows"]), int(data["first_row"]), int(data["last_row"]), peak,
                   bool(data.get("continued", False)))


def group(
    event: OpenEvent | None,
    flagged: np.ndarray,
    score: np.ndarray,
    *,
    offset: int,
    cooldown: int,
    min_duration: int,
    series: str,
    time_text: list[str],
    peak_of: Callable[[int], Peak],
) -> tuple[OpenEvent | None, list[Event], np.ndarray]:
    """Fold flagged rows into events.

    flagged, score (rows,) of rows offset .. offset + rows - 1 of the series; `peak_of(i)` → Peak
    for row i. → (the event still open, events that
    ended, suppressed (rows,) bool: rows of an incident after its first, up to the cooldown after
    its last flagged row: the alert has fired, and a second one for the same incident is noise).
    """
    n = flagged.shape[0]
    ended: list[Event] = []
    suppressed = np.zeros(n, bool)
    for i in np.flatnonzero(flagged):
        at = offset + int(i)
        if event is not None and at - event.last_row <= cooldown + 1:
            event.rows += 1
            event.end, event.last_row = time_text[i], at
            if score[i] > event.peak.score:
                event.peak = peak_of(int(i))
        else:
            if event is not None:
                _mute(suppressed, event, offset, cooldown)
                if event.rows >= min_duration:
                    ended.append(event.close(ongoing=False))
            event = OpenEvent(series, time_text[i], time_text[i], 1, at, at, peak_of(int(i)))
    if event is not None:
        _mute(suppressed, event, offset, cooldown)
        if offset + n - 1 - event.last_row > cooldown:  # the cooldown passed: the event is over
            if event.rows >= min_duration:
                ended.append(event.close(ongoing=False))
            event = None
    return event, ended, suppressed


def _mute(suppressed: np.ndarray, event: OpenEvent, offset: int, cooldown: int) -> None:
    suppressed[max(0, event.first_row + 1 - offset) : max(0, event.last_row + cooldown + 1 - offset)] = True
