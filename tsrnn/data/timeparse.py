"""Timestamps: pick the format from a sample, parse the whole column with it (polars, vectorised).

Naive and UTC-offset ISO forms, dates alone, and epoch seconds or milliseconds. Times with an
offset are converted to UTC and kept naive, so every series compares on one clock.
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
FORMATS = NAIVE + AWARE
EPOCH_MS_ABOVE = 1e11  # larger epoch numbers are milliseconds (1e11 s is the year 5138)


def detect_time_format(sample: list[str]) -> str | None:
    """The format that parses most of `sample`; None for epoch numbers; "" when nothing parses."""
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
    for fmt in FORMATS:
        count = len(present) - _strptime(series, fmt).null_count()
        if count > best_count:
            best, best_count = fmt, count
    return best


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
        for other in (fmt, *FORMATS):
            parsed = parsed.fill_null(_strptime(text, other))
            if parsed.null_count() == text.null_count():
                break
    return parsed


def _strptime(text: pl.Series, fmt: str) -> pl.Series:
    if fmt in AWARE:
        aware = text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
        return aware.dt.replace_time_zone(None)
    return text.str.strptime(pl.Datetime("us"), fmt, strict=False)


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """'5m', '30s', '1h', '1d' → seconds."""
    import re

    from tsrnn.errors import InputError

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"--resample {text!r}: give a positive number and a unit, like 30s, 5m, 1h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]
