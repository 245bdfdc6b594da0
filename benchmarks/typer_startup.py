"""Benchmark: what typer 0.29 (which pulls in pydantic) costs tsrnn's start-up, against typer 0.28.

    .venv/bin/python benchmarks/typer_startup.py --model exports/cpu_history.onnx [--runs 15]

Builds two environments under /tmp that differ only in typer (the runtime install, pinned by
constraints.txt except typer), then runs `tsrnn --help`, `tsrnn watch --help` and a 200-row
`tsrnn watch` as fresh processes, interleaved in random order, and prints the medians and their
ratio. The README's "Install" section quotes it; pyproject.toml caps typer below 0.29 on it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ("0.28.0", "0.29.2")


def environment(version: str) -> Path:
    venv = Path(f"/tmp/tsrnn-typer-{version}")
    if not (venv / "bin" / "tsrnn").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if not line.startswith("typer==")]
        constraints = venv / "constraints.txt"
        constraints.write_text("\n".join(pins) + "\n")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-c", str(constraints), "-e", str(ROOT)], check=True)
        # then typer alone, past pyproject's cap (pip warns that tsrnn asks for typer<0.29, and installs it)
        subprocess.run([*pip, f"typer=={version}"], check=True)
    return venv / "bin" / "tsrnn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an exported .onnx model trained on sample_data/cpu_history.csv")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    data = Path("/tmp/tsrnn-typer-rows.csv")
    data.write_text("".join((ROOT / "sample_data" / "cpu_recent.csv").read_text().splitlines(keepends=True)[:201]))
    commands = {
        "tsrnn --help": ["--help"],
        "tsrnn watch --help": ["watch", "--help"],
        "tsrnn watch (200 rows)": ["watch", str(data), "--model", args.model, "--json", "--exit-zero"],
    }
    exes = {v: environment(v) for v in VERSIONS}
    times: dict[tuple[str, str], list[float]] = {(v, c): [] for v in VERSIONS for c in commands}
    for run in range(args.runs + 2):  # the first two warm the disk cache and are not counted
        jobs = list(times)
        random.shuffle(jobs)
        for version, command in jobs:
            started = time.perf_counter()
            subprocess.run([exes[version], *commands[command]], stdout=subprocess.DEVNULL, check=True)
            if run >= 2:
                times[(version, command)].append(time.perf_counter() - started)
    for command in commands:
        old, new = (statistics.median(times[(v, command)]) for v in VERSIONS)
        figures = f"typer {VERSIONS[0]} {old * 1000:5.0f} ms, {VERSIONS[1]} {new * 1000:5.0f} ms: {new / old:.2f}x"
        print(f"{command:24s} {figures}")


if __name__ == "__main__":
    main()
