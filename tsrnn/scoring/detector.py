"""The detector of one series: channels → normalizer → fusion → threshold → incidents → events.

Per row and value column, each channel gives a raw value (channels.py); the forecast and novelty
values are divided by their own running 99th percentile, one per column (normalizer.py), fused by
max into a ratio r per column, and scored r / (1 + r); a value beyond the range seen lifts its
column's score to a floor (0.9 by default). A row's score is its largest column score. A column
whose ratio reaches the threshold (thresholds.py) fires, and a row where a column fires is flagged.

Incidents: the first flagged row opens one; every column that fires joins it. A column leaves it
once its score has stayed below `release` for `hold` rows, and the incident ends when none is left;
every row from its first to its end is marked anomalous. While a column is in an incident its rows
do not teach its running quantiles, its novelty memory or its range (`freeze`: only the columns
the incident is about, or the whole series, or nothing), so a fault that persists stays
anomalous. What they would have taught is held, and learned when the column leaves (the incident
is history then); an incident that lasts `accept_after` rows is the new normal: every column
leaves it. Incidents become events (events.py).

Score, then learn: rows are taken in blocks of the series' own row count (normalizer.BLOCK); a
block is scored with the statistics of the rows before it, then learned from, so a row's score
depends only on rows before it, and rows fed in any increments give the same scores as fed at
once. Within a block, the channels are computed for the rows left assuming the incident's
columns stay as they are, and computed again from the first row where they change. The detector
goes on across gaps where the model's state restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsrnn.scoring.channels import CHANNELS, RATIO_CHANNELS, Ahead, Novelty, Range
from tsrnn.scoring.events import Event, OpenEvent, Peak, group
from tsrnn.scoring.normalizer import BINS, BLOCK, RunningScale, ewma, value_bins
from tsrnn.scoring.thresholds import METHODS, ThresholdState
from tsrnn.scoring.types import Detected, DetectorSettings, Incident, Inputs

_RANGE = len(CHANNELS) - 1  # index of the range channel in per-row attributions


@dataclass
class _Part:
    """Rows [a, b) as computed under one assumption about what the incident keeps from learning."""

    raw: dict[str, np.ndarray]  # channel → (rows, columns or 1)
    excess: np.ndarray  # (rows, features), NaN while the range warms up
    ratios: dict[str, np.ndarray]  # channel → (rows, columns or 1)
    column_scores: np.ndarray  # (rows, features)
    fired: np.ndarray  # (rows, features) bool
    fused: np.ndarray  # (rows,) the fused ratio (smoothed with --smooth)
    ok: np.ndarray  # (rows,) some ratio channel has a value


@dataclass
class SeriesDetector:
    """One series' detector state: every channel's state, the scales, the threshold, the open
    incident and event."""

    settings: DetectorSettings
    scales: dict[str, list[RunningScale]]  # per ratio channel, one per column (one for a joint channel)
    threshold: ThresholdState
    novelty: Novelty | None = None  # kNN memory (None when the channel is off or computed elsewhere)
    range: Range | None = None
    rows: int = 0  # rows this detector has scored (it goes on when the model restarts after a gap)
    event: OpenEvent | None = None
    smoothed: float | None = None
    incident: Incident | None = None

    @classmethod
    def start(
        cls,
        settings: DetectorSettings,
        priors: dict[str, np.ndarray],
        ratio_prior: np.ndarray,
        novelty: Novelty | None = None,
        value_range: Range | None = None,
    ) -> SeriesDetector:
        """A fresh series: each ratio channel's scales from its prior histograms (channel →
        (columns, BINS)), the threshold from the validation ratios, the kNN memory and the range
        as given (seeded by training, or empty)."""
        scales = {
            c: [RunningScale.start(p, settings.memory, settings.quantile) for p in np.atleast_2d(priors[c])]
            for c in RATIO_CHANNELS
            if c in settings.channels
        }
        return cls(settings, scales, METHODS[settings.method].start(settings, ratio_prior), novelty, value_range)

    def score(self, rows: Inputs, *, series: str, columns: list[str], scale: np.ndarray) -> Detected:
        """Score the next rows of the series and learn from them (see the module's docstring)."""
        s = self.settings
        n, features = rows.values.shape
        scores, flagged, anomaly, valid = np.zeros(n), np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        fired = np.zeros((n, features), bool)
        channel_scores = {c: np.zeros(n) for c in s.channels}
        top = np.zeros((n, 3))  # per row: the channel (index in CHANNELS), the column and the ratio that set its score
        offset, i = self.rows, 0
        knn = self.novelty if "novelty" in s.channels and rows.novelty is None and self.incident is None else None
        ahead = knn.ahead(rows.scaled, -offset % BLOCK, BLOCK) if knn is not None else None  # the blocks' kNN at once
        while i < n:  # one piece per refresh block, or less where the incident's columns change
            end = min(n, i + BLOCK - (offset + i) % BLOCK)
            usable = self._usable(features)
            part = self._compute(rows, i, end, usable, ahead)
            used, during = self._walk(part, anomaly[i:end])
            b = i + used
            learned = np.repeat(usable[None], used, axis=0)
            if during is not None:  # the last row was inside the incident: its columns do not learn it now
                learned[-1] &= self._usable_during(during)
            self._commit(rows, i, b, part, learned)
            self._release()
            scores[i:b] = part.column_scores[:used].max(axis=1, initial=0.0)
            fired[i:b] = part.fired[:used]
            flagged[i:b] = part.fired[:used].any(axis=1)
            valid[i:b] = part.ok[:used] | np.isfinite(part.excess[:used]).any(axis=1)
            _channel_scores(channel_scores, part, i, b, s.range_floor)
            marked = np.flatnonzero(anomaly[i:b])  # peaks are only asked for an event's rows
            if marked.size:
                top[i + marked] = self._attribute(part, marked, rows.values[i:b], rows.expected[i:b], scale)
            if s.smooth > 1:  # the smoothing's carry after the last row used
                seen = np.flatnonzero(part.ok[:used])
                self.smoothed = float(part.fused[seen[-1]]) if seen.size else self.smoothed
            if (offset + b) % BLOCK == 0:
                self._refresh()
            i = b

        def peak_of(k: int) -> Peak:
            channel, col, ratio = CHANNELS[int(top[k, 0])], int(top[k, 1]), float(top[k, 2])
            observed, expected = [float(v) for v in rows.values[k]], [float(v) for v in rows.expected[k]]
            name = columns[col] if columns else str(col)
            return Peak(float(scores[k]), rows.time_text[k], observed, expected, name, channel, ratio)

        self.event, events, suppressed, alert = group(
            self.event, anomaly, flagged, scores, offset=offset, cooldown=s.cooldown, min_duration=s.min_duration,
            series=series, time_text=rows.time_text, peak_of=peak_of, fired=fired, columns=columns,
            times_us=rows.times_us,
        )  # fmt: skip
        self.rows += n
        return Detected(
            scores, np.where(suppressed, 0.0, scores), flagged, anomaly, alert, ~valid, channel_scores, events
        )

    def _refresh(self) -> None:
        """At the end of a block: the running quantiles and the threshold take in what the block taught."""
        for scales in self.scales.values():
            for sc in scales:
                sc.refresh(self.settings.decay, self.settings.quantile)
        METHODS[self.settings.method].refresh(self.threshold, self.settings)

    # -- the stages, in order -----------------------------------------------------------------

    def _usable(self, features: int) -> np.ndarray:
        """(features,) which columns learn from rows while the incident's columns stay as they are."""
        return self._usable_during(self.incident.active if self.incident is not None else np.zeros(features, bool))

    def _usable_during(self, active: np.ndarray) -> np.ndarray:
        """(features,) which columns learn from a row with these columns in an incident."""
        freeze = self.settings.freeze
        if freeze == "none" or not active.any():
            return np.ones(active.shape, bool)
        return np.zeros(active.shape, bool) if freeze == "series" else ~active

    def _compute(self, rows: Inputs, a: int, b: int, usable: np.ndarray, ahead: Ahead | None = None) -> _Part:
        """Channels, ratios, column scores and fired columns of rows [a, b), each column learning
        from these rows as `usable` says; no state changes."""
        s = self.settings
        m, features = b - a, rows.values.shape[1]
        mask = None if usable.all() else np.broadcast_to(usable, (m, features))  # None: every row usable
        raw: dict[str, np.ndarray] = {}
        if "forecast" in s.channels and rows.error is not None:
            raw["forecast"] = _columns(rows.error[a:b])
        if "novelty" in s.channels:
            if rows.novelty is not None:
                raw["novelty"] = _columns(rows.novelty[a:b])
            elif self.novelty is not None:
                early = ahead.get(a, b) if ahead is not None and usable.all() else None  # the same numbers
                raw["novelty"] = self.novelty.distances(rows.scaled[a:b], mask) if early is None else early
        excess = np.full((m, features), np.nan)
        if "range" in s.channels and self.range is not None:
            excess = self.range.excess(rows.values[a:b], s.range_tolerance, max(s.warmup, s.history_rows), mask)
        ratios: dict[str, np.ndarray] = {}
        r_col = np.zeros((m, features))
        ok = np.zeros(m, bool)
        for c, values in raw.items():
            fine = np.isfinite(values)
            ratios[c] = np.where(fine, values, 0.0) / self._scale(c, values.shape[1])
            np.maximum(r_col, ratios[c], out=r_col)  # a joint channel (one column) counts for every column
            ok |= fine.any(axis=1)
        fused = r_col.max(axis=1, initial=0.0)
        level = self.threshold.level
        if s.smooth > 1:  # the smoothed fused ratio flags; the columns at the row's largest ratio fire
            fused = ewma(fused, ok, 2.0 / (s.smooth + 1.0), self.smoothed)
            fired = ((fused >= level) & ok)[:, None] & (r_col >= r_col.max(axis=1, keepdims=True, initial=0.0))
            column_scores = np.repeat((fused / (1.0 + fused))[:, None], features, axis=1)
        else:
            fired = (r_col >= level) & ok[:, None]
            column_scores = r_col / (1.0 + r_col)
        beyond = excess > 0  # NaN (the range warming up) is not beyond
        if s.range_floor >= level / (1.0 + level):  # a value out of range reaches the threshold
            fired |= beyond
        column_scores = np.where(beyond, np.maximum(column_scores, s.range_floor), column_scores)
        return _Part(raw, excess, ratios, column_scores, fired, fused, ok)

    def _scale(self, channel: str, width: int) -> np.ndarray:
        scale = np.array([sc.scale for sc in self.scales[channel]])
        return scale if scale.size == width else np.full(width, scale.max())

    def _walk(self, part: _Part, anomaly: np.ndarray) -> tuple[int, np.ndarray | None]:
        """The incident over the part's rows, until its columns change (the channels then compute
        the rest again). Marks `anomaly`. → (rows used; the columns in the incident during the
        last row used, None if that row was outside one)."""
        s = self.settings
        m = part.fired.shape[0]
        recompute = s.freeze != "none"
        t, during = 0, None
        while t < m:
            if self.incident is None:
                hits = np.flatnonzero(part.fired[t:].any(axis=1))
                if hits.size == 0:
                    return m, None
                t += int(hits[0])
                self.incident = Incident.open(part.fired.shape[1])
            inc = self.incident
            fire = part.fired[t]
            joined = fire & ~inc.active
            during = inc.active | fire
            inc.active = during.copy()
            calm = part.column_scores[t] < s.release
            inc.quiet = np.where(inc.active & calm & ~fire, inc.quiet + 1, 0)
            left = inc.active & (inc.quiet >= s.hold)
            inc.active &= ~left
            inc.rows += 1
            anomaly[t] = True
            t += 1
            if s.accept_after and inc.rows >= s.accept_after:  # it went on: its level is the new normal
                inc.active[:] = False
            if not inc.active.any() or (recompute and (joined.any() or left.any())):
                return t, during
        return m, during

    def _commit(self, rows: Inputs, a: int, b: int, part: _Part, learned: np.ndarray) -> None:
        """Rows [a, b) teach each channel's state, its scales and the threshold what `learned`
        allows; what an open incident's columns would have learned is held in it."""
        used = b - a
        inc = self.incident
        if self.novelty is not None and "novelty" in self.settings.channels and rows.novelty is None:
            self.novelty.commit(rows.scaled[a:b], learned)
        if self.range is not None and "range" in self.settings.channels:
            self.range.commit(rows.values[a:b], learned)
        whole = learned.all(axis=1)  # rows every column learns: a joint channel's
        if inc is not None and not whole.all():
            held = np.where(learned, np.nan, rows.values[a:b])
            assert (
                inc.held is not None and inc.low is not None and inc.high is not None
            )  # set by Incident.open/from_dict
            inc.held += (~learned).sum(axis=0)
            inc.low, inc.high = (
                np.fmin(inc.low, np.fmin.reduce(held, axis=0)),
                np.fmax(inc.high, np.fmax.reduce(held, axis=0)),
            )
        for c, values in part.raw.items():
            v = values[:used]
            scales = self.scales[c]
            for k in range(v.shape[1]):
                finite = np.isfinite(v[:, k])
                learn = (learned[:, k] if v.shape[1] == learned.shape[1] else whole) & finite
                scales[min(k, len(scales) - 1)].learn(v[learn, k])
                keep = finite & ~learn if inc is not None else None
                if inc is not None and keep is not None and keep.any():
                    pending = inc.pending.setdefault(c, np.zeros((v.shape[1], BINS)))
                    pending[k] += np.bincount(value_bins(v[keep, k]), minlength=BINS)
        # the threshold method sees every row's ratio: it models how often ratios this high come (pot, quantile)
        METHODS[self.settings.method].observe(self.threshold, part.fused[:used][part.ok[:used]], self.settings)

    def _release(self) -> None:
        """Columns that left the incident learn what it held back for them (it is over for them, and
        what it looked like is history now); the incident ends when no column is left in it."""
        inc = self.incident
        if inc is None:
            return
        assert inc.held is not None and inc.low is not None and inc.high is not None  # set by Incident.open/from_dict
        free = self._usable_during(inc.active)
        done = free & (inc.held > 0)
        if done.any():
            if self.range is not None:
                self.range.widen(np.where(done, np.vstack([inc.low, inc.high]), np.nan))
            if self.novelty is not None:
                for col in np.flatnonzero(done):
                    self.novelty.accept(int(min(inc.held[col], self.novelty.ring.shape[0])), np.array([col]))
            inc.held[done] = 0
            inc.low[done], inc.high[done] = np.inf, -np.inf
        for c, pending in inc.pending.items():
            scales = self.scales[c]
            for k in range(pending.shape[0]):
                if (free[k] if pending.shape[0] == free.shape[0] else free.all()) and pending[k].any():
                    scales[min(k, len(scales) - 1)].pending += pending[k]
                    pending[k] = 0.0
        if not inc.active.any():
            self.incident = None

    def _attribute(
        self, part: _Part, rows: np.ndarray, values: np.ndarray, expected: np.ndarray, scale: np.ndarray
    ) -> np.ndarray:
        """(len(rows), 3): for these rows of the part (an event's rows: its peak is among them),
        what set the score: the channel (index in CHANNELS), the column and the ratio. The range
        check when it lifted the score, else the largest ratio; a joint channel's column is the
        one furthest from the model's values (in scaled units)."""
        features = values.shape[1]
        out = np.zeros((rows.size, 3))
        if features == 0 or rows.size == 0:
            return out
        at = np.arange(rows.size)
        names = list(part.ratios)
        if names:
            stack = np.stack(
                [np.broadcast_to(part.ratios[c][rows], (rows.size, features)) for c in names]
            )  # (channels, rows, columns)
            best = stack.max(axis=0)
            col = best.argmax(axis=1)
            which = stack[:, at, col].argmax(axis=0)
            out[:, 0] = np.array([CHANNELS.index(c) for c in names])[which]
            out[:, 1] = col
            out[:, 2] = best[at, col]
            joint = (np.array([part.ratios[c].shape[1] for c in names])[which] == 1) & (features > 1)
            if joint.any():
                off = np.abs(values[rows] - expected[rows]) / scale
                out[joint, 1] = np.argmax(np.nan_to_num(off, nan=-1.0), axis=1)[joint]
        excess = np.nan_to_num(part.excess[rows])
        lifted = (excess.max(axis=1) > 0) & (out[:, 2] / (1.0 + out[:, 2]) < self.settings.range_floor)
        out[lifted, 0] = _RANGE
        out[lifted, 1] = excess.argmax(axis=1)[lifted]
        out[lifted, 2] = excess.max(axis=1)[lifted]
        return out

    def carry_over(self) -> None:
        """At the start of a run: an incident still open from an earlier run, and reported then
        (it had its `min_duration` flagged rows), is not a new alert; a shorter one may still become one."""
        if self.event is not None and self.event.flagged >= self.settings.min_duration:
            self.event.continued = True

    def open_event(self, columns: list[str] | None = None) -> Event | None:
        """The series' event still open at the end of a run, if it is an alert (it stays in the state)."""
        ev = self.event
        return (
            ev.close(ongoing=True, names=columns)
            if ev is not None and ev.flagged >= self.settings.min_duration
            else None
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON state (arrays as base64): the settings are not in it, they come from the model."""
        return {
            "rows": self.rows,
            "scales": {c: [sc.to_dict() for sc in scales] for c, scales in self.scales.items()},
            "threshold": self.threshold.to_dict(),
            "novelty": self.novelty.to_dict() if self.novelty is not None else None,
            "range": self.range.to_dict() if self.range is not None else None,
            "event": self.event.to_dict() if self.event is not None else None,
            "smoothed": self.smoothed,
            "incident": self.incident.to_dict() if self.incident is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], settings: DetectorSettings) -> SeriesDetector:
        return cls(
            settings,
            {
                c: [RunningScale.from_dict(v) for v in (scales if isinstance(scales, list) else [scales])]
                for c, scales in data["scales"].items()
            },
            ThresholdState.from_dict(data["threshold"]),
            Novelty.from_dict(data["novelty"]) if data.get("novelty") else None,
            Range.from_dict(data["range"]) if data.get("range") else None,
            int(data["rows"]),
            OpenEvent.from_dict(data["event"]) if data.get("event") else None,
            data.get("smoothed"),
            Incident.from_dict(data["incident"]) if data.get("incident") else None,
        )


def _columns(values: np.ndarray) -> np.ndarray:
    """A channel's values as (rows, columns): a one-dimensional array is one joint column."""
    values = np.asarray(values, np.float64)
    return values[:, None] if values.ndim == 1 else values


def _channel_scores(out: dict[str, np.ndarray], part: _Part, a: int, b: int, range_floor: float) -> None:
    """Each channel's score of rows [a, b): its largest column's r / (1 + r); range: the floor where it fired."""
    for c, r in part.ratios.items():
        top = r[: b - a].max(axis=1)
        out[c][a:b] = top / (1.0 + top)
    if "range" in out:
        out["range"][a:b] = np.where((part.excess[: b - a] > 0).any(axis=1), range_floor, 0.0)  # NaN: not beyond
