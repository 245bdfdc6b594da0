"""Text from files, made safe where it goes: a terminal and a spreadsheet.

Model metadata, column names, series ids and timestamps come from files someone else may have
written. On a terminal, their control characters (ANSI escapes that retitle the window or clear
the screen, a carriage return that overwrites the line, a backspace, bidirectional overrides that
reorder what is shown) are printed as visible escapes (`\\x1b`). In a CSV that a spreadsheet may
open, a text cell or header name starting with `=`, `+`, `-`, `@`, tab, carriage return or line
feed is a formula there; OWASP's rule (CSV Injection) is to prefix such a cell with a single quote.
Numbers are never changed. `formula_safe` adds the quote, `formula_unquoted` takes it off again
(tsrnn reads its own scores files with it), so `'=x` and `=x` stay apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

_SHOWN = {0x09: "\t", 0x0A: "\n", 0x0D: "\\r"}  # tab and newline are layout: kept
_ESCAPES: dict[int, str] = {
    c: _SHOWN.get(c, f"\\x{c:02x}") for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)
}
# bidirectional marks, embeddings, overrides and isolates: they reorder the characters shown after them
_ESCAPES.update({c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})

FORMULA_START = "=+-@\t\r\n"  # OWASP CSV Injection: a cell starting with one of these is a formula
_QUOTED = re.compile(r"^'*[=+\-@\t\r\n]")  # a cell needing the quote (or, read back, having one more)
_QUOTED_PL = r"^'*[=+\-@\t\r\n]"  # the same, for polars (Rust regex)


def printable(text: str) -> str:
    """`text` with its control characters as visible escapes: `\\x1b[2J` is shown, not obeyed.

    Newlines and tabs are kept; a carriage return is shown as `\\r`. Applying it twice changes
    nothing more than once.
    """
    return text.translate(_ESCAPES)


def formula_safe(text: str) -> str:
    """A CSV text cell a spreadsheet shows as text: a single quote before a leading `=`, `+`, `-`,
    `@`, tab, carriage return or line feed (and before one already quoted, so the quote can be
    taken off again exactly)."""
    return "'" + text if _QUOTED.match(text) else text


def formula_unquoted(text: str) -> str:
    """The inverse of `formula_safe`."""
    return text[1:] if text.startswith("'") and _QUOTED.match(text) else text


def formula_safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `formula_safe` on every column name and every text cell; numbers unchanged."""
    import polars as pl

    def cells(col: pl.Expr) -> pl.Expr:
        return pl.when(col.str.contains(_QUOTED_PL)).then("'" + col).otherwise(col)

    return _each_text(frame, formula_safe, cells)


def formula_unquoted_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The inverse of `formula_safe_frame` (for a file read back as text)."""
    import polars as pl

    def cells(col: pl.Expr) -> pl.Expr:
        return pl.when(col.str.starts_with("'") & col.str.contains(_QUOTED_PL)).then(col.str.slice(1)).otherwise(col)

    return _each_text(frame, formula_unquoted, cells)


def _each_text(frame: pl.DataFrame, name: Callable[[str], str], cells: Callable[[pl.Expr], pl.Expr]) -> pl.DataFrame:
    import polars as pl  # only when a frame is written (the terminal half is imported by every error message)

    texts = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    if texts:
        frame = frame.with_columns(cells(pl.col(c)).alias(c) for c in texts)
    renamed = {c: name(c) for c in frame.columns if name(c) != c}
    return frame.rename(renamed) if renamed else frame
