"""What a watch run found: the tally of scored rows (bounded memory) and the typed result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tsrnn.export.metadata import ModelMetadata
from tsrnn.scoring.events import Event
from tsrnn.scoring.types import DetectorSettings


class Tally:
    """What a run scored, in bounded memory: counts, extremes and a fixed-size trace of scores."""

    TRACE = 120  # the trace keeps between TRACE and 2 * TRACE bucket maxima

    def __init__(self) -> None:
        self.rows = self.warmup = self.anomalous = 0
        self.max_score: float | None = None
        self._first: tuple[np.datetime64, str] | None = None  # (time, its text as written) of the earliest row
        self._last: tuple[np.datetime64, str] | None = None
        self.series: set[str] = set()
        self.events: list[Event] = []
        self._trace: list[float] = []  # maxima of `_bucket` consecutive scored rows
        self._bucket, self._fill = 1, 0

    def add(
        self,
        series: str,
        times: np.ndarray,
        time_text: list[str],
        scores: np.ndarray,
        anomaly: np.ndarray,
        warmup: np.ndarray,
    ) -> None:
        """One segment's scored rows; `times` (datetime64) are in order, so its ends are its extremes."""
        if not scores.size:
            return
        self.rows += int(scores.size)
        self.warmup += int(warmup.sum())
        self.anomalous += int(anomaly.sum())
        top = float(scores.max())
        self.max_score = top if self.max_score is None else max(self.max_score, top)
        if self._first is None or times[0] < self._first[0]:
            self._first = (times[0], time_text[0])
        if self._last is None or times[-1] > self._last[0]:
            self._last = (times[-1], time_text[-1])
        self.series.add(series)
        i = 0
        while i < scores.size:  # fill the open bucket; when the trace is full, merge pairs of buckets
            if self._fill == 0:
                self._trace.append(0.0)
            take = min(self._bucket - self._fill, scores.size - i)
            self._trace[-1] = max(self._trace[-1], float(scores[i : i + take].max()))
            self._fill = (self._fill + take) % self._bucket
            i += take
            if self._fill == 0 and len(self._trace) >= 2 * self.TRACE:
                self._trace = [max(a, b) for a, b in zip(self._trace[::2], self._trace[1::2])]
                self._bucket *= 2

    @property
    def first_time(self) -> str | None:
        return self._first[1] if self._first else None

    @property
    def last_time(self) -> str | None:
        return self._last[1] if self._last else None

    @property
    def trace(self) -> np.ndarray:
        """Scores in the order they were scored, as maxima of equal buckets of rows."""
        return np.asarray(self._trace)


@dataclass
class WatchResult:
    """What one watch run scored and found (per-row scores go to --scores-out, not here)."""

    source: str
    model: str
    provider: str
    requested_provider: str
    metadata: ModelMetadata
    settings: DetectorSettings
    tally: Tally
    dropped: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    state: str | None = None
    shard: str | None = None  # "i/n" with --shard
    other_shards: int = 0  # rows of series in other shards, not scored

    def sharded(self, shard: str | None, other_shards: int) -> WatchResult:
        self.shard, self.other_shards = shard, other_shards
        return self

    @property
    def rows(self) -> int:
        return self.tally.rows

    @property
    def events(self) -> list[Event]:
        return self.tally.events

    @property
    def alerts(self) -> list[Event]:
        """Events that began in this run; one reported by an earlier run is not a new alert."""
        return [e for e in self.tally.events if not e.continued]

    def summary(self) -> dict[str, Any]:
        """The same as to_dict() (the name earlier releases used)."""
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the document `--json` prints)."""
        t = self.tally
        return {
            "source": self.source,
            "model": self.model,
            "run": self.metadata.run_name,
            "kind": self.metadata.kind,
            "columns": self.metadata.value_columns,
            "provider": self.provider,
            "requested_provider": self.requested_provider,
            "series": len(t.series),
            "rows_scored": t.rows,
            "warmup_rows": t.warmup,
            "rows_dropped": self.dropped,
            "shard": self.shard,
            "rows_other_shards": self.other_shards,
            "filled": self.filled,
            "anomalous_rows": t.anomalous,
            "alerts": len(self.alerts),
            "events": [e.to_dict() for e in t.events],
            "max_score": t.max_score,
            "threshold": self.settings.threshold,
            "threshold_method": self.settings.method,
            "channels": list(self.settings.channels),
            "cooldown": self.settings.cooldown,
            "first_time": t.first_time,
            "last_time": t.last_time,
            "state": self.state,
            "notes": self.notes,
        }


@dataclass
class FollowResult:
    """What `watch --follow` did over its passes."""

    source: str
    model: str
    passes: int = 0
    rows: int = 0
    alerts: list[Event] = field(default_factory=list)  # events that began during the follow
    restarts: int = 0  # times the file was rotated or truncated and read again from its start
    other_shards: int = 0  # rows of series in other shards (--shard), not scored
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the document `watch --follow --json` prints)."""
        return {
            "source": self.source,
            "model": self.model,
            "passes": self.passes,
            "rows_scored": self.rows,
            "rows_other_shards": self.other_shards,
            "restarts": self.restarts,
            "events": [e.to_dict() for e in self.alerts],
            "notes": self.notes,
        }
