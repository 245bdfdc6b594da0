"""CSV → a typed polars frame, sorted by series and time (polars only, no torch).

Fast path: a lazy `scan_csv` with the value columns typed as floats, so a large file is parsed once
and never held twice as text. When that fails (text in a numeric column, stray spaces, ...), the
slow path reads the columns as text and finds the first bad cell, so the message can name its
line and value. Every message names the file and says how to fix the problem.
"""

from __future__ import annotations

import csv
import glob as globmod
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tsrnn.data.timeparse import DAY_MONTH, day_month_note, detect_time_format, read_times
from tsrnn.data.values import (
    FLOAT32_MAX,
    NA_VALUES,
    first_unrepresentable,
    looks_numeric,
    number_hint,
    parse_column,
    shown,
)
from tsrnn.errors import InputError

TIME_NAMES = ("timestamp", "time", "date", "datetime", "ts")
DELIMITERS = (",", ";", "\t")
SAMPLE_BYTES = 256 * 1024
ROW, TIME, TEXT, ID = "__row", "__time", "__text", "__id"  # internal column names
Ids = frozenset[str] | None  # the series to read (one process of several training); None: every one


@dataclass
class Frame:
    """What was read: columns ROW (file line), TIME, [ID], [TEXT] and the float value columns."""

    source: str
    time_column: str
    value_columns: list[str]
    id_column: str | None
    data: pl.DataFrame  # sorted by (ID, TIME)
    dropped: dict[str, int] = field(default_factory=dict)  # reason → rows not used
    notes: list[str] = field(default_factory=list)
    carried: frozenset[str] = (
        frozenset()
    )  # series whose first row is their last row scored before (watch: streaming/resume.py)
    time_format: str | None = None  # the timestamps' format as read (given, or found in the first rows)


def read_frame(
    source: str | Path,
    *,
    time_column: str | None = None,
    columns: list[str] | None = None,
    id_column: str | None = None,
    data: bytes | None = None,
    first_line: int = 2,
    keep_text: bool = True,
    layouts: dict[tuple, _Layout] | None = None,
    decimal: str = ".",
    time_format: str | None = None,
    timezone: str | None = None,
    series: Ids = None,
) -> Frame:
    """Read a CSV file, `-` (stdin), a directory or glob of CSV files, or `data` (bytes named `source`).

    `first_line` is the file line of the first data row, for messages about a file read from the
    middle. `keep_text` keeps each timestamp exactly as written (for reports and scores files).
    `layouts`: a dict kept across calls on slices of one file, so the delimiter, columns and
    time format are worked out once (from the first slice), not once per slice. `decimal`,
    `time_format` and `timezone`: as DataConfig's (how values and times are written); `series`: only these ids.
    """
    how = _How(decimal, time_format, timezone)
    name = str(source)
    if data is None and name != "-":
        files = expand_files(name)
        if len(files) > 1:
            return _concat(
                [
                    read_frame(
                        f,
                        time_column=time_column,
                        columns=columns,
                        id_column=id_column,
                        keep_text=keep_text,
                        decimal=decimal,
                        time_format=time_format,
                        timezone=timezone,
                        series=series,
                    )
                    for f in files
                ],
                name,
            )
        name = str(files[0])
    if data is None and name == "-":
        data = sys.stdin.buffer.read()
    head = data[:SAMPLE_BYTES] if data is not None else _head(name)
    key = (name, head.split(b"\n", 1)[0], time_column, tuple(columns or ()), id_column, how)
    layout = layouts.get(key) if layouts is not None else None
    if layout is None:
        layout = _sniff(name, head, time_column, columns, id_column, how)
        if layouts is not None:
            layouts[key] = layout
    frame = _read_fast(name, data, layout, series) if data is None or len(data) > SAMPLE_BYTES else None
    if frame is None:
        frame = _read_slow(name, data, layout, first_line, series)
    return _finish(name, frame, layout, first_line, keep_text)


@dataclass(frozen=True)
class _How:
    """How cells are written, as given (DataConfig): the decimal mark, the time format and zone."""

    decimal: str = "."
    time_format: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class _Layout:
    """What the first rows tell: delimiter, header, time column and format, value and id columns."""

    delimiter: str
    header: list[str]
    time_column: str
    time_format: str | None  # None: epoch numbers
    value_columns: list[str]
    id_column: str | None
    ignored: list[str]
    how: _How = _How()
    notes: tuple[str, ...] = ()


def expand_files(name: str) -> list[Path]:
    """A file, the *.csv files of a directory, or the files a glob matches, sorted."""
    path = Path(name)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
        if not files:
            raise InputError(f"{name}: directory holds no .csv files; give a CSV file or a directory of them")
        return files
    if any(ch in name for ch in "*?[") and not path.exists():
        files = sorted(Path(p) for p in globmod.glob(name) if Path(p).is_file())
        if not files:
            raise InputError(
                f"{name}: the pattern matches no file; check the pattern (quote it so the shell does not expand it)"
            )
        return files
    if not path.exists():
        raise InputError(f"{name}: no such file; check the path")
    if not path.is_file():
        raise InputError(f"{name}: not a regular file; give a CSV file")
    return [path]


def _head(name: str) -> bytes:
    with open(name, "rb") as f:
        return f.read(SAMPLE_BYTES)


def _sniff(
    name: str, head: bytes, time_column: str | None, columns: list[str] | None, id_column: str | None, how: _How
) -> _Layout:
    if not head.strip():
        raise InputError(f"{name}: the file is empty; give a CSV with a header and at least one row")
    if b"\x00" in head[:4096]:
        raise InputError(f"{name}: this looks like a binary file, not CSV text; export the data as CSV")
    text = _decode(name, head).removeprefix("\ufeff")  # a byte-order mark (Excel's "CSV UTF-8")
    lines = text.splitlines()
    header_line = lines[0]
    delimiter = max(DELIMITERS, key=header_line.count)
    header = [h.strip() for h in _csv_rows(name, [header_line], delimiter)[0]]
    rows = [r for r in _csv_rows(name, lines[1:200], delimiter) if any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{name}: the file has a header but no rows; add data rows below the header")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        names = ", ".join(repr(h) for h in repeated)
        raise InputError(f"{name}: the header names {names} more than once; give every column its own name")
    if len(header) == 1:
        tried = " ".join(repr(d) for d in DELIMITERS)
        raise InputError(
            f"{name}: found a single column {header[0][:40]!r} (tried delimiters {tried}); save the file with one of "
            f"them between columns"
        )
    sample = {col: [r[i].strip() for r in rows if i < len(r)] for i, col in enumerate(header)}
    for wanted, what in (
        (time_column, "time column"),
        (id_column, "id column"),
        *((c, "column") for c in columns or []),
    ):
        if wanted and wanted not in header:
            raise InputError(f"{name}: {what} {wanted!r} not found; the file has {', '.join(header)}")
    tcol = time_column or _find_time_column(name, header, sample)
    fmt = how.time_format or detect_time_format(sample[tcol], day_month=True)
    notes: tuple[str, ...] = ()
    if fmt in DAY_MONTH and not how.time_format:  # day-first or month-first: told apart by all the first rows
        at = header.index(tcol)
        notes = day_month_note(name, tcol, fmt, [r[at].strip() for r in _csv_rows(name, lines[1:], delimiter)[:-1]])
    if fmt == "":
        bad = next((v for v in sample[tcol] if v), "")
        raise InputError(
            f"{name}: cannot parse timestamp {bad!r} in column {tcol!r}; use ISO 8601 (2024-01-31 13:05:00) "
            "or epoch seconds"
        )
    candidates = columns or [c for c in header if c not in (tcol, id_column)]
    values = [c for c in candidates if columns or looks_numeric(sample[c], how.decimal)]
    ignored = [c for c in candidates if c not in values]
    if not values:
        hint = next((h for h in (number_hint(sample[c], how.decimal) for c in ignored) if h), "")
        raise InputError(
            f"{name}: no numeric value column found beside time column {tcol!r}{hint}; add one or pick columns with "
            "--columns"
        )
    notes += tuple(
        f"column {c!r} is not numeric and was not used{number_hint(sample[c], how.decimal)}" for c in ignored
    )
    return _Layout(delimiter, header, tcol, fmt, values, id_column, ignored, how, notes)


def _csv_rows(name: str, lines: list[str], delimiter: str) -> list[list[str]]:
    """Lines split into cells; a cell of any size (the csv module's own limit is 128 KiB)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, SAMPLE_BYTES * 4))
    try:
        return list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as exc:
        raise InputError(f"{name}: could not read as CSV ({exc}); check the quoting of the first rows") from None
    finally:
        csv.field_size_limit(limit)


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > 0 and exc.start >= len(data) - 4 and exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8")  # a character cut by the sample's end
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{name}: line {line} has bytes that are not UTF-8 text; re-save the file as UTF-8 (e.g. iconv -t utf-8)"
        ) from None


def _find_time_column(name: str, header: list[str], sample: dict[str, list[str]]) -> str:
    by_name = {c.lower(): c for c in header}
    for candidate in TIME_NAMES:
        if candidate in by_name:
            return by_name[candidate]
    for col in header:  # else the first column whose values all parse as date-times (not plain numbers)
        fmt = detect_time_format(sample[col], day_month=True)
        if fmt and any(v for v in sample[col]):
            return col
    raise InputError(
        f"{name}: no time column found (looked for {', '.join(TIME_NAMES)} and for date-times); name it with "
        f"--time-column"
    )


def _read_fast(name: str, data: bytes | None, layout: _Layout, series: Ids = None) -> pl.DataFrame | None:
    """Typed lazy read; None when the file needs the careful path (bad cells, spaces, ...)."""
    schema: dict[str, type[pl.DataType]] = {c: pl.String for c in layout.header}
    for c in layout.value_columns:
        schema[c] = pl.Float64
    wanted = [layout.time_column, *([layout.id_column] if layout.id_column else []), *layout.value_columns]
    try:
        scan = pl.scan_csv(
            io.BytesIO(data) if data is not None else name,
            separator=layout.delimiter,
            schema=schema,
            has_header=False,
            skip_rows=1,  # the header as the sniffer read it: names stripped of spaces and of a byte-order mark
            null_values=list(NA_VALUES),
            decimal_comma=layout.how.decimal == ",",
            row_index_name=ROW,
            raise_if_empty=False,
        )
        if series is not None and layout.id_column:  # pushed into the scan; an NA id goes the careful way
            ident = pl.col(layout.id_column)
            scan = scan.filter(ident.is_in(list(series)) | ident.is_null())
        frame = scan.select(ROW, *wanted).collect()
    except (pl.exceptions.PolarsError, ValueError, OSError):
        return None
    if layout.id_column and frame[layout.id_column].null_count():
        return None  # an id such as "NA" is a name, not a missing value: the careful path keeps it
    return frame


def _read_slow(name: str, data: bytes | None, layout: _Layout, first_line: int, series: Ids = None) -> pl.DataFrame:
    """Every column as text, then each value column parsed here, so a bad cell can be named."""
    try:
        raw = pl.read_csv(
            io.BytesIO(data) if data is not None else name,
            separator=layout.delimiter,
            infer_schema=False,
            has_header=False,
            skip_rows=1,
            new_columns=layout.header,
            row_index_name=ROW,
            raise_if_empty=False,
        )
    except (pl.exceptions.PolarsError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "utf-8" in message.lower():
            _decode(name, data if data is not None else Path(name).read_bytes())
        raise InputError(
            f"{name}: could not read as CSV ({message}); check that every row has "
            f"the header's {len(layout.header)} columns"
        ) from None
    if series is not None and layout.id_column:
        raw = raw.filter(pl.col(layout.id_column).str.strip_chars().is_in(list(series)))
    out = {ROW: raw[ROW], layout.time_column: raw[layout.time_column].str.strip_chars()}
    if layout.id_column:
        out[layout.id_column] = raw[layout.id_column].str.strip_chars()
    for col in layout.value_columns:
        parsed, i = parse_column(raw[col], layout.how.decimal)
        if i is not None:
            cell = raw[col][i].strip()
            raise InputError(
                f"{name}: line {first_line + int(raw[ROW][i])}, column {col!r}: {shown(cell)} is not a number"
                f"{number_hint([cell], layout.how.decimal)}; fix or remove the row (cells such as NA or null are "
                "read as missing)"
            )
        out[col] = parsed
    return pl.DataFrame(out)


def _finish(name: str, frame: pl.DataFrame, layout: _Layout, first_line: int, keep_text: bool) -> Frame:
    dropped: dict[str, int] = {}
    blank = frame.select(pl.all_horizontal(pl.exclude(ROW).is_null())).to_series()
    if blank.any():
        dropped["blank line"] = int(blank.sum())
        frame = frame.filter(~blank)
    if frame.height == 0:
        raise InputError(f"{name}: the file has a header but no rows; add data rows below the header")
    text = frame[layout.time_column]
    times = read_times(
        name,
        text,
        layout.time_format,
        first_line + frame[ROW],  # each row's line (for a message: read only then)
        given=layout.how.time_format is not None,
        timezone=layout.how.timezone,
        keys=[frame[layout.id_column]] if layout.id_column else [],
    )
    values = frame.select(layout.value_columns)
    beyond = first_unrepresentable(values)
    if beyond is not None:
        i, col, value = beyond
        raise InputError(
            f"{name}: line {first_line + int(frame[ROW][i])}, column {col!r}: {value:g} is "
            f"{'infinite, ' if abs(value) == float('inf') else ''}beyond float32 (±{FLOAT32_MAX:.4g}), the numbers a "
            "model computes with; replace it, or leave the cell empty (missing)"
        )
    cols = {ROW: frame[ROW].cast(pl.Int64) + first_line, TIME: times}
    if layout.id_column:
        ids = frame[layout.id_column].fill_null("")
        cols[ID] = ids
    if keep_text:
        cols[TEXT] = text
    cols.update({c: values[c].fill_nan(None) for c in layout.value_columns})
    out = pl.DataFrame(cols)
    if layout.id_column or not out[TIME].is_sorted():  # most exports are in time order already
        out = out.sort([ID, TIME] if layout.id_column else [TIME], maintain_order=True)
    if out.select(pl.all_horizontal(pl.col(layout.value_columns).is_null())).to_series().all():
        raise InputError(
            f"{name}: every value is missing in column(s) {', '.join(layout.value_columns)}; fill the data or choose "
            f"other --columns"
        )
    columns, notes = list(layout.value_columns), list(layout.notes)
    return Frame(
        name, layout.time_column, columns, layout.id_column, out, dropped, notes, time_format=layout.time_format
    )


def _concat(frames: list[Frame], name: str) -> Frame:
    """Files of one schema, one after another (a directory or glob of exports)."""
    first = frames[0]
    for f in frames[1:]:
        if (f.time_column, f.value_columns, f.id_column) != (first.time_column, first.value_columns, first.id_column):
            raise InputError(
                f"{f.source}: its columns ({', '.join(f.value_columns)}) differ from {first.source} "
                f"({', '.join(first.value_columns)}); read files of one schema together"
            )
    keys = [ID, TIME] if first.id_column else [TIME]
    data = pl.concat([f.data for f in frames], how="vertical_relaxed").sort(keys, maintain_order=True)
    dropped: dict[str, int] = {}
    for f in frames:
        for why, n in f.dropped.items():
            dropped[why] = dropped.get(why, 0) + n
    notes, fmt = sorted({n for f in frames for n in f.notes}), first.time_format
    return Frame(name, first.time_column, first.value_columns, first.id_column, data, dropped, notes, time_format=fmt)
