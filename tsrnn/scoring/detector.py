"""The detector of one series: channels → normalizer → fusion → threshold → events.

Per row, each channel gives a raw value (channels.py); the forecast and novelty values are
divided by their own running 99th percentile (normalizer.py), fused by max into a ratio r, and
scored r / (1 + r); a value beyond the range seen lifts the score to a floor (0.9 by default).
A row whose score reaches the threshold (thresholds.py) is flagged, and flagged rows become
events (events.py).

Score, then learn: rows are taken in blocks of the series' own row count (normalizer.BLOCK); a
block is scored with the statistics of the rows before it, then learned from, so a row's score
depends only on rows before it, and rows fed in any increments give the same scores as fed at
once. The detector goes on across gaps where the model's state restarts. With `learn_flagged`
off, flagged rows do not feed the running quantiles and the threshold (an incident that lasts
does not raise its own bar).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tsrnn.scoring.channels import CHANNELS, RATIO_CHANNELS, Novelty, Range
from tsrnn.scoring.events import Event, OpenEvent, Peak, group
from tsrnn.scoring.normalizer import BLOCK, RunningScale, to_ratio
from tsrnn.scoring.thresholds import METHODS, ThresholdState

DEFAULT_THRESHOLD = 0.70  # measured on NAB (benchmarks/nab.py): the fused score that flags a row


@dataclass(frozen=True)
class DetectorSettings:
    """How channel values become scores and events; the model stores them, watch can override."""

    threshold: float = DEFAULT_THRESHOLD  # fixed: the score at or above which a row is flagged; the other methods start there
    quantile: float = 0.99  # the running tail quantile that each channel is divided by
    memory: int = 10_000  # rows: the time constant of the running quantiles
    cooldown: int = 24  # flagged rows within this many rows of an event join it (and score 0 in alert_score); trained models store their own
    min_duration: int = 1  # flagged rows an event needs to be an alert
    warmup: int = 0  # rows from a fresh model state before its errors mean anything
    method: str = "fixed"  # thresholds.METHODS
    level_quantile: float = 0.999  # quantile: of the validation ratios
    risk: float = 1e-4  # pot: the false-alarm probability per row
    window: int = 1024  # dynamic: rows of ratios the threshold looks at
    smooth: int = 0  # span (rows) of an exponentially weighted mean of the fused ratio; 0: none
    channels: tuple[str, ...] = CHANNELS  # which channels are fused
    range_tolerance: float = 0.05  # range: a value this fraction of the seen span beyond it is out of range
    range_floor: float = 0.9  # range: the score a value out of range lifts the row to
    learn_flagged: bool = True  # flagged rows feed the running quantiles and the threshold
    history_rows: int = 0  # novelty, range: rows a series must have shown (its history's included) before they flag

    @property
    def decay(self) -> float:
        return math.exp(-BLOCK / self.memory)



@dataclass
class Detected:
    """What one call of `SeriesDetector.score` found for a stretch of one series' rows."""

    scores: np.ndarray  # (rows,) each row's own fused score in [0, 1); 0 where no channel has a value
    alert_scores: np.ndarray  # (rows,) the same, 0 on an incident's rows after its first (what a pager, and NAB, sees)
    flagged: np.ndarray  # (rows,) bool: the row's score reached the threshold
    warmup: np.ndarray  # (rows,) bool: no channel had a value yet
    channel_scores: dict[str, np.ndarray]  # per channel (rows,): r / (1 + r) for ratio channels; range: the floor where it fired
    events: list[Event] = field(default_factory=list)  # alerts that closed in these rows


@dataclass
class Inputs:
    """One stretch of a series' rows as the detector meets them."""

    values: np.ndarray  # (rows, features) raw
    scaled: np.ndarray  # (rows, features) by the model's scaler
    error: np.ndarray | None  # (rows,) the forecast channel's value, NaN where the model has none yet; None: no forecast channel
    expected: np.ndarray  # (rows, features) the model's values (NaN without)
    novelty: np.ndarray | None = None  # (rows,) a novelty value computed elsewhere (an autoencoder's error); None: kNN here
    time_text: list[str] = field(default_factory=list)  # the rows' timestamps as written


@dataclass
class SeriesDetector:
    """One series' detector state: every channel's state, the scales, the threshold, an open event."""

    settings: DetectorSettings
    scales: dict[str, RunningScale]
    threshold: ThresholdState
    novelty: Novelty | None = None  # kNN memory (None when the channel is off or computed elsewhere)
    range: Range | None = None
    rows: int = 0  # rows this detector has scored (it goes on when the model restarts after a gap)
    event: OpenEvent | None = None
    smoothed: float | None = None

    @classmethod
    def start(cls, settings: DetectorSettings, priors: dict[str, np.ndarray], ratio_prior: np.ndarray,
              novelty: Novelty | None = None, value_range: Range | None = None) -> SeriesDetector:
        """A fresh series: each ratio channel's scale from its prior histogram, the threshold from
        the validation ratios, the kNN memory and the range as given (seeded by training, or empty)."""
        scales = {c: RunningScale.start(priors[c], settings.memory, settings.quantile) for c in RATIO_CHANNELS if c in settings.channels}
        return cls(settings, scales, METHODS[settings.method].start(settings, ratio_prior), novelty, value_range)

    def score(self, rows: Inputs, *, series: str, columns: list[str], scale: np.ndarray) -> Detected:
        """Score the next rows of the series and learn from them (see the module's docstring)."""
        s = self.settings
        n = rows.values.shape[0]
        raw, column, excess = self._channels(rows)
        ratios, fused, flagged = self._normalize(raw, excess)
        scores = fused / (1.0 + fused)
        beyond = np.nan_to_num(excess) > 0
        scores = np.where(beyond, np.maximum(scores, s.range_floor), scores)
        channel_scores = {c: ratios[c] / (1.0 + ratios[c]) for c in ratios}
        if "range" in s.channels:
            channel_scores["range"] = np.where(beyond, s.range_floor, 0.0)
        valid = np.isfinite(excess)
        for values in raw.values():
            valid |= np.isfinite(values)

        def peak_of(k: int) -> Peak:
            return self._peak(k, rows, scores, ratios, excess, column, columns, scale)

        offset = self.rows
        self.event, events, suppressed = group(self.event, flagged, scores, offset=offset, cooldown=s.cooldown, min_duration=s.min_duration,
                                               series=series, time_text=rows.time_text, peak_of=peak_of)
        self.rows += n
        return Detected(scores, np.where(suppressed, 0.0, scores), flagged, ~valid, channel_scores, events)

    def _channels(self, rows: Inputs) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
        """Each ratio channel's raw value per row (NaN where it has none), the column each
        attributes a row to, and the range channel's excess (NaN while it warms up)."""
        s = self.settings
        raw: dict[str, np.ndarray] = {}
        column: dict[str, np.ndarray] = {}
        if "forecast" in s.channels and rows.error is not None:
            raw["forecast"] = np.asarray(rows.error, np.float64)
        if "novelty" in s.channels:
            if rows.novelty is not None:
                raw["novelty"] = np.asarray(rows.novelty, np.float64)
            elif self.novelty is not None:
                raw["novelty"], column["novelty"] = self.novelty.step(rows.scaled)
        excess = np.full(rows.values.shape[0], np.nan)
        if "range" in s.channels and self.range is not None:
            excess, column["range"] = self.range.step(rows.values, s.range_tolerance, max(s.warmup, s.history_rows))
        return raw, column, excess

    def _normalize(self, raw: dict[str, np.ndarray], excess: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Per block of the series' own rows: each channel over its running quantile, fused by
        max, flagged against the threshold; then the block is learned. → (ratios, fused, flagged)."""
        s = self.settings
        n = excess.shape[0]
        ratios = {c: np.zeros(n) for c in raw}
        fused = np.zeros(n)
        flagged = np.zeros(n, bool)
        method = METHODS[s.method]
        offset, i = self.rows, 0
        while i < n:  # one piece per refresh block
            end = min(n, i + BLOCK - (offset + i) % BLOCK)
            r = np.zeros(end - i)
            ok = np.zeros(end - i, bool)
            for c, values in raw.items():
                v = values[i:end]
                fine = np.isfinite(v)
                ratios[c][i:end] = np.where(fine, v, 0.0) / self.scales[c].scale
                np.maximum(r, ratios[c][i:end], out=r)
                ok |= fine
            if s.smooth > 1:
                r = self._ewma(r, ok, 2.0 / (s.smooth + 1.0))
            fused[i:end] = r
            level = self.threshold.level
            flag = (r >= level) & ok
            if s.range_floor >= level / (1.0 + level):  # a value out of range reaches the threshold
                flag |= excess[i:end] > 0
            flagged[i:end] = flag
            learn = ok if s.learn_flagged else ok & ~flag  # then learn
            for c, values in raw.items():
                v = values[i:end]
                self.scales[c].learn(v[learn & np.isfinite(v)])
            method.observe(self.threshold, r[learn], s)
            if (offset + end) % BLOCK == 0:
                for sc in self.scales.values():
                    sc.refresh(s.decay, s.quantile)
                method.refresh(self.threshold, s)
            i = end
        return ratios, fused, flagged

    def _peak(self, k: int, rows: Inputs, scores: np.ndarray, ratios: dict[str, np.ndarray], excess: np.ndarray,
              column: dict[str, np.ndarray], columns: list[str], scale: np.ndarray) -> Peak:
        """What fired at row k: the range check when it set the score, else the largest ratio."""
        top = max((r[k] for r in ratios.values()), default=0.0)
        if np.nan_to_num(excess[k]) > 0 and top / (1.0 + top) < self.settings.range_floor:  # the range set the score
            channel, ratio, col = "range", float(excess[k]), int(column["range"][k])
        else:
            channel = max(ratios, key=lambda c: ratios[c][k])
            ratio = float(ratios[channel][k])
            if channel in column:
                col = int(column[channel][k])
            else:  # forecast (or autoencoder novelty): the column furthest from expected, in scaled units
                off = np.abs(rows.values[k] - rows.expected[k]) / scale
                col = int(np.argmax(np.nan_to_num(off, nan=-1.0)))
        return Peak(float(scores[k]), rows.time_text[k], [float(v) for v in rows.values[k]], [float(v) for v in rows.expected[k]],
                    columns[col] if columns else str(col), channel, ratio)

    def _ewma(self, r: np.ndarray, ok: np.ndarray, alpha: float) -> np.ndarray:
        """Exponentially weighted mean of the ratio over valid rows, carried across calls (row by row
        in closed form: y_k = (1-a)^(k+1) y_-1 + a * sum_j (1-a)^(k-j) x_j, within one block)."""
        out = np.zeros_like(r)
        x = r[ok]
        if x.size == 0:
            return out
        keep = 1.0 - alpha
        step = max(1, int(6 * math.log(10) / -math.log(keep)))  # keep**-step stays below 1e6: no loss of precision
        prev = self.smoothed if self.smoothed is not None else float(x[0])
        y = np.empty_like(x)
        for a in range(0, x.size, step):
            part = x[a : a + step]
            powers = keep ** np.arange(part.size)
            y[a : a + step] = keep * powers * prev + alpha * np.cumsum(part / powers) * powers
            prev = float(y[a + part.size - 1])
        self.smoothed = prev
        out[ok] = y
        return out

    def carry_over(self) -> None:
        """At the start of a run: an incident still open from an earlier run, and reported then
        (it had its `min_duration` rows), is not a new alert; a shorter one may still become one."""
        if self.event is not None and self.event.rows >= self.settings.min_duration:
            self.event.continued = True

    def open_event(self) -> Event | None:
        """The series' event still open at the end of a run, if it is an alert (it stays in the state)."""
        ev = self.event
        return ev.close(ongoing=True) if ev is not None and ev.rows >= self.settings.min_duration else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON state (arrays as base64): the settings are not in it, they come from the model."""
        return {
            "rows": self.rows,
            "scales": {c: sc.to_dict() for c, sc in self.scales.items()},
            "threshold": self.threshold.to_dict(),
            "novelty": self.novelty.to_dict() if self.novelty is not None else None,
            "range": self.range.to_dict() if self.range is not None else None,
            "event": self.event.to_dict() if self.event is not None else None,
            "smoothed": self.smoothed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], settings: DetectorSettings) -> SeriesDetector:
        return cls(
            settings,
            {c: RunningScale.from_dict(v) for c, v in data["scales"].items()},
            ThresholdState.from_dict(data["threshold"]),
            Novelty.from_dict(data["novelty"]) if data.get("novelty") else None,
            Range.from_dict(data["range"]) if data.get("range") else None,
            int(data["rows"]),
            OpenEvent.from_dict(data["event"]) if data.get("event") else None,
            data.get("smoothed"),
        )
