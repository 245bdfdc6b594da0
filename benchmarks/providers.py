"""Benchmark: `tsrnn bench` on the demo model and its fp16 and int8 copies, per execution provider.

    .venv/bin/python benchmarks/providers.py [--runs 3] [--rows 20000] [--series 1000] [--repeat 200] [--json]

Trains the demo model (`tsrnn train sample_data/cpu_history.csv --seed 0`, the defaults), exports
it with `--fp16 --quantize int8`, then runs `tsrnn bench` --runs times (each a fresh process) on
every provider tsrnn knows: latency of one new row (p50, p99), backlog rows per second, one call
for --series series, and each copy's parity against the CPU float32 file. A provider this
onnxruntime cannot run is listed with the reason `tsrnn bench` gives. If the export refuses a
copy, its one-line reason is recorded and the others are measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).with_name("tsrnn")


def model(tmp: Path) -> tuple[Path, list[str]]:
    runs, onnx = tmp / "runs", tmp / "cpu_history.onnx"
    subprocess.run(
        [
            BIN,
            "train",
            str(ROOT / "sample_data" / "cpu_history.csv"),
            "--seed",
            "0",
            "--runs-dir",
            str(runs),
            "--quiet",
        ],
        check=True,
    )
    refused = []
    for flags in (["--fp16", "--quantize", "int8"], ["--fp16"], []):
        done = subprocess.run(
            [BIN, "export", "cpu_history", "--runs-dir", str(runs), "--out", str(onnx), "--quiet", *flags],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return onnx, refused
        refused.append(f"export {' '.join(flags)}: {done.stderr.strip()}")
    raise SystemExit("\n".join(refused))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        onnx, refused = model(Path(tmp))
        command = [BIN, "bench", str(onnx), "--json", "--rows", str(args.rows), "--series", str(args.series)]
        command += ["--repeat", str(args.repeat)]
        runs = [
            json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            for _ in range(args.runs)
        ]
    doc = {"runs": runs, "export_refused": refused, "series": args.series, "rows": args.rows}
    if args.json:
        print(json.dumps(doc))
        return
    for r in runs:
        for m in r["measurements"]:
            print(
                f"{m['provider']:9} {m['precision']:5} 1 row p50 {m['step_p50_ms']:.3f} ms "
                f"p99 {m['step_p99_ms']:.3f} ms; "
                f"backlog {m['backlog_rows_per_s']:,.0f} rows/s; {args.series} series p50 {m['series_p50_ms']:.2f} ms; "
                f"parity {m['parity']:.2e}"
            )
        for s in r["skipped"]:
            print(f"{s['provider']:9} {s['precision'] or '':5} cannot run: {s['reason']}")
    for line in refused:
        print(line)


if __name__ == "__main__":
    main()
