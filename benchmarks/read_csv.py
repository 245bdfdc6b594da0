"""Benchmark: reading a large CSV with tsrnn's reader against a bare polars.read_csv.

    .venv/bin/python benchmarks/read_csv.py [--rows 10000000] [--repeat 3]

Generates (once, cached in a temporary directory) a CSV of ROWS rows and 3 columns
(timestamp,a,b), then, each in a fresh process so peak memory is its own:
  polars   bare `polars.read_csv(path)` (types inferred, timestamps left as text)
  frame    `tsrnn.data.reader.read_frame`: typed, timestamps parsed, sorted by time
  dataset  `tsrnn.data.clean.read_dataset`: the above plus duplicates, gaps and fills,
           what `tsrnn train` runs
Prints the median wall time of --repeat runs, rows per second, peak RSS (whole process and the
part above the same process's memory before reading), and ratios to bare polars.
Targets (issue 3): frame within 2x of bare polars; peak memory under 3x the file's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
path, what = sys.argv[1], sys.argv[2]
import numpy, polars
if what != "polars":
    from tsrnn.data.reader import read_frame
    from tsrnn.data.clean import read_dataset
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
if what == "polars":
    rows = polars.read_csv(path).height
elif what == "frame":
    rows = read_frame(path, keep_text=False).data.height
else:
    rows = read_dataset(path, keep_text=False).rows
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "seconds": seconds, "peak_kb": peak, "base_kb": before}))
"""


def generate(path: Path, rows: int) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    start = np.datetime64("2000-01-01T00:00:00", "s")
    frame = pl.DataFrame(
        {
            "timestamp": (start + np.arange(rows).astype("timedelta64[m]")).astype("datetime64[ms]"),
            "a": np.round(rng.normal(50, 10, rows), 3),
            "b": np.round(np.sin(np.arange(rows) / 144.0) * 100 + rng.normal(0, 1, rows), 3),
        }
    )
    frame.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")


def measure(path: Path, what: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), what], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print every run as one JSON document")
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / f"tsrnn-bench-{args.rows}.csv"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.rows)
        took = time.perf_counter() - started
        print(f"generated {path} in {took:.1f} s", file=sys.stderr if args.json else sys.stdout)
    size_mb = path.stat().st_size / 2**20
    if args.json:  # interleaved, so a slow moment of a shared machine falls on every reader alike
        runs: dict[str, list] = {"polars": [], "frame": [], "dataset": []}
        for _ in range(args.repeat):
            for what in runs:
                runs[what].append(measure(path, what))
        assert all(r["rows"] == args.rows for rr in runs.values() for r in rr), runs
        print(json.dumps({"rows": args.rows, "file_mib": size_mb, "runs": runs}))
        return
    print(
        f"file: {args.rows:,} rows x 3 columns, {size_mb:.0f} MiB; median of {args.repeat} runs, each in a fresh "
        f"process"
    )
    print(
        f"{'reader':8} {'seconds':>8} {'rows/s':>12} {'peak MiB':>9} {'above base':>11} {'x file':>7} "
        f"{'x polars time':>14}"
    )
    results = {}
    for what in ("polars", "frame", "dataset"):
        runs = [measure(path, what) for _ in range(args.repeat)]
        assert all(r["rows"] == args.rows for r in runs), runs
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_kb"] for r in runs) / 1024
        above = statistics.median(r["peak_kb"] - r["base_kb"] for r in runs) / 1024
        results[what] = seconds
        ratio = seconds / results["polars"]
        print(
            f"{what:8} {seconds:8.2f} {args.rows / seconds:12,.0f} {peak:9.0f} {above:11.0f} {peak / size_mb:7.2f} "
            f"{ratio:14.2f}"
        )


if __name__ == "__main__":
    main()
