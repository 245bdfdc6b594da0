"""Benchmark: training time of the stateful forecaster against the windowed one, with the defaults.

    .venv/bin/python benchmarks/training.py [--data ../shared/data/etth1/ETTh1.csv] [--rows 10000]
                                            [--seeds 0 1 2] [--window 96] [--epochs N] [--synthetic] [--json]

On the first ROWS rows of ETTh1's oil temperature (OT), for each seed: `tsrnn train` with its
defaults (the stateful forecaster, truncated BPTT over the whole series) and the same with
`--mode windowed --window 96` (every training example a 96-row window from a zero state, the way
most libraries train), torch threads 1. Per seed: the median seconds per epoch of each, the best
validation loss of each, the time the windowed model took to reach its best, and the time the
stateful one took to reach that same loss (NaN if it never did). `--synthetic` trains on a
generated series of the same length instead (make bench-quick, when ../shared is absent).
Targets (issue 4): stateful at least 50x faster per epoch, and reaching the windowed model's best
validation loss in less total time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from tsrnn.config import DataConfig, ModelConfig, TrainConfig
from tsrnn.training.train import train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def series_file(path: Path, data: Path, rows: int, synthetic: bool) -> None:
    if synthetic:
        t = np.arange(rows)
        rng = np.random.default_rng(0)
        values = 20 + 5 * np.sin(2 * np.pi * t / 24) + np.cumsum(rng.normal(0, 0.05, rows))
        stamps = (np.datetime64("2016-07-01T00:00", "m") + t.astype("timedelta64[h]")).astype("datetime64[ms]")
        pl.DataFrame({"date": stamps, "OT": np.round(values, 3)}).write_csv(path)
    else:
        pl.read_csv(data, try_parse_dates=True).sort("date").head(rows).select("date", "OT").write_csv(path)


def fit(csv: Path, runs: Path, name: str, seed: int, epochs: int | None, **model: Any) -> list[dict[str, float]]:
    config = TrainConfig(seed=seed, threads=1, **({"epochs": epochs} if epochs else {}))
    data = DataConfig(columns=("OT",))
    result = train(csv, model=ModelConfig(**model), config=config, data_config=data, name=name, runs_dir=runs)
    return result.run.info["history"]


def one_seed(csv: Path, runs: Path, seed: int, window: int, epochs: int | None) -> dict[str, float]:
    stateful = fit(csv, runs, f"stateful-{seed}", seed, epochs)
    windowed = fit(csv, runs, f"windowed-{seed}", seed, epochs, mode="windowed", window=window)
    target = min(h["val_loss"] for h in windowed)
    best = int(np.argmin([h["val_loss"] for h in windowed]))
    reached = [i for i, h in enumerate(stateful) if h["val_loss"] <= target]
    return {
        "epoch_s_stateful": statistics.median(h["seconds"] for h in stateful),
        "epoch_s_windowed": statistics.median(h["seconds"] for h in windowed),
        "epochs_stateful": len(stateful),
        "epochs_windowed": len(windowed),
        "best_val_stateful": min(h["val_loss"] for h in stateful),
        "best_val_windowed": target,
        "seconds_windowed_to_its_best": sum(h["seconds"] for h in windowed[: best + 1]),
        "seconds_stateful_to_windowed_best": (
            sum(h["seconds"] for h in stateful[: reached[0] + 1]) if reached else float("nan")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "etth1" / "ETTh1.csv"))
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--window", type=int, default=96, help="the windowed model's lookback (rows)")
    parser.add_argument("--epochs", type=int, help="cap the epochs (default: tsrnn's own, with early stopping)")
    parser.add_argument("--synthetic", action="store_true", help="a generated series instead of ETTh1")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "series.csv"
        series_file(csv, Path(args.data), args.rows, args.synthetic)
        seeds = [one_seed(csv, Path(tmp) / "runs", seed, args.window, args.epochs) for seed in args.seeds]
    doc = {"data": "synthetic" if args.synthetic else Path(args.data).name, "rows": args.rows, "seeds": seeds}
    if args.json:
        print(json.dumps(doc))
        return
    med = lambda key: statistics.median(s[key] for s in seeds)
    print(f"first {args.rows:,} rows of {doc['data']}, defaults, torch threads 1, medians over {len(seeds)} seeds")
    print(
        f"seconds per epoch: stateful {med('epoch_s_stateful'):.3f}, windowed (window {args.window}) "
        f"{med('epoch_s_windowed'):.3f} ({med('epoch_s_windowed') / med('epoch_s_stateful'):.0f}x)"
    )
    print(
        f"best validation loss: stateful {med('best_val_stateful'):.4f}, windowed {med('best_val_windowed'):.4f}; "
        f"time to the windowed best: windowed {med('seconds_windowed_to_its_best'):.1f} s, stateful "
        f"{med('seconds_stateful_to_windowed_best'):.1f} s"
    )


if __name__ == "__main__":
    main()
