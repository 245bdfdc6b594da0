"""Benchmark: what `tsrnn watch` costs — backfill, many series, cold start, memory.

    .venv/bin/python benchmarks/watch.py [--rows 1000000] [--repeat 5] [--json]

1. Backfill: `tsrnn watch BIG.csv --scores-out` as a user runs it (a fresh process, pinned to one
   core with taskset when available, --threads 1), on a ROWS-row univariate CSV, with the default
   model and detector trained on 3,000 rows of the same kind; rows per second end to end, and
   peak RSS. In the same run, interleaved: the same command with the forecast channel alone
   (`--channels forecast`: what the novelty and range channels cost), and the bare onnxruntime
   call on the same rows (the floor: tsrnn's end-to-end cost as a multiple of it). Against it,
   the same PyTorch model scoring sliding windows eagerly (windows of the model's 32-row warm-up
   length, each from a zero state, the way most libraries score a stream), in batches of 1,024
   windows and one window per new row, and stepped one row at a time with its state carried
   (what a Python user without the exported graph would run); rows per second of the model alone.
2. Many series: 1,000 series with one new row each, in one onnxruntime call: what the runner
   costs (stacking the states, the call, splitting them again, the errors) and the bare call on
   the same stacked feed, interleaved (median), and a whole
   `tsrnn watch` run on a long-format file that brings one new row for each of 1,000 series, and
   the size of its state file per series.
3. Cold start: `tsrnn watch` with --state on a file with one new row, and `tsrnn --help`
   (medians of --repeat fresh processes).
4. Memory: peak RSS of backfills of growing size.
The targets (issue 16's, the README's figures before it) and the ratios: benchmarks/figures.py.
`--json` prints every sample (benchmarks/run.py reads it).
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
from types import SimpleNamespace
from typing import Any

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


def eager_model(run_dir: Path, csv: Path, rows: int):
    """The run's PyTorch network (one thread), its settings, and the first `rows` rows of `csv`
    scaled as it reads them, with their time features (None without)."""
    import polars as pl
    import torch

    from tsrnn.data.timefeatures import time_features
    from tsrnn.training.runs import load_run

    torch.set_num_threads(1)
    run = load_run(run_dir)
    frame = pl.read_csv(csv, n_rows=rows, try_parse_dates=True)
    scaled = ((frame["value"].to_numpy() - run.scaler.mean[0]) / run.scaler.scale[0]).astype(np.float32)
    spec = run.model_config.time_features
    tf = time_features(frame["timestamp"].to_numpy(), spec) if spec != "none" else None  # (rows, 2): time of day
    return run.load_model(), run.model_config, scaled, tf


def eager_windows_rate(run_dir: Path, csv: Path, rows: int = 20_000, window: int = 32, batch: int = 1024) -> float:
    import torch

    net, _, scaled, tf = eager_model(run_dir, csv, rows + window)
    windows = np.lib.stride_tricks.sliding_window_view(scaled, window)[:rows]
    tf_windows = (
        np.lib.stride_tricks.sliding_window_view(tf, window, axis=0).transpose(0, 2, 1)[:rows]
        if tf is not None
        else None
    )
    rows = len(windows)  # the history may hold fewer rows than asked for
    started = time.perf_counter()
    with torch.no_grad():
        for a in range(0, rows, batch):
            x = torch.from_numpy(np.array(windows[a : a + batch]))[..., None]
            t = torch.from_numpy(np.array(tf_windows[a : a + batch])) if tf_windows is not None else None
            net(x, *net.zero_state(x.shape[0]), tf=t)  # every window re-runs from a zero state
    return rows / (time.perf_counter() - started)


def many_series(onnx: Path, tmp: Path, repeat: int) -> tuple[list[float], list[float], list[float], float]:
    from tsrnn.export.metadata import read_metadata
    from tsrnn.runtime.inferencer import ForecasterRunner
    from tsrnn.runtime.session import open_session

    meta = read_metadata(onnx)
    runner = ForecasterRunner(open_session(onnx), meta)
    jobs = [(np.array([[50.0 + k % 7]]), runner.initial()) for k in range(1000)]
    times = [np.array(["2020-01-03T00:00"], "datetime64[us]")] * len(jobs)  # the default model reads the time of day
    calls, bare = [], []
    session, seen = runner.session, {}

    def recording(names, feed):  # the stacked feed run_many hands onnxruntime
        seen["call"] = (names, feed)
        return session.run(names, feed)

    runner.session = SimpleNamespace(run=recording)
    for _ in range(max(repeat, 20)):  # every call is a sample; interleaved with the bare call on its feed
        started = time.perf_counter()
        runner.run_many(jobs, times)
        calls.append(time.perf_counter() - started)
        started = time.perf_counter()
        session.run(*seen["call"])
        bare.append(time.perf_counter() - started)
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
    return [c * 1e3 for c in calls], [b * 1e3 for b in bare], runs, state.stat().st_size / 1000 / 1000


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


def cold_start(onnx: Path, tmp: Path, repeat: int) -> tuple[list[float], list[float]]:
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
    return runs, helps


def eager_stepped_rate(run_dir: Path, csv: Path, rows: int = 2000, chunk: int = 1) -> float:
    """The same PyTorch model over the rows with its state carried (eager, one thread), `chunk` rows
    per call: one (a stream, row by row, what a Python user without the exported graph would run)
    or BACKLOG_ROWS (a backlog, as watch feeds onnxruntime)."""
    import torch

    net, config, scaled, features = eager_model(run_dir, csv, rows)
    x = torch.from_numpy(scaled)[None, :, None]
    diff = torch.diff(x, dim=1, prepend=x[:, :1])
    tf = torch.from_numpy(features)[None] if features is not None else None
    rows = x.shape[1]
    state = net.zero_state(1)
    started = time.perf_counter()
    with torch.no_grad():
        for t in range(0, rows, chunk):
            extra = {"tf": tf[:, t : t + chunk]} if tf is not None else {}
            if config.inputs == "diff":
                extra["diff"] = diff[:, t : t + chunk]
            _, *state = net(x[:, t : t + chunk], *state, **extra)
    return rows / (time.perf_counter() - started)


def onnx_stepped_rate(onnx: Path, csv: Path, rows: int = 2000) -> float:
    """The exported graph through tsrnn's runner, one new row per call with its state carried: the
    same stream as eager_stepped_rate's, so their ratio is the graph's gain row by row."""
    import polars as pl

    from tsrnn.export.metadata import read_metadata
    from tsrnn.runtime.inferencer import ForecasterRunner
    from tsrnn.runtime.session import open_session

    runner = ForecasterRunner(open_session(onnx), read_metadata(onnx))
    frame = pl.read_csv(csv, n_rows=rows, try_parse_dates=True)
    values = frame["value"].to_numpy().astype(np.float64)[:, None]
    stamps = frame["timestamp"].to_numpy().astype("datetime64[us]")
    arrays = runner.initial()
    started = time.perf_counter()
    for t in range(len(values)):
        (_, _, arrays) = runner.run_many([(values[t : t + 1], arrays)], [stamps[t : t + 1]])[0]
    return len(values) / (time.perf_counter() - started)


def watch_command(csv: Path, onnx: Path, out: Path) -> list[str]:
    return one_core(
        [str(BIN), "watch", str(csv), "--model", str(onnx), "--scores-out", str(out)]
        + ["--exit-zero", "--quiet", "--threads", "1"]
    )


BASELINES = (  # model-only rates, measured in every backfill run beside it (benchmarks/figures.py names them)
    "eager_windows_rows_per_s",
    "eager_one_window_rows_per_s",
    "eager_stepped_rows_per_s",
    "eager_backlog_rows_per_s",
    "onnx_stepped_rows_per_s",
)


def in_child(onnx: Path, big: Path, rows: int, tmp: Path) -> dict[str, float]:
    """The bare calls and the baselines, in a process of their own: torch and onnxruntime loaded
    here would make every later `tsrnn watch` child start (fork) from a bigger process, and its
    peak RSS would count this one's pages (measured: 432 MiB instead of 172)."""
    args = [sys.executable, __file__, "--child", str(onnx), str(big), str(rows), str(tmp)]
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def child(onnx: Path, big: Path, rows: int, tmp: Path) -> dict[str, float]:
    return {
        "bare_rows_per_s": bare_call_rate(onnx, big, rows=rows),
        **baselines(onnx, tmp / "runs" / "history", tmp / "history.csv"),
    }


def baselines(onnx: Path, run_dir: Path, history: Path) -> dict[str, float]:
    from tsrnn.runtime.inferencer import BACKLOG_ROWS

    return {
        "eager_windows_rows_per_s": eager_windows_rate(run_dir, history),
        "eager_one_window_rows_per_s": eager_windows_rate(run_dir, history, rows=1000, batch=1),
        "eager_stepped_rows_per_s": eager_stepped_rate(run_dir, history),
        "eager_backlog_rows_per_s": eager_stepped_rate(run_dir, history, rows=3000, chunk=BACKLOG_ROWS),
        "onnx_stepped_rows_per_s": onnx_stepped_rate(onnx, history),
    }


def backfill(onnx: Path, tmp: Path, rows: int, repeat: int) -> dict[str, Any]:
    """At `rows`, `repeat` runs, each of them: the default detector, the forecast channel alone, the
    bare onnxruntime calls on the same rows, and every baseline (so each ratio pairs samples of one
    run); at a tenth and a third of it, one run each for memory. Every sample is kept."""
    out: dict[str, Any] = {"rows": rows, "seconds": [], "forecast_only_seconds": [], "bare_rows_per_s": []}
    out.update({key: [] for key in BASELINES})
    peaks: dict[str, list[float]] = {}
    for size in sorted({rows // 10, rows // 3, rows}):
        big = tmp / f"big{size}.csv"
        series_csv(big, size, start=3000, seed=2)
        cmd = watch_command(big, onnx, tmp / "out.csv")
        for _ in range(repeat if size == rows else 1):
            took, peak = timed_process(cmd)
            peaks.setdefault(str(size), []).append(peak)
            if size == rows:
                out["seconds"].append(took)
                out["forecast_only_seconds"].append(timed_process([*cmd, "--channels", "forecast"])[0])
                for key, rate in in_child(onnx, big, size, tmp).items():
                    out[key].append(rate)
        os.remove(big)
    out["peak_mib"] = peaks
    return out


def measure(rows: int, repeat: int) -> dict[str, object]:
    """Every figure of this benchmark, each a list of samples (one per run) where it is repeated."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        series_csv(tmp / "history.csv", 3000, seed=1)
        subprocess.run([BIN, "train", str(tmp / "history.csv"), "--runs-dir", str(tmp / "runs"), "--quiet"], check=True)
        onnx = tmp / "history.onnx"
        subprocess.run(
            [BIN, "export", "history", "--runs-dir", str(tmp / "runs"), "--out", str(onnx), "--quiet"], check=True
        )
        doc = backfill(onnx, tmp, rows, repeat)
        calls, bare, runs, state_kb = many_series(onnx, tmp, repeat)
        doc.update(
            {
                "call_ms_1000_series": calls,
                "bare_call_ms_1000_series": bare,
                "fleet_run_s": runs,
                "state_kb_per_series": state_kb,
            }
        )
        starts, helps = cold_start(onnx, tmp, repeat)
        doc.update({"cold_start_s": starts, "help_s": helps})
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print every sample as one JSON document")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # in_child's process
    args = parser.parse_args()
    if args.child:
        onnx, big, rows, tmp = args.child
        print(json.dumps(child(Path(onnx), Path(big), int(rows), Path(tmp))))
        return
    doc = measure(args.rows, args.repeat)
    if args.json:
        print(json.dumps(doc))
        return
    med = statistics.median
    rate = args.rows / med(doc["seconds"])
    alone = args.rows / med(doc["forecast_only_seconds"])
    bare = med(doc["bare_rows_per_s"])
    print(f"tsrnn watch benchmark; medians of {args.repeat}; default model")
    print(
        f"backfill {args.rows:,} rows, end to end, one core: {rate:,.0f} rows/s (default detector); forecast channel "
        f"alone {alone:,.0f} rows/s; the bare onnxruntime calls {bare:,.0f} rows/s (tsrnn end to end: "
        f"{bare / rate:.2f}x the floor)"
    )
    print(
        f"eager PyTorch, one thread, model only: 32-row windows in batches of 1,024 "
        f"{med(doc['eager_windows_rows_per_s']):,.0f} rows/s; one window per new row "
        f"{med(doc['eager_one_window_rows_per_s']):,.0f} rows/s; stepped one row at a time with its state "
        f"{med(doc['eager_stepped_rows_per_s']):,.0f} rows/s, over the history in one call "
        f"{med(doc['eager_backlog_rows_per_s']):,.0f} rows/s; the exported graph through tsrnn's runner, one row "
        f"per call {med(doc['onnx_stepped_rows_per_s']):,.0f} rows/s"
    )
    print("peak RSS by backfill size: " + ", ".join(f"{k} rows {max(v):.0f} MiB" for k, v in doc["peak_mib"].items()))
    print(
        f"1,000 series with one new row each: run_many (stack, one onnxruntime call, unstack, errors) "
        f"{med(doc['call_ms_1000_series']):.2f} ms, the onnxruntime call alone "
        f"{med(doc['bare_call_ms_1000_series']):.2f} ms; a whole "
        f"tsrnn watch run {med(doc['fleet_run_s']):.2f} s; state {doc['state_kb_per_series']:.1f} KB per series"
    )
    print(f"cold start with --state {med(doc['cold_start_s']):.2f} s; tsrnn --help {med(doc['help_s']):.2f} s")


if __name__ == "__main__":
    main()
