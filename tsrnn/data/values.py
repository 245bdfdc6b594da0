"""Value cells as written: missing-value markers, the decimal mark, and the float32 limit a model computes in."""

from __future__ import annotations

import re

import polars as pl

# pandas' default `na_values` (read_csv), and "-": a cell holding one of these is a missing value
NA_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
    "-",
)
FLOAT32_MAX = 3.4028234663852886e38  # the graph computes in float32: a larger value becomes infinite there

_THOUSANDS = re.compile(r"[-+]?\d{1,3}([,.' \u00a0]\d{3})+([.,]\d+)?")
_COMMA = re.compile(r"[-+]?\d*,\d+([eE][-+]?\d+)?")


def is_number(value: str, decimal: str) -> bool:
    """A cell that reads as a number (a missing-value marker does not)."""
    try:
        float(value.replace(",", ".") if decimal == "," else value)
        return value not in NA_VALUES
    except ValueError:
        return False


def looks_numeric(values: list[str], decimal: str) -> bool:
    """Most of a column's non-missing sample cells are numbers (all missing: keep it, the full read decides)."""
    present = [v for v in values if v not in NA_VALUES]
    return not present or sum(is_number(v, decimal) for v in present) >= len(present) / 2


def number_hint(values: list[str], decimal: str) -> str:
    """Why numbers may not read as numbers: a decimal comma or thousands separators; "" when neither."""
    present = [v for v in values if v not in NA_VALUES]
    if not present:
        return ""
    if decimal == "." and all(_COMMA.fullmatch(v) for v in present):
        if all(_THOUSANDS.fullmatch(v) for v in present):
            return (
                " (it looks like numbers with a decimal comma, then use --decimal , or with thousands separators, "
                "which tsrnn does not read: remove them)"
            )
        return " (it looks like numbers with a decimal comma: use --decimal ,)"
    if any(_THOUSANDS.fullmatch(v) for v in present):
        return " (it looks like numbers with thousands separators, which tsrnn does not read: remove them)"
    return ""


def parse_column(text: pl.Series, decimal: str) -> tuple[pl.Series, int | None]:
    """Text cells → Float64 (missing markers → null); and the first cell that is not a number, if any."""
    text = text.str.strip_chars()
    missing = text.is_null() | text.is_in(list(NA_VALUES))
    numbers = text.str.replace_all(",", ".", literal=True) if decimal == "," else text
    parsed = pl.when(missing).then(None).otherwise(numbers.cast(pl.Float64, strict=False))
    out = pl.select(parsed.alias(text.name)).to_series()
    bad = ~missing & out.is_null()
    return out, (int(bad.arg_true()[0]) if bad.any() else None)


def shown(value: str, limit: int = 60) -> str:
    """A cell as a message shows it: quoted, and cut when long."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value):,} characters)"


def first_unrepresentable(values: pl.DataFrame) -> tuple[int, str, float] | None:
    """(row, column, value) of the first value that is infinite or beyond float32, or None."""
    big = pl.any_horizontal(pl.all().abs() > FLOAT32_MAX)
    rows = values.select(big).to_series().fill_null(False)
    if not rows.any():
        return None
    i = int(rows.arg_true()[0])
    col = next(c for c in values.columns if values[c][i] is not None and abs(values[c][i]) > FLOAT32_MAX)
    return i, col, float(values[col][i])
