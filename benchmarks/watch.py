"""Benchmark: what `tsrnn watch` costs — backfill, many series, cold start, memory.

    .venv/bin/python benchmarks/watch.py [--rows 1000000] [--repeat 5]

1. Backfill: `tsrnn watch BIG.csv --scores-out` as a user runs it (a fresh process, pinned to one
   core with taskset when available, --threads 1), on a ROWS-row univariate CSV, with the default
   model and detector trained on 3,000 rows of the same kind; rows per second end to end, and
   peak RSS. In the same run, interleaved: the same command with the forecast channel alone
   (`--channels forecast`: what the novelty and range channels cost), and the bare onnxruntime
   call on the same rows (the floor: tsrnn's end-to-end cost as a multiple of it). Against it,
   the same PyTorch model scoring sliding windows eagerly (windows of the model's 32-row warm-up
   length, each from a zero state, the way most libraries score a stream), in batches of 1,024
   windows and one window per new row; rows per second of the model alone.
2. Many series: 1,000 series with one new row each, in one onnxruntime call (median), and a whole
   `tsrnn watch` run on a long-format file that brings one new row for each of 1,000 series, and
   the size of its state file per series.
3. Cold start: `tsrnn watch` with --state on a file with one new row, and `tsrnn --help`
   (medians of --repeat fresh processes).
4. Memory: peak RSS of backfills of growing size.
Targets (issues 6 and 11): backfill with the default detector >= 300,000 rows/s on one core and
>= 50x the eager windows; 1,000 series in one call < 10 ms; cold start < 0.3 s, --help < 0.3 s;
peak RSS < 200 MB and flat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).with_name("tsrnn")


def series_csv(path: Path, rows: int, start: int = 0, seed: int = 0) -> None:
    import polars as pl

    rng = np.random.default_rng(seed)
    t = np.arange(start, start + rows)
    stamps = np.datetime64("2020-01-01T00:00:00", "ms") + (t * 60_000).astype("timedelta64[ms]")
    values = 50 + 10 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 0.5, rows)
    pl.DataFrame({"timestamp": stamps, "value": np.round(values, 3)}).write_csv(
        path, datetime_format="%Y-%m-%d %H:%M:%S"
    )


def timed_process(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process (its own peak, via os.wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, args)
    return seconds, usage.ru_maxrss / 1024


def one_core(args: list[str]) -> list[str]:
    return ["taskset", "-c", "0", *args] if shutil.which("taskset") else args


def eager_windows_rate(run_dir: Path, csv: Path, rows: int = 20_000, window: int = 32, batch: int = 1024) -> float:
    import polars as pl
    import torch

    from tsrnn.training.runs import load_run

    torch.set_num_threads(1)
    run = load_run(run_dir)
    net = run.load_model()
    from tsrnn.data.timefeatures import time_features

    frame = pl.read_csv(csv, n_rows=rows + window, try_parse_dates=True)
    scaled = ((frame["value"].to_numpy() - run.scaler.mean[0]) / run.scaler.scale[0]).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(scaled, window)[:rows]
    spec = run.model_config.time_features
    tf = (
        time_features(frame["timestamp"].to_numpy(), spec) if spec != "none" else None
    )  # (rows + window, 2): the time of day
    tf_windows = (
        np.lib.stride_tricks.sliding_window_view(tf, window, axis=0).transpose(0, 2, 1)[:rows]
        if tf is not None
        else None
    )
    started = time.perf_counter()
    with torch.no_grad():
        for a in range(0, rows, batch):
            x = torch.from_numpy(np.array(windows[a : a + batch]))[..., None]
            t = torch.from_numpy(np.array(tf_windows[a : a + batch])) if tf_windows is not None else None
            net(x, *net.zero_state(x.shape[0]), tf=t)  # every window re-runs from a zero state
    return rows / (time.perf_counter() - started)


def many_series(onnx: Path, tmp: Path, repeat: int) -> tuple[float, float]:
    from tsrnn.export.metadata import read_metadata
    from tsrnn.runtime.inferencer import ForecasterRunner
    from tsrnn.runtime.session import open_session

    meta = read_metadata(onnx)
    runner = ForecasterRunner(open_session(onnx), meta)
    jobs = [(np.array([[50.0 + k % 7]]), runner.initial()) for k in range(1000)]
    times = [np.array(["2020-01-03T00:00"], "datetime64[us]")] * len(jobs)  # the default model reads the time of day
    calls = []
    for _ in range(max(repeat, 20)):
        started = time.perf_counter()
        runner.run_many(jobs, times)
        calls.append(time.perf_counter() - started)
    fleet = tmp / "fleet.csv"
    lines = ["timestamp,host,value"] + [
        f"2020-01-01 00:0{m}:00,h{k:04d},{50 + k % 7 + m}" for m in range(5) for k in range(1000)
    ]
    fleet.write_text("\n".join(lines) + "\n")
    subprocess.run(
        [
            BIN,
            "train",
            str(fleet),
            "--id-column",
            "host",
            "--epochs",
            "1",
            "--window",
            "2",
            "--runs-dir",
            str(tmp / "fr"),
            "--quiet",
        ],
        check=True,
    )
    subprocess.run(
        [BIN, "export", "fleet", "--runs-dir", str(tmp / "fr"), "--out", str(tmp / "fleet.onnx"), "--quiet"], check=True
    )
    state = tmp / "fleet.state"
    subprocess.run(
        [BIN, "watch", str(fleet), "--model", str(tmp / "fleet.onnx"), "--state", str(state), "--exit-zero", "--quiet"],
        check=True,
    )
    runs = []
    for m in range(5, 5 + repeat):
        with fleet.open("a") as f:
            f.write("\n".join(f"2020-01-01 00:{m:02d}:00,h{k:04d},{50 + k % 7}" for k in range(1000)) + "\n")
        runs.append(
            timed_process(
                [
                    str(BIN),
                    "watch",
                    str(fleet),
                    "--model",
                    str(tmp / "fleet.onnx"),
                    "--state",
                    str(state),
                    "--exit-zero",
                    "--quiet",
                ]
            )[0]
        )
    return statistics.median(calls) * 1e3, statistics.median(runs), state.stat().st_size / 1000


def bare_call_rate(onnx: Path, csv: Path, rows: int = 200_000) -> float:
    """Rows per second of the graph alone: onnxruntime on the same rows, in the same calls as watch."""
    import polars as pl

    from tsrnn.data.timefeatures import time_features
    from tsrnn.export.metadata import read_metadata
    from tsrnn.runtime.inferencer import BACKLOG_ROWS, ForecasterRunner
    from tsrnn.runtime.session import open_session

    meta = read_metadata(onnx)
    runner = ForecasterRunner(open_session(onnx), meta)
    frame = pl.read_csv(csv, n_rows=rows, try_parse_dates=True)
    x = frame["value"].to_numpy().astype(np.float32)[None, :, None]
    rows = x.shape[1]
    tf = (
        time_features(frame["timestamp"].to_numpy(), meta.time_features)[None] if meta.time_features != "none" else None
    )
    feed = {n: v for n, v in runner.initial().items() if n in runner.states + runner.rows}
    started = time.perf_counter()
    for a in range(0, rows, BACKLOG_ROWS):
        extra = {"tf": tf[:, a : a + BACKLOG_ROWS]} if tf is not None else {}
        out = runner.session.run(runner.outputs, {"x": x[:, a : a + BACKLOG_ROWS], **extra, **feed})
        feed = dict(zip(runner.states + runner.rows, out[len(out) - len(feed) :]))
    return rows / (time.perf_counter() - started)


def cold_start(onnx: Path, tmp: Path, repeat: int) -> tuple[float, float]:
    small = tmp / "small.csv"
    series_csv(small, 100)
    state = tmp / "small.state"
    subprocess.run(
        [BIN, "watch", str(small), "--model", str(onnx), "--state", str(state), "--exit-zero", "--quiet"], check=True
    )
    runs = []
    for i in range(repeat):
        with small.open("a") as f:
            f.write(f"2020-01-01 {(100 + i) // 60:02d}:{(100 + i) % 60:02d}:00,50.0\n")
        runs.append(
            timed_process(
                [str(BIN), "watch", str(small), "--model", str(onnx), "--state", str(state), "--exit-zero", "--quiet"]
            )[0]
        )
    helps = [timed_process([str(BIN), "--help"])[0] for _ in range(repeat)]
    return statistics.median(runs), statistics.median(helps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        series_csv(tmp / "history.csv", 3000, seed=1)
        subprocess.run([BIN, "train", str(tmp / "history.csv"), "--runs-dir", str(tmp / "runs"), "--quiet"], check=True)
        onnx = tmp / "history.onnx"
        subprocess.run(
            [BIN, "export", "history", "--runs-dir", str(tmp / "runs"), "--out", str(onnx), "--quiet"], check=True
        )

        print(f"tsrnn watch benchmark; medians of {args.repeat}; default model (LSTM 2x32)")
        sizes = sorted({args.rows // 10, args.rows // 3, args.rows})
        backfill, forecast_only = {}, []
        for rows in sizes:
            big = tmp / f"big{rows}.csv"
            series_csv(big, rows, start=3000, seed=2)
            cmd = one_core(
                [
                    str(BIN),
                    "watch",
                    str(big),
                    "--model",
                    str(onnx),
                    "--scores-out",
                    str(tmp / "out.csv"),
                    "--exit-zero",
                    "--quiet",
                    "--threads",
                    "1",
                ]
            )
            results = []
            for _ in range(
                args.repeat if rows == args.rows else 1
            ):  # interleaved: the default, then the forecast channel alone
                results.append(timed_process(cmd))
                if rows == args.rows:
                    forecast_only.append(timed_process([*cmd, "--channels", "forecast"])[0])
            backfill[rows] = (statistics.median(r[0] for r in results), max(r[1] for r in results))
            if rows == args.rows:
                bare = bare_call_rate(onnx, big)
            os.remove(big)
        seconds, peak = backfill[args.rows]
        eager = eager_windows_rate(tmp / "runs" / "history", tmp / "history.csv")
        eager1 = eager_windows_rate(tmp / "runs" / "history", tmp / "history.csv", rows=2000, batch=1)
        rate = args.rows / seconds
        alone = args.rows / statistics.median(forecast_only)
        print(
            f"backfill {args.rows:,} rows, end to end, one core: {seconds:.2f} s = {rate:,.0f} rows/s (default "
            f"detector); "
            f"forecast channel alone {alone:,.0f} rows/s (the novelty and range channels cost {alone / rate:.2f}x); "
            f"the bare onnxruntime calls {bare:,.0f} rows/s (tsrnn end to end: {bare / rate:.2f}x the floor)"
        )
        print(
            f"eager PyTorch, 32-row sliding windows, model only, one thread: batches of 1,024 {eager:,.0f} rows/s "
            f"(tsrnn end to end {rate / eager:.1f}x); one window per new row {eager1:,.0f} rows/s (tsrnn "
            f"{rate / eager1:.0f}x)"
        )
        print(
            "peak RSS by backfill size: "
            + ", ".join(f"{rows:,} rows {mib:.0f} MiB" for rows, (_, mib) in backfill.items())
        )
        call_ms, fleet_s, state_kb = many_series(onnx, tmp, args.repeat)
        print(
            f"1,000 series with one new row each: one onnxruntime call {call_ms:.2f} ms; a whole tsrnn watch run "
            f"{fleet_s:.2f} s; "
            f"state {state_kb / 1000:.1f} KB per series"
        )
        start_s, help_s = cold_start(onnx, tmp, args.repeat)
        print(f"cold start: tsrnn watch with --state and one new row {start_s:.2f} s; tsrnn --help {help_s:.2f} s")
        print(
            json.dumps(
                {
                    "rows_per_s": rate,
                    "forecast_channel_rows_per_s": alone,
                    "bare_call_rows_per_s": bare,
                    "eager_rows_per_s": eager,
                    "eager_one_window_rows_per_s": eager1,
                    "call_ms_1000_series": call_ms,
                    "fleet_run_s": fleet_s,
                    "state_kb_per_series": state_kb / 1000,
                    "cold_start_s": start_s,
                    "help_s": help_s,
                    "peak_mib": {str(k): v[1] for k, v in backfill.items()},
                }
            )
        )


if __name__ == "__main__":
    main()
