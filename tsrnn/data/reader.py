"""CSV text → a time-sorted table of float values (polars only, no torch).

Every column is read as text first, then parsed here, so that a bad value can be reported with its
row and the fix instead of a parser's internal message.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from tsrnn.errors import InputError

TIME_NAMES = ("timestamp", "time", "date", "datetime", "ts")
DELIMITERS = (",", ";", "\t")
# Tried in order and combined, so a file may mix "2014-01-01 00:00:00" and ISO "T"/offset forms.
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
_AWARE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.fZ")


@dataclass
class Table:
    """One time series read from CSV: rows sorted by time, values as float64."""

    source: str
    time_column: str
    value_columns: list[str]
    times: np.ndarray  # (rows,) datetime64[us], UTC when the file had offsets
    time_text: list[str]  # (rows,) the timestamps exactly as written in the file
    values: np.ndarray  # (rows, features) float64
    dropped: dict[str, int] = field(default_factory=dict)  # reason → rows not used
    notes: list[str] = field(default_factory=list)  # things the user should know, e.g. ignored columns

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    def interval_seconds(self) -> float | None:
        """The median spacing of timestamps, or None for fewer than two rows."""
        if self.rows < 2:
            return None
        steps = np.diff(self.times).astype("timedelta64[us]").astype(np.int64)
        return float(np.median(steps)) / 1e6

    def slice(self, start: int, stop: int | None = None) -> Table:
        """Rows [start, stop) as a new table that shares nothing mutable with this one."""
        return Table(
            self.source,
            self.time_column,
            list(self.value_columns),
            self.times[start:stop],
            self.time_text[start:stop],
            self.values[start:stop],
            dict(self.dropped),
            list(self.notes),
        )


def read_table(
    source: str | Path,
    *,
    time_column: str | None = None,
    columns: list[str] | None = None,
    data: bytes | None = None,
    first_line: int = 2,
) -> Table:
    """Read a CSV file (or `data`, its bytes, named `source` in messages) into a Table.

    `first_line` is the file's line number of the first data row (the header is line 1), so that
    messages about rows read from the middle of a growing file still point at the right line.
    """
    name = str(source)
    if data is None:
        data = _read_bytes(name)
    if not data.strip():
        raise InputError(f"{name}: the file is empty; give a CSV with a header and at least one row")
    if b"\x00" in data[:4096]:
        raise InputError(f"{name}: this looks like a binary file, not CSV text; export the data as CSV")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: byte {exc.start} is not UTF-8 text; re-save the file as UTF-8 (e.g. iconv -t utf-8)"
        ) from None
    frame = _parse_csv(name, data)
    if frame.height == 0:
        raise InputError(f"{name}: the file has a header but no rows; add data rows below the header")
    return _to_table(name, frame, time_column, columns, first_line)


def _read_bytes(name: str) -> bytes:
    if name == "-":
        import sys

        return sys.stdin.buffer.read()
    path = Path(name)
    if not path.exists():
        raise InputError(f"{name}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{name}: is a directory; give a CSV file")
    return path.read_bytes()


def _parse_csv(name: str, data: bytes) -> pl.DataFrame:
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    delimiter = max(DELIMITERS, key=header.count)
    try:
        return pl.read_csv(io.BytesIO(data), separator=delimiter, infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{name}: could not read as CSV ({first}); check that every row has the header's columns") from None


def _to_table(name: str, frame: pl.DataFrame, time_column: str | None, columns: list[str] | None, first_line: int) -> Table:
    tcol = _find_time_column(name, frame, time_column)
    times = _parse_times(name, frame[tcol], first_line)
    candidates = [c for c in frame.columns if c != tcol]
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"{name}: column(s) {', '.join(missing)} not found; the file has {', '.join(frame.columns)}")
        candidates = list(columns)
    values: dict[str, pl.Series] = {}
    notes: list[str] = []
    for col in candidates:
        parsed = _parse_numeric(name, frame[col], first_line, required=bool(columns))
        if parsed is None:
            notes.append(f"column {col!r} is not numeric and was not used")
        else:
            values[col] = parsed
    if not values:
        raise InputError(f"{name}: no numeric value column found beside time column {tcol!r}; add one or pick it with --columns")
    table = pl.DataFrame({"__time": times, "__text": frame[tcol], **values})
    dropped: dict[str, int] = {}
    complete = table.drop_nulls()
    if complete.height < table.height:
        dropped["missing value"] = table.height - complete.height
    if complete.height == 0:
        raise InputError(f"{name}: every row has a missing value; fill the gaps or choose other --columns")
    ordered = complete.sort("__time", maintain_order=True)
    deduped = ordered.unique(subset="__time", keep="last", maintain_order=True)
    if deduped.height < ordered.height:
        dropped["duplicate timestamp (kept the last)"] = ordered.height - deduped.height
    return Table(
        source=name,
        time_column=tcol,
        value_columns=list(values),
        times=deduped["__time"].to_numpy(),
        time_text=deduped["__text"].to_list(),
        values=deduped.select(list(values)).to_numpy().astype(np.float64, copy=False).reshape(deduped.height, len(values)),
        dropped=dropped,
        notes=notes,
    )


def _find_time_column(name: str, frame: pl.DataFrame, requested: str | None) -> str:
    if requested:
        if requested not in frame.columns:
            raise InputError(f"{name}: time column {requested!r} not found; the file has {', '.join(frame.columns)}")
        return requested
    by_name = {c.strip().lower(): c for c in frame.columns}
    for candidate in TIME_NAMES:
        if candidate in by_name:
            return by_name[candidate]
    raise InputError(
        f"{name}: no time column found (looked for {', '.join(TIME_NAMES)}); name it with --time-column"
    )


def _parse_times(name: str, text: pl.Series, first_line: int) -> pl.Series:
    """Text → Datetime(us); epoch seconds or milliseconds when every value is a number."""
    stripped = text.str.strip_chars()
    numeric = stripped.cast(pl.Float64, strict=False)
    if stripped.null_count() < len(stripped) and numeric.null_count() == stripped.null_count():
        scale = 1_000 if float(numeric.abs().max()) > 1e11 else 1_000_000  # ms if beyond year 5138 in s
        parsed = (numeric * scale).cast(pl.Int64).cast(pl.Datetime("us"))
    else:
        parsed = pl.Series([None] * len(stripped), dtype=pl.Datetime("us"))
        for fmt in _NAIVE_FORMATS:
            parsed = parsed.fill_null(stripped.str.strptime(pl.Datetime("us"), fmt, strict=False))
        for fmt in _AWARE_FORMATS:
            aware = stripped.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
            parsed = parsed.fill_null(aware.dt.replace_time_zone(None))
    bad = parsed.is_null() & stripped.is_not_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(
            f"{name}: line {first_line + i}: cannot parse timestamp {stripped[i]!r}; "
            "use ISO 8601 (2024-01-31 13:05:00) or epoch seconds"
        )
    if parsed.null_count():
        i = int(parsed.is_null().arg_true()[0])
        raise InputError(f"{name}: line {first_line + i}: the timestamp is empty; every row needs one")
    return parsed


def _parse_numeric(name: str, text: pl.Series, first_line: int, *, required: bool) -> pl.Series | None:
    """Text → Float64 with nulls for empty cells; None for a column that is not numeric at all."""
    stripped = text.str.strip_chars()
    present = stripped.is_not_null() & (stripped != "")
    parsed = stripped.cast(pl.Float64, strict=False)
    bad = present & parsed.is_null()
    n_present = int(present.sum())
    if n_present and int(bad.sum()) == n_present and not required:
        return None
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(
            f"{name}: line {first_line + i}, column {text.name!r}: {stripped[i]!r} is not a number; "
            "fix or remove the row"
        )
    infinite = parsed.is_infinite().fill_null(False)
    if infinite.any():
        i = int(infinite.arg_true()[0])
        raise InputError(f"{name}: line {first_line + i}, column {text.name!r}: value is infinite; replace it or leave it empty")
    return parsed.fill_nan(None)
