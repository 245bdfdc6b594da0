"""`tsrnn report`: a scores file (with its labels) or a run as pictures, and the HTML report around them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsrnn.errors import InputError
from tsrnn.evaluation.evaluate import read_scores
from tsrnn.evaluation.labels import load_labels, match_label, times_of
from tsrnn.report.plots import ScoredSeries, Span, scores_figure, training_figure


@dataclass
class ReportResult:
    """What `report` wrote, and what it drew."""

    kind: str  # scores | training
    files: list[str]
    series: list[str] = field(default_factory=list)  # the series of the scores file; the first (or --series) is drawn
    drawn: str = ""
    events: int = 0
    labels: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "files": self.files,
            "series": self.series,
            "drawn": self.drawn,
            "events": self.events,
            "labelled_windows": self.labels,
        }


def load_scored(
    path: str | Path, series: str | None = None, id_column: str | None = None
) -> tuple[ScoredSeries, list[str]]:
    """One series of a `watch --scores-out` file (`series`, or the first), and the names of all of them."""
    frame, idcol = read_scores(Path(path), id_column)
    names = [""] if idcol is None else frame[idcol].unique(maintain_order=True).to_list()
    name = names[0] if series is None else series
    if series is not None and series not in names:
        raise InputError(f"{path}: no series {series!r}; it has {', '.join(map(str, names[:10]))}")
    if idcol is not None:
        frame = frame.filter(pl.col(idcol) == name)
    times = times_of(frame["timestamp"], str(path))
    skip = {"timestamp", "score", "alert_score", "anomaly", "alert", idcol}
    value_cols = [c for c in frame.columns if c not in skip and not c.startswith(("expected", "score_"))]

    def numbers(col: str) -> np.ndarray:
        try:
            return frame[col].cast(pl.Float64).to_numpy()
        except pl.exceptions.PolarsError:
            raise InputError(f"{path}: column {col!r} must hold numbers") from None

    expected = {
        c: numbers("expected" if len(value_cols) == 1 else f"expected_{c}")
        for c in value_cols
        if ("expected" if len(value_cols) == 1 else f"expected_{c}") in frame.columns
    }
    channels = {c.removeprefix("score_"): numbers(c) for c in frame.columns if c.startswith("score_")}
    scored = ScoredSeries(
        str(name) or Path(path).stem,
        times,
        {c: numbers(c) for c in value_cols},
        expected,
        numbers("score"),
        numbers("anomaly") > 0,
        channels,
    )
    return scored, [str(n) for n in names]


def label_spans(labels_path: str | Path, key: str) -> list[Span]:
    """The labelled windows of `key` in a NAB-style labels file."""
    labels = load_labels(labels_path)
    found = match_label(key, labels)
    if found is None:
        raise InputError(
            f"{labels_path}: no labels for {key!r}; it has {', '.join(list(labels)[:5])} (use --label-key)"
        )
    where = f"{labels_path} ({found})"
    return [Span(times_of([a], where)[0], times_of([b], where)[0], "labelled") for a, b in labels[found]]


def report(
    target: str | Path,
    out: str | Path | None = None,
    *,
    labels: str | Path | None = None,
    label_key: str | None = None,
    threshold: float | None = None,
    series: str | None = None,
    events: int = 3,
    html: str | Path | None = None,
    runs_dir: str | Path = "runs",
    model: str | Path | None = None,
    console_text: str = "",
) -> ReportResult:
    """Draw a scores CSV (from `watch --scores-out`) or a run's training curves (a run directory or
    name) to `out` (.png or .svg), and/or a self-contained HTML report to `html`. `model` (the
    exported model that scored the file) gives the threshold line and the title."""
    if out is not None and Path(out).suffix.lower() in (".html", ".htm"):
        if html is not None:
            raise InputError(f"--out {out} is an HTML file and --html {html} another; give one")
        out, html = None, out
    if out is None and html is None:
        raise InputError("give --out FILE.png|.svg|.html, --html FILE.html, or both")
    if events < 0:
        raise InputError(f"--events must be 0 or more, got {events}")
    path = Path(target)
    if path.is_file() and path.suffix.lower() != ".json":
        name, join = "", 0
        if model is not None:
            from tsrnn.export.metadata import read_metadata

            meta = read_metadata(model)
            threshold = meta.scorer_calibration.threshold if threshold is None else threshold
            name, join = f" (model {meta.run_name})", meta.scorer_calibration.cooldown
        return _scores_report(path, out, labels, label_key, threshold, series, events, html, name, console_text, join)
    return _training_report(str(target), out, runs_dir, html)


def _scores_report(
    path: Path,
    out: str | Path | None,
    labels: str | Path | None,
    label_key: str | None,
    threshold: float | None,
    series: str | None,
    events: int,
    html: str | Path | None,
    model_name: str = "",
    console_text: str = "",
    join: int = 0,
) -> ReportResult:
    scored, names = load_scored(path, series)
    windows = label_spans(labels, label_key or path.name) if labels else []
    from tsrnn.report.plots import events_of

    found = events_of(scored, join)
    title = f"tsrnn scores: {path.name}{' / ' + scored.name if len(names) > 1 else ''}{model_name}"
    facts = {
        "file": str(path),
        "series": f"{scored.name} ({len(names)} in the file)",
        "rows": f"{len(scored.score):,}",
        "events": str(len(found)),
        "labelled windows": str(len(windows)),
    }

    def draw(figure: Path) -> Path:
        return scores_figure(
            scored, figure, threshold=threshold, title=title, labels=windows, events=found, zoom=events
        )

    written = _written(draw, out, html, title, facts, console_text)
    return ReportResult("scores", [str(p) for p in written], names, scored.name, len(found), len(windows))


def _training_report(
    target: str, out: str | Path | None, runs_dir: str | Path, html: str | Path | None
) -> ReportResult:
    from tsrnn.training.runs import resolve_run

    run = resolve_run(target, runs_dir)
    history, summary = run.info.get("history", []), run.info.get("summary", {})
    cfg = run.model_config
    title = f"tsrnn training: run {run.name} ({cfg.kind}, {cfg.cell} {cfg.layers}x{cfg.hidden})"
    keys = ("status", "epochs_run", "best_epoch", "best_val_loss", "train_seconds")
    facts = {k: str(summary[k]) for k in keys if k in summary}

    def draw(figure: Path) -> Path:
        return training_figure(history, figure, best_epoch=summary.get("best_epoch"), title=title)

    written = _written(draw, out, html, title, facts)
    return ReportResult("training", [str(p) for p in written], drawn=run.name)


def forecast_picture(result: Any, out: str | Path, *, title: str = "") -> Path:
    """The first series of a `forecast()` result: its recent rows, the forecast, and the rows held
    out (--holdout) beside it."""
    from tsrnn.report.plots import forecast_figure

    sid = next(iter(result.recent))
    frame = result.frame
    id_column = next((c for c in frame.columns if c not in ("timestamp", "step", *result.columns)), None)
    if id_column is not None:
        frame = frame.filter(pl.col(id_column) == sid)
    times = frame["timestamp"].str.to_datetime().to_numpy().astype("datetime64[us]")
    recent_t, recent_v = result.recent[sid]
    history = {"times": recent_t, "values": {c: recent_v[:, i] for i, c in enumerate(result.columns)}}
    forecast = {"times": times, "values": {c: frame[c].to_numpy() for c in result.columns}}
    actual = None
    if sid in result.actual:
        held_t, held_v = result.actual[sid]
        actual = {"times": held_t, "values": {c: held_v[:, i] for i, c in enumerate(result.columns)}}
    return forecast_figure(
        history, forecast, out, actual=actual, title=title or f"tsrnn forecast{': ' + sid if sid else ''}"
    )


def _written(
    draw: Any,
    out: str | Path | None,
    html: str | Path | None,
    title: str,
    facts: dict[str, str],
    console_text: str = "",
) -> list[Path]:
    """The picture at `out`, and the HTML report around it at `html`; without `out` the picture is
    drawn in a temporary directory, so no file the user did not name is written or replaced."""
    import tempfile

    from tsrnn.report.html import write_html

    with tempfile.TemporaryDirectory() as tmp:
        picture = draw(Path(out) if out is not None else Path(tmp) / "figure.svg")
        if html is None:
            return [picture]
        page = write_html(html, title, facts, [picture], console_text)
    return [page] if out is None else [picture, page]
