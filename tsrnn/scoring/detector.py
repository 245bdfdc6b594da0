"""Per-series streaming detection: error → score → flagged rows → events, with a JSON state.

The score divides each row's error by a running tail quantile (the 99th percentile by default)
of the series' own past errors, r = error / scale, and maps it into [0, 1) as r / (1 + r). The
quantile comes from a histogram of errors on log-spaced bins that starts from the validation
errors and forgets with a time constant of `memory` rows, so a series whose errors drift finds
its new normal. The scale is refreshed at fixed row counts of the series (every BLOCK rows), so a
row's score depends only on rows before it, and feeding rows in any increments gives the same
scores as feeding them at once.

A row whose score reaches the threshold is flagged; flagged rows within `cooldown` rows of the
last one belong to one event. After an event's first row, the rows of the same incident score 0
until the cooldown has passed: the alert has fired, and a second one for the same incident is
noise (NAB counts only the first detection in a window and charges every false positive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tsrnn.scoring.events import Event

PER_DECADE = 16
LOW_DECADE = -7  # errors are in scaled units; bins cover 1e-7 .. 1e5
BINS = PER_DECADE * 12
BLOCK = 256  # rows between refreshes of the scale
ERROR_FLOOR = 1e-6


def error_bins(errors: np.ndarray) -> np.ndarray:
    """Histogram bin of each (finite, non-negative) error."""
    logs = np.log10(np.maximum(errors, 10.0**LOW_DECADE))
    return np.clip(((logs - LOW_DECADE) * PER_DECADE).astype(np.int64), 0, BINS - 1)


def histogram(errors: np.ndarray) -> np.ndarray:
    finite = errors[np.isfinite(errors)]
    return np.bincount(error_bins(finite), minlength=BINS).astype(np.float64)


def hist_quantile(counts: np.ndarray, q: float) -> float:
    """The q-quantile of a histogram, interpolated log-linearly inside its bin."""
    total = float(counts.sum())
    if total <= 0:
        return ERROR_FLOOR
    cum = np.cumsum(counts)
    target = q * total
    i = int(np.searchsorted(cum, target))
    i = min(i, BINS - 1)
    below = float(cum[i - 1]) if i else 0.0
    frac = (target - below) / counts[i] if counts[i] > 0 else 1.0
    return max(10.0 ** (LOW_DECADE + (i + min(max(frac, 0.0), 1.0)) / PER_DECADE), ERROR_FLOOR)


@dataclass(frozen=True)
class DetectorSettings:
    """How errors become scores and events; the model stores defaults, watch can override."""

    threshold: float = 0.75  # score at or above which a row is flagged (fixed), and where the others start
    quantile: float = 0.99  # the running tail quantile used as the error scale
    memory: int = 10_000  # rows: the time constant of the running statistics
    cooldown: int = 24  # flagged rows within this many rows of an event join it (and score 0)
    min_duration: int = 1  # flagged rows an event needs to be an alert
    warmup: int = 0  # rows from a fresh state before errors mean anything
    method: str = "fixed"  # threshold method: fixed | quantile | pot | dynamic (see thresholds.py)
    level_quantile: float = 0.999  # quantile: of the validation ratios
    risk: float = 1e-4  # pot: the false-alarm probability per row
    window: int = 1024  # dynamic: rows of smoothed ratios the threshold looks at
    smooth: int = 0  # span (rows) of an exponentially weighted mean of the ratio before scoring; 0: none

    @property
    def decay(self) -> float:
        return math.exp(-BLOCK / self.memory)

    @property
    def level(self) -> float:
        """The fixed threshold as an error ratio r (score = r / (1 + r))."""
        return self.threshold / (1.0 - self.threshold) if self.threshold < 1.0 else math.inf


POT_START = 1.0  # pot: excesses over r = 1 (about 1 % of rows, as the scale is the running 99th percentile)
POT_MIN_PEAKS = 20  # pot: fewer excesses than this keep the starting level
POT_MAX_PEAKS = 500  # per series, in the state: enough for the tail fit, small enough for fleets


@dataclass
class SeriesDetector:
    """One series' detector state: the error histogram, the scale in use, an open event."""

    hist: np.ndarray  # (BINS,) decayed counts up to the last refresh
    pending: np.ndarray  # (BINS,) counts since the last refresh (integers)
    scale: float
    rows: int = 0  # rows this detector has scored (it goes on when the model restarts after a gap)
    event: dict[str, Any] | None = None  # the open event: Event fields + first_row, last_row, continued
    level: float = 3.0  # the threshold in use, as a ratio r
    smoothed: float | None = None  # the last smoothed ratio (smooth > 0)
    peaks: list[float] = field(default_factory=list)  # pot: excesses of r over POT_START
    seen: float = 0.0  # pot: rows those excesses came from
    recent: list[float] = field(default_factory=list)  # dynamic: the last `window` smoothed ratios

    @classmethod
    def start(cls, prior: np.ndarray, settings: DetectorSettings) -> SeriesDetector:
        """A fresh series starts from the validation errors' histogram (weighted at most `memory`
        rows), and its threshold from what that histogram says for the method."""
        weight = float(prior.sum())
        hist = prior * (min(1.0, settings.memory / weight) if weight > 0 else 0.0)
        det = cls(hist, np.zeros(BINS), hist_quantile(hist, settings.quantile), level=settings.level)
        if settings.method == "quantile" and weight > 0:
            det.level = hist_quantile(prior, settings.level_quantile) / det.scale
        elif settings.method == "pot" and weight > 0:
            centers = 10.0 ** (LOW_DECADE + (np.arange(BINS) + 0.5) / PER_DECADE) / det.scale
            counts = np.round(prior).astype(np.int64)
            above = centers > POT_START
            det.peaks = [float(v) for v in np.repeat(centers[above] - POT_START, counts[above])][-POT_MAX_PEAKS:]
            det.seen = float(counts.sum())
            det.level = _refresh_level(det, settings)
        return det

    def to_dict(self) -> dict[str, Any]:
        nz, pz = np.flatnonzero(self.hist), np.flatnonzero(self.pending)
        return {
            "hist": {str(int(i)): float(self.hist[i]) for i in nz},
            "pending": {str(int(i)): int(self.pending[i]) for i in pz},
            "scale": self.scale,
            "rows": self.rows,
            "event": self.event,
            "level": self.level,
            "smoothed": self.smoothed,
            "peaks": self.peaks,
            "seen": self.seen,
            "recent": self.recent,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesDetector:
        hist, pending = np.zeros(BINS), np.zeros(BINS)
        for i, v in data["hist"].items():
            hist[int(i)] = v
        for i, v in data["pending"].items():
            pending[int(i)] = v
        return cls(hist, pending, float(data["scale"]), int(data["rows"]), data.get("event"), float(data["level"]), data["smoothed"],
                   list(data["peaks"]), float(data["seen"]), list(data["recent"]))


@dataclass
class Detected:
    """What one call of `detect` found for a stretch of one series' rows."""

    scores: np.ndarray  # (rows,) in [0, 1), 0 in warm-up and after an event's first row
    raw: np.ndarray  # (rows,) the scores before that suppression (0 in warm-up)
    flagged: np.ndarray  # (rows,) bool: the row's own score reached the threshold
    warmup: np.ndarray  # (rows,) bool
    events: list[Event] = field(default_factory=list)  # alerts that closed in these rows


def detect(
    det: SeriesDetector,
    settings: DetectorSettings,
    error: np.ndarray,
    model_rows: int,
    *,
    series: str,
    time_text: list[str],
    observed: np.ndarray,
    expected: np.ndarray,
    columns: list[str],
    scale: np.ndarray,
) -> Detected:
    """Score the next rows of a series and advance its detector state.

    `model_rows`: rows the model had seen before these (0 after a restart: warm-up again).
    """
    n = error.shape[0]
    offset = det.rows
    warm = (model_rows + np.arange(n) < settings.warmup) | ~np.isfinite(error)
    raw = np.zeros(n)
    flagged = np.zeros(n, bool)
    i = 0
    while i < n:  # one piece per refresh block of the series' own row count
        end = min(n, i + BLOCK - (offset + i) % BLOCK)
        e = error[i:end]
        ok = ~warm[i:end]
        r = np.where(ok, e, 0.0) / det.scale
        if settings.smooth > 1:
            r = _ewma(det, r, ok, 2.0 / (settings.smooth + 1.0))
        raw[i:end] = r / (1.0 + r)
        flagged[i:end] = (r >= det.level) & ok
        if ok.any():
            det.pending += np.bincount(error_bins(e[ok]), minlength=BINS)
            _observe(det, settings, r[ok])
        if (offset + end) % BLOCK == 0:
            det.hist = det.hist * settings.decay + det.pending
            det.pending = np.zeros(BINS)
            det.scale = hist_quantile(det.hist, settings.quantile)
            det.level = _refresh_level(det, settings)
        i = end
    scores = raw.copy()
    events: list[Event] = []
    ev = det.event
    for idx in np.flatnonzero(flagged):
        at = offset + int(idx)
        if ev is not None and at - ev["last_row"] <= settings.cooldown + 1:
            ev["rows"] += 1
            ev["end"], ev["last_row"] = time_text[idx], at
            if raw[idx] > ev["peak_score"]:
                _set_peak(ev, raw[idx], time_text[idx], observed[idx], expected[idx], columns, scale)
        else:
            if ev is not None and ev["rows"] >= settings.min_duration:
                events.append(_event(ev, ongoing=False))
            ev = {"series": series, "start": time_text[idx], "end": time_text[idx], "rows": 1, "first_row": at, "last_row": at, "continued": False}
            _set_peak(ev, raw[idx], time_text[idx], observed[idx], expected[idx], columns, scale)
        # rows of the incident after its first score 0, up to the cooldown after its last flagged row
        scores[max(0, ev["first_row"] + 1 - offset) : max(0, ev["last_row"] + settings.cooldown + 1 - offset)] = 0.0
    if ev is not None:
        scores[max(0, ev["first_row"] + 1 - offset) : max(0, ev["last_row"] + settings.cooldown + 1 - offset)] = 0.0
        if offset + n - 1 - ev["last_row"] > settings.cooldown:  # the cooldown passed: the event is over
            if ev["rows"] >= settings.min_duration:
                events.append(_event(ev, ongoing=False))
            ev = None
    det.event = ev
    det.rows += n
    return Detected(scores, raw, flagged, warm, events)  # warm-up rows scored 0 above (r = 0 there)


def _ewma(det: SeriesDetector, r: np.ndarray, ok: np.ndarray, alpha: float) -> np.ndarray:
    """Exponentially weighted mean of the ratio over valid rows, carried across calls (row by row
    in closed form: y_k = (1-a)^(k+1) y_-1 + a * sum_j (1-a)^(k-j) x_j, within one block)."""
    out = np.zeros_like(r)
    x = r[ok]
    if x.size == 0:
        return out
    keep = 1.0 - alpha
    step = max(1, int(6 * math.log(10) / -math.log(keep)))  # keep**-step stays below 1e6: no loss of precision
    prev = det.smoothed if det.smoothed is not None else float(x[0])
    y = np.empty_like(x)
    for a in range(0, x.size, step):
        part = x[a : a + step]
        powers = keep ** np.arange(part.size)
        y[a : a + step] = keep * powers * prev + alpha * np.cumsum(part / powers) * powers
        prev = float(y[a + part.size - 1])
    det.smoothed = prev
    out[ok] = y
    return out


def _observe(det: SeriesDetector, settings: DetectorSettings, r: np.ndarray) -> None:
    """Feed the threshold method's running statistics with valid ratios."""
    if settings.method == "pot":
        det.seen += r.size
        det.peaks.extend(float(v) for v in r[r > POT_START] - POT_START)
        if len(det.peaks) > POT_MAX_PEAKS:  # keep the newest half, and the share of rows they stand for
            cut = len(det.peaks) // 2
            det.seen *= (len(det.peaks) - cut) / len(det.peaks)
            det.peaks = det.peaks[cut:]
    elif settings.method == "dynamic":
        det.recent.extend(float(v) for v in r)
        if len(det.recent) > settings.window:
            det.recent = det.recent[-settings.window :]


def _refresh_level(det: SeriesDetector, settings: DetectorSettings) -> float:
    from tsrnn.scoring.thresholds import dynamic_level, pot_level

    if settings.method == "pot" and len(det.peaks) >= POT_MIN_PEAKS:
        return max(pot_level(np.asarray(det.peaks), det.seen, POT_START, settings.risk), POT_START)
    if settings.method == "dynamic" and len(det.recent) >= settings.window // 2:
        window = np.asarray(det.recent)
        epsilon, kept = dynamic_level(window)
        if not math.isfinite(epsilon):
            return det.level
        pruned = window[(window >= epsilon) & ~kept]  # minor peaks the pruning judged normal
        return max(epsilon, float(pruned.max()) * (1 + 1e-9) if pruned.size else epsilon)
    return det.level


def carry_over(det_state: dict[str, Any] | None) -> None:
    """At the start of a run: an incident still open from an earlier run is not a new alert."""
    if det_state and det_state.get("event"):
        det_state["event"]["continued"] = True


def open_event(det: SeriesDetector, settings: DetectorSettings) -> Event | None:
    """The series' event still open at the end of a run, if it is an alert (it stays in the state)."""
    ev = det.event
    return _event(ev, ongoing=True) if ev is not None and ev["rows"] >= settings.min_duration else None


def _set_peak(ev: dict[str, Any], score: float, when: str, observed: np.ndarray, expected: np.ndarray, columns: list[str], scale: np.ndarray) -> None:
    off = np.abs(observed - expected) / scale
    worst = int(np.argmax(np.nan_to_num(off, nan=-1.0)))
    ev.update(peak_score=float(score), peak_time=when, observed=[float(v) for v in observed],
              expected=[float(v) for v in expected], column=columns[worst] if columns else str(worst))


def _event(ev: dict[str, Any], *, ongoing: bool) -> Event:
    return Event(
        series=ev["series"], start=ev["start"], end=ev["end"], rows=int(ev["rows"]), peak_time=ev["peak_time"],
        peak_score=float(ev["peak_score"]), observed=list(ev["observed"]), expected=list(ev["expected"]),
        column=ev["column"], ongoing=ongoing, continued=bool(ev["continued"]),
    )
