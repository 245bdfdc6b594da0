"""Benchmark: how long `tsrnn report` takes to draw a long scores file (the plot extra).

    .venv/bin/python benchmarks/plots.py [--rows 1000000] [--repeat 3]

Writes a ROWS-row scores file as `watch --scores-out` does (one value column, its expectation,
the score, five anomalous runs), then times `tsrnn.report.figures.report` to a PNG: reading the
file, the overview (min/max downsampled to 2 x 2,000 points per line) and three zoomed events.
Medians of --repeat runs in this process. Target (issue 14): under 10 s for 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def scores_file(path: Path, rows: int) -> None:
    t = np.arange(rows)
    rng = np.random.default_rng(0)
    value = 50 + 10 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 0.5, rows)
    anomaly = np.zeros(rows, np.int8)
    for start in np.linspace(rows * 0.1, rows * 0.9, 5).astype(int):
        anomaly[start : start + 30] = 1
        value[start : start + 30] += 20
    stamps = (np.datetime64("2020-01-01T00:00:00", "s") + t.astype("timedelta64[m]")).astype("datetime64[ms]")
    score = np.where(anomaly == 1, 0.9, 0.1)
    frame = pl.DataFrame(
        {
            "timestamp": stamps,
            "value": np.round(value, 3),
            "expected": np.round(value, 3),
            "score": score,
            "alert_score": score,
            "anomaly": anomaly,
            "alert": np.zeros(rows, np.int8),
        }
    )
    frame.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the runs as one JSON document")
    args = parser.parse_args()
    from tsrnn.report.figures import report

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "scores.csv"
        scores_file(data, args.rows)
        times = []
        for k in range(args.repeat):
            started = time.perf_counter()
            result = report(data, Path(tmp) / f"r{k}.png", threshold=0.7)
            times.append(time.perf_counter() - started)
        size = (Path(tmp) / "r0.png").stat().st_size
    if args.json:
        print(json.dumps({"rows": args.rows, "seconds": times, "events": result.events, "bytes": size}))
        return
    median = statistics.median(times)
    verdict = "met" if median < 10 else "NOT met"
    print(
        f"tsrnn report of a {args.rows:,}-row scores file to PNG: median {median:.2f} s (min {min(times):.2f}, "
        f"max {max(times):.2f}) over {args.repeat}; {result.events} events, {size:,} bytes; target < 10 s: {verdict}"
    )


if __name__ == "__main__":
    main()
