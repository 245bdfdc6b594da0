"""`watch --follow`: score rows as they are appended, like `tail -f`, through rotation and truncation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tsrnn.errors import InputError
from tsrnn.streaming.engine import EventSink, open_job
from tsrnn.streaming.output import check_apart
from tsrnn.streaming.result import FollowResult, WatchResult
from tsrnn.streaming.sources import SourceChanged


def follow(
    source: str | Path,
    model: str | Path,
    *,
    state: str | Path | None = None,
    scores_out: str | Path | None = None,
    interval: float = 1.0,
    seconds: float | None = None,
    wait: bool = False,
    on_pass: Callable[[WatchResult], None] | None = None,
    on_event: EventSink | None = None,
    stop: threading.Event | None = None,
    **options: Any,
) -> FollowResult:
    """Score new rows of `source` every `interval` seconds until `seconds` pass, `stop` is set, or Ctrl-C.

    `options` are watch()'s (provider, threads, cooldown, min_duration, score, channel_scores, ...).
    Each pass is one incremental watch run, committed to the state (a file with `state`, else
    kept in memory), so the scores file holds every row once. When the file shrinks or its start
    changes (truncated, or rotated and replaced), the new file is read from its start; rows whose
    timestamps are not after the last scored row are counted as already scored.

    `stop` ends the loop between passes, never inside one (set it from a signal handler): a pass
    that has begun is scored, written and committed before the loop returns. A KeyboardInterrupt
    (from a handler that raises) ends it at once; the state then holds the last committed pass.
    """
    if str(source) == "-" or not interval > 0:
        raise InputError("--follow needs a file (not stdin) and a positive --interval")
    check_apart(model, state, scores_out)
    job = open_job(source, model, **options)
    stop = stop or threading.Event()
    result = FollowResult(str(source), str(model))
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        with job.state(state, wait=wait) as saved:
            saved = saved or job.fresh_state()
            while True:
                try:
                    passed = job.run(saved, scores_out, on_event)
                except SourceChanged as exc:
                    saved.cursors.pop(exc.path, None)
                    result.restarts += 1
                    result.notes.append(f"{exc.path} was truncated or rotated; read the new file from its start")
                    continue
                if state is not None:
                    job.commit(state, saved)
                result.passes += 1
                result.rows += passed.rows
                result.other_shards += passed.other_shards
                result.alerts += passed.alerts
                if on_pass:
                    on_pass(passed)
                if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                    break
                if stop.wait(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))):
                    break
    except KeyboardInterrupt:
        pass
    return result
