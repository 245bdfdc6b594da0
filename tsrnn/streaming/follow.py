"""`watch --follow`: score rows as they are appended, like `tail -f`, through rotation and truncation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsrnn.streaming.engine import WatchResult, _Job
from tsrnn.streaming.sources import SourceChanged
from tsrnn.streaming.state import StateLock, load_state, save_state


@dataclass
class FollowSummary:
    passes: int = 0
    rows: int = 0
    events: int = 0
    restarts: int = 0  # times the file was rotated or truncated and read again from its start
    notes: list[str] = field(default_factory=list)


def follow(
    job: _Job,
    *,
    state: str | Path | None = None,
    scores_out: str | Path | None = None,
    interval: float = 1.0,
    seconds: float | None = None,
    wait: bool = False,
    on_pass: Callable[[WatchResult], None] | None = None,
    stop: threading.Event | None = None,
) -> FollowSummary:
    """Score new rows every `interval` seconds until `seconds` pass or Ctrl-C / SIGTERM.

    Each pass is one incremental watch run, committed to the state (a file with --state, else
    kept in memory), so the scores file holds every row once. When the file shrinks or its start
    changes (truncated, or rotated and replaced), the new file is read from its start; rows whose
    timestamps are not after the last scored row are counted as already scored.

    `stop` ends the loop between passes, never inside one (set it from a signal handler): a pass
    that has begun is scored, written and committed before the loop returns. A KeyboardInterrupt
    (from a handler that raises) ends it at once; the state then holds the last committed pass.
    """
    stop = stop or threading.Event()
    summary = FollowSummary()
    deadline = None if seconds is None else time.monotonic() + seconds
    lock = StateLock(Path(state), wait=wait) if state else None
    if lock:
        lock.__enter__()
    try:
        saved = load_state(Path(state), job.fingerprint, job.key) if state else job.fresh_state()
        while True:
            try:
                result = job.run(saved, scores_out)
            except SourceChanged as exc:
                saved.cursors.pop(exc.path, None)
                summary.restarts += 1
                summary.notes.append(f"{exc.path} was truncated or rotated; read the new file from its start")
                continue
            if state:
                save_state(Path(state), saved)
            summary.passes += 1
            summary.rows += result.rows
            summary.events += len(result.alerts)
            if on_pass:
                on_pass(result)
            if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                break
            if stop.wait(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))):
                break
    except KeyboardInterrupt:
        pass
    finally:
        if lock:
            lock.__exit__(None, None, None)
    return summary
