"""Benchmark: training speed by torch thread count and model size, idle and next to a busy process; fixed costs.

    .venv/bin/python benchmarks/threads.py [--hidden 32 64 128 256] [--threads 1 2] [--epochs 5]

For each hidden size and thread count: the median seconds per epoch of the default stateful
forecaster on ETTh1's OT (train + validation rows), measured idle and then beside a process
that keeps one core busy (`--no-load` skips that). tsrnn's `--threads 0` (auto) picks the fastest
row here for the model's size (training.auto.auto_threads).

Fixed costs, each in a fresh interpreter: `import torch`, creating torch.optim.Adam (which
imports torch._dynamo) against tsrnn's own Adam (training/optim.py), medians of 3.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]

FIXED = """
import time, sys
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
m = torch.nn.LSTM(1, 32, 2)
if sys.argv[1] == "torch":
    torch.optim.Adam(m.parameters(), lr=1e-3)
else:
    from tsrnn.training.optim import Adam
    Adam(m.parameters(), lr=1e-3)
print(t1 - t0, time.perf_counter() - t1)
"""


def epochs(csv: Path, hidden: int, threads: int, n: int) -> float:
    from tsrnn.config import ModelConfig, TrainConfig
    from tsrnn.training.train import train

    with tempfile.TemporaryDirectory() as tmp:
        result = train(
            csv,
            model=ModelConfig(hidden=hidden, inputs="level"),
            config=TrainConfig(threads=threads, epochs=n, patience=n + 1),
            runs_dir=tmp,
            name="t",
        )
    return statistics.median(h["seconds"] for h in result.run.info["history"])


def table(csv: Path, args: argparse.Namespace, label: str) -> None:
    for hidden in args.hidden:
        cells = {t: epochs(csv, hidden, t, args.epochs) for t in args.threads}
        best = min(cells, key=cells.get)
        print(
            f"  {label:6} hidden {hidden:4}: "
            + ", ".join(f"{t} thread{'s' if t > 1 else ''} {s:.3f} s" for t, s in cells.items())
            + f"  -> fastest {best}; {max(cells.values()) / cells[best]:.1f}x the slowest",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "etth1" / "ETTh1.csv"))
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--no-load", action="store_true", help="measure idle only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "ot.csv"
        pl.read_csv(args.data).sort("date").head(11_520).select("date", "OT").write_csv(csv)
        print("median seconds per epoch, ETTh1 OT (11,520 rows), stateful LSTM forecaster, 2 layers:")
        table(csv, args, "idle")
        if not args.no_load:
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                table(csv, args, "busy")
            finally:
                busy.kill()
    costs = {k: [] for k in ("import torch", "torch.optim.Adam", "tsrnn Adam")}
    for _ in range(3):
        for which in ("torch", "tsrnn"):
            out = subprocess.run(
                [sys.executable, "-c", FIXED, which], capture_output=True, text=True, check=True
            ).stdout.split()
            if which == "torch":
                costs["import torch"].append(float(out[0]))
            costs["torch.optim.Adam" if which == "torch" else "tsrnn Adam"].append(float(out[1]))
    print(
        "fixed costs, fresh interpreter, median of 3: "
        + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in costs.items())
    )


if __name__ == "__main__":
    main()
