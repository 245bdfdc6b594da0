"""Events: incidents grouped into what pages someone, with a cooldown, a minimum duration and the peak.

The detector marks each row of an incident anomalous (from its first flagged row until its columns
are back to normal); anomalous rows within `cooldown` rows of an event's last anomalous row join
it, so an incident that pauses and resumes pages once. An event needs `min_duration` flagged rows
to be an alert; the row where it gets them raised the alert. Each event keeps its extent (start,
end, rows), the columns that fired in it, and its peak: the row with the highest score, the
channel that fired there and by how much, and the column furthest from normal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Event:
    """One incident of one series: a run of flagged rows no more than `cooldown` rows apart."""

    series: str
    start: str  # timestamp text of the first anomalous row
    end: str  # timestamp text of the last anomalous row
    rows: int  # anomalous rows in the event (its extent; gaps shorter than the cooldown between incidents not counted)
    peak_time: str
    peak_score: float
    observed: list[float]  # values at the peak, per column
    expected: list[float]  # the model's values at the peak, per column (NaN without a forecast)
    column: str  # the column furthest from normal at the peak, for the channel that fired
    channel: str = "forecast"  # forecast | novelty | range: what lifted the peak's score
    # how far: forecast, novelty: the channel's value / its running 99th percentile; range: the excess / the range's
    # width
    ratio: float = 0.0
    ongoing: bool = False  # still open at the end of the run (its cooldown has not passed)
    continued: bool = False  # began in an earlier run (reported then); not a new alert
    flagged: int = 0  # rows whose score reached the threshold (min_duration counts these)
    columns: list[str] = field(default_factory=list)  # every column that fired in the event, in the model's order
    seconds: float | None = None  # from start to end (None when the rows' times are not known)
    around: list[float] = field(default_factory=list)  # the scores of up to 5 rows each side of the peak, as scored

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
    flagged: int = 0
    columns: list[int] = field(default_factory=list)  # indexes of the columns that fired
    start_us: int | None = None  # times of the first and last anomalous rows, microseconds since the epoch
    end_us: int | None = None

    def close(self, *, ongoing: bool, names: list[str] | None = None) -> Event:
        p = self.peak
        seconds = (self.end_us - self.start_us) / 1e6 if self.start_us is not None and self.end_us is not None else None
        labels = [names[c] if names and c < len(names) else str(c) for c in sorted(self.columns)]
        return Event(
            self.series,
            self.start,
            self.end,
            self.rows,
            p.time,
            p.score,
            p.observed,
            p.expected,
            p.column,
            p.channel,
            p.ratio,
            ongoing,
            self.continued,
            self.flagged,
            labels,
            seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenEvent:
        names = {f.name for f in fields(Peak)}
        peak = Peak(**{k: v for k, v in data["peak"].items() if k in names})
        return cls(
            data["series"],
            data["start"],
            data["end"],
            int(data["rows"]),
            int(data["first_row"]),
            int(data["last_row"]),
            peak,
            bool(data.get("continued", False)),
            int(data.get("flagged", data["rows"])),
            [int(c) for c in data.get("columns", [])],
            data.get("start_us"),
            data.get("end_us"),
        )


def group(
    event: OpenEvent | None,
    anomaly: np.ndarray,
    flagged: np.ndarray,
    score: np.ndarray,
    *,
    offset: int,
    cooldown: int,
    min_duration: int,
    series: str,
    time_text: list[str],
    peak_of: Callable[[int], Peak],
    fired: np.ndarray | None = None,
    columns: list[str] | None = None,
    times_us: np.ndarray | None = None,
) -> tuple[OpenEvent | None, list[Event], np.ndarray, np.ndarray]:
    """Fold anomalous rows into events.

    anomaly, flagged, score (rows,) of rows offset .. offset + rows - 1 of the series; fired
    (rows, columns) bool: which columns fired; `peak_of(i)` → Peak for row i; times_us (rows,)
    int64 or None. → (the event still open, events that ended, suppressed (rows,) bool: rows of an
    event after its first, up to the cooldown after its last anomalous row: the alert has fired,
    and a second one for the same incident is noise; alert (rows,) bool: where an event reached
    `min_duration` flagged rows, unless it began in an earlier run and was reported then).
    """
    n = anomaly.shape[0]
    ended: list[Event] = []
    suppressed = np.zeros(n, bool)
    alert = np.zeros(n, bool)
    for i in np.flatnonzero(anomaly):
        at = offset + int(i)
        if event is None or at - event.last_row > cooldown + 1:
            if event is not None:
                _mute(suppressed, event, offset, cooldown)
                if event.flagged >= min_duration:
                    ended.append(event.close(ongoing=False, names=columns))
            event = OpenEvent(series, time_text[i], time_text[i], 0, at, at, peak_of(int(i)))
            event.start_us = int(times_us[i]) if times_us is not None else None
        event.rows += 1
        event.end, event.last_row = time_text[i], at
        event.end_us = int(times_us[i]) if times_us is not None else None
        if score[i] > event.peak.score:
            event.peak = peak_of(int(i))
        if flagged[i]:
            event.flagged += 1
            if event.flagged == min_duration and not event.continued:
                alert[i] = True
            if fired is not None:
                event.columns = sorted(set(event.columns) | {int(c) for c in np.flatnonzero(fired[i])})
    if event is not None:
        _mute(suppressed, event, offset, cooldown)
        if offset + n - 1 - event.last_row > cooldown:  # the cooldown passed: the event is over
            if event.flagged >= min_duration:
                ended.append(event.close(ongoing=False, names=columns))
            event = None
    return event, ended, suppressed, alert


def _mute(suppressed: np.ndarray, event: OpenEvent, offset: int, cooldown: int) -> None:
    suppressed[max(0, event.first_row + 1 - offset) : max(0, event.last_row + cooldown + 1 - offset)] = True
