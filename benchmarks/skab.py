"""Benchmark: tsrnn's defaults on SKAB's valve1 files (../shared/data/skab_dev), SKAB's protocol.

    .venv/bin/python benchmarks/skab.py [--seeds 0 1] [--ablation] [--files all|even|odd]
                                        [--set NAME=VALUE ...] [--override NAME=VALUE ...] [--cache DIR] [--json]

SKAB's outlier-detection protocol: for each file, `tsrnn train` with its defaults on the first
400 rows (anomaly-free) and the eight sensor columns (the label columns are not inputs), export
to ONNX, `tsrnn watch` with its defaults over the whole file (a row's score depends only on the
rows before it), and take the scores file's `anomaly` column (every row of an incident) on every
row after the first 400. All files' rows are pooled and scored as one binary classification:
pointwise F1, false alarm rate (FAR = false positives / normal rows) and missing alarm rate
(MAR = missed rows / anomalous rows), next to SKAB's published results.

Like benchmarks/nab.py, it runs the defaults and has no settings of its own; `--set` changes a
training setting, `--override` a watch setting, `--ablation` adds the README's rows.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from common import configs, half, parser_for, rows_to_run

from tsrnn.config import DataConfig
from tsrnn.export.onnx import export_onnx
from tsrnn.streaming.engine import watch
from tsrnn.training.train import train

ROOT = Path(__file__).resolve().parents[1]
TRAIN_ROWS = 400  # SKAB's protocol: the first 400 rows of each file are anomaly-free and train the model
SENSORS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
PUBLISHED = [
    ("Conv-AE", 0.78, 13.55, 28.02),
    ("MSET", 0.78, 39.73, 14.13),
    ("T-squared+Q (PCA)", 0.76, 26.62, 24.92),
    ("LSTM-AE", 0.74, 29.96, 25.92),
    ("T-squared", 0.66, None, None),
    ("LSTM-VAE", 0.56, None, None),
    ("Vanilla LSTM", 0.54, 12.54, 59.53),
    ("Isolation forest", 0.29, None, None),
]
ABLATION: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("without the novelty channel", {}, {"channels": "forecast,range"}),
    ("without the range channel", {}, {"channels": "forecast,novelty"}),
    ("without the forecast channel (no model)", {}, {"channels": "novelty,range"}),
    ("forecast channel alone", {}, {"channels": "forecast"}),
    ("novelty channel alone", {}, {"channels": "novelty"}),
    ("range channel alone", {}, {"channels": "range"}),
    ("incidents: columns learn while one is open (freeze none)", {}, {"freeze": "none"}),
    ("incidents: every column held while one is open (freeze series)", {}, {"freeze": "series"}),
    ("incidents: accepted after 200 rows", {}, {"accept_after": "200"}),
    ("incidents: release at 0.6", {}, {"release": "0.6"}),
    ("incidents: hold 5 rows", {}, {"hold": "5"}),
    ("incidents: hold 20 rows", {}, {"hold": "20"}),
    ("range tolerance 0.05", {}, {"range_tolerance": "0.05"}),
    ("range tolerance 0.2", {}, {"range_tolerance": "0.2"}),
    ("threshold 0.75", {}, {"threshold": "0.75"}),
    ("the autoencoder (--model autoencoder) instead of the forecaster and kNN", {"model": "autoencoder"}, {}),
]


def model_for(csv: Path, models: Path, settings: dict[str, Any], seed: int) -> tuple[Path, float]:
    onnx = models / f"{csv.stem}.onnx"
    started = time.perf_counter()
    if not onnx.exists():
        history = models / f"{csv.stem}.history.csv"
        pl.read_csv(csv, separator=";").head(TRAIN_ROWS).write_csv(history, separator=";")
        model, score, config = configs(settings, seed)
        data = DataConfig(time_column="datetime", columns=SENSORS)
        result = train(
            history, model=model, config=config, data_config=data, name=csv.stem, runs_dir=models / "runs", score=score
        )
        export_onnx(result.run, onnx)
    return onnx, time.perf_counter() - started


def confusion(predicted: np.ndarray, actual: np.ndarray) -> dict[str, int]:
    return {
        "tp": int((predicted & actual).sum()),
        "fp": int((predicted & ~actual).sum()),
        "fn": int((~predicted & actual).sum()),
        "tn": int((~predicted & ~actual).sum()),
    }


def metrics(c: dict[str, int]) -> dict[str, float]:
    precision = c["tp"] / max(1, c["tp"] + c["fp"])
    recall = c["tp"] / max(1, c["tp"] + c["fn"])
    return {
        "f1": 2 * precision * recall / max(1e-12, precision + recall),
        "far": 100 * c["fp"] / max(1, c["fp"] + c["tn"]),
        "mar": 100 * c["fn"] / max(1, c["fn"] + c["tp"]),
        "precision": precision,
        "recall": recall,
    }


def run(
    files: list[Path], work: Path, settings: dict[str, Any], overrides: dict[str, Any], seed: int, cache: Path | None
) -> dict[str, Any]:
    """Train (or reuse), watch every file, compare the anomaly column with the labels."""
    key = "-".join(f"{k}={v}" for k, v in sorted(settings.items())) or "defaults"
    models = (cache or work / "models") / f"{key}-seed{seed}"
    models.mkdir(parents=True, exist_ok=True)
    cooldown = overrides.get("cooldown")
    score = {k: v for k, v in overrides.items() if k != "cooldown"}
    per_file, total = [], {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    trained = watched = 0.0
    for csv in files:
        onnx, seconds = model_for(csv, models, settings, seed)
        trained += seconds
        out = (
            work
            / f"scores-{seed}-{abs(hash((key, json.dumps(overrides, sort_keys=True, default=str))))}-{csv.stem}.csv"
        )
        started = time.perf_counter()
        watch(csv, onnx, scores_out=out, cooldown=cooldown, score=score)
        watched += time.perf_counter() - started
        labels = (
            pl.read_csv(csv, separator=";")
            .slice(TRAIN_ROWS)
            .select(pl.col("datetime").alias("timestamp"), pl.col("anomaly").cast(pl.Int8))
        )
        scored = pl.read_csv(out, columns=["timestamp", "anomaly"], schema_overrides={"timestamp": pl.String})
        joined = labels.join(scored.rename({"anomaly": "predicted"}), on="timestamp", how="left")
        if joined["predicted"].null_count():
            raise SystemExit(f"{csv}: {joined['predicted'].null_count()} labelled rows have no score")
        c = confusion(joined["predicted"].to_numpy().astype(bool), joined["anomaly"].to_numpy().astype(bool))
        per_file.append({"file": csv.name, **c, **metrics(c)})
        for k in total:
            total[k] += c[k]
    return {"files": per_file, "total": {**total, **metrics(total)}, "seconds": {"train": trained, "watch": watched}}


def join(cells: list[dict[str, Any]], key: str, spec: str) -> str:
    return " / ".join(format(c[key], spec) for c in cells)


def main() -> None:
    parser = parser_for(__doc__, str(ROOT.parent / "shared" / "data" / "skab_dev" / "valve1"))
    args = parser.parse_args()
    files = half(
        sorted(Path(args.data).glob("*.csv"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0), args.files
    )
    rows = rows_to_run(args, ABLATION)
    settings, overrides = rows[0][1], rows[0][2]
    started = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache) if args.cache else None
        for name, s, o in rows:
            results[name] = [run(files, Path(tmp), s, o, seed, cache) for seed in args.seeds]
    if args.json:
        print(json.dumps(results))
        return
    first = results[rows[0][0]]
    print(
        f"SKAB ({Path(args.data).name}, {args.files} files): {len(files)} files, "
        f"{sum(f['tp'] + f['fp'] + f['fn'] + f['tn'] for f in first[0]['files']):,} "
        f"test rows (after the first {TRAIN_ROWS} of each); seeds {', '.join(map(str, args.seeds))}; "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    if settings or overrides:
        print(f"changed from the defaults: {json.dumps({**settings, **overrides}, default=str)}")
    print(
        f"{'detector':44} {'F1 per seed':>13} {'F1':>6} {'FAR %':>6} {'MAR %':>6}   (medians over seeds; pointwise, "
        f"all files pooled)"
    )
    for name, _, _ in rows:
        docs = results[name]
        f1 = [d["total"]["f1"] for d in docs]
        print(
            f"{name:44} {' / '.join(f'{v:.3f}' for v in f1):>13} {statistics.median(f1):6.3f} "
            f"{statistics.median(d['total']['far'] for d in docs):6.1f} "
            f"{statistics.median(d['total']['mar'] for d in docs):6.1f}"
        )
    print("published (SKAB's leaderboard, its test rows of all SKAB files, not only valve1):")
    for name, f1, far, mar in PUBLISHED:
        print(
            f"  {name:42} {'':>13} {f1:6.2f} {'' if far is None else f'{far:6.1f}':>6} "
            f"{'' if mar is None else f'{mar:6.1f}':>6}"
        )
    print(f"\nper file, defaults (seeds {', '.join(map(str, args.seeds))}): F1, FAR %, MAR %")
    for i, f in enumerate(first[0]["files"]):
        cells = [d["files"][i] for d in first]
        print(
            f"  {f['file']:8} F1 {join(cells, 'f1', '.3f'):>13}   FAR {join(cells, 'far', '5.1f')}   MAR "
            f"{join(cells, 'mar', '5.1f')}"
        )
    t = first[0]["seconds"]
    print(f"time (first seed): training {t['train']:.0f} s, watch {t['watch']:.1f} s")


if __name__ == "__main__":
    main()
