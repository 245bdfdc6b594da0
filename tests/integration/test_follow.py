"""watch --follow: rows scored as they are appended, through rotation and truncation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from tests.helpers import cycle, inject_spike, stamps


def lines(start: int, rows: int, spike_at: int | None = None) -> str:
    values = cycle(rows, start_row=start, seed=start)
    if spike_at is not None:
        values = inject_spike(values, spike_at - start, 8.0, 3)
    return "".join(f"{ts},{v:.4f}\n" for ts, v in zip(stamps(rows, start), values[:, 0]))


def rows_in(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def wait_for_rows(path: Path, rows: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while rows_in(path) < rows:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"the follower scored {rows_in(path)} rows, not {rows}"
        time.sleep(0.1)


def test_follow_scores_appends_and_survives_rotation_and_truncation(tmp_path: Path, forecaster_onnx: Path) -> None:
    data, scores = tmp_path / "m.csv", tmp_path / "scores.csv"
    data.write_text("timestamp,value\n" + lines(2000, 100))
    args = [
        sys.executable,
        "-m",
        "tsrnn",
        "watch",
        str(data),
        "--model",
        str(forecaster_onnx),
        "--follow",
        "--interval",
        "0.1",
        "--ndjson",
        "--scores-out",
        str(scores),
        "--state",
        str(tmp_path / "s"),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_rows(scores, 100, proc)
    with data.open("a") as f:
        f.write(lines(2100, 100, spike_at=2150))
    wait_for_rows(scores, 200, proc)
    os.rename(data, tmp_path / "m.csv.1")  # logrotate: the file moves away, a new one starts
    data.write_text("timestamp,value\n" + lines(2200, 50))
    wait_for_rows(scores, 250, proc)
    data.write_text("timestamp,value\n" + lines(2250, 30))  # truncated and rewritten in place
    wait_for_rows(scores, 280, proc)
    proc.send_signal(signal.SIGTERM)  # stops like Ctrl-C, after its current pass
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err  # an anomaly was found while following
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 1 and events[0]["start"] in stamps(4, 2150)
    assert "truncated or rotated" in err and "280 rows scored" in err
    got = pl.read_csv(scores, schema_overrides={"expected": pl.Float64})
    assert got["timestamp"].to_list() == stamps(280, 2000)  # every row once, in order, across three files


def test_a_stop_request_ends_follow_after_the_pass_in_progress(tmp_path: Path, forecaster_onnx: Path) -> None:
    """A stop asked for during a pass (SIGTERM, Ctrl-C) lets that pass write and commit its rows."""
    import threading

    from tsrnn.streaming.engine import open_job
    from tsrnn.streaming.follow import follow
    from tsrnn.streaming.state import load_state

    data, scores, state = tmp_path / "m.csv", tmp_path / "scores.csv", tmp_path / "s"
    data.write_text("timestamp,value\n" + lines(2000, 120))
    stop = threading.Event()
    summary = follow(
        data,
        forecaster_onnx,
        state=state,
        scores_out=scores,
        interval=30.0,
        on_pass=lambda result: stop.set(),
        stop=stop,
    )
    job = open_job(data, forecaster_onnx)
    assert (summary.passes, summary.rows) == (1, 120)  # returned at once, not after the 30 s interval
    assert rows_in(scores) == 120
    assert load_state(state, job.fingerprint, job.key).cursors  # the pass was committed to the state


def test_follow_waits_for_the_end_of_a_half_written_line(tmp_path: Path, forecaster_onnx: Path) -> None:
    """Each pass scores whole lines only: a line cut by a writer is scored once, whole, when it ends."""
    import threading

    from tsrnn.streaming.follow import follow

    data = tmp_path / "m.csv"
    text = lines(2000, 60)
    cut = text.rindex(",") + 2  # the last row cut one character after its comma
    data.write_text("timestamp,value\n" + text[:cut])
    seen: list[int] = []
    stop = threading.Event()

    def on_pass(result) -> None:
        seen.append(result.rows)
        if len(seen) == 2:
            with data.open("a") as out:
                out.write(text[cut:])  # the writer finishes the line
        if len(seen) == 3:
            stop.set()

    follow(data, forecaster_onnx, scores_out=tmp_path / "scores.csv", interval=0.01, on_pass=on_pass, stop=stop)
    assert seen == [59, 0, 1]
    scores = pl.read_csv(tmp_path / "scores.csv")
    assert scores.height == 60
    assert f"{scores['value'][-1]:.4f}" == text.strip().rsplit(",", 1)[1]
