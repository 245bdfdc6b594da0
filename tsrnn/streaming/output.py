"""The per-row scores file: timestamp, values, expected, score, anomaly."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsrnn.export.metadata import ModelMetadata
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


def write_scores(target: str | Path, meta: ModelMetadata, *columns: Any) -> None:
    """Write scores_frame(meta, *columns) to a file atomically, or to stdout for "-"."""
    buffer = io.BytesIO()
    scores_frame(meta, *columns).write_csv(buffer)
    if str(target) == "-":
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
    else:
        atomic_write_bytes(Path(target), buffer.getvalue())
