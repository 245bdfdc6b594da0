"""Every benchmark in one run: `make bench` writes benchmarks/results.json and docs/benchmarks.md.

    .venv/bin/python benchmarks/run.py [--quick] [--parts NAME ...] [--merge] [--out-json F] [--out-md F]

Each part is one of the scripts beside this file, run as a fresh process with `--json` (so its
imports, threads and memory are its own), one after the other so no two compete for the cores.
Its samples (one per repeat or per seed) become figures with median, min and max, same-run
ratios, and the targets they are held to (benchmarks/figures.py). The machine (CPU model, cores,
memory, load), the library versions and the commit are recorded with them.

`--quick` (`make bench-quick`, inside `make test`) runs every part on small inputs (about a minute and a
half on 2 cores) and writes to build/bench-quick/, so the benchmark code cannot rot; its
figures are not the product's. A part whose data is absent (../shared) or whose peer is not
installed (Darts, from the `bench` extra) is reported as skipped with the reason; a part that fails
makes the run exit 1, as does a gate (a correctness limit, such as the int8 copy's parity, judged
in a quick run too). `--parts` runs some parts; with `--merge` the others are kept from the
existing results file, each with its own commit and date, their figures summarised again from
their samples.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import figures
from machine import machine
from tables import render

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
DARTS_MISSING = "Darts is not installed: pip install -c constraints.txt -e '.[bench]' (make bench does)"


@dataclass
class Part:
    name: str
    title: str
    script: str
    full: list[str]
    quick: list[str]
    summarise: Callable[[dict[str, Any]], list[figures.Figure]]
    needs: list[Path] = field(default_factory=list)  # data the full run reads


def parts(tiny_nab: Path, tiny_ett: Path) -> list[Part]:
    darts = None if importlib.util.find_spec("darts") else DARTS_MISSING
    nab_dev, etth1, skab_dev = SHARED / "nab_dev", SHARED / "etth1" / "ETTh1.csv", SHARED / "skab_dev" / "valve1"
    return [
        Part(
            "reader",
            "Reading CSV",
            "read_csv.py",
            ["--rows", "10000000", "--repeat", "3"],
            ["--rows", "100000", "--repeat", "1"],
            figures.reader,
        ),
        Part(
            "training",
            "Training: stateful against windowed",
            "training.py",
            ["--seeds", "0", "1", "2"],
            ["--synthetic", "--rows", "2000", "--seeds", "0", "--epochs", "3"],
            figures.training,
            [etth1],
        ),
        Part(
            "forecast",
            "Forecast accuracy against references and Darts",
            "forecast.py",
            ["--seeds", "0", "1", "2"],
            [
                "--etth1",
                str(tiny_ett),
                "--nab",
                str(tiny_nab),
                "--seeds",
                "0",
                "--darts-epochs",
                "1",
                "--set",
                "epochs=3",
            ],
            lambda raw: figures.forecast(raw, darts),
            [etth1, nab_dev],
        ),
        Part(
            "nab",
            "NAB with the defaults",
            "nab.py",
            ["--seeds", "0", "1"],
            ["--data", str(tiny_nab), "--seeds", "0"],
            figures.nab,
            [nab_dev],
        ),
        Part(
            "skab",
            "SKAB with the defaults",
            "skab.py",
            ["--seeds", "0", "1"],
            [],  # no SKAB-shaped sample: its data is GPL, for measuring only, never shipped
            figures.skab,
            [skab_dev],
        ),
        Part(
            "watch",
            "watch: backfill, many series, cold start, memory",
            "watch.py",
            ["--rows", "1000000", "--repeat", "5"],
            ["--rows", "20000", "--repeat", "1"],
            figures.watch,
        ),
        Part(
            "providers",
            "`tsrnn bench`: execution providers and precisions",
            "providers.py",
            ["--runs", "3"],
            ["--runs", "1", "--rows", "2000", "--series", "100", "--repeat", "20"],
            figures.providers,
        ),
        Part(
            "quantize",
            "int8 copies against float32",
            "quantize.py",
            ["--rounds", "5"],
            ["--models", "two", "--rounds", "1", "--repeat", "20"],
            figures.quantize,
        ),
        Part(
            "plots",
            "report: drawing a long scores file",
            "plots.py",
            ["--rows", "1000000", "--repeat", "3"],
            ["--rows", "50000", "--repeat", "1"],
            figures.plots,
        ),
    ]


def tiny_etth1(path: Path) -> Path:
    """An ETTh1-shaped file (hourly, its seven columns, its 14,400 rows) of generated values, for --quick."""
    import numpy as np
    import polars as pl

    t = np.arange(14_400)
    rng = np.random.default_rng(0)
    day = np.sin(2 * np.pi * t / 24)
    columns = {c: np.round(5 + 2 * day * (k + 1) / 7 + rng.normal(0, 0.3, t.size), 3) for k, c in enumerate(ETT)}
    stamps = (np.datetime64("2016-07-01T00:00", "h") + t.astype("timedelta64[h]")).astype("datetime64[ms]")
    pl.DataFrame({"date": stamps, **columns}).write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")
    return path


ETT = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")


def tiny_nab_corpus(where: Path) -> Path:
    """A NAB-shaped directory of one file (sample_data's CPU series and its label), for --quick."""
    (where / "sample").mkdir(parents=True, exist_ok=True)
    history = (ROOT / "sample_data" / "cpu_history.csv").read_text()
    recent = (ROOT / "sample_data" / "cpu_recent.csv").read_text().splitlines()[1:]
    (where / "sample" / "cpu.csv").write_text(history.rstrip("\n") + "\n" + "\n".join(recent) + "\n")
    windows = json.loads((ROOT / "sample_data" / "cpu_labels.json").read_text())["cpu_recent.csv"]
    (where / "labels").mkdir(exist_ok=True)
    (where / "labels" / "combined_windows.json").write_text(json.dumps({"sample/cpu.csv": windows}))
    return where


def run_part(part: Part, quick: bool) -> dict[str, Any]:
    args = part.quick if quick else part.full
    command = [sys.executable, str(HERE / part.script), *args, "--json"]
    shown = " ".join(["benchmarks/" + part.script, *args, "--json"])
    doc: dict[str, Any] = {"name": part.name, "title": part.title, "command": shown, "quick": quick}
    doc["commit"], doc["date"] = commit(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    missing = [str(p) for p in part.needs if not p.exists()] if not quick else []
    if missing:
        return {**doc, "status": "skipped", "reason": f"data not found: {', '.join(missing)}", "figures": []}
    if quick and not part.quick:
        return {
            **doc,
            "status": "skipped",
            "reason": "the full run only (no small data set of its shape)",
            "figures": [],
        }
    doc["machine"], doc["load_before"] = machine(), os.getloadavg()
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)  # runs' relative sources resolve
    doc["seconds"], doc["load_after"] = time.perf_counter() - started, os.getloadavg()
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {**doc, "status": "failed", "reason": f"exit {proc.returncode}: {tail}", "figures": []}
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    found = part.summarise(raw)
    if quick:  # small inputs: the targets are the product's, not this run's; a gate holds at any size
        for f in found:
            if "target" in f and not f["target"].get("gate"):
                f["met"] = None
    failed = gate_failures(found)
    if failed:
        return {
            **doc,
            "status": "failed",
            "reason": f"a gate failed: {'; '.join(failed)}",
            "figures": found,
            "raw": raw,
        }
    return {**doc, "status": "ok", "figures": found, "raw": raw}


def gate_failures(found: list[figures.Figure]) -> list[str]:
    """The figures whose gate (a correctness limit, judged at any size) is missed."""
    return [f["name"] for f in found if f.get("target", {}).get("gate") and f["met"] is not True]


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    outputs = [":!benchmarks/results.json", ":!docs/benchmarks.md"]  # what this run writes is not a change of code
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *outputs],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def finite(value: Any) -> Any:
    """NaN as null, infinity as "inf" (never reached): results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every part on small inputs (make bench-quick)")
    parser.add_argument("--parts", nargs="+", help="run these parts only")
    parser.add_argument("--merge", action="store_true", help="keep the other parts from the existing results file")
    parser.add_argument(
        "--summarise",
        action="store_true",
        help="run nothing: summarise the results file's samples again (with --merge)",
    )
    parser.add_argument("--out-json", help="default: benchmarks/results.json, or build/bench-quick/results.json")
    parser.add_argument("--out-md", help="default: docs/benchmarks.md, or build/bench-quick/benchmarks.md")
    args = parser.parse_args()
    quick_dir = ROOT / "build" / "bench-quick"
    out_json = Path(args.out_json or (quick_dir / "results.json" if args.quick else HERE / "results.json"))
    out_md = Path(args.out_md or (quick_dir / "benchmarks.md" if args.quick else ROOT / "docs" / "benchmarks.md"))
    with tempfile.TemporaryDirectory() as tmp:
        every = parts(tiny_nab_corpus(Path(tmp) / "nab"), tiny_etth1(Path(tmp) / "ETTh1.csv"))
        names = [p.name for p in every]
        unknown = set(args.parts or []) - set(names)
        if unknown:
            raise SystemExit(f"--parts {', '.join(sorted(unknown))}: use {', '.join(names)}")
        done: dict[str, Any] = {}
        if args.merge and out_json.exists():
            done = {p["name"]: p for p in json.loads(out_json.read_text())["parts"]}
            for part in every:  # a kept part's figures again from its samples, by today's summaries
                kept = done.get(part.name)
                if kept is None or kept["status"] != "ok" or (args.parts and part.name in args.parts):
                    continue
                try:
                    kept["figures"] = part.summarise(kept["raw"])
                except (KeyError, TypeError, IndexError):  # samples of an older benchmark: not comparable
                    kept.update(status="stale", reason="its samples predate this benchmark: run it again")
        for part in every:
            if args.summarise or (args.parts and part.name not in args.parts):
                continue
            print(f"[bench] {part.name}: {part.title} ...", file=sys.stderr, flush=True)
            done[part.name] = run_part(part, args.quick)
            d = done[part.name]
            print(
                f"[bench] {part.name}: {d['status']} {d.get('reason', '')} ({d.get('seconds', 0):.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    doc = finite({"machine": machine(), "quick": args.quick, "parts": [done[n] for n in names if n in done]})
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(render(doc))
    print(f"[bench] wrote {out_json} and {out_md}", file=sys.stderr)
    failed = [p["name"] for p in doc["parts"] if p["status"] == "failed"]
    if failed:
        raise SystemExit(f"[bench] failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
