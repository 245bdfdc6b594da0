"""Watch's state file: what was read, the recurrent state per series, written atomically, locked.

JSON with a schema version. Float32 state values survive the round trip exactly (a float32 is
exactly representable as the float64 that JSON writes).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsrnn.errors import StateError
from tsrnn.fsutil import OutputError, atomic_write_bytes, check_output, os_error_line
from tsrnn.streaming.sources import Cursor
from tsrnn.streaming.statecheck import MAX_SERIES, MAX_STATE_BYTES, Invalid, StateModel, check_document

STATE_FORMAT = "tsrnn-watch-state"
# 5: per-column scales and the open incident; a version-4 state is read (one scale for every column, no incident open)
STATE_VERSION = 5
READABLE_VERSIONS = (4, 5)


@dataclass
class SeriesState:
    """Per series: rows seen so far, the last timestamp, the model's carried state, the detector's."""

    rows_seen: int = 0
    last_time_us: int | None = None  # microseconds since the epoch, of the last scored row
    arrays: dict[str, Any] = field(default_factory=dict)  # e.g. h, c, next, or a window buffer
    last_values: list[float] | None = None  # the last scored row, to fill a short gap after it
    detector: dict[str, Any] | None = None  # running error statistics and the open event (SeriesDetector)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_seen": self.rows_seen,
            "last_time_us": self.last_time_us,
            "arrays": self.arrays,
            "last_values": self.last_values,
            "detector": self.detector,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesState:
        return cls(
            int(data["rows_seen"]),
            data["last_time_us"],
            dict(data["arrays"]),
            data.get("last_values"),
            data["detector"],
        )


@dataclass
class WatchState:
    """Everything one watch job carries from one run to the next."""

    model_fingerprint: str  # the model's training-data hash and name: a state belongs to one model
    source: str
    cursors: dict[str, Cursor] = field(default_factory=dict)  # file (absolute path) → how far it was read
    series: dict[str, SeriesState] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)  # scores file (absolute path) → bytes committed
    shard: str | None = None  # "i/n" with --shard: the series of one shard (shard.py)

    def to_json(self) -> bytes:
        doc = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "model": self.model_fingerprint,
            "source": self.source,
            "cursors": {k: v.to_dict() for k, v in self.cursors.items()},
            "series": {k: v.to_dict() for k, v in self.series.items()},
            "outputs": self.outputs,
            **({"shard": self.shard} if self.shard is not None else {}),  # a state without --shard: as before
        }
        return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def load_state(
    path: Path, model_fingerprint: str, source: str, model: StateModel | None = None, shard: str | None = None
) -> WatchState:
    """The saved state, or a fresh one when the file does not exist yet.

    With `model`, every part of it is checked against the model first (statecheck.py); a file
    over MAX_STATE_BYTES is refused before it is parsed. A state belongs to one `shard` ("i/n", or None).
    """
    check_output(path, "--state")
    check_output(lock_path(path), "--state lock")
    if not path.exists():
        return WatchState(model_fingerprint, source, shard=shard)
    doc = _parse(path)
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise StateError(f"{path}: not a tsrnn watch state file; give another --state path")
    if doc.get("version") not in READABLE_VERSIONS:
        raise StateError(
            f"{path}: state version {doc.get('version')!r} is not supported (this tsrnn writes {STATE_VERSION}); "
            f"delete it to start over"
        )
    if doc.get("model") != model_fingerprint:
        raise StateError(f"{path}: this state belongs to another model; use one state file per model and source")
    if doc.get("source") != source:
        raise StateError(
            f"{path}: this state belongs to source {doc.get('source')!r}, not {source!r}; use one state file per source"
        )
    if model is not None:
        try:
            check_document(doc, model)
        except Invalid as exc:
            raise StateError(
                f"{path}: the state file does not fit model {model_fingerprint.split(':')[0]!r}: {exc}; "
                "delete it to start over from the first row"
            ) from None
    if doc.get("shard") != shard:
        raise StateError(
            f"{path}: this state was written {_with(doc.get('shard'))}, not {_with(shard)}; use one state file per "
            "shard (after changing the number of shards: fresh states)"
        )
    try:
        cursors = {str(k): Cursor.from_dict(v) for k, v in doc["cursors"].items()}
        series = {k: SeriesState.from_dict(v) for k, v in doc["series"].items()}
        outputs = {str(k): int(v) for k, v in doc.get("outputs", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise StateError(
            f"{path}: the state file is damaged (fields missing); delete it to start over from the first row"
        ) from None
    return WatchState(model_fingerprint, source, cursors, series, outputs, shard)


def _with(shard: object) -> str:
    return "without --shard" if shard is None else f"with --shard {shard}"


def _parse(path: Path) -> Any:
    """The JSON document, read only up to MAX_STATE_BYTES."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise StateError(f"--state {os_error_line(exc, path)}") from None
    if len(data) > MAX_STATE_BYTES:
        raise StateError(
            f"{path}: the state file is larger than {MAX_STATE_BYTES >> 20} MiB, more than {MAX_SERIES:,} series "
            "take; it is not a state this tsrnn wrote: delete it to start over from the first row"
        )
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError, or an integer of 5,000 digits
        raise StateError(
            f"{path}: the state file is damaged (not valid JSON); delete it to start over from the first row"
        ) from None


def save_state(path: Path, state: WatchState) -> None:
    """Atomic replace: a crash leaves the previous state or the new one, never a mix."""
    check_output(path, "--state")
    atomic_write_bytes(path, state.to_json())


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


class StateLock:
    """An exclusive lock on `STATE.lock` for the length of a run; a second run is refused, or waits."""

    def __init__(self, state_path: Path, *, wait: bool = False) -> None:
        self.state_path, self.path = state_path, lock_path(state_path)
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> StateLock:
        check_output(self.state_path, "--state")  # before its lock file is made next to it
        check_output(self.path, "--state lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise OutputError(f"--state {os_error_line(exc, self.path)}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX if self.wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise StateError(
                f"{self.path}: another tsrnn watch is using this state; let it finish, or pass --wait"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
