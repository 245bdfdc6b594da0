"""`tsrnn evaluate`: score files written by `watch --scores-out` against labelled windows.

Labels are NAB's windows format, {"file.csv": [["start", "end"], ...]}. A scores file matches
the label key that equals its path relative to the scores directory, or else the key with the
same file name. A long-format scores file (`watch --id-column`: a text column names the series)
is split into its series, each matched by "<file>:<series>" or by the series name alone.

Metrics: the NAB score (three profiles, threshold swept over the corpus, on the alert_score
column when the file has it: an incident's rows after its first are 0 there, as NAB's own
detectors report), event-level precision/recall/F1 and point-adjusted F1 at the detector's own
alerts, and per series the forecast MAE, RMSE and MASE where the file has expected values (the
summary is the median MASE: errors in different units are not averaged). Labelled windows that
start in a series' probationary period are not scored by NAB; they are counted and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsrnn.errors import InputError
from tsrnn.evaluation.labels import label_windows, load_labels, match_label, times_of
from tsrnn.evaluation.nab import (
    PROFILES,
    ScoredFile,
    false_positive_rows,
    prepare,
    probation_rows,
    sweep,
    window_rows,
)
from tsrnn.safetext import formula_unquoted_frame


@dataclass
class FileReport:
    name: str  # the scores file, and ":<series>" for a series of a long-format file
    label_key: str
    rows: int
    windows: int  # labelled windows that NAB scores (those starting after the probationary period)
    windows_in_probation: int  # labelled windows starting in the probationary period: not scored
    alerts: int  # the detector's own alerts (first rows of its events) after the probationary period
    alerts_in_windows: int
    windows_found: int
    point_adjusted: dict[str, float]
    forecast: dict[str, float] = field(default_factory=dict)
    nab_false_positive_rows: int = (
        0  # rows scored at or above the standard profile's swept threshold outside every window
    )


def score_files(scores: str | Path) -> list[tuple[Path, str]]:
    """(file, name relative to the scores directory) for a file or every *.csv under a directory."""
    p = Path(scores)
    if p.is_file():
        return [(p, p.name)]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*.csv") if f.is_file())
        if not files:
            raise InputError(
                f"{scores}: the directory holds no .csv score files; give files written by `tsrnn watch --scores-out`"
            )
        return [(f, f.relative_to(p).as_posix()) for f in files]
    raise InputError(f"{scores}: no such file or directory; give a scores file written by `tsrnn watch --scores-out`")


def read_scores(path: Path, id_column: str | None = None) -> tuple[pl.DataFrame, str | None]:
    """The scores file as text columns, and its id column: `id_column` when given, else the one
    text column besides the timestamp (a long-format file), else None."""
    try:
        frame = pl.read_csv(path, infer_schema_length=0)  # all text; typed below, so a bad cell is named
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(
            f"{path}: cannot read it as CSV ({str(exc).splitlines()[0]}); give a file written by `tsrnn watch "
            f"--scores-out`"
        ) from None
    frame = formula_unquoted_frame(frame)  # ids, timestamps and names as read, without the spreadsheet's quote
    missing = [c for c in ("timestamp", "score", "anomaly") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: no {', '.join(missing)} column; give a file written by `tsrnn watch --scores-out`")
    if id_column is not None:
        if id_column not in frame.columns:
            raise InputError(f"{path}: no column {id_column!r} for --id-column; it has {', '.join(frame.columns)}")
        return frame, id_column
    text = [
        c
        for c in frame.columns
        if c != "timestamp" and frame[c].cast(pl.Float64, strict=False).null_count() > frame[c].null_count()
    ]
    if len(text) > 1:
        raise InputError(
            f"{path}: columns {', '.join(repr(c) for c in text)} are not numeric; a scores file has one id column at "
            f"most "
            "(name it with --id-column)"
        )
    return frame, (text[0] if text else None)


def _series_of(
    path: Path, name: str, labels: dict[str, Any], label_key: str | None, id_column: str | None = None
) -> list[tuple[str, str | None, pl.DataFrame]]:
    """(name to report, label key or None, rows) for each series of a scores file."""
    frame, id_column = read_scores(path, id_column)
    if id_column is None:
        return [(name, label_key or match_label(name, labels), frame)]
    if label_key is not None:
        raise InputError(
            f"{path}: --label-key names the labels of one series, and this file holds a series per {id_column!r}; "
            f'name its labels per series ("{name}:<series>" or "<series>")'
        )
    out = []
    for part in frame.partition_by(id_column, maintain_order=True):
        sid = str(part[id_column][0])
        key = next((k for k in (f"{name}:{sid}", f"{Path(name).name}:{sid}", sid) if k in labels), None)
        out.append((f"{name}:{sid}", key, part.drop(id_column)))
    if all(key is None for _, key, _ in out) and match_label(name, labels) is not None:
        raise InputError(
            f"{path}: this file holds a series per {id_column!r}, and its labels name the whole file; "
            f'name them per series ("{name}:<series>" or "<series>")'
        )
    return out


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` found: NAB's scores per profile, and a report per scored series."""

    files: list[FileReport]
    nab: dict[str, Any]  # profile name → its sweep result (normalized score, threshold, raw, ...)
    unmatched: list[str]  # scores files or series no label key matched

    def score(self, profile: str = "standard") -> float:
        """NAB's normalised score (0 to 100) under a profile: standard, reward_low_FP_rate or reward_low_FN_rate."""
        return float(self.nab[profile].normalized)

    def to_dict(self) -> dict[str, Any]:
        """Everything `tsrnn evaluate --json` prints."""
        return _document(self.nab, self.files, self.unmatched)

    def __getitem__(self, key: str) -> Any:
        """A key of the JSON document (what earlier releases returned), e.g. result["nab"]."""
        return self.to_dict()[key]


def evaluate(
    scores: str | Path, labels_path: str | Path, *, label_key: str | None = None, id_column: str | None = None
) -> Evaluation:
    """Score `watch --scores-out` files against labelled windows (NAB's format): NAB's scores, event
    precision and recall, point-adjusted F1, and the forecast errors when the files have them.

    `label_key` names the labels of a single scores file whose name differs from the labels' key;
    `id_column` names the column of a long-format file's series (found by itself when its values
    are text; needed when they are numbers).
    """
    labels = load_labels(labels_path)
    files = score_files(scores)
    if label_key is not None:
        if len(files) != 1:
            raise InputError(
                f"--label-key applies to a single scores file; {scores} holds {len(files)}: name each file as its "
                f"label key instead"
            )
        if label_key not in labels:
            raise InputError(
                f"--label-key {label_key!r} is not a key of {labels_path}; it has {', '.join(list(labels)[:5])}"
            )
        files = [(files[0][0], label_key)]
    prepared: list[ScoredFile] = []
    reports: list[FileReport] = []
    unmatched: list[str] = []
    for path, name in files:
        for shown, key, frame in _series_of(path, name, labels, label_key, id_column):
            if key is None:
                unmatched.append(shown)
                continue
            if frame.height == 0:
                continue
            times = times_of(frame["timestamp"], str(path))
            order = np.argsort(times, kind="stable")
            times = times[order]
            try:
                # NAB sweeps the alert score when the file has one: an incident's rows after its first are 0 there
                score = (
                    frame["alert_score" if "alert_score" in frame.columns else "score"]
                    .cast(pl.Float64)
                    .to_numpy()[order]
                )
                flag = frame["anomaly"].cast(pl.Int64).to_numpy()[order].astype(bool)
            except pl.exceptions.PolarsError:
                raise InputError(f"{path}: the score and anomaly columns must be numbers") from None
            where = f"{labels_path} ({key})"
            windows = label_windows(labels[key], times, where)
            prepared.append(prepare(shown, times, score, windows))
            reports.append(_file_report(shown, key, frame[order], times, score, flag, windows))
    if not prepared:
        shown = ", ".join(unmatched[:3])
        raise InputError(
            f"{scores}: no scores file matches a key of {labels_path} (files: {shown}); name them as the labels do, "
            f"or give --label-key"
        )
    nab = {p.name: sweep(prepared, p) for p in PROFILES}
    for report, scored in zip(reports, prepared):  # each series' share of the standard profile's false positives
        report.nab_false_positive_rows = false_positive_rows(scored, nab["standard"].threshold)
    return Evaluation(reports, nab, unmatched)


def _file_report(
    name: str, key: str, frame: pl.DataFrame, times: np.ndarray, score: np.ndarray, flag: np.ndarray, windows: list
) -> FileReport:
    n = score.shape[0]
    start = probation_rows(n)
    every = window_rows(times, windows)
    spans = [(a, b) for a, b in every if a >= start]
    alert = flag & (score > 0)  # an event's first row; later rows of the incident have alert_score 0
    alert[:start] = False
    inside = np.zeros(n, bool)
    for a, b in spans:
        inside[a : b + 1] = True
    found = sum(1 for a, b in spans if alert[a : b + 1].any())
    # point-adjusted: a window with any flagged row counts as wholly flagged
    pred = flag.copy()
    for a, b in spans:
        if pred[a : b + 1].any():
            pred[a : b + 1] = True
    pred, truth = pred[start:], inside[start:]
    tp = int((pred & truth).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    pa = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
    return FileReport(
        name,
        key,
        n,
        len(spans),
        len(every) - len(spans),
        int(alert.sum()),
        int((alert & inside).sum()),
        found,
        pa,
        _forecast_errors(frame),
    )


def _forecast_errors(frame: pl.DataFrame) -> dict[str, float]:
    pairs = [(c[len("expected_") :], c) for c in frame.columns if c.startswith("expected_")]
    if "expected" in frame.columns:
        value = next(
            (
                c
                for c in frame.columns
                if c not in ("timestamp", "expected", "score", "alert_score", "anomaly") and not c.startswith("score_")
            ),
            None,
        )
        pairs = [(value, "expected")] if value else []
    errs, naive = [], []
    for col, exp in pairs:
        if col not in frame.columns:
            continue
        x = frame[col].cast(pl.Float64, strict=False).to_numpy()
        e = frame[exp].cast(pl.Float64, strict=False).to_numpy()
        ok = np.isfinite(x) & np.isfinite(e)
        if ok.sum() < 2:
            continue
        errs.append(x[ok] - e[ok])
        naive.append(np.abs(np.diff(x[np.isfinite(x)])))
    if not errs:
        return {}
    err, nv = np.concatenate(errs), np.concatenate(naive)
    mae = float(np.abs(err).mean())
    scale = float(nv.mean()) if nv.size else 0.0
    return {"mae": mae, "rmse": float(np.sqrt((err**2).mean())), "mase": mae / scale if scale > 0 else float("nan")}


def _document(nab: dict, reports: list[FileReport], unmatched: list[str]) -> dict[str, Any]:
    windows = sum(r.windows for r in reports)
    alerts = sum(r.alerts for r in reports)
    in_windows = sum(r.alerts_in_windows for r in reports)
    found = sum(r.windows_found for r in reports)
    precision = in_windows / alerts if alerts else 0.0
    recall = found / windows if windows else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pa = [r.point_adjusted for r in reports if r.windows]
    forecast = [r.forecast for r in reports if r.forecast]
    return {
        "files": len(reports),
        "windows": windows,
        "nab": {
            name: {
                "score": res.normalized,
                "threshold": res.threshold,
                "raw": res.raw,
                "windows_found": res.true_positives,
                "false_positive_rows": res.false_positives,
            }
            for name, res in nab.items()
        },
        "events": {
            "alerts": alerts,
            "alerts_in_windows": in_windows,
            "windows_found": found,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        },
        "point_adjusted_f1": float(np.mean([p["f1"] for p in pa])) if pa else None,
        "windows_in_probation": sum(r.windows_in_probation for r in reports),
        "forecast": _forecast_summary(forecast),
        "per_file": [
            {
                "file": r.name,
                "labels": r.label_key,
                "rows": r.rows,
                "windows": r.windows,
                "windows_in_probation": r.windows_in_probation,
                "windows_found": r.windows_found,
                "nab_false_positive_rows": r.nab_false_positive_rows,
                "alerts": r.alerts,
                "false_alerts": r.alerts - r.alerts_in_windows,
                "point_adjusted_f1": r.point_adjusted["f1"],
                **({"forecast": r.forecast} if r.forecast else {}),
            }
            for r in reports
        ],
        "unmatched": unmatched,
    }


def _forecast_summary(forecast: list[dict[str, float]]) -> dict[str, Any] | None:
    """One series: its MAE, RMSE and MASE. Several: the median MASE (unit-free) over them; their
    MAE and RMSE are in each series' own units, reported per file only."""
    if not forecast:
        return None
    mase = [f["mase"] for f in forecast if np.isfinite(f["mase"])]
    doc: dict[str, Any] = {"series": len(forecast), "mase": float(np.median(mase)) if mase else float("nan")}
    if len(forecast) == 1:
        doc.update(mae=forecast[0]["mae"], rmse=forecast[0]["rmse"])
    return doc
