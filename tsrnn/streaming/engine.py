"""The watch loop: read new rows → clean → infer → score → detect → write scores → commit state.

Rows go through in slices of about SLICE_BYTES of CSV text (read, scored, written, let go), so
memory stays flat however long the backlog. The state is committed last, after the scores file
is complete: a run killed at any point leaves the previous state, and the next run scores the
same rows again from the same state.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsrnn.data.clean import Dataset, clean
from tsrnn.data.reader import read_frame
from tsrnn.data.timeparse import parse_interval
from tsrnn.errors import InputError
from tsrnn.export.metadata import ModelMetadata, session_metadata
from tsrnn.runtime.inferencer import runner_for
from tsrnn.runtime.providers import GpuOptions
from tsrnn.scoring.detector import SeriesDetector
from tsrnn.scoring.events import Event
from tsrnn.scoring.types import DetectorSettings
from tsrnn.streaming.output import ScoresWriter, check_apart, claim_scores
from tsrnn.streaming.result import Tally, WatchResult
from tsrnn.streaming.resume import SEEN, carry_last_rows, drop_seen
from tsrnn.streaming.segments import Prepared, advanced, interval_note, plan, scores_rows, with_context
from tsrnn.streaming.shard import Shard, keep_shard, parse_shard, shard_text
from tsrnn.streaming.sources import SourceChanged, read_new, source_files
from tsrnn.streaming.state import (
    SeriesState,
    StateLock,
    WatchState,
    load_state,
    save_state,
)
from tsrnn.streaming.statecheck import StateModel

log = logging.getLogger(__name__)
SLICE_BYTES = 1 << 20  # CSV text per slice: about 35,000 rows of a narrow file (peak memory grows with it)
EventSink = Callable[[Event], None]


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
    raw_csv: bool = False,
    shard: str | tuple[int, int] | None = None,
) -> WatchResult:
    """Score the rows of `source` not scored before (all rows without a state file).

    Incidents within `cooldown` rows of an event's end join it (None: the model's); an event needs
    `min_duration` flagged rows to be an alert. `score` overrides the model's detector settings
    (DetectorSettings names: method, threshold, level_quantile, risk, smooth, memory, quantile,
    channels, release, hold, accept_after, freeze, ...; None values are ignored). `on_event` hears each event as it is
    found. With `wait`, a run waits for another run on the same state. `channel_scores` adds
    each channel's score to the scores file. Its text cells and header names that a spreadsheet
    would take for a formula get a leading quote (`tsrnn.safetext`), unless `raw_csv`. `shard` ("i/n"
    or (i, n)) scores only the series whose id hashes to shard i of n (`tsrnn.streaming.shard`).
    """
    check_apart(model, state, scores_out)
    job = open_job(
        source,
        model,
        provider=provider,
        strict_provider=strict_provider,
        threads=threads,
        cooldown=cooldown,
        min_duration=min_duration,
        gpu=gpu,
        score=score,
        channel_scores=channel_scores,
        raw_csv=raw_csv,
        shard=shard,
    )
    with job.state(state, wait=wait) as saved:
        result = job.run(saved, scores_out, on_event)
        if state is not None:
            assert saved is not None  # a state path always gives a state (job.state)
            job.commit(state, saved)
            result.state = str(state)
    return result


def open_job(
    source: str | Path,
    model: str | Path,
    *,
    provider: str = "cpu",
    strict_provider: bool = False,
    threads: int = 1,
    cooldown: int | None = None,
    min_duration: int = 1,
    gpu: GpuOptions | None = None,
    score: dict[str, Any] | None = None,
    channel_scores: bool = False,
    raw_csv: bool = False,
    shard: str | tuple[int, int] | None = None,
) -> _Job:
    """An onnxruntime session on the model, ready to score passes over the source."""
    from tsrnn.config import check_watch_settings
    from tsrnn.runtime.session import open_session

    score = check_watch_settings(
        threads, cooldown, min_duration, score or {}, tuple(f.name for f in fields(DetectorSettings))
    )
    job_shard = parse_shard(shard)
    session = open_session(model, provider=provider, strict_provider=strict_provider, threads=threads, gpu=gpu)
    meta = session_metadata(session, model)
    job = _Job(str(source), str(model), session, meta, provider, cooldown, min_duration, score, channel_scores)
    job.raw_csv, job.shard = raw_csv, job_shard
    if job_shard and job_shard[1] > 1 and not meta.data.id_column:
        raise InputError(
            f"--shard {shard_text(job_shard)}: model {meta.run_name!r} has no id column (one series); sharding needs "
            "a model trained with --id-column (or no --shard)"
        )
    return job


class _Job:
    """Passes of watch over one source: each scores what is new since the state's cursor."""

    def __init__(
        self,
        source: str,
        model: str,
        session,
        meta: ModelMetadata,
        provider: str,
        cooldown: int | None,
        min_duration: int,
        score: dict[str, Any] | None = None,
        channel_scores: bool = False,
    ) -> None:
        self.source, self.model, self.session, self.meta, self.provider = source, model, session, meta, provider
        self.runner = runner_for(session, meta)
        self.calibration = calibration = meta.scorer_calibration
        self.settings = calibration.settings(**{"cooldown": cooldown, "min_duration": min_duration, **(score or {})})
        missing = [c for c in self.settings.channels if c not in calibration.channels]
        if missing:
            raise InputError(
                f"--channels: model {meta.run_name!r} was trained without the {', '.join(missing)} channel; "
                f"use some of {', '.join(calibration.channels)}, or train with it"
            )
        self.own_novelty = calibration.novelty == "autoencoder"  # the model's error is the novelty channel
        self.prepared = Prepared.of(meta, self.own_novelty)
        self.scale = self.prepared.scale
        self.channel_scores = channel_scores
        self.raw_csv = False  # the scores file's text cells as read, formula-like or not
        self.layouts: dict[tuple, Any] = {}  # each file's CSV layout, worked out from its first slice
        self.key = source if source == "-" else os.path.abspath(source)  # a state belongs to one source
        self.fingerprint = f"{meta.run_name}:{meta.training_data.get('sha256', '')}"  # ... and one model
        self.state_path: Path | None = None  # the state file of the passes (set by `state`)
        self.shard: Shard | None = None  # with --shard: only series of this shard are scored and kept
        self.in_shard: dict[str, bool] = {}  # each series id seen: in the shard or not

    def fresh_state(self) -> WatchState:
        return WatchState(self.fingerprint, self.key, shard=shard_text(self.shard))

    @contextmanager
    def state(self, path: str | Path | None, *, wait: bool = False) -> Iterator[WatchState | None]:
        """The saved state at `path`, locked while the block runs (None without a path)."""
        self.state_path = Path(path) if path is not None else None
        if path is None:
            yield None
            return
        with StateLock(Path(path), wait=wait):
            model = StateModel.of(self.runner, self.meta)
            yield load_state(Path(path), self.fingerprint, self.key, model, shard_text(self.shard))

    def commit(self, path: str | Path, saved: WatchState) -> None:
        """Write the state that passes advanced in memory: last, after the scores file is complete."""
        _failpoint("before-state-commit")
        save_state(Path(path), saved)

    def run(
        self, saved: WatchState | None, scores_out: str | Path | None, on_event: EventSink | None = None
    ) -> WatchResult:
        """One pass: the new rows of each file of the source, in file order, as one stream.

        `saved` (when given) is advanced in memory; the caller commits it once this returns.
        """
        started = time.perf_counter()
        p = _Pass(dict(saved.series) if saved else {}, on_event)
        key = None if scores_out is None or str(scores_out) == "-" or saved is None else os.path.abspath(scores_out)
        if key and saved is not None:  # refuse a file of rows this state did not write, else claim it
            claim_scores(str(scores_out), saved, self.state_path, (self.source, source_files(self.source)))
        writer = self._writer(scores_out, saved.outputs.get(key, 0) if saved and key else None)
        try:
            for name in source_files(self.source):  # by absolute path; messages name a single file as the user did
                self._file(name, saved, p, writer)
            for sid, det in p.detectors.items():  # incidents still open: reported now, and kept in the state
                p.states[sid].detector = det.to_dict()
                event = det.open_event(self.meta.scored_columns)
                if event is not None and event.series in p.tally.series:
                    p.found(with_context(event, *p.recent.get(sid, ([], np.zeros(0)))))
            size = writer.close() if writer else None
        except BaseException:
            if writer:
                writer.abort()
            raise
        if key and size is not None:
            assert saved is not None  # `key` is None without a saved state
            saved.outputs[key] = size
        if saved is not None:
            saved.cursors.update(p.cursors)
            saved.series = p.states
        provider, t = self.session.get_providers()[0], p.tally
        took = time.perf_counter() - started
        log.info(
            "scored %d rows of %d series in %.3f s on %s; %d events",
            t.rows,
            len(t.series),
            took,
            provider,
            len(t.events),
        )
        return WatchResult(
            self.source, self.model, provider, self.provider, self.meta, self.settings, t, p.dropped, p.filled, p.notes
        ).sharded(shard_text(self.shard), p.other_shards)

    def _writer(self, scores_out: str | Path | None, committed: int | None) -> ScoresWriter | None:
        """The scores file's writer: a new file, or appended to after `committed` bytes (with a state)."""
        if scores_out is None:
            return None
        channels = list(self.settings.channels) if self.channel_scores else None
        inputs = (self.source, source_files(self.source))
        writer = ScoresWriter(scores_out, self.meta, committed=committed, channels=channels, inputs=inputs)
        writer.raw_csv = self.raw_csv
        return writer

    def _file(self, name: str, saved: WatchState | None, p: _Pass, writer: ScoresWriter | None) -> None:
        """The new rows of one file, slice by slice."""
        shown = self.source if self.source == "-" or Path(self.source).is_file() else name
        try:
            chunk = read_new(shown, saved.cursors.get(name) if saved else None, hold=saved is not None)
        except SourceChanged as exc:
            raise SourceChanged(str(exc), name) from None
        log.info(
            "%s: reading from byte %d", shown, saved.cursors[name].offset if saved and name in saved.cursors else 0
        )
        _add(p.dropped, chunk.skipped)
        for data, first_line in chunk.slices(SLICE_BYTES):
            dataset = self._read(chunk.source, data, first_line, p)
            if dataset is None:
                continue
            log.debug(
                "%s: %d new rows from line %d, %d segments", shown, dataset.rows, first_line, len(dataset.segments)
            )
            _add(p.dropped, {k: v for k, v in dataset.dropped.items() if k != SEEN})
            _add(p.filled, dataset.filled)
            p.notes += [n for n in list(dataset.notes) + interval_note(self.meta, dataset) if n not in p.notes]
            self._score(dataset, p, writer)
        if chunk.cursor is not None:
            p.cursors[name] = chunk.cursor
        if chunk.held:
            p.notes.append(
                f"{shown}: its last line has no newline yet ({chunk.held} bytes); with a state only whole lines "
                "are scored, so it waits for its newline (a file that will never get one: watch it without --state)"
            )

    def _read(self, source: str, data: bytes, first_line: int, p: _Pass) -> Dataset | None:
        """New rows of the shard's series, minus those already scored, with each series' last scored row in front."""
        meta = self.meta
        cfg = meta.data
        try:
            frame = read_frame(
                source,
                time_column=meta.time_column,
                columns=meta.value_columns,
                id_column=cfg.id_column,
                data=data,
                first_line=first_line,
                layouts=self.layouts,
                decimal=cfg.decimal,
                time_format=cfg.time_format,
                timezone=cfg.timezone,
            )
        except InputError as exc:
            if "not found" in str(exc):
                wanted = ", ".join(repr(c) for c in meta.value_columns)
                raise InputError(
                    f"{exc} (model {meta.run_name!r} was trained on time column {meta.time_column!r} and value "
                    f"columns {wanted}: give data with those columns, or train on this file)"
                ) from None
            raise
        bucket_us = int(parse_interval(cfg.resample) * 1e6) if cfg.resample else 0
        if self.shard:
            frame, other = keep_shard(frame, self.shard, self.in_shard)
            p.other_shards += other
        frame, seen = drop_seen(frame, p.states, bucket_us)
        _add(p.dropped, seen)
        if frame.data.height == 0:
            return None
        return clean(carry_last_rows(frame, p.states), cfg, interval=meta.interval)

    def _score(self, dataset: Dataset, p: _Pass, writer: ScoresWriter | None) -> None:
        """Run the new segments through the graph (series with as many new rows in one call), then
        each through its series' detector, in time order; write their rows."""
        jobs = plan(dataset.segments, p.states, self.runner)
        outputs = self.runner.run_many(
            [(seg.values, arrays) for seg, arrays, _ in jobs], [seg.times for seg, _, _ in jobs]
        )
        frames = []
        for (seg, _, seen), (expected, error, arrays) in zip(jobs, outputs):
            det = self._detector(
                seg.series, p.states, p.detectors, int(seg.times[0].astype("datetime64[us]").astype(np.int64))
            )
            rows = self.prepared.inputs(seg, seen, expected, error, self.settings.warmup)
            found = det.score(rows, series=seg.series, columns=self.meta.scored_columns, scale=self.scale)
            p.states[seg.series] = advanced(p.states.get(seg.series), seg, seen, arrays)
            for event in found.events:
                p.found(with_context(event, rows.time_text, found.scores))
            p.recent[seg.series] = (rows.time_text, found.scores)  # for an event still open at the end
            keep = seg.observed  # rows filled into gaps carry the state along but are not reported
            kept = rows.time_text if keep.all() else [t for t, k in zip(rows.time_text, keep) if k]
            p.tally.add(seg.series, seg.times[keep], kept, found.scores[keep], found.anomaly[keep], found.warmup[keep])
            if writer is not None:
                channels = list(self.settings.channels) if self.channel_scores else None
                frames.append(scores_rows(self.meta, seg, rows, found, keep, kept, channels))
        if writer is not None and frames:
            writer.write(pl.concat(frames) if len(frames) > 1 else frames[0])

    def _detector(
        self, series: str, states: dict[str, SeriesState], detectors: dict[str, SeriesDetector], first_time_us: int
    ) -> SeriesDetector:
        """The series' detector for this run: from the saved state (an incident still open then is
        not a new alert), or fresh from the model's calibration."""
        det = detectors.get(series)
        if det is None:
            saved = states.get(series)
            if saved is not None and saved.detector:
                det = self.calibration.resume(
                    saved.detector, self.settings, len(self.meta.scored), own_novelty=self.own_novelty
                )
                det.carry_over()
            else:
                det = self.calibration.start(
                    self.settings, len(self.meta.scored), own_novelty=self.own_novelty, first_time_us=first_time_us
                )
            detectors[series] = det
        return det


@dataclass
class _Pass:
    """What one pass gathers as it goes: per-series states and detectors, counts, notes, events."""

    states: dict[str, SeriesState]
    on_event: EventSink | None
    detectors: dict[str, SeriesDetector] = field(
        default_factory=dict
    )  # alive for the whole pass, saved into `states` at its end
    tally: Tally = field(default_factory=Tally)
    dropped: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cursors: dict[str, Any] = field(default_factory=dict)
    recent: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)  # each series' last rows scored
    other_shards: int = 0  # rows of series in other shards (--shard), not scored

    def found(self, event: Event) -> None:
        self.tally.events.append(event)
        if self.on_event:
            self.on_event(event)


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for key, n in more.items():
        total[key] = total.get(key, 0) + n


def _failpoint(name: str) -> None:
    """Tests set TSRNN_FAILPOINT=name to SIGKILL the process here, where a random kill rarely lands."""
    if os.environ.get("TSRNN_FAILPOINT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
