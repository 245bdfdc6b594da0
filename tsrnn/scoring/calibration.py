"""Calibration: what training measures for the detector, stored in the run and the exported model.

- each ratio channel's prior, per column: a histogram of its values on the training data (the
  forecast error on the validation rows; the kNN novelty on every row of the history once the
  memory holds enough windows), where watch's running quantiles start;
- the fused ratios of the validation rows (where the quantile and pot thresholds start);
- for a run of one series, where its kNN memory and its range start: the last rows of the
  history and the smallest and largest values (a run of many series starts each series empty,
  and its channels warm up on the series' own rows);
- the settings (ScoreConfig), with `auto` resolved: the cooldown is 0.133 x the training rows of
  a series (the NAB benchmark's finding), at least 10 rows and at most a day of rows or 1,000;
  an incident's columns leave it after twice the novelty window of quiet rows, and an incident
  that lasts a day of rows, or the novelty memory's rows if fewer, is the new normal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from tsrnn.encoding import pack, unpack
from tsrnn.scoring.channels import CHANNELS, RATIO_CHANNELS, Novelty, Range, ring_rows
from tsrnn.scoring.detector import SeriesDetector
from tsrnn.scoring.errors import ErrorSpec
from tsrnn.scoring.normalizer import (
    BINS,
    FLOOR,
    RunningScale,
    bin_centers,
    hist_quantile,
    histogram,
    to_ratio,
    value_bins,
)
from tsrnn.scoring.thresholds import METHODS
from tsrnn.scoring.types import DEFAULT_THRESHOLD, DetectorSettings


@dataclass(frozen=True)
class Calibration:
    """Fitted at train time and stored in the run and the exported model (JSON)."""

    error_scale: float  # the `quantile` of the forecast channel's validation values (every column's)
    threshold: float  # score at or above which a row is flagged
    warmup: int  # rows from a fresh model state before its errors mean anything
    quantile: float = 0.99
    memory: int = 10_000  # rows: time constant of watch's running quantiles
    error_hist: dict[str, float] = field(
        default_factory=dict
    )  # forecast channel: validation values per log bin (sparse), every column's
    error_hists: list[dict[str, float]] = field(
        default_factory=list
    )  # ... per column (one for a joint error); empty: error_hist for each
    method: str = "fixed"  # thresholds.METHODS
    level_quantile: float = 0.999
    risk: float = 1e-4
    smooth: int = 0
    error: str = "abs"  # the forecast channel's error kind (errors.ERROR_KINDS), or none
    error_norms: list[float] = field(default_factory=lambda: [1.0, 1.0])  # both, blend: the two parts' 99th percentiles
    inverse_cov: list[list[float]] | None = None  # mahalanobis
    channels: list[str] = field(
        default_factory=lambda: ["forecast"]
    )  # fused by default (a model from before channels: forecast only)
    novelty: str = "none"  # knn | autoencoder | none
    novelty_window: int = 5
    novelty_memory: int = 1000
    novelty_hist: dict[str, float] = field(
        default_factory=dict
    )  # novelty channel's values on the history per log bin, every column's
    novelty_hists: list[dict[str, float]] = field(
        default_factory=list
    )  # ... per column (one for an autoencoder's); empty: novelty_hist
    novelty_seed: str | None = (
        None  # one-series runs: the history's last rows, scaled, float32 base64 (rows x features)
    )
    novelty_seed_times: str | None = None  # ... and their times, microseconds since the epoch, int64 base64
    range_tolerance: float = 0.1
    range_floor: float = 0.9
    range_seed: dict[str, Any] | None = (
        None  # one-series runs: {"low": [...], "high": [...], "rows": n, "end_us": the history's last time}
    )
    ratio_hist: dict[str, float] = field(default_factory=dict)  # fused ratios of the validation rows per log bin
    cooldown: int = 24
    history_rows: int = (
        0  # rows per series in the training data: a series not seeded from it warms its novelty and range up as long
    )
    release: float = 0.5  # incidents: a column is back to normal after `hold` rows with its score below this
    hold: int = 10
    accept_after: int = 1000  # rows after which an incident is the new normal; 0: never
    freeze: str = "column"  # what an open incident keeps from learning (FREEZE_SCOPES)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        known = {f.name: f for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("error_hist", "novelty_hist", "ratio_hist"):
            values[key] = {str(k): float(v) for k, v in values.get(key, {}).items()}
        for key in ("error_hists", "novelty_hists"):
            values[key] = [{str(k): float(v) for k, v in h.items()} for h in values.get(key, [])]
        return cls(**values)

    def prior(self, channel: str) -> np.ndarray:
        """A channel's prior histograms, (columns, BINS); a model from before per-column priors
        has one for every column; for the forecast channel of a model without one, a point mass
        at error_scale."""
        per_column = self.error_hists if channel == "forecast" else self.novelty_hists
        if per_column:
            return np.array([_dense(h) for h in per_column])
        hist = _dense(self.error_hist if channel == "forecast" else self.novelty_hist)
        if channel == "forecast" and hist.sum() == 0:
            hist = histogram(np.full(100, self.error_scale))
        return hist[None]

    def ratio_prior(self) -> np.ndarray:
        """The validation rows' fused ratios; for a model without them, its forecast errors / scale."""
        hist = _dense(self.ratio_hist)
        if hist.sum() == 0:
            prior = self.prior("forecast").sum(axis=0)
            hist = np.bincount(value_bins(bin_centers() / self.error_scale), weights=prior, minlength=BINS).astype(
                np.float64
            )
        return hist

    def settings(self, **overrides: Any) -> DetectorSettings:
        """The detector's settings; watch's overrides (None: keep the model's) win."""
        base: dict[str, Any] = {
            "threshold": self.threshold,
            "quantile": self.quantile,
            "memory": self.memory,
            "warmup": self.warmup,
            "method": self.method,
            "level_quantile": self.level_quantile,
            "risk": self.risk,
            "smooth": self.smooth,
            "channels": tuple(self.channels),
            "range_tolerance": self.range_tolerance,
            "range_floor": self.range_floor,
            "cooldown": self.cooldown,
            "history_rows": self.history_rows,
            "release": self.release,
            "hold": self.hold,
            "accept_after": self.accept_after,
            "freeze": self.freeze,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        return DetectorSettings(**base)

    def start(
        self, settings: DetectorSettings, features: int, *, own_novelty: bool = False, first_time_us: int | None = None
    ) -> SeriesDetector:
        """A fresh series' detector, its kNN memory and range seeded from the history where stored.

        The kNN memory takes only the history's rows before `first_time_us`, the series' first row
        to score (rows scored again compare with what came before them, never with themselves).
        `own_novelty`: the novelty values come from the runner (an autoencoder), not a kNN memory."""
        novelty = None
        if "novelty" in settings.channels and not own_novelty:
            rows = (
                unpack(self.novelty_seed, "<f4").reshape(-1, features)
                if self.novelty_seed
                else np.zeros((0, features), np.float32)
            )
            stored = rows.shape[0]
            if rows.size and self.novelty_seed_times and first_time_us is not None:
                rows = rows[unpack(self.novelty_seed_times, "<i8") < first_time_us]
            if rows.size:  # the history's rows before the first row to score: all of them, or those the seed holds
                seen = max(self.history_rows - stored, 0) + rows.shape[0]
                novelty = Novelty.seeded(self.novelty_window, self.novelty_memory, rows, seen, settings.history_rows)
            else:
                novelty = Novelty.empty(self.novelty_window, self.novelty_memory, features, settings.history_rows)
        value_range = None
        if "range" in settings.channels:
            seed = self.range_seed
            after = seed is not None and (
                first_time_us is None or "end_us" not in seed or first_time_us > int(seed["end_us"])
            )
            if after:  # the rows to score come after the history: they start from its range
                assert seed is not None  # `after` implies it
                value_range = Range(
                    np.asarray(seed["low"], np.float64), np.asarray(seed["high"], np.float64), int(seed["rows"])
                )
            else:  # rows of the history scored again, or no history kept: the range builds from the rows themselves
                value_range = Range.empty(features)
        priors = {c: self.prior(c) for c in ("forecast", "novelty")}
        return SeriesDetector.start(settings, priors, self.ratio_prior(), novelty, value_range)

    def resume(
        self, state: dict[str, Any], settings: DetectorSettings, features: int, *, own_novelty: bool = False
    ) -> SeriesDetector:
        """A series' detector from its saved state, under this run's settings: a channel turned on
        since starts as for a new series the model did not see (its memory and range warm up); a
        threshold method changed since starts again from the validation ratios; the fixed level
        is the one asked for now."""
        det = SeriesDetector.from_dict(state, settings)
        for channel in RATIO_CHANNELS:
            if channel in settings.channels and channel not in det.scales:
                det.scales[channel] = [
                    RunningScale.start(p, settings.memory, settings.quantile) for p in self.prior(channel)
                ]
        if "novelty" in settings.channels and det.novelty is None and not own_novelty:
            det.novelty = Novelty.empty(self.novelty_window, self.novelty_memory, features, settings.history_rows)
        if "range" in settings.channels and det.range is None:
            det.range = Range.empty(features)
        if det.threshold.method != settings.method:
            det.threshold = METHODS[settings.method].start(settings, self.ratio_prior())
        elif settings.method == "fixed":
            det.threshold.level = to_ratio(settings.threshold)
        return det


def _dense(sparse: dict[str, float]) -> np.ndarray:
    hist = np.zeros(BINS)
    for i, v in sparse.items():
        hist[int(i)] = v
    return hist


def _sparse(hist: np.ndarray) -> dict[str, float]:
    return {str(int(i)): float(hist[i]) for i in np.flatnonzero(hist)}


@dataclass
class History:
    """What calibration reads of the training data besides the model's errors."""

    series: list[np.ndarray]  # per series: its rows (raw, time order, segments joined), for the kNN prior and the seeds
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    interval_seconds: float | None = None
    times: list[np.ndarray] | None = None  # per series: datetime64 of each row
    val_novelty: np.ndarray | None = None  # the novelty values of the validation rows, aligned with the forecast errors
    series_novelty: list[np.ndarray] | None = None  # knn: the novelty of every row of each series


def knn_values(rows: np.ndarray, mean: np.ndarray, scale: np.ndarray, window: int, memory: int) -> np.ndarray:
    """The kNN novelty of every row of one series, (rows, columns) (NaN until the memory holds enough windows)."""
    return Novelty.empty(window, memory, rows.shape[1]).step(((rows - mean) / scale).astype(np.float32))


def calibrate(
    val_errors: np.ndarray | None,
    warmup: int,
    *,
    score: Any = None,
    quantile: float = 0.99,
    spec: ErrorSpec | None = None,
    history: History | None = None,
    novelty: str = "none",
) -> Calibration:
    """Fit each channel's prior and the detector's settings.

    `val_errors`: the forecast channel's values on the validation rows (None: no forecast
    channel); `history`: the training series, for the kNN novelty and range; `score`: a
    ScoreConfig with `error`, `novelty` and `cooldown` already resolved.
    """
    from tsrnn.config import ScoreConfig

    score = score or ScoreConfig(threshold=DEFAULT_THRESHOLD)
    if score.error == "none":  # no forecast channel: its errors play no part, in the priors or the ratios
        val_errors = None
    channels = []
    scale, error_hist, error_hists = FLOOR, np.zeros(BINS), []
    if val_errors is not None:
        val_errors = _as_columns(val_errors)
        error_hist = histogram(val_errors)
        error_hists = [histogram(val_errors[:, k]) for k in range(val_errors.shape[1])]
        scale = max(hist_quantile(error_hist, quantile), FLOOR) if np.isfinite(val_errors).any() else FLOOR
        channels.append("forecast")
    window, memory = score.novelty_window, score.novelty_memory
    novelty_hist, novelty_hists, seed_rows, seed_times, range_seed = _history_priors(history, novelty, window, memory)
    if novelty != "none" and novelty_hist.sum() > 0:
        channels.append("novelty")
    if score.range_check:
        channels.append("range")
    ratio_hist = _ratio_hist(val_errors, error_hists, history, novelty_hists, quantile) if channels else np.zeros(BINS)
    inverse_cov = spec.inverse_cov.tolist() if spec is not None and spec.inverse_cov is not None else None
    rows = int(round(np.median([len(x) for x in history.series]))) if history is not None and history.series else 0
    return Calibration(
        **_settings(score),
        error_scale=scale,
        warmup=warmup,
        quantile=quantile,
        error_hist=_sparse(error_hist),
        error_hists=[_sparse(h) for h in error_hists],
        error_norms=[float(v) for v in spec.norms] if spec else [1.0, 1.0],
        inverse_cov=inverse_cov,
        channels=[c for c in CHANNELS if c in channels],
        novelty=novelty if "novelty" in channels else "none",
        novelty_hist=_sparse(novelty_hist),
        novelty_hists=[_sparse(h) for h in novelty_hists],
        novelty_seed=seed_rows,
        novelty_seed_times=seed_times,
        range_seed=range_seed,
        ratio_hist=_sparse(ratio_hist),
        history_rows=rows,
    )


def _settings(score: Any) -> dict[str, Any]:
    """The detector settings a ScoreConfig fixes for watch (None: the detector's own default)."""
    return {
        "threshold": score.threshold,
        "memory": score.memory,
        "method": score.threshold_method,
        "level_quantile": score.level_quantile,
        "risk": score.risk,
        "smooth": score.smooth,
        "error": score.error,
        "novelty_window": score.novelty_window,
        "novelty_memory": score.novelty_memory,
        "range_tolerance": score.range_tolerance,
        "range_floor": score.range_floor,
        "cooldown": int(score.cooldown) if score.cooldown is not None else Calibration.cooldown,
        "release": score.release,
        "hold": int(score.hold) if score.hold is not None else 2 * score.novelty_window,
        "accept_after": int(score.accept_after) if score.accept_after is not None else Calibration.accept_after,
        "freeze": score.freeze,
    }


def _history_priors(history: History | None, novelty: str, window: int, memory: int) -> tuple[Any, ...]:
    """From the training series: the novelty channel's histograms (all columns, and each), and
    for a single series the seeds of its novelty memory (rows, times) and of its range."""
    novelty_hists: list[np.ndarray]
    novelty_hist, novelty_hists = np.zeros(BINS), []
    seed_rows, seed_times, range_seed = None, None, None
    if history is None:
        return novelty_hist, novelty_hists, seed_rows, seed_times, range_seed
    if novelty == "knn":
        values = history.series_novelty
        if values is None:
            values = [knn_values(s, history.scaler_mean, history.scaler_scale, window, memory) for s in history.series]
        if values:
            every = np.concatenate([_as_columns(v) for v in values])
            novelty_hist = histogram(every)
            novelty_hists = [histogram(every[:, k]) for k in range(every.shape[1])]
        if len(history.series) == 1:
            keep = ring_rows(window, memory)
            tail = history.series[0][-keep:]
            seed_rows = pack((tail - history.scaler_mean) / history.scaler_scale, "<f4")
            if history.times is not None:
                seed_times = pack(history.times[0][-keep:].astype("datetime64[us]").astype(np.int64), "<i8")
    elif novelty == "autoencoder" and history.val_novelty is not None:
        novelty_hist = histogram(history.val_novelty)
        novelty_hists = [novelty_hist]
    if len(history.series) == 1:
        r = Range.of(history.series[0])
        range_seed = {"low": r.low.tolist(), "high": r.high.tolist(), "rows": r.seen}
        if history.times is not None:
            range_seed["end_us"] = int(history.times[0][-1].astype("datetime64[us]").astype(np.int64))
    return novelty_hist, novelty_hists, seed_rows, seed_times, range_seed


def _as_columns(values: np.ndarray) -> np.ndarray:
    """A channel's values as (rows, columns): a one-dimensional array is one joint column."""
    values = np.asarray(values, np.float64)
    return values[:, None] if values.ndim == 1 else values


def _ratio_hist(
    val_errors: np.ndarray | None,
    error_hists: list[np.ndarray],
    history: History | None,
    novelty_hists: list[np.ndarray],
    quantile: float,
) -> np.ndarray:
    """The validation rows' fused ratio: the largest of every channel's columns over its own scale."""
    parts = []
    if val_errors is not None:
        scales = np.array([max(hist_quantile(h, quantile), FLOOR) for h in error_hists])
        parts.append(np.nanmax(np.where(np.isfinite(val_errors), val_errors, -np.inf) / scales, axis=1))
    if history is not None and history.val_novelty is not None and novelty_hists:
        nov = _as_columns(history.val_novelty)
        scales = np.array([max(hist_quantile(h, quantile), FLOOR) for h in novelty_hists])
        if scales.size != nov.shape[1]:
            scales = np.full(nov.shape[1], scales.max())
        nov = np.max(np.where(np.isfinite(nov), nov, -np.inf) / scales, axis=1)
        if parts and parts[0].shape == nov.shape:
            parts = [np.fmax(parts[0], nov)]
        else:
            parts.append(nov)
    out = np.concatenate(parts) if parts else np.zeros(0)
    return histogram(np.where(np.isfinite(out), out, np.nan))
