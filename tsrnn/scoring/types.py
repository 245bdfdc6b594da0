"""What goes into the detector and what comes out: its settings, a stretch of rows, what it found,
and an open incident (numpy only)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tsrnn.encoding import pack, pack_sparse, unpack, unpack_sparse
from tsrnn.scoring.channels import CHANNELS
from tsrnn.scoring.events import Event
from tsrnn.scoring.normalizer import BINS, BLOCK

DEFAULT_THRESHOLD = 0.70  # measured on NAB (benchmarks/nab.py): the fused score that flags a row


@dataclass(frozen=True)
class DetectorSettings:
    """How channel values become scores, incidents and events; the model stores them, watch can override."""

    threshold: float = (
        DEFAULT_THRESHOLD  # fixed: the score at or above which a column fires; the other methods start there
    )
    quantile: float = 0.99  # the running tail quantile that each channel is divided by
    memory: int = 10_000  # rows: the time constant of the running quantiles
    # incidents within this many rows of an event's end join it (and score 0 in alert_score); trained models store their
    # own
    cooldown: int = 24
    min_duration: int = 1  # flagged rows an event needs to be an alert
    warmup: int = 0  # rows from a fresh model state before its errors mean anything
    method: str = "fixed"  # thresholds.METHODS
    level_quantile: float = 0.999  # quantile: of the validation ratios
    risk: float = 1e-4  # pot: the false-alarm probability per row
    window: int = 1024  # dynamic: rows of ratios the threshold looks at
    smooth: int = 0  # span (rows) of an exponentially weighted mean of the fused ratio; 0: none
    channels: tuple[str, ...] = CHANNELS  # which channels are fused
    range_tolerance: float = 0.1  # range: a value this fraction of the seen span beyond it is out of range
    range_floor: float = 0.9  # range: the score a value out of range lifts its column to
    history_rows: int = 0  # novelty, range: rows a series must have shown (its history's included) before they flag
    release: float = 0.5  # a column of an incident is back to normal after `hold` rows with its score below this
    hold: int = 10  # rows
    accept_after: int = 1000  # rows after which an incident that goes on is accepted as the new normal; 0: never
    freeze: str = "column"  # FREEZE_SCOPES: what an open incident keeps from learning

    @property
    def decay(self) -> float:
        return math.exp(-BLOCK / self.memory)


@dataclass
class Detected:
    """What one call of `SeriesDetector.score` found for a stretch of one series' rows."""

    scores: np.ndarray  # (rows,) each row's own fused score in [0, 1); 0 where no channel has a value
    alert_scores: np.ndarray  # (rows,) the same, 0 on an event's rows after its first (what a pager, and NAB, sees)
    flagged: np.ndarray  # (rows,) bool: a column's score reached the threshold
    anomaly: np.ndarray  # (rows,) bool: the row is inside an incident (from its first flagged row to its end)
    alert: np.ndarray  # (rows,) bool: the row raised an alert (an event reached its min_duration flagged rows here)
    warmup: np.ndarray  # (rows,) bool: no channel had a value yet
    channel_scores: dict[
        str, np.ndarray
    ]  # per channel (rows,): its largest column's r / (1 + r); range: the floor where it fired
    events: list[Event] = field(default_factory=list)  # alerts that closed in these rows


@dataclass
class Inputs:
    """One stretch of a series' rows as the detector meets them."""

    values: np.ndarray  # (rows, features) raw
    scaled: np.ndarray  # (rows, features) by the model's scaler
    error: (
        np.ndarray | None
        # (rows, features) or (rows, 1) joint: the forecast channel's values, NaN where the model has none yet; None: no
        # forecast channel
    )
    expected: np.ndarray  # (rows, features) the model's values (NaN without)
    novelty: np.ndarray | None = (
        None  # (rows, 1): a novelty value computed elsewhere (an autoencoder's error); None: kNN here
    )
    time_text: list[str] = field(default_factory=list)  # the rows' timestamps as written
    times_us: np.ndarray | None = None  # (rows,) int64 microseconds since the epoch, for events' durations


@dataclass
class Incident:
    """An open incident: its columns (those that fired and have not gone quiet since), how long
    each has been quiet, its length, and what its columns' rows would have taught the channels,
    held back until each column leaves it (then learned: the incident is over, and it is history)."""

    active: np.ndarray  # (features,) bool
    quiet: np.ndarray  # (features,) int: rows in a row with the column's score below release
    rows: int = 0
    held: np.ndarray | None = None  # (features,) int: rows held back per column
    low: np.ndarray | None = None  # (features,) the held rows' range per column
    high: np.ndarray | None = None
    pending: dict[str, np.ndarray] = field(default_factory=dict)  # ratio channel → (columns or 1, BINS) held counts

    @classmethod
    def open(cls, features: int) -> Incident:
        return cls(
            np.zeros(features, bool),
            np.zeros(features, np.int64),
            0,
            np.zeros(features, np.int64),
            np.full(features, np.inf),
            np.full(features, -np.inf),
        )

    def to_dict(self) -> dict[str, Any]:
        assert self.held is not None and self.low is not None and self.high is not None  # set by open/from_dict
        return {
            "active": np.flatnonzero(self.active).tolist(),
            "quiet": self.quiet.tolist(),
            "rows": self.rows,
            "held": self.held.tolist(),
            "low": pack(self.low),
            "high": pack(self.high),
            "pending": {c: [pack_sparse(h) for h in v] for c, v in self.pending.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        quiet = np.asarray(data["quiet"], np.int64)
        active = np.zeros(quiet.size, bool)
        active[list(data["active"])] = True
        pending = {c: np.array([unpack_sparse(h, BINS) for h in v]) for c, v in data.get("pending", {}).items()}
        return cls(
            active,
            quiet,
            int(data["rows"]),
            np.asarray(data["held"], np.int64),
            unpack(data["low"]).copy(),
            unpack(data["high"]).copy(),
            pending,
        )
