"""The watch loop: read new rows → infer → score → detect → write scores → commit state.

The state is committed last, after the scores file is written: a run killed at any point leaves
the previous state, and the next run scores the same rows again from the same state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsrnn.config import DEFAULT_COOLDOWN
from tsrnn.data.reader import Table, read_table
from tsrnn.export.metadata import ModelMetadata
from tsrnn.scoring.events import Event, find_events
from tsrnn.scoring.scorers import score
from tsrnn.streaming.output import write_scores
from tsrnn.streaming.runners import RUNNERS, arrays_from_json, arrays_to_json
from tsrnn.streaming.sources import read_new
from tsrnn.streaming.state import SeriesState, StateLock, WatchState, load_state, save_state

SERIES = ""  # the one series of a wide file (long format with --id-column comes later)


@dataclass
class WatchResult:
    """What one watch run scored and found."""

    source: str
    model: str
    provider: str
    requested_provider: str
    metadata: ModelMetadata
    table: Table | None  # the rows scored (None when nothing was new)
    expected: np.ndarray  # (rows, features)
    scores: np.ndarray  # (rows,) in [0, 1)
    anomaly: np.ndarray  # (rows,) bool
    warmup: np.ndarray  # (rows,) bool: the state was still building, not scored
    events: list[Event]
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    state: str | None = None

    @property
    def rows(self) -> int:
        return int(self.scores.shape[0])

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (the document `--json` prints)."""
        return {
            "source": self.source,
            "model": self.model,
            "run": self.metadata.run_name,
            "kind": self.metadata.kind,
            "columns": self.metadata.value_columns,
            "provider": self.provider,
            "requested_provider": self.requested_provider,
            "rows_scored": self.rows,
            "warmup_rows": int(self.warmup.sum()),
            "rows_dropped": self.dropped,
            "anomalous_rows": int(self.anomaly.sum()),
            "events": [e.to_dict() for e in self.events],
            "max_score": float(self.scores.max()) if self.rows else None,
            "threshold": self.metadata.scorer_calibration.threshold,
            "first_time": self.table.time_text[0] if self.table is not None and self.rows else None,
            "last_time": self.table.time_text[-1] if self.table is not None and self.rows else None,
            "state": self.state,
            "notes": self.notes,
        }


def watch(
    source: str | Path,
    model: str | Path,
    *,
    state: str | Path | None = None,
    scores_out: str | Path | None = None,
    provider: str = "cpu",
    strict_provider: bool = False,
    threads: int = 1,
    cooldown: int = DEFAULT_COOLDOWN,
) -> WatchResult:
    """Score the rows of `source` not scored before (all rows without a state file)."""
    from tsrnn.runtime.session import open_session

    session = open_session(model, provider=provider, strict_provider=strict_provider, threads=threads)
    meta = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map, str(model))
    runner = RUNNERS[meta.kind](session, meta)
    source = str(source)
    if state is None:
        return _score_chunk(source, str(model), session, meta, runner, None, scores_out, provider, cooldown)
    state_path = Path(state)
    with StateLock(state_path):
        key = source if source == "-" else os.path.abspath(source)
        fingerprint = f"{meta.run_name}:{meta.training_data.get('sha256', '')}"
        saved = load_state(state_path, fingerprint, key)
        result = _score_chunk(source, str(model), session, meta, runner, saved, scores_out, provider, cooldown)
        save_state(state_path, saved)  # _score_chunk advanced `saved` in memory
        result.state = str(state_path)
        return result


def _score_chunk(source, model, session, meta, runner, saved: WatchState | None, scores_out, provider: str, cooldown: int) -> WatchResult:  # noqa: ANN001
    chunk = read_new(source, saved.cursor if saved else None)
    dropped = dict(chunk.skipped)
    calibration = meta.scorer_calibration
    series = saved.series.get(SERIES, SeriesState()) if saved else SeriesState()
    table = None
    if chunk.has_rows:
        table = read_table(chunk.source, time_column=meta.time_column, columns=meta.value_columns, data=chunk.data, first_line=chunk.first_line)
        dropped.update(table.dropped)
        table = _drop_seen(table, series, dropped)
    rows = table.rows if table is not None else 0
    features = meta.features
    expected = np.zeros((rows, features))
    scores = np.zeros(rows)
    warmup = np.zeros(rows, bool)
    if rows:
        arrays = arrays_from_json(series.arrays) if series.arrays else runner.initial()
        expected, error, arrays = runner.run(table.values, arrays)
        scores = score(error, calibration)
        warmup = (series.rows_seen + np.arange(rows) < calibration.warmup) | np.isnan(error)
        scores[warmup] = 0.0
        series = SeriesState(series.rows_seen + rows, int(table.times[-1].astype("datetime64[us]").astype(np.int64)), arrays_to_json(arrays))
    anomaly = scores >= calibration.threshold
    events = find_events(anomaly, scores, table.time_text, table.values, expected, cooldown=cooldown, columns=meta.value_columns, scale=np.asarray(meta.scaler["scale"])) if rows else []
    if scores_out is not None:
        write_scores(scores_out, meta, table, expected, scores, anomaly)
    if saved is not None:
        saved.cursor = chunk.cursor
        saved.series[SERIES] = series
    return WatchResult(
        source=source,
        model=model,
        provider=session.get_providers()[0],
        requested_provider=provider,
        metadata=meta,
        table=table,
        expected=expected,
        scores=scores,
        anomaly=anomaly,
        warmup=warmup,
        events=events,
        dropped=dropped,
        notes=list(table.notes) if table is not None else [],
    )


def _drop_seen(table: Table, series: SeriesState, dropped: dict[str, int]) -> Table:
    """Rows at or before the last scored timestamp were scored already (or arrive out of order)."""
    if series.last_time_us is None:
        return table
    times = table.times.astype("datetime64[us]").astype(np.int64)
    keep = int(np.searchsorted(times, series.last_time_us, side="right"))
    if keep:
        dropped["timestamp not after the last scored row"] = dropped.get("timestamp not after the last scored row", 0) + keep
    return table.slice(keep)
