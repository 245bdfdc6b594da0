"""Benchmark: tsrnn on the Numenta Anomaly Benchmark files in ../shared/data/nab_dev.

    .venv/bin/python benchmarks/nab.py [--data ../shared/data/nab_dev] [--horizon 10] [--time-features day] [--error blend]
                                       [--cooldown 100] [--seed 0] [--cache DIR]

NAB's protocol, one parameter set for every file (no per-file tuning, labels read only by the
evaluation): for each file, train a forecaster (default: --horizon 10 --time-features day
--error blend: it reads the time of day, and a row's error is the mean error of the 10 forecasts
made for it, averaged with the row against the same time a day earlier) on its probationary period (the first
15 % of rows, at most 750), export it to ONNX, run `watch` over every row (each row's score
depends only on the rows before it), and write the scores; then `tsrnn evaluate` scores the
whole directory against the labels. Prints the evaluation next to NAB's published scoreboard.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import polars as pl

from tsrnn.config import DataConfig, ModelConfig, ScoreConfig, TrainConfig
from tsrnn.evaluation.evaluate import evaluate
from tsrnn.evaluation.nab import probation_rows
from tsrnn.export.onnx import export_onnx
from tsrnn.report.console import SCOREBOARD
from tsrnn.streaming.engine import watch
from tsrnn.training.train import train


def run_file(csv: Path, out: Path, models: Path, args: argparse.Namespace) -> dict[str, float]:
    frame = pl.read_csv(csv)
    onnx = models / f"{csv.parent.name}__{csv.stem}.onnx"
    started = time.perf_counter()
    if not onnx.exists():  # models depend on the model settings only: --cache reuses them across detector settings
        history = models / f"{csv.stem}.history.csv"
        frame.head(probation_rows(frame.height)).write_csv(history)
        model = ModelConfig(kind=args.model, horizon=args.horizon, hidden=args.hidden, cell=args.cell, inputs=args.inputs,
                            time_features=args.time_features)
        score = ScoreConfig(threshold_method=args.threshold_method, smooth=args.smooth, error=args.error)
        result = train(history, model=model, config=TrainConfig(seed=args.seed, epochs=args.epochs), data_config=DataConfig(),
                       name=csv.stem, runs_dir=models / "runs", score=score)
        export_onnx(result.run, onnx)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    overrides = {"method": args.threshold_method, "smooth": args.smooth, "risk": args.risk, "threshold": args.threshold, "memory": args.memory,
                 "quantile": args.scale_quantile}
    watch(csv, onnx, scores_out=out, cooldown=args.cooldown, score=overrides)
    return {"train_s": trained, "watch_s": time.perf_counter() - started, "rows": frame.height}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "nab_dev"))
    parser.add_argument("--cooldown", type=int, default=100, help="rows after an alert in which the same incident does not score again")
    parser.add_argument("--model", default="forecaster")
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--error", default="blend", help="auto | abs | squared | horizon | both | blend | mahalanobis")
    parser.add_argument("--threshold-method", default="fixed")
    parser.add_argument("--threshold", type=float, default=0.75)
    parser.add_argument("--risk", type=float, default=1e-4)
    parser.add_argument("--smooth", type=int, default=0)
    parser.add_argument("--memory", type=int, default=10_000, help="rows over which the running error statistics adapt")
    parser.add_argument("--scale-quantile", type=float, default=0.99, help="the running quantile of errors that scores divide by")
    parser.add_argument("--cache", help="keep the trained models here and reuse them (they depend on the model settings only)")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--inputs", default="level")
    parser.add_argument("--time-features", default="day", help="none | day | week | day+week")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="keep the scores in this directory")
    parser.add_argument("--json", action="store_true", help="print the evaluation document")
    args = parser.parse_args()
    data = Path(args.data)
    labels = data / "labels" / "combined_windows.json"
    files = sorted(k for k in json.loads(labels.read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scores = Path(args.keep) if args.keep else work / "scores"
        started = time.perf_counter()
        models = Path(args.cache) / f"{args.model}-{args.cell}-{args.inputs}-{args.time_features}-h{args.horizon}-{args.error}-n{args.hidden}-e{args.epochs}-s{args.seed}" if args.cache else work / "models"
        models.mkdir(parents=True, exist_ok=True)
        timing = [run_file(data / key, scores / key, models, args) for key in files]
        wall = time.perf_counter() - started
        doc = evaluate(scores, labels)
    if args.json:
        print(json.dumps(doc))
        return
    nab, ev = doc["nab"], doc["events"]
    rows = sum(t["rows"] for t in timing)
    print(f"NAB ({data.name}): {doc['files']} files, {rows:,} rows, {doc['windows']} labelled windows; "
          f"{args.model} ({args.cell}, {args.inputs}, time features {args.time_features}), horizon {args.horizon}, error {args.error}, hidden {args.hidden}, seed {args.seed}; threshold {args.threshold_method}, "
          f"smooth {args.smooth}, cooldown {args.cooldown}; {wall:.0f} s in all "
          f"(training {sum(t['train_s'] for t in timing):.0f} s, watch {sum(t['watch_s'] for t in timing):.1f} s)")
    print(f"{'detector':28} {'standard':>9} {'low FP':>8} {'low FN':>8}")
    board = sorted([*((n, s, None, None) for n, s in SCOREBOARD),
                    ("tsrnn (this run)", nab["standard"]["score"], nab["reward_low_FP_rate"]["score"], nab["reward_low_FN_rate"]["score"])],
                   key=lambda r: -r[1])
    for name, std, low_fp, low_fn in board:
        extra = f" {low_fp:8.1f} {low_fn:8.1f}" if low_fp is not None else ""
        print(f"{name:28} {std:9.1f}{extra}")
    print(f"standard threshold {nab['standard']['threshold']:.4f}: {nab['standard']['windows_found']} of {doc['windows']} windows found, "
          f"{nab['standard']['false_positive_rows']} false-positive rows")
    print(f"events at the detector's own threshold: precision {ev['precision']:.3f}, recall {ev['recall']:.3f}, F1 {ev['f1']:.3f} "
          f"({ev['alerts']} alerts); point-adjusted F1 {doc['point_adjusted_f1']:.3f}")


if __name__ == "__main__":
    main()
