"""The per-row scores file: timestamp, values, expected, score, anomaly."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import polars as pl

from tsrnn.data.reader import Table
from tsrnn.export.metadata import ModelMetadata
from tsrnn.fsutil import atomic_write_bytes


def scores_frame(meta: ModelMetadata, table: Table | None, expected: np.ndarray, scores: np.ndarray, anomaly: np.ndarray) -> pl.DataFrame:
    """One row per scored input row. With several value columns, `expected_<column>` per column."""
    columns = meta.value_columns
    rows = 0 if table is None else table.rows
    data: dict[str, pl.Series] = {"timestamp": pl.Series("timestamp", table.time_text if table else [], pl.String)}
    for i, col in enumerate(columns):
        data[col] = pl.Series(col, table.values[:, i] if table else [], pl.Float64)
    for i, col in enumerate(columns):
        name = "expected" if len(columns) == 1 else f"expected_{col}"
        data[name] = pl.Series(name, expected[:rows, i] if rows else [], pl.Float64).fill_nan(None)
    data["score"] = pl.Series("score", np.round(scores, 6), pl.Float64)
    data["anomaly"] = pl.Series("anomaly", anomaly.astype(np.int8), pl.Int8)
    return pl.DataFrame(data)


def write_scores(target: str | Path, meta: ModelMetadata, table: Table | None, expected: np.ndarray, scores: np.ndarray, anomaly: np.ndarray) -> None:
    """Write to a file atomically, or to stdout for "-"."""
    buffer = io.BytesIO()
    scores_frame(meta, table, expected, scores, anomaly).write_csv(buffer)
    if str(target) == "-":
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
    else:
        atomic_write_bytes(Path(target), buffer.getvalue())
