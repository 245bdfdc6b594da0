"""Pictures (the plot extra: matplotlib, Agg backend): scores with their series, training curves, forecasts.

Every figure is written by suffix (.png at 100 dpi, at least 1400 x 600 px; .svg) and its panels
carry ids (`panel-value-<column>`, `panel-score`, `panel-event-<k>`, `panel-loss`, ...), and so do
the shaded events (`event-<k>`) and labelled windows (`label-<k>`), so a test or a script can
find them in an SVG. Colours are told apart in greyscale too: observed values black and solid,
expected dashed, events shaded with a hatch, labelled windows outlined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsrnn.errors import InputError
from tsrnn.extras import require

OVERVIEW_POINTS = 2000  # buckets of the overview: each keeps its smallest and largest value
WIDTH, PANEL = 14.0, 2.4  # inches: 1400 px wide at 100 dpi, each panel 240 px high
FORMATS = (".png", ".svg")
OBSERVED, EXPECTED, EVENT, LABEL = "black", "#1f5fa8", "#d62728", "#7f7f7f"


@dataclass
class ScoredSeries:
    """One series of a scores file: what watch wrote for it."""

    name: str
    times: np.ndarray  # datetime64[us]
    values: dict[str, np.ndarray]  # column → observed
    expected: dict[str, np.ndarray]  # column → expected (NaN where the model had none)
    score: np.ndarray
    anomaly: np.ndarray  # bool
    channels: dict[str, np.ndarray] = field(default_factory=dict)  # channel → its score (with --channel-scores)


@dataclass(frozen=True)
class Span:
    """An event (or a labelled window) on the time axis."""

    start: np.datetime64
    end: np.datetime64
    text: str  # e.g. "forecast 0.93"


def minmax_downsample(
    times: np.ndarray, values: np.ndarray, points: int = OVERVIEW_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most 2 x `points` points that keep each bucket's smallest and largest value, in time order,
    so a spike of one row in a million still shows. NaN values are left out of the extremes."""
    n = len(values)
    if n <= 2 * points:
        return times, values
    edges = np.linspace(0, n, points + 1).astype(np.int64)
    filled = np.where(np.isnan(values), np.inf, values)
    lo = np.minimum.reduceat(filled, edges[:-1])
    keep = np.isfinite(lo)
    index = np.arange(n)
    lo_at = np.array([a + int(np.argmin(filled[a:b])) for a, b in zip(edges[:-1], edges[1:])])
    hi_at = np.array(
        [
            a + int(np.argmax(np.where(np.isnan(values[a:b]), -np.inf, values[a:b])))
            for a, b in zip(edges[:-1], edges[1:])
        ]
    )
    first, second = np.minimum(lo_at, hi_at)[keep], np.maximum(lo_at, hi_at)[keep]
    picked = np.unique(np.concatenate([first, second, index[[0, -1]]]))
    return times[picked], values[picked]


def events_of(series: ScoredSeries, join: int = 0) -> list[Span]:
    """Runs of anomalous rows, those at most `join` rows apart (the model's cooldown) as one event,
    each named by the channel with the highest score at its peak (when the file has per-channel
    scores) and the peak score."""
    flags = series.anomaly.astype(np.int8)
    edges = np.diff(np.concatenate([[0], flags, [0]]))
    runs: list[list[int]] = []
    for first, stop in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()):
        if runs and first - runs[-1][1] <= join:
            runs[-1][1] = stop
        else:
            runs.append([first, stop])
    spans = []
    for a, b in runs:
        peak = a + int(np.argmax(series.score[a:b]))
        channel = max(series.channels, key=lambda c: series.channels[c][peak]) if series.channels else "score"
        spans.append(Span(series.times[a], series.times[b - 1], f"{channel} {series.score[peak]:.2f}"))
    return spans


def scores_figure(
    series: ScoredSeries,
    out: str | Path,
    *,
    threshold: float | None = None,
    title: str = "",
    labels: list[Span] | None = None,
    events: list[Span] | None = None,
    zoom: int = 3,
) -> Path:
    """Observed against expected per value column, the score underneath with the threshold, events
    shaded and named, labelled windows outlined; then a zoomed panel of each of the first `zoom` events."""
    plt = _pyplot()
    out = _checked(out)
    events = events_of(series) if events is None else events
    columns = list(series.values)
    shown = events[:zoom]
    rows = len(columns) + 1 + len(shown)
    fig, axes = plt.subplots(rows, 1, figsize=(WIDTH, max(6.0, PANEL * rows)), squeeze=False, layout="constrained")
    axes = axes[:, 0]
    for ax in axes[1 : len(columns) + 1]:
        ax.sharex(axes[0])
    for k, col in enumerate(columns):
        ax = axes[k]
        ax.set_gid(f"panel-value-{col}")
        _line(ax, series.times, series.values[col], OBSERVED, "-", "observed")
        if col in series.expected:
            _line(ax, series.times, series.expected[col], EXPECTED, "--", "expected")
        ax.set_ylabel(col)
        _spans(ax, events, labels or [], text=k == 0)
        _legend(ax)
    score_ax = axes[len(columns)]
    score_ax.set_gid("panel-score")
    _line(score_ax, series.times, series.score, OBSERVED, "-", "score")
    if threshold is not None:
        score_ax.axhline(threshold, color=EVENT, linestyle=":", linewidth=1.2, label=f"threshold {threshold:.2f}")
    score_ax.set_ylim(0, 1)
    score_ax.set_ylabel("score")
    score_ax.set_xlabel("time")
    _spans(score_ax, events, labels or [], text=False)
    _legend(score_ax)
    for k, event in enumerate(shown):
        _zoom(axes[len(columns) + 1 + k], series, event, columns[0], k)
    for ax in axes:
        _time_axis(ax, plt)
    fig.suptitle(title or f"tsrnn scores: {series.name}")
    return _save(fig, out, plt)


def training_figure(
    history: list[dict[str, Any]], out: str | Path, *, best_epoch: int | None = None, title: str = ""
) -> Path:
    """Training and validation loss per epoch, and the gradient norm before clipping, with the
    epoch whose weights were kept marked."""
    plt = _pyplot()
    out = _checked(out)
    if not history:
        raise InputError("the run has no training history to plot (it was stopped before its first epoch)")
    epochs = [h["epoch"] for h in history]
    fig, (loss, grad) = plt.subplots(2, 1, figsize=(WIDTH, 7.0), sharex=True, layout="constrained")
    loss.set_gid("panel-loss")
    loss.plot(
        epochs, [h["train_loss"] for h in history], color=OBSERVED, marker="o", markersize=3, label="training loss"
    )
    loss.plot(
        epochs,
        [h["val_loss"] for h in history],
        color=EXPECTED,
        linestyle="--",
        marker="s",
        markersize=3,
        label="validation loss",
    )
    loss.set_yscale("log")
    loss.set_ylabel("loss (scaled units)")
    grad.set_gid("panel-grad-norm")
    grad.plot(
        epochs,
        [h["grad_norm"] for h in history],
        color=OBSERVED,
        marker="o",
        markersize=3,
        label="gradient norm before clipping",
    )
    grad.set_yscale("log")
    grad.set_ylabel("gradient norm")
    grad.set_xlabel("epoch")
    for ax in (loss, grad):
        if best_epoch is not None:
            ax.axvline(best_epoch, color=EVENT, linestyle=":", label=f"kept: epoch {best_epoch}", gid="best-epoch")
        _legend(ax)
    fig.suptitle(title or "tsrnn training")
    return _save(fig, out, plt)


def forecast_figure(
    history: dict[str, Any],
    forecast: dict[str, Any],
    out: str | Path,
    *,
    actual: dict[str, Any] | None = None,
    title: str = "",
) -> Path:
    """The recent history, the forecast after it and, when known, the actual values beside it.
    Each argument: {"times": datetime64 array, "values": {column: array}}."""
    plt = _pyplot()
    out = _checked(out)
    columns = list(forecast["values"])
    fig, axes = plt.subplots(
        len(columns),
        1,
        figsize=(WIDTH, max(6.0, PANEL * len(columns))),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    for ax, col in zip(axes[:, 0], columns):
        ax.set_gid(f"panel-forecast-{col}")
        ax.plot(history["times"], history["values"][col], color=OBSERVED, label="history", gid="history")
        ax.plot(
            forecast["times"],
            forecast["values"][col],
            color=EXPECTED,
            linestyle="--",
            marker=".",
            label="forecast",
            gid="forecast",
        )
        if actual is not None:
            ax.plot(
                actual["times"],
                actual["values"][col],
                color=EVENT,
                linestyle=":",
                marker="x",
                label="actual",
                gid="actual",
            )
        ax.axvline(forecast["times"][0], color=LABEL, linewidth=0.8)
        ax.set_ylabel(col)
        _legend(ax)
        _time_axis(ax, plt)
    axes[-1, 0].set_xlabel("time")
    fig.suptitle(title or "tsrnn forecast")
    return _save(fig, out, plt)


def _line(ax: Any, times: np.ndarray, values: np.ndarray, color: str, style: str, label: str) -> None:
    t, v = minmax_downsample(times, np.asarray(values, np.float64))
    ax.plot(t, v, color=color, linestyle=style, linewidth=0.9, label=label)


def _spans(ax: Any, events: list[Span], labels: list[Span], *, text: bool) -> None:
    for k, span in enumerate(labels):
        ax.axvspan(
            span.start,
            span.end,
            facecolor="none",
            edgecolor=LABEL,
            hatch="..",
            linewidth=1.0,
            label="labelled window" if k == 0 else None,
            gid=f"label-{k}",
        )
    for k, span in enumerate(events):
        ax.axvspan(
            span.start,
            span.end,
            color=EVENT,
            alpha=0.25,
            hatch="//",
            label="event" if k == 0 else None,
            gid=f"event-{k}",
        )
        if text:  # a number here; the zoomed panel below names the event
            ax.annotate(
                str(k + 1), (span.start, 1.0), xycoords=("data", "axes fraction"), fontsize=8, va="bottom", color=EVENT
            )


def _zoom(ax: Any, series: ScoredSeries, event: Span, column: str, k: int) -> None:
    """An event's rows and as many on each side (at least 20), observed against expected."""
    a, b = np.searchsorted(series.times, [event.start, event.end])
    pad = max(20, int(b - a))
    lo, hi = max(0, a - pad), min(len(series.times), b + 1 + pad)
    ax.set_gid(f"panel-event-{k}")
    t = series.times[lo:hi]
    ax.plot(t, series.values[column][lo:hi], color=OBSERVED, label="observed")
    if column in series.expected:
        ax.plot(t, series.expected[column][lo:hi], color=EXPECTED, linestyle="--", label="expected")
    ax.axvspan(event.start, event.end, color=EVENT, alpha=0.25, hatch="//", label=f"event {k + 1}")
    ax.set_ylabel(column)
    start, end = (np.datetime_as_string(t, unit="m").replace("T", " ") for t in (event.start, event.end))
    ax.set_title(f"event {k + 1}: {start} → {end}, {event.text}", fontsize=9, loc="left")
    _legend(ax)


def _legend(ax: Any) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)


def _time_axis(ax: Any, plt: Any) -> None:
    """Dates that do not overlap: as few labels as fit, each as short as its neighbours allow."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _pyplot() -> Any:
    matplotlib = require("matplotlib", "plot", "plotting")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _checked(out: str | Path) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"{out}: plots are written as {' or '.join(FORMATS)}; name the file so (HTML: --html)")
    return path


def _save(fig: Any, out: Path, plt: Any) -> Path:
    import io

    from tsrnn.fsutil import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format=out.suffix[1:].lower(), dpi=100)
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return out
