"""The watch loop: read new rows → clean → infer → score → detect → write scores → commit state.

Rows go through in slices of about SLICE_BYTES of CSV text (read, scored, written, let go), so
memory stays flat however long the backlog. The state is committed last, after the scores file
is complete: a run killed at any point leaves the previous state, and the next run scores the
same rows again from the same state.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsrnn.data.clean import Dataset, Segment, clean
from tsrnn.data.reader import ID, ROW, TEXT, TIME, Frame, read_frame
from tsrnn.errors import InputError
from tsrnn.export.metadata import ModelMetadata, session_metadata
from tsrnn.runtime.providers import GpuOptions
from tsrnn.scoring.detector import DetectorSettings, Inputs, SeriesDetector
from tsrnn.scoring.events import Event
from tsrnn.streaming.output import ScoresWriter, scores_frame
from tsrnn.streaming.runners import arrays_from_json, arrays_to_json, runner_for
from tsrnn.streaming.sources import SourceChanged, read_new, source_files
from tsrnn.streaming.state import SeriesState, StateLock, WatchState, load_state, save_state

SEEN = "timestamp not after the last scored row"
SLICE_BYTES = 1 << 20  # CSV text per slice: about 35,000 rows of a narrow file (peak memory grows with it)
EventSink = Callable[[Event], None]


class Tally:
    """What a run scored, in bounded memory: counts, extremes and a fixed-size trace of scores."""

    TRACE = 120  # the trace keeps between TRACE and 2 * TRACE bucket maxima

    def __init__(self) -> None:
        self.rows = self.warmup = self.anomalous = 0
        self.max_score: float | None = None
        self._first: tuple[np.datetime64, str] | None = None  # (time, its text as written) of the earliest row
        self._last: tuple[np.datetime64, str] | None = None
        self.series: set[str] = set()
        self.events: list[Event] = []
        self._trace: list[float] = []  # maxima of `_bucket` consecutive scored rows
        self._bucket, self._fill = 1, 0

    def add(self, series: str, times: np.ndarray, time_text: list[str], scores: np.ndarray, anomaly: np.ndarray, warmup: np.ndarray) -> None:
        """One segment's scored rows; `times` (datetime64) are in order, so its ends are its extremes."""
        if not scores.size:
            return
        self.rows += int(scores.size)
        self.warmup += int(warmup.sum())
        self.anomalous += int(anomaly.sum())
        top = float(scores.max())
        self.max_score = top if self.max_score is None else max(self.max_score, top)
        if self._first is None or times[0] < self._first[0]:
            self._first = (times[0], time_text[0])
        if self._last is None or times[-1] > self._last[0]:
            self._last = (times[-1], time_text[-1])
        self.series.add(series)
        i = 0
        while i < scores.size:  # fill the open bucket; when the trace is full, merge pairs of buckets
            if self._fill == 0:
                self._trace.append(0.0)
            take = min(self._bucket - self._fill, scores.size - i)
            self._trace[-1] = max(self._trace[-1], float(scores[i : i + take].max()))
            self._fill = (self._fill + take) % self._bucket
            i += take
            if self._fill == 0 and len(self._trace) >= 2 * self.TRACE:
                self._trace = [max(a, b) for a, b in zip(self._trace[::2], self._trace[1::2])]
                self._bucket *= 2

    @property
    def first_time(self) -> str | None:
        return self._first[1] if self._first else None

    @property
    def last_time(self) -> str | None:
        return self._last[1] if self._last else None

    @property
    def trace(self) -> np.ndarray:
        """Scores in the order they were scored, as maxima of equal buckets of rows."""
        return np.asarray(self._trace)


@dataclass
class WatchResult:
    """What one watch run scored and found (per-row scores go to --scores-out, not here)."""

    source: str
    model: str
    provider: str
    requested_provider: str
    metadata: ModelMetadata
    settings: DetectorSettings
    tally: Tally
    dropped: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    state: str | None = None

    @property
    def rows(self) -> int:
        return self.tally.rows

    @property
    def events(self) -> list[Event]:
        return self.tally.events

    @property
    def alerts(self) -> list[Event]:
        """Events that began in this run; one reported by an earlier run is not a new alert."""
        return [e for e in self.tally.events if not e.continued]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (the document `--json` prints)."""
        t = self.tally
        return {
            "source": self.source,
            "model": self.model,
            "run": self.metadata.run_name,
            "kind": self.metadata.kind,
            "columns": self.metadata.value_columns,
            "provider": self.provider,
            "requested_provider": self.requested_provider,
            "series": len(t.series),
            "rows_scored": t.rows,
            "warmup_rows": t.warmup,
            "rows_dropped": self.dropped,
            "filled": self.filled,
            "anomalous_rows": t.anomalous,
            "alerts": len(self.alerts),
            "events": [e.to_dict() for e in t.events],
            "max_score": t.max_score,
            "threshold": self.settings.threshold,
            "threshold_method": self.settings.method,
            "channels": list(self.settings.channels),
            "cooldown": self.settings.cooldown,
            "first_time": t.first_time,
            "last_time": t.last_time,
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
    cooldown: int | None = None,
    min_duration: int = 1,
    wait: bool = False,
    gpu: GpuOptions | None = None,
    score: dict[str, Any] | None = None,
    on_event: EventSink | None = None,
    channel_scores: bool = False,
) -> WatchResult:
    """Score the rows of `source` not scored before (all rows without a state file).

    Incidents within `cooldown` rows of an event's end join it (None: the model's); an event needs
    `min_duration` flagged rows to be an alert. `score` overrides the model's detector settings
    (DetectorSettings names: method, threshold, level_quantile, risk, smooth, memory, quantile,
    channels, release, hold, accept_after, freeze, ...; None values are ignored). `on_event` hears each event as it is
    found. With `wait`, a run waits for another run on the same state. `channel_scores` adds
    each channel's score to the scores file.
    """
    job = open_job(source, model, provider=provider, strict_provider=strict_provider, threads=threads, cooldown=cooldown,
                   min_duration=min_duration, gpu=gpu, score=score, channel_scores=channel_scores)
    if state is None:
        return job.run(None, scores_out, on_event)
    state_path = Path(state)
    with StateLock(state_path, wait=wait):
        saved = load_state(state_path, job.fingerprint, job.key)
        result = job.run(saved, scores_out, on_event)
        _failpoint("before-state-commit")
        save_state(state_path, saved)  # job.run advanced `saved` in memory
        result.state = str(state_path)
        return result


def open_job(source: str | Path, model: str | Path, *, provider: str = "cpu", strict_provider: bool = False, threads: int = 1,
             cooldown: int | None = None, min_duration: int = 1, gpu: GpuOptions | None = None, score: dict[str, Any] | None = None,
             channel_scores: bool = False) -> _Job:
    """An onnxruntime session on the model, ready to score passes over the source."""
    from tsrnn.runtime.session import open_session

    session = open_session(model, provider=provider, strict_provider=strict_provider, threads=threads, gpu=gpu)
    meta = session_metadata(session, model)
    return _Job(str(source), str(model), session, meta, provider, cooldown, min_duration, score, channel_scores)


class _Job:
    """Passes of watch over one source: each scores what is new since the state's cursor."""

    def __init__(self, source: str, model: str, session, meta: ModelMetadata, provider: str, cooldown: int | None, min_duration: int,  # noqa: ANN001
                 score: dict[str, Any] | None = None, channel_scores: bool = False) -> None:
        self.source, self.model, self.session, self.meta, self.provider = source, model, session, meta, provider
        self.runner = runner_for(session, meta)
        self.calibration = calibration = meta.scorer_calibration
        self.settings = calibration.settings(**{"cooldown": cooldown, "min_duration": min_duration, **(score or {})})
        missing = [c for c in self.settings.channels if c not in calibration.channels]
        if missing:
            raise InputError(f"--channels: model {meta.run_name!r} was trained without the {', '.join(missing)} channel; "
                             f"use some of {', '.join(calibration.channels)}, or train with it")
        self.own_novelty = calibration.novelty == "autoencoder"  # the model's error is the novelty channel
        self.all_scored = len(meta.scored) == meta.features
        self.mean = np.asarray(meta.scaler["mean"])[meta.scored]  # of the scored columns
        self.scale = np.asarray(meta.scaler["scale"])[meta.scored]
        self.channel_scores = channel_scores
        self.layouts: dict[tuple, Any] = {}  # each file's CSV layout, worked out from its first slice
        self.key = source if source == "-" else os.path.abspath(source)  # a state belongs to one source
        self.fingerprint = f"{meta.run_name}:{meta.training_data.get('sha256', '')}"  # ... and one model

    def fresh_state(self) -> WatchState:
        return WatchState(self.fingerprint, self.key)

    def run(self, saved: WatchState | None, scores_out: str | Path | None, on_event: EventSink | None = None) -> WatchResult:
        """One pass: the new rows of each file of the source, in file order, as one stream.

        `saved` (when given) is advanced in memory; the caller commits it once this returns.
        """
        dropped: dict[str, int] = {}
        filled: dict[str, int] = {}
        notes: list[str] = []
        states = dict(saved.series) if saved else {}
        detectors: dict[str, SeriesDetector] = {}  # alive for the whole run, saved into `states` at its end
        tally = Tally()
        cursors = {}
        key = None if scores_out is None or str(scores_out) == "-" or saved is None else os.path.abspath(scores_out)
        writer = ScoresWriter(scores_out, self.meta, committed=saved.outputs.get(key, 0) if key else None,
                              channels=list(self.settings.channels) if self.channel_scores else None) if scores_out is not None else None
        try:
            for name in source_files(self.source):  # keyed by absolute path; messages name a single file as the user did
                shown = self.source if self.source == "-" or Path(self.source).is_file() else name
                try:
                    chunk = read_new(shown, saved.cursors.get(name) if saved else None)
                except SourceChanged as exc:
                    raise SourceChanged(str(exc), name) from None
                _add(dropped, chunk.skipped)
                for data, first_line in chunk.slices(SLICE_BYTES):
                    dataset = self._read(chunk.source, data, first_line, states, dropped)
                    if dataset is None:
                        continue
                    _add(dropped, {k: v for k, v in dataset.dropped.items() if k != SEEN})
                    _add(filled, dataset.filled)
                    notes += [n for n in list(dataset.notes) + self._interval_note(dataset) if n not in notes]
                    self._score(dataset, states, detectors, tally, writer, on_event)
                cursors[name] = chunk.cursor
            for sid, det in detectors.items():  # incidents still open: reported now, and kept in the state
                states[sid].detector = det.to_dict()
                event = det.open_event(self.meta.scored_columns)
                if event is not None and event.series in tally.series:
                    tally.events.append(event)
                    if on_event:
                        on_event(event)
            size = writer.close() if writer else None
        except BaseException:
            if writer:
                writer.abort()
            raise
        if key and size is not None:
            saved.outputs[key] = size
        if saved is not None:
            saved.cursors.update(cursors)
            saved.series = states
        return WatchResult(self.source, self.model, self.session.get_providers()[0], self.provider, self.meta, self.settings,
                           tally, dropped, filled, notes)

    def _read(self, source: str, data: bytes, first_line: int, states: dict[str, SeriesState], dropped: dict[str, int]) -> Dataset | None:
        """New rows, minus those already scored, with each series' last scored row in front."""
        meta = self.meta
        cfg = meta.data
        try:
            frame = read_frame(source, time_column=meta.time_column, columns=meta.value_columns, id_column=cfg.id_column, data=data,
                               first_line=first_line, layouts=self.layouts)
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

    def _score(self, dataset: Dataset, states: dict[str, SeriesState], detectors: dict[str, SeriesDetector], tally: Tally,
               writer: ScoresWriter | None, on_event: EventSink | None) -> None:
        jobs = []  # (segment, carried arrays, rows the model has seen)
        for seg in dataset.segments:
            st = states.get(seg.series)
            if seg.text is not None and seg.text[0] == PREPENDED and st is not None:  # continues the saved state
                seg = _drop_first(seg)
                if seg.rows == 0:
                    continue
                jobs.append((seg, arrays_from_json(st.arrays), st.rows_seen))
            else:  # a new series, or after a gap too long to fill: the model starts again, the detector goes on
                jobs.append((seg, self.runner.initial(), 0))
        outputs = self.runner.run_many([(seg.values, arrays) for seg, arrays, _ in jobs], [seg.times for seg, _, _ in jobs])
        frames = []
        for (seg, _, seen), (expected, error, arrays) in zip(jobs, outputs):  # segments of a series in time order
            det = self._detector(seg.series, states, detectors, int(seg.times[0].astype("datetime64[us]").astype(np.int64)))
            text = seg.text or [""] * seg.rows
            error = np.asarray(error, np.float64)
            error = error[:, None] if error.ndim == 1 else error  # (rows, columns), or one joint column
            warm = seen + np.arange(seg.rows) < self.settings.warmup
            if warm.any():
                error = np.where(warm[:, None], np.nan, error)
            values = seg.values if self.all_scored else seg.values[:, self.meta.scored]  # --target: that column alone is scored
            rows = Inputs(values=values, scaled=(values - self.mean) / self.scale, expected=expected, time_text=text,
                          error=None if self.own_novelty else error, novelty=error if self.own_novelty else None,  # an autoencoder's error is novelty
                          times_us=seg.times.astype("datetime64[us]").astype(np.int64))
            found = det.score(rows, series=seg.series, columns=self.meta.scored_columns, scale=self.scale)
            old = states.get(seg.series)
            states[seg.series] = SeriesState(seen + seg.rows, int(seg.times[-1].astype(np.int64)), arrays_to_json(arrays),
                                             [float(v) for v in seg.values[-1]], old.detector if old else None)
            for event in found.events:
                tally.events.append(event)
                if on_event:
                    on_event(event)
            keep = seg.observed  # rows filled into gaps carry the state along but are not reported
            kept = text if keep.all() else [t for t, k in zip(text, keep) if k]
            tally.add(seg.series, seg.times[keep], kept, found.scores[keep], found.anomaly[keep], found.warmup[keep])
            if writer is not None:
                channels = None
                if self.channel_scores:
                    zero = np.zeros(seg.rows)
                    channels = {c: found.channel_scores.get(c, zero)[keep] for c in self.settings.channels}
                frames.append(scores_frame(self.meta, [seg.series] * len(kept), kept, values[keep], expected[keep], found.scores[keep],
                                           found.alert_scores[keep], found.anomaly[keep], found.alert[keep], channels))
        if writer is not None and frames:
            writer.write(pl.concat(frames) if len(frames) > 1 else frames[0])

    def _detector(self, series: str, states: dict[str, SeriesState], detectors: dict[str, SeriesDetector], first_time_us: int) -> SeriesDetector:
        """The series' detector for this run: from the saved state (an incident still open then is
        not a new alert), or fresh from the model's calibration."""
        det = detectors.get(series)
        if det is None:
            saved = states.get(series)
            if saved is not None and saved.detector:
                det = self.calibration.resume(saved.detector, self.settings, len(self.meta.scored), own_novelty=self.own_novelty)
                det.carry_over()
            else:
                det = self.calibration.start(self.settings, len(self.meta.scored), own_novelty=self.own_novelty, first_time_us=first_time_us)
            detectors[series] = det
        return det

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
