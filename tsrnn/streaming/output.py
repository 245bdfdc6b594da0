"""The per-row scores file: timestamp, values, expected, score, anomaly."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsrnn.export.metadata import ModelMetadata
from tsrnn.errors import StateError
from tsrnn.fsutil import atomic_write_bytes


def scores_frame(meta: ModelMetadata, series: list[str], time_text: list[str], values: np.ndarray, expected: np.ndarray, scores: np.ndarray, anomaly: np.ndarray) -> pl.DataFrame:
    """One row per scored input row; with several value columns, `expected_<column>` per column."""
    columns = meta.value_columns
    data: dict[str, pl.Series] = {"timestamp": pl.Series("timestamp", time_text, pl.String)}
    id_column = meta.data.id_column
    if id_column:
        data[id_column] = pl.Series(id_column, series, pl.String)
    for i, col in enumerate(columns):
        data[col] = pl.Series(col, values[:, i], pl.Float64)
    for i, col in enumerate(columns):
        name = "expected" if len(columns) == 1 else f"expected_{col}"
        data[name] = pl.Series(name, expected[:, i], pl.Float64).fill_nan(None)
    data["score"] = pl.Series("score", np.round(scores, 6), pl.Float64)
    data["anomaly"] = pl.Series("anomaly", anomaly.astype(np.int8), pl.Int8)
    return pl.DataFrame(data)


def write_scores(target: str | Path, meta: ModelMetadata, *columns: Any, committed: int | None = None) -> int | None:
    """Write scores_frame(meta, *columns): to stdout for "-", else to a file.

    Without `committed` the file is replaced atomically. With it (a watch state is kept), rows
    are appended after the first `committed` bytes, the bytes the state recorded at its last
    commit: whatever a killed run wrote after that is cut off first, so each row is in the file
    exactly once. Returns the file's new size, for the state to record.
    """
    frame = scores_frame(meta, *columns)
    buffer = io.BytesIO()
    if str(target) == "-":
        frame.write_csv(buffer)
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return None
    path = Path(target)
    if committed is None:
        frame.write_csv(buffer)
        atomic_write_bytes(path, buffer.getvalue())
        return None
    return append_rows(path, frame, committed)


def append_rows(path: Path, frame: pl.DataFrame, committed: int) -> int:
    """Cut `path` back to `committed` bytes, append the frame's rows (a header first), fsync."""
    size = path.stat().st_size if path.exists() else 0
    if size < committed:
        raise StateError(
            f"{path}: the scores file is shorter ({size} bytes) than the state recorded ({committed}); "
            "it was truncated or replaced: move it away and delete the --state file to start over"
        )
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=committed == 0)
    with open(path, "r+b" if path.exists() else "wb") as f:
        f.truncate(committed)  # drop rows of a run that was killed before it committed its state
        f.seek(committed)
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
        return f.tell()
