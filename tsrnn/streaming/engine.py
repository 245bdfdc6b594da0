"""The watch loop: read new rows → clean → infer → score → detect → write scores → commit state.

The state is committed last, after the scores file is written: a run killed at any point leaves
the previous state, and the next run scores the same rows again from the same state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsrnn.config import DEFAULT_COOLDOWN
from tsrnn.data.clean import Dataset, Segment, clean
from tsrnn.data.reader import ID, ROW, TEXT, TIME, Frame, read_frame
from tsrnn.errors import InputError
from tsrnn.export.metadata import ModelMetadata, session_metadata
from tsrnn.runtime.providers import GpuOptions
from tsrnn.scoring.events import Event, find_events
from tsrnn.scoring.scorers import score
from tsrnn.streaming.output import write_scores
from tsrnn.streaming.runners import arrays_from_json, arrays_to_json, runner_for
from tsrnn.streaming.sources import SourceChanged, read_new, source_files
from tsrnn.streaming.state import SeriesState, StateLock, WatchState, load_state, save_state

SEEN = "timestamp not after the last scored row"


@dataclass
class Scored:
    """Per scored row (rows that came from the data, not rows inserted into gaps)."""

    series: list[str] = field(default_factory=list)
    time_text: list[str] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)  # (rows, features) per segment
    expected: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    warmup: list[np.ndarray] = field(default_factory=list)

    def stack(self, features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self.scores:
            return np.zeros((0, features)), np.zeros((0, features)), np.zeros(0), np.zeros(0, bool)
        return np.concatenate(self.values), np.concatenate(self.expected), np.concatenate(self.scores), np.concatenate(self.warmup)


@dataclass
class WatchResult:
    """What one watch run scored and found."""

    source: str
    model: str
    provider: str
    requested_provider: str
    metadata: ModelMetadata
    series: list[str]  # (rows,) series id per scored row ("" without an id column)
    time_text: list[str]  # (rows,)
    values: np.ndarray  # (rows, features)
    expected: np.ndarray  # (rows, features)
    scores: np.ndarray  # (rows,) in [0, 1)
    anomaly: np.ndarray  # (rows,) bool
    warmup: np.ndarray  # (rows,) bool: the state was still building, not scored
    events: list[Event]
    dropped: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
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
            "series": len(set(self.series)),
            "rows_scored": self.rows,
            "warmup_rows": int(self.warmup.sum()),
            "rows_dropped": self.dropped,
            "filled": self.filled,
            "anomalous_rows": int(self.anomaly.sum()),
            "events": [e.to_dict() for e in self.events],
            "max_score": float(self.scores.max()) if self.rows else None,
            "threshold": self.metadata.scorer_calibration.threshold,
            "first_time": min(self.time_text) if self.rows else None,
            "last_time": max(self.time_text) if self.rows else None,
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
    min_duration: int = 1,
    wait: bool = False,
    gpu: GpuOptions | None = None,
) -> WatchResult:
    """Score the rows of `source` not scored before (all rows without a state file).

    Events need `min_duration` anomalous rows (shorter ones are not alerts, and their rows are
    not marked anomalous); anomalous rows within `cooldown` rows of an event join it. With
    `wait`, a run waits for another run on the same state instead of refusing.
    """
    job = open_job(source, model, provider=provider, strict_provider=strict_provider, threads=threads, cooldown=cooldown, min_duration=min_duration, gpu=gpu)
    if state is None:
        return job.run(None, scores_out)
    state_path = Path(state)
    with StateLock(state_path, wait=wait):
        saved = load_state(state_path, job.fingerprint, job.key)
        result = job.run(saved, scores_out)
        _failpoint("before-state-commit")
        save_state(state_path, saved)  # job.run advanced `saved` in memory
        result.state = str(state_path)
        return result


def open_job(source: str | Path, model: str | Path, *, provider: str = "cpu", strict_provider: bool = False, threads: int = 1,
             cooldown: int = DEFAULT_COOLDOWN, min_duration: int = 1, gpu: GpuOptions | None = None) -> _Job:
    """An onnxruntime session on the model, ready to score passes over the source."""
    from tsrnn.runtime.session import open_session

    session = open_session(model, provider=provider, strict_provider=strict_provider, threads=threads, gpu=gpu)
    meta = session_metadata(session, model)
    return _Job(str(source), str(model), session, meta, provider, cooldown, min_duration)


class _Job:
    """Passes of watch over one source: each scores what is new since the state's cursor."""

    def __init__(self, source: str, model: str, session, meta: ModelMetadata, provider: str, cooldown: int, min_duration: int) -> None:  # noqa: ANN001
        self.source, self.model, self.session, self.meta = source, model, session, meta
        self.provider, self.cooldown, self.min_duration = provider, cooldown, min_duration
        self.runner = runner_for(session, meta)
        self.calibration = meta.scorer_calibration
        self.key = source if source == "-" else os.path.abspath(source)  # a state belongs to one source
        self.fingerprint = f"{meta.run_name}:{meta.training_data.get('sha256', '')}"  # ... and one model

    def fresh_state(self) -> WatchState:
        return WatchState(self.fingerprint, self.key)

    def run(self, saved: WatchState | None, scores_out: str | Path | None) -> WatchResult:
        """One pass: the new rows of each file of the source, in file order, as one stream."""
        dropped: dict[str, int] = {}
        filled: dict[str, int] = {}
        notes: list[str] = []
        states = dict(saved.series) if saved else {}
        scored = Scored()
        cursors = {}
        files = source_files(self.source)
        for name in files:  # keyed by absolute path; messages name a single file as the user did
            shown = self.source if self.source == "-" or Path(self.source).is_file() else name
            try:
                chunk = read_new(shown, saved.cursors.get(name) if saved else None)
            except SourceChanged as exc:
                raise SourceChanged(str(exc), name) from None
            cursors[name] = chunk.cursor
            _add(dropped, chunk.skipped)
            if not chunk.has_rows:
                continue
            dataset = self._read(chunk, states, dropped)
            if dataset is not None:
                _add(dropped, {k: v for k, v in dataset.dropped.items() if k != SEEN})
                _add(filled, dataset.filled)
                notes += [n for n in list(dataset.notes) + self._interval_note(dataset) if n not in notes]
                self._score(dataset, states, scored)
        values, expected, scores, warmup = scored.stack(self.meta.features)
        anomaly = scores >= self.calibration.threshold
        events = self._events(scored, values, expected, scores, anomaly)
        if self.min_duration > 1:
            events, anomaly = self._drop_short(events, scored, anomaly)
        if scores_out is not None:
            key = None if str(scores_out) == "-" or saved is None else os.path.abspath(scores_out)
            size = write_scores(scores_out, self.meta, scored.series, scored.time_text, values, expected, scores, anomaly,
                                committed=saved.outputs.get(key, 0) if key else None)
            if key and size is not None:
                saved.outputs[key] = size
        if saved is not None:
            saved.cursors.update(cursors)
            saved.series = states
        return WatchResult(
            self.source, self.model, self.session.get_providers()[0], self.provider, self.meta,
            scored.series, scored.time_text, values, expected, scores, anomaly, warmup, events, dropped, filled, notes,
        )

    def _read(self, chunk, states: dict[str, SeriesState], dropped: dict[str, int]) -> Dataset | None:  # noqa: ANN001
        """New rows, minus those already scored, with each series' last scored row in front."""
        meta = self.meta
        cfg = meta.data
        try:
            frame = read_frame(chunk.source, time_column=meta.time_column, columns=meta.value_columns, id_column=cfg.id_column, data=chunk.data, first_line=chunk.first_line)
        except InputError as exc:
            if "not found" in str(exc):
                wanted = ", ".join(repr(c) for c in meta.value_columns)
                raise InputError(f"{exc} (model {meta.run_name!r} was trained on time column {meta.time_column!r} and value columns {wanted}: give data with those columns, or train on this file)") from None
            raise
        frame, seen = _drop_seen(frame, states)
        if seen:
            dropped[SEEN] = dropped.get(SEEN, 0) + seen
        if frame.data.height == 0:
            return None
        frame = _prepend_last_rows(frame, states)
        return clean(frame, cfg, interval=meta.interval)

    def _score(self, dataset: Dataset, states: dict[str, SeriesState], scored: Scored) -> None:
        jobs = []  # (series, segment, arrays, rows seen before, continues the saved state)
        for seg in dataset.segments:
            st = states.get(seg.series)
            if seg.text is not None and seg.text[0] == PREPENDED and st is not None:  # continues the saved state
                seg = _drop_first(seg)
                if seg.rows == 0:
                    continue
                jobs.append((seg, arrays_from_json(st.arrays), st.rows_seen))
            else:
                jobs.append((seg, self.runner.initial(), 0))
        outputs = self.runner.run_many([(seg.values, arrays) for seg, arrays, _ in jobs])
        for (seg, _, seen), (expected, error, arrays) in zip(jobs, outputs):
            scores = score(error, self.calibration)
            warm = (seen + np.arange(seg.rows) < self.calibration.warmup) | np.isnan(error)
            scores[warm] = 0.0
            states[seg.series] = SeriesState(
                seen + seg.rows, int(seg.times[-1].astype(np.int64)), arrays_to_json(arrays),
                [float(v) for v in seg.values[-1]],
            )
            keep = seg.observed
            scored.series += [seg.series] * int(keep.sum())
            scored.time_text += [t for t, k in zip(seg.text or [""] * seg.rows, keep) if k]
            scored.values.append(seg.values[keep])
            scored.expected.append(expected[keep])
            scored.scores.append(scores[keep])
            scored.warmup.append(warm[keep])

    def _events(self, scored: Scored, values: np.ndarray, expected: np.ndarray, scores: np.ndarray, anomaly: np.ndarray) -> list[Event]:
        events: list[Event] = []
        groups: dict[str, list[int]] = {}  # one pass over the rows, not one per series
        for i, sid in enumerate(scored.series):
            groups.setdefault(sid, []).append(i)
        scale = np.asarray(self.meta.scaler["scale"])
        for sid, index in groups.items():
            rows = np.asarray(index)
            if not anomaly[rows].any():
                continue
            events += find_events(
                anomaly[rows], scores[rows], [scored.time_text[i] for i in rows], values[rows], expected[rows],
                cooldown=self.cooldown, series=sid, columns=self.meta.value_columns, scale=scale,
            )
        return events

    def _drop_short(self, events: list[Event], scored: Scored, anomaly: np.ndarray) -> tuple[list[Event], np.ndarray]:
        """Events with fewer than min_duration anomalous rows are not alerts; unmark their rows."""
        keep = [e for e in events if e.rows >= self.min_duration]
        short = [e for e in events if e.rows < self.min_duration]
        if short:
            anomaly = anomaly.copy()
            ids, times = np.array(scored.series, dtype=object), np.array(scored.time_text, dtype=object)
            for e in short:
                anomaly[(ids == e.series) & (times >= e.start) & (times <= e.end)] = False
        return keep, anomaly

    def _interval_note(self, dataset: Dataset) -> list[str]:
        trained, now = self.meta.interval, dataset.data_interval_seconds
        if self.meta.data.resample or not (trained and now and dataset.rows >= 3):
            return []
        if abs(now - trained) > 0.1 * trained:
            return [f"new rows arrive every {now:g} s but the model was trained on rows every {trained:g} s; scores may mislead (retrain, or use --resample at train time)"]
        return []


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for key, n in more.items():
        total[key] = total.get(key, 0) + n


def _failpoint(name: str) -> None:
    """Tests set TSRNN_FAILPOINT=name to SIGKILL the process here, where a random kill rarely lands."""
    if os.environ.get("TSRNN_FAILPOINT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


PREPENDED = "\x00prev"  # text marker of the last scored row, put in front of a series' new rows


def _drop_seen(frame: Frame, states: dict[str, SeriesState]) -> tuple[Frame, int]:
    """Rows at or before their series' last scored timestamp were scored already (or are late)."""
    last = {sid: st.last_time_us for sid, st in states.items() if st.last_time_us is not None}
    if not last:
        return frame, 0
    key = pl.col(ID) if frame.id_column else pl.lit("")
    table = pl.DataFrame({"__sid": list(last), "__last": list(last.values())}, schema={"__sid": pl.String, "__last": pl.Int64})
    data = frame.data.with_columns(key.alias("__sid")).join(table, on="__sid", how="left", maintain_order="left")
    fresh = data["__last"].is_null() | (data[TIME].cast(pl.Int64) > data["__last"])
    kept = data.filter(fresh).drop("__sid", "__last")
    frame.data = kept
    return frame, int((~fresh).sum())


def _prepend_last_rows(frame: Frame, states: dict[str, SeriesState]) -> Frame:
    """Put each series' last scored row in front, so gaps and fills span two runs as in one."""
    ids = set(frame.data[ID].unique().to_list()) if frame.id_column else {""}
    rows = [(sid, st) for sid, st in states.items() if sid in ids and st.last_values is not None and st.last_time_us is not None]
    if not rows:
        return frame
    cols: dict[str, Any] = {
        ROW: [-1] * len(rows),
        TIME: pl.Series([st.last_time_us for _, st in rows], dtype=pl.Int64).cast(pl.Datetime("us")),
    }
    if frame.id_column:
        cols[ID] = [sid for sid, _ in rows]
    if TEXT in frame.data.columns:
        cols[TEXT] = [PREPENDED] * len(rows)
    for i, col in enumerate(frame.value_columns):
        cols[col] = [float(st.last_values[i]) for _, st in rows]
    head = pl.DataFrame(cols, schema=frame.data.schema)
    keys = [ID, TIME] if frame.id_column else [TIME]
    frame.data = pl.concat([head, frame.data]).sort(keys, maintain_order=True)
    return frame


def _drop_first(seg: Segment) -> Segment:
    return Segment(seg.series, seg.times[1:], seg.values[1:], seg.observed[1:], seg.text[1:] if seg.text else None)
