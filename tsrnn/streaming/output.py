"""The per-row scores file.

Columns: timestamp, [the id column], the value column(s), expected (expected_<column> for
several), score (the row's own score in [0, 1)), alert_score (the same, but 0 on an event's rows
after its first, up to the cooldown after its last anomalous row: what a pager sees, and what
NAB's threshold sweep scores), anomaly (1 on every row of an incident: from its first flagged row
until its columns are back to normal), alert (1 on the row that raised an alert), and with
`--channel-scores` score_forecast, score_novelty, score_range (each channel's own score).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import polars as pl

from tsrnn.errors import StateError
from tsrnn.export.metadata import ModelMetadata
from tsrnn.fsutil import umask


def scores_frame(
    meta: ModelMetadata,
    series: list[str],
    time_text: list[str],
    values: np.ndarray,
    expected: np.ndarray,
    scores: np.ndarray,
    alert_scores: np.ndarray,
    anomaly: np.ndarray,
    alert: np.ndarray,
    channels: dict[str, np.ndarray] | None = None,
) -> pl.DataFrame:
    """One row per scored input row; with several value columns, `expected_<column>` per column."""
    columns = meta.scored_columns
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
    data["alert_score"] = pl.Series("alert_score", np.round(alert_scores, 6), pl.Float64)
    data["anomaly"] = pl.Series("anomaly", anomaly.astype(np.int8), pl.Int8)
    data["alert"] = pl.Series("alert", alert.astype(np.int8), pl.Int8)
    for name, value in (channels or {}).items():
        data[f"score_{name}"] = pl.Series(f"score_{name}", np.round(value, 6), pl.Float64)
    return pl.DataFrame(data)


class ScoresWriter:
    """The scores file, written a slice of rows at a time.

    To stdout for "-". To a file: without `committed` (no watch state) into a temporary file that
    replaces the target when complete; with it, appended after the first `committed` bytes, the
    size the state recorded at its last commit, so rows of a run killed before its commit are cut
    off and written again: each row is in the file once. `close` returns the new size.
    """

    def __init__(
        self,
        target: str | Path,
        meta: ModelMetadata,
        *,
        committed: int | None = None,
        channels: list[str] | None = None,
    ) -> None:
        self.meta, self.committed, self.channels = meta, committed, channels
        self.header = True
        if str(target) == "-":
            self.path, self.file = None, sys.stdout.buffer
            return
        self.path = Path(target)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if committed is None:
            self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            self.file = open(self.tmp, "wb")  # noqa: SIM115 (closed in close/abort)
            return
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < committed:
            raise StateError(
                f"{self.path}: the scores file is shorter ({size} bytes) than the state recorded ({committed}); "
                "it was truncated or replaced: move it away and delete the --state file to start over"
            )
        self.file = open(self.path, "r+b" if self.path.exists() else "wb")  # noqa: SIM115
        self.file.truncate(committed)  # drop rows of a run that was killed before it committed its state
        self.file.seek(committed)
        self.header = committed == 0

    def write(self, frame: pl.DataFrame) -> None:
        frame.write_csv(self.file, include_header=self.header)
        self.header = False

    def close(self) -> int | None:
        if self.header:  # no rows: still a header, so the file always says what its columns are
            empty = {c: np.zeros(0) for c in self.channels} if self.channels else None
            self.write(
                scores_frame(
                    self.meta,
                    [],
                    [],
                    np.zeros((0, len(self.meta.scored))),
                    np.zeros((0, len(self.meta.scored))),
                    np.zeros(0),
                    np.zeros(0),
                    np.zeros(0, bool),
                    np.zeros(0, bool),
                    empty,
                )
            )
        self.file.flush()
        if self.path is None:
            return None
        os.fsync(self.file.fileno())
        size = self.file.tell()
        self.file.close()
        if self.committed is None:
            os.chmod(self.tmp, 0o666 & ~umask())
            os.replace(self.tmp, self.path)
            return None
        return size

    def abort(self) -> None:
        if self.path is None:
            return
        self.file.close()
        if self.committed is None:
            self.tmp.unlink(missing_ok=True)
