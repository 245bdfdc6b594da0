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
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from tsrnn.errors import StateError
from tsrnn.export.metadata import ModelMetadata
from tsrnn.fsutil import OutputError, check_output, os_error_line, umask
from tsrnn.safetext import formula_safe_frame
from tsrnn.streaming.state import WatchState, save_state

WHAT = "--scores-out"


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
    off and written again: each row is in the file once. `close` returns the new size. The target
    must be a regular file (or nothing yet), not a link, and not one of the `inputs` it scores.
    """

    def __init__(
        self,
        target: str | Path,
        meta: ModelMetadata,
        *,
        committed: int | None = None,
        channels: list[str] | None = None,
        inputs: tuple[str, list[str]] | None = None,
    ) -> None:
        self.meta, self.committed, self.channels = meta, committed, channels
        self.header = True
        if str(target) == "-":
            self.path, self.file = None, sys.stdout.buffer
            return
        self.path = Path(target)
        check_output(self.path, WHAT)
        if inputs is not None:
            check_not_input(self.path, *inputs)
        try:
            self._open(committed)
        except OSError as exc:
            raise OutputError(f"{WHAT} {os_error_line(exc, self.path)}") from None

    def _open(self, committed: int | None) -> None:
        assert self.path is not None  # not stdout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if committed is None:  # an unpredictable name, created exclusively: a planted link is never followed
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            self.tmp = Path(tmp)
            self.file = os.fdopen(fd, "wb")
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        self.file = os.fdopen(fd, "r+b")
        size = os.fstat(fd).st_size
        if size < committed:
            self.file.close()
            raise StateError(
                f"{self.path}: the scores file is shorter ({size} bytes) than the state recorded ({committed}); "
                "it was truncated or replaced: move it away and delete the --state file to start over"
            )
        self.file.truncate(committed)  # drop rows of a run that was killed before it committed its state
        self.file.seek(committed)
        self.header = committed == 0

    raw_csv = False  # True: text cells as read; else formula-like ones quoted (tsrnn.safetext)

    def write(self, frame: pl.DataFrame) -> None:
        try:
            (frame if self.raw_csv else formula_safe_frame(frame)).write_csv(self.file, include_header=self.header)
        except BrokenPipeError:  # stdout closed by its reader (`| head`): the CLI ends quietly
            raise
        except OSError as exc:
            raise OutputError(f"{WHAT} {os_error_line(exc, self.path or '-')}") from exc
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
        if self.path is None:
            self.file.flush()
            return None
        try:
            return self._finish()
        except OSError as exc:
            raise OutputError(f"{WHAT} {os_error_line(exc, self.path)}") from None

    def _finish(self) -> int | None:
        assert self.path is not None  # not stdout
        self.file.flush()
        os.fsync(self.file.fileno())
        size = self.file.tell()
        self.file.close()
        if self.committed is None:
            os.chmod(self.tmp, 0o666 & ~umask())
            check_output(self.path, WHAT)  # a link or device planted meanwhile is not replaced either
            os.replace(self.tmp, self.path)
            return None
        return size

    def abort(self) -> None:
        if self.path is None:
            return
        try:
            self.file.close()
        except OSError:  # the buffered rest could not be written (a full disk): the file is dropped or cut anyway
            pass
        if self.committed is None:
            self.tmp.unlink(missing_ok=True)


def check_not_input(target: Path, source: str, files: list[str]) -> None:
    """Refuse a scores file that is one of the files scored, or that a directory or glob source would read."""
    real = os.path.realpath(target)
    for name in files:
        if name == "-":
            continue
        same = target.exists() and os.path.exists(name) and os.path.samefile(target, name)
        if same or real == os.path.realpath(name):
            raise OutputError(
                f"{WHAT} {target} is the source file {name}: writing the scores would replace the data; "
                "name another file"
            )
    if source == "-":
        return
    inside = os.path.isdir(source) and os.path.realpath(target.parent) == os.path.realpath(source)
    if (inside and target.suffix.lower() == ".csv") or (
        not inside
        and any(ch in source for ch in "*?[")
        and not os.path.exists(source)
        and Path(real).match(os.path.realpath(source))
    ):
        raise OutputError(
            f"{WHAT} {target} would be read as input by the next run of source {source}; "
            "write the scores outside it (or with another extension)"
        )


def claim_scores(target: str | Path, saved: WatchState, state_path: Path | None, inputs: tuple[str, list[str]]) -> None:
    """Before a state's first rows go to `target`: refuse a file that already holds rows this
    state did not write (they would be cut), else record it at 0 bytes and commit that at once, so
    a run killed before its first commit leaves a state that cuts its rows off on the next run."""
    key = os.path.abspath(target)
    if key in saved.outputs:
        return
    path = Path(target)
    check_output(path, WHAT)
    check_not_input(path, *inputs)
    size = path.stat().st_size if path.is_file() else 0
    if size and state_path is not None:
        state = "is new" if not state_path.exists() else "has no record of it"
        raise OutputError(
            f"{path} already holds {size} bytes of scores and --state {state_path} {state}: move the file away, "
            "or give the --state that wrote it"
        )
    saved.outputs[key] = 0
    if state_path is not None:
        save_state(state_path, saved)


def check_apart(model: str | Path, state: str | Path | None, scores_out: str | Path | None) -> None:
    """Refuse a run whose scores file is its model or its state, or whose state is its model: each
    would replace the other (a state written over the scores loses every row)."""
    named = [("--model", model), ("--state", state), ("--scores-out", None if str(scores_out) == "-" else scores_out)]
    given = [(flag, os.path.realpath(p)) for flag, p in named if p is not None]
    for i, (flag, real) in enumerate(given):
        for other, real_other in given[i + 1 :]:
            if real == real_other:
                raise OutputError(f"{other} {real} is also the {flag}: one would replace the other; name another file")
