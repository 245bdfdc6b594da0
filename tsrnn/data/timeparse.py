"""Timestamps: pick the format from a sample, parse the whole column with it (polars, vectorised).

Naive and UTC-offset ISO forms, dates alone, day-first and month-first dates (31/01/2024: told apart
by a day above 12; otherwise the caller refuses and asks for --time-format), and epoch seconds or
milliseconds (one unit per column). Times with an offset are converted to UTC and kept naive, so
every series compares on one clock; naive times are local to --timezone when one is given.
"""

from __future__ import annotations

from typing import cast

import polars as pl

# Whole-second forms come first: polars parses them about 4x faster than the `%.f` forms.
NAIVE = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
)
AWARE = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S%.f %z",
)
_DAY_FIRST = tuple(f"%d{sep}%m{sep}%Y{clock}" for sep in "/.-" for clock in (" %H:%M:%S", " %H:%M", ""))
DAY_MONTH = {
    **{f: f.replace("%d", "%%").replace("%m", "%d").replace("%%", "%m") for f in _DAY_FIRST},
    **{f.replace("%d", "%%").replace("%m", "%d").replace("%%", "%m"): f for f in _DAY_FIRST},
}  # each day-first format and its month-first twin, both ways
FORMATS = NAIVE + AWARE + tuple(DAY_MONTH)
EPOCH_MS_ABOVE = 1e11  # larger epoch numbers are milliseconds (1e11 s is the year 5138)


def detect_time_format(sample: list[str], *, day_month: bool = False) -> str | None:
    """The format that parses most of `sample`; None for epoch numbers; "" when nothing parses.

    `day_month`: also try day-first and month-first dates (the caller checks that the data tells them apart)."""
    present = [v for v in sample if v]
    if not present:
        return ""
    try:
        [float(v) for v in present]
        return None
    except ValueError:
        pass
    series = pl.Series(present, dtype=pl.String)
    best, best_count = "", 0
    for fmt in FORMATS if day_month else NAIVE + AWARE:
        count = len(present) - _strptime(series, fmt).null_count()
        if count > best_count:
            best, best_count = fmt, count
    return best


def read_times(
    name: str,
    text: pl.Series,
    fmt: str | None,
    lines: list[int] | pl.Series,
    *,
    given: bool = False,
    timezone: str | None = None,
    keys: list[pl.Series] | None = None,
) -> pl.Series:
    """A time column → naive UTC, or an InputError naming the first line (`lines`: each row's) that cannot be read.

    `given`: `fmt` is the user's --time-format; `timezone`: naive times are local to it."""
    from tsrnn.errors import InputError

    if fmt is None:
        other = mixed_epoch_unit(text)
        if other is not None:
            unit, before = ("milliseconds", "seconds") if _is_ms(text[other]) else ("seconds", "milliseconds")
            raise InputError(
                f"{name}: line {lines[other]}: epoch time {text[other].strip()!r} is in {unit}, the rows before it in "
                f"{before}; write one unit in column {text.name!r}"
            )
    try:
        times = parse_times(text, fmt)
    except pl.exceptions.PolarsError:
        raise InputError(f"--time-format {fmt!r}: not a format polars can read times with (strftime codes)") from None
    bad = times.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        cell = "an empty timestamp" if text[i] in (None, "") else f"timestamp {text[i][:60]!r}"
        form = f"--time-format {fmt!r}" if given else "ISO 8601 (2024-01-31 13:05:00)"
        raise InputError(
            f"{name}: line {lines[i]}: cannot parse {cell} in column {text.name!r}; every row needs a {form} or "
            "epoch timestamp"
        )
    if timezone and fmt is not None and not _aware(fmt):
        local, times = times, localize(times, timezone, keys or [])
        gone = times.is_null() & local.is_not_null()
        if gone.any():
            i = int(gone.arg_true()[0])
            raise InputError(
                f"{name}: line {lines[i]}: {text[i].strip()!r} does not exist in {timezone} (the clocks jumped forward "
                "past it); fix the time, or write times with a UTC offset"
            )
    return times


def day_month_note(name: str, column: str, fmt: str, cells: list[str]) -> tuple[str, ...]:
    """Day-first or month-first dates: a note when a day above 12 in `cells` tells which; refused when none does."""
    from tsrnn.errors import InputError

    twin = ambiguous_day_month(cells, fmt)
    if twin is not None:
        raise InputError(
            f"{name}: the dates in column {column!r} ({cells[0]!r}, ...) read both day-first and month-first; "
            f"train with --time-format {fmt!r} or {twin!r} (the model keeps it)"
        )
    return (
        f"column {column!r} read as {fmt!r}, as a day above 12 shows; a model trained on it keeps that format, "
        "so watch reads new rows the same way",
    )


def _is_ms(cell: str) -> bool:
    return abs(float(cell.strip())) > EPOCH_MS_ABOVE


def ambiguous_day_month(sample: list[str], fmt: str | None) -> str | None:
    """The other reading of `fmt` (month-first for day-first) when it parses `sample` as well: ambiguous."""
    twin = DAY_MONTH.get(fmt or "")
    if twin is None:
        return None
    series = pl.Series([v for v in sample if v], dtype=pl.String)
    return twin if _strptime(series, twin).null_count() == _strptime(series, cast(str, fmt)).null_count() else None


def mixed_epoch_unit(text: pl.Series) -> int | None:
    """The first row whose epoch number is in the other unit (seconds vs milliseconds) than the first row's."""
    numbers = text.str.strip_chars().cast(pl.Float64, strict=False).abs()
    big = (numbers > EPOCH_MS_ABOVE).drop_nulls()
    if big.n_unique() < 2:
        return None
    first = bool(big[0])
    present = numbers.is_not_null()
    other = present & ((numbers > EPOCH_MS_ABOVE) != first)
    return int(other.arg_true()[0])


def parse_times(text: pl.Series, fmt: str | None) -> pl.Series:
    """Text → Datetime(us), null where a value cannot be parsed (the caller reports the first)."""
    if fmt is None:
        text = text.str.strip_chars()
        numbers = text.cast(pl.Float64, strict=False)
        peak = cast("float | None", numbers.abs().max())  # a Float64 column's max
        scale = 1_000 if peak is not None and float(peak) > EPOCH_MS_ABOVE else 1_000_000  # → microseconds
        return (numbers * scale).round(0).cast(pl.Int64, strict=False).cast(pl.Datetime("us"))
    parsed = _strptime(text, fmt)
    if parsed.null_count() > text.null_count():  # stray spaces, or a file that mixes forms
        text = text.str.strip_chars()
        for other in (fmt, *NAIVE, *AWARE):
            parsed = parsed.fill_null(_strptime(text, other))
            if parsed.null_count() == text.null_count():
                break
    return parsed


def localize(naive: pl.Series, timezone: str, keys: list[pl.Series]) -> pl.Series:
    """Local times in `timezone` → naive UTC. A time the clocks pass twice (the hour after a DST
    fall-back) is the earlier instant the first time a series has it and the later the second time;
    a time that does not exist (skipped by a spring-forward) becomes null."""
    frame = pl.DataFrame([naive.alias("t"), *(k.alias(f"k{i}") for i, k in enumerate(keys))])
    seen = frame.select(pl.int_range(pl.len()).over(frame.columns)).to_series()
    which = pl.Series(["earliest", "latest"])[seen.clip(0, 1)]
    local = naive.dt.replace_time_zone(timezone, ambiguous=which, non_existent="null")
    return local.dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def _aware(fmt: str) -> bool:
    return fmt in AWARE or "%z" in fmt or "%Z" in fmt or fmt.endswith("Z")


def _strptime(text: pl.Series, fmt: str) -> pl.Series:
    if _aware(fmt):
        aware = text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
        return aware.dt.replace_time_zone(None)
    return text.str.strptime(pl.Datetime("us"), fmt, strict=False)


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def format_interval(seconds: float) -> str:
    """Seconds → the shortest text `parse_interval` reads back ("5m", "1h", "90s")."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def parse_interval(text: str) -> float:
    """'5m', '30s', '1h', '1d' → seconds."""
    import re

    from tsrnn.errors import InputError

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"--resample {text!r}: give a positive number and a unit, like 30s, 5m, 1h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]
