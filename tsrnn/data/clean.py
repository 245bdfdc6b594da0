"""A read frame → per-series segments of complete rows: duplicates, resampling, gaps, missing values.

Short gaps and short runs of missing values are filled (`fill`, at most `fill_limit` rows in a
row); longer ones end a segment rather than invent data, and the next segment starts fresh (a
recurrent state restarts there). Every row dropped and every value filled is counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from tsrnn.config import DataConfig, ModelConfig
from tsrnn.data.reader import ID, ROW, TEXT, TIME, Frame
from tsrnn.data.timeparse import format_interval, parse_interval
from tsrnn.errors import InputError


@dataclass
class Segment:
    """Consecutive complete rows of one series, on a regular grid where the data allowed it."""

    series: str
    times: np.ndarray  # (rows,) datetime64[us]
    values: np.ndarray  # (rows, features) float64, no NaN
    observed: np.ndarray  # (rows,) bool: False for rows inserted into a gap
    text: list[str] | None  # timestamps as written ("" for inserted rows)
    carried: bool = False  # the first row is the series' last row scored by an earlier run (it continues that state)

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])


@dataclass
class Dataset:
    """Everything read from a source, cleaned, as segments in (series, time) order."""

    source: str
    time_column: str
    value_columns: list[str]
    id_column: str | None
    interval_seconds: float | None  # the grid used: given (a model's), resampled, or inferred
    segments: list[Segment]
    dropped: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data_interval_seconds: float | None = None  # the median spacing of the rows as they came
    time_format: str | None = None  # the timestamps' format as read (a day-first one found in the data: kept)

    def schema(self) -> dict[str, Any]:
        """What a model was trained on: columns, series, rows, time range, and a sha256 of the cleaned data."""
        digest = hashlib.sha256()
        for seg in self.segments:
            digest.update(seg.series.encode())
            digest.update(seg.times.astype(np.int64).tobytes())
            digest.update(np.ascontiguousarray(seg.values).tobytes())
        first = min(seg.times[0] for seg in self.segments)
        last = max(seg.times[-1] for seg in self.segments)
        return {
            "source": self.source,
            "time_column": self.time_column,
            "value_columns": list(self.value_columns),
            "id_column": self.id_column,
            "interval_seconds": self.interval_seconds,
            "series": len(self.series()),
            "rows": self.rows,
            "first_time": np.datetime_as_string(first, unit="s").replace("T", " "),
            "last_time": np.datetime_as_string(last, unit="s").replace("T", " "),
            "sha256": digest.hexdigest(),
        }

    @property
    def rows(self) -> int:
        """Rows that came from the data (not inserted)."""
        return int(sum(s.observed.sum() for s in self.segments))

    def series(self) -> dict[str, list[Segment]]:
        out: dict[str, list[Segment]] = {}
        for seg in self.segments:
            out.setdefault(seg.series, []).append(seg)
        return out


def clean(frame: Frame, cfg: DataConfig, *, interval: float | None = None) -> Dataset:
    """Split a frame into clean segments; `interval` (seconds) is inferred when not given."""
    filled: dict[str, int]
    dropped, filled = dict(frame.dropped), {}
    notes = list(frame.notes)
    parts = frame.data.partition_by(ID, maintain_order=True) if frame.id_column else [frame.data]
    series = []
    parts.reverse()  # taken from the end, each part is let go as soon as it is read (pop(0) was quadratic)
    while parts:
        part = parts.pop()
        sid = str(part[ID][0]) if frame.id_column else ""
        times = part[TIME].to_numpy().astype("datetime64[us]")
        values = (
            part.select(frame.value_columns)
            .to_numpy()
            .astype(np.float64)
            .reshape(part.height, len(frame.value_columns))
        )
        text = part[TEXT].to_list() if TEXT in part.columns else None
        times, values, text = _duplicates(frame, part, times, values, text, cfg.duplicates, dropped, sid)
        if cfg.resample:
            times, values, text = _resample(times, values, parse_interval(cfg.resample), filled)
        series.append((sid, times, values, text))
    seen = _infer_interval([t for _, t, _, _ in series])
    if cfg.resample:
        interval = parse_interval(cfg.resample)
    elif interval is None:
        interval = seen
    segments = []
    inserted = filled.get("rows inserted into short gaps", 0)
    for sid, times, values, text in series:
        found = _segments(sid, times, values, text, interval, cfg, dropped, filled)
        if sid in frame.carried and found and found[0].times[0] == times[0]:  # the carried row is the series' earliest
            found[0].carried = True
        segments += found
    if not segments:
        raise InputError(
            f"{frame.source}: no complete rows left after removing missing values; fill the data "
            "or use --fill interpolate"
        )
    if not cfg.resample:
        notes += irregular_note(segments, filled.get("rows inserted into short gaps", 0) - inserted, seen)
    return Dataset(
        frame.source,
        frame.time_column,
        frame.value_columns,
        frame.id_column,
        interval,
        segments,
        dropped,
        filled,
        notes,
        seen,
        frame.time_format,
    )


IRREGULAR_SHARE = 0.05  # rows invented into gaps, or in segments too short to warm up, worth a note above this share
SHORT_SEGMENT = ModelConfig().window  # rows: the default warm-up of a model


def irregular_note(segments: list[Segment], inserted: int, seen: float | None) -> list[str]:
    """A note when the timestamps are too irregular for the grid: many rows inserted into gaps, or many
    rows in segments shorter than a warm-up; it suggests --resample at the spacing measured."""
    rows = sum(s.rows for s in segments)
    split = {s.series for s, t in zip(segments[1:], segments) if s.series == t.series}  # series a gap cut in parts
    short = sum(s.rows for s in segments if s.rows < SHORT_SEGMENT and s.series in split)
    if not rows or max(inserted, short) <= IRREGULAR_SHARE * rows:
        return []
    every = f" {format_interval(round(seen))}" if seen and seen >= 1 else " <interval>"
    return [
        f"the timestamps are irregular: {len(segments)} segment(s); {inserted:,} of {rows:,} rows "
        f"({inserted / rows:.0%}) were inserted to fill gaps and {short:,} ({short / rows:.0%}) are in segments "
        f"shorter than {SHORT_SEGMENT} rows (scores there are warm-up); consider training with --resample{every} "
        "(the median spacing)"
    ]


def _duplicates(
    frame: Frame,
    part: pl.DataFrame,
    times: np.ndarray,
    values: np.ndarray,
    text: list[str] | None,
    policy: str,
    dropped: dict[str, int],
    sid: str,
):
    if times.size < 2:
        return times, values, text
    same = np.concatenate(([False], times[1:] == times[:-1]))  # rows repeating the previous timestamp
    if not same.any():
        return times, values, text
    first = int(np.flatnonzero(same)[0])
    if policy == "error":
        lines = part[ROW].to_list()
        where = f" of series {sid!r}" if sid else ""
        raise InputError(
            f"{frame.source}: lines {lines[first - 1]} and {lines[first]}{where} have the same timestamp "
            f"{str(times[first])!r}; "
            "remove one or choose --duplicates last or mean"
        )
    group = np.cumsum(~same) - 1  # group id per row
    last = np.concatenate((np.flatnonzero(~same)[1:] - 1, [times.size - 1]))
    if policy == "mean":
        sums = np.zeros((group[-1] + 1, values.shape[1]))
        counts = np.zeros_like(sums)
        ok = ~np.isnan(values)
        np.add.at(sums, group, np.where(ok, values, 0.0))
        np.add.at(counts, group, ok)
        with np.errstate(invalid="ignore"):
            merged = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        key = "duplicate timestamp (averaged)"
    else:
        merged = values[last]
        key = "duplicate timestamp (kept the last)"
    dropped[key] = dropped.get(key, 0) + int(same.sum())
    return times[last], merged, [text[i] for i in last] if text is not None else None


def _resample(times: np.ndarray, values: np.ndarray, step: float, filled: dict[str, int]):
    """Mean per bucket of `step` seconds, labelled by the bucket's start; empty buckets become gaps."""
    step_us = int(step * 1e6)
    t = times.astype(np.int64)
    bucket = (t // step_us) * step_us
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    sums = np.add.reduceat(np.nan_to_num(values), starts, axis=0)
    counts = np.add.reduceat((~np.isnan(values)).astype(np.float64), starts, axis=0)
    with np.errstate(invalid="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    merged = times.size - starts.size
    if merged:
        filled["rows merged by --resample"] = filled.get("rows merged by --resample", 0) + merged
    new_times = bucket[starts].astype("datetime64[us]")
    return new_times, means, [s.replace("T", " ") for s in np.datetime_as_string(new_times, unit="s")]


def _infer_interval(all_times: list[np.ndarray]) -> float | None:
    steps = [np.diff(t.astype(np.int64)) for t in all_times if t.size > 1]
    steps = [s[s > 0] for s in steps]
    medians = [float(np.median(s)) for s in steps if s.size]
    return float(np.median(medians)) / 1e6 if medians else None


def _segments(
    sid: str,
    times: np.ndarray,
    values: np.ndarray,
    text: list[str] | None,
    interval: float | None,
    cfg: DataConfig,
    dropped: dict[str, int],
    filled: dict[str, int],
) -> list[Segment]:
    observed = np.ones(times.size, bool)
    text_arr = None  # the text as an array once rows are inserted (else the list slices faster)
    breaks = np.zeros(times.size, bool)  # True: a new segment starts at this row
    if interval and times.size > 1:
        step_us = interval * 1e6
        steps = np.rint(np.diff(times.astype(np.int64)) / step_us).astype(np.int64)
        missing = np.maximum(steps - 1, 0)
        insert = np.where((missing >= 1) & (missing <= cfg.fill_limit) & (cfg.fill != "none"), missing, 0)
        breaks[1:] = missing > cfg.fill_limit
        if insert.any():
            counts = 1 + np.concatenate((insert, [0]))
            src = np.repeat(np.arange(times.size), counts)
            offset = np.arange(src.size) - np.repeat(np.cumsum(counts) - counts, counts)
            times = (times.astype(np.int64)[src] + np.rint(offset * step_us).astype(np.int64)).astype("datetime64[us]")
            observed = offset == 0
            values = np.where(observed[:, None], values[src], np.nan)
            breaks = np.where(observed, breaks[src], False)
            text_arr = np.where(observed, np.array(text, dtype=object)[src], "") if text is not None else None
            filled["rows inserted into short gaps"] = filled.get("rows inserted into short gaps", 0) + int(
                (~observed).sum()
            )
    keep, values = _fill(values, observed, breaks, cfg, dropped, filled)
    starts = np.flatnonzero(breaks | np.concatenate(([True], ~keep[:-1])))  # a segment also starts after dropped rows
    out = []
    for a, b in zip(starts, np.concatenate((starts[1:], [times.size]))):
        rows: slice | np.ndarray = slice(a, b) if keep[a:b].all() else np.arange(a, b)[keep[a:b]]  # a view when whole
        if times[rows].size:
            out.append(
                Segment(
                    sid,
                    times[rows],
                    values[rows],
                    observed[rows],
                    _text_rows(text, text_arr, rows),
                )
            )
    return out


def _text_rows(text: list[str] | None, text_arr: np.ndarray | None, rows: slice | np.ndarray) -> list[str] | None:
    if text_arr is not None:
        return list(text_arr[rows])
    if text is None:
        return None
    return text[rows] if isinstance(rows, slice) else [text[i] for i in rows]


def _fill(
    values: np.ndarray,
    observed: np.ndarray,
    breaks: np.ndarray,
    cfg: DataConfig,
    dropped: dict[str, int],
    filled: dict[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Fill short runs of rows with missing values; return (rows kept, values)."""
    n = values.shape[0]
    missing = np.isnan(values).any(axis=1)
    keep = np.ones(n, bool)
    if not missing.any():
        return keep, values
    values = values.copy()
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        has_before = a > 0 and not breaks[a]
        has_after = b < n and not breaks[b]
        if cfg.fill == "none" or b - a > cfg.fill_limit or not has_before:
            keep[a:b] = False
            why = (
                "missing value (--fill none)"
                if cfg.fill == "none"
                else "missing values in a run longer than --fill-limit"
                if b - a > cfg.fill_limit
                else "missing value with no earlier row to fill from"
            )
            lost = int(observed[a:b].sum())
            if lost:
                dropped[why] = dropped.get(why, 0) + lost
            continue
        for j in range(values.shape[1]):
            col = values[a - 1 : b + 1, j] if has_after else values[a - 1 : b, j]
            gaps = np.isnan(col)
            if cfg.fill == "interpolate" and has_after and not np.isnan(col[-1]):
                col[gaps] = np.interp(np.flatnonzero(gaps), np.flatnonzero(~gaps), col[~gaps])
            else:  # forward fill; also the end of the data, where nothing follows yet
                idx = np.where(~gaps, np.arange(col.size), 0)
                col[:] = col[np.maximum.accumulate(idx)]
        key = f"rows with missing values filled ({cfg.fill})"
        count = int(observed[a:b].sum())  # inserted rows are counted where they are inserted
        if count:
            filled[key] = filled.get(key, 0) + count
    return keep, values


def read_dataset(
    source: str,
    cfg: DataConfig | None = None,
    *,
    interval: float | None = None,
    data: bytes | None = None,
    first_line: int = 2,
    keep_text: bool = True,
    series: frozenset[str] | None = None,
) -> Dataset:
    """Read and clean in one step: what train and watch call (`series`: only these ids)."""
    from tsrnn.data.reader import read_frame

    cfg = cfg or DataConfig()
    frame = read_frame(
        source,
        time_column=cfg.time_column,
        columns=list(cfg.columns) if cfg.columns else None,
        id_column=cfg.id_column,
        data=data,
        first_line=first_line,
        keep_text=keep_text,
        decimal=cfg.decimal,
        time_format=cfg.time_format,
        timezone=cfg.timezone,
        series=series,
    )
    return clean(frame, cfg, interval=interval)
