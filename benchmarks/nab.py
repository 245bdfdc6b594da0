"""Benchmark: tsrnn's defaults on the Numenta Anomaly Benchmark files in ../shared/data/nab_dev.

    .venv/bin/python benchmarks/nab.py [--seeds 0 1] [--ablation] [--files all|even|odd]
                                       [--set NAME=VALUE ...] [--override NAME=VALUE ...] [--cache DIR] [--json]

NAB's protocol, one parameter set for every file (no per-file tuning; labels are read only by the
evaluation): for each file, `tsrnn train` with its defaults on the probationary period (the
first 15 % of rows, at most 750), export to ONNX, `tsrnn watch` with its defaults over every row
(a row's score depends only on the rows before it), then `tsrnn evaluate` scores the scores
files (their alert_score column) against the labels, for the whole set and per category.

The benchmark runs the defaults: it has no settings of its own. Its options exist to measure
alternatives: `--set` changes a training setting (any `tsrnn train` setting, e.g.
novelty_window=10), `--override` a watch setting (benchmarks/common.py: channels, threshold,
cooldown, memory, quantile, range_floor, range_tolerance, method, smooth, release, hold,
accept_after, freeze), and `--ablation` adds the rows
of the README's ablation table (each channel left out, and the other alternatives measured),
on the same trained models where only watch settings change.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from common import configs, half, parser_for, rows_to_run

from tsrnn.config import DataConfig
from tsrnn.evaluation.evaluate import evaluate
from tsrnn.evaluation.nab import probation_rows
from tsrnn.export.onnx import export_onnx
from tsrnn.streaming.engine import watch
from tsrnn.training.train import train

ROOT = Path(__file__).resolve().parents[1]
# (name, training settings, watch overrides): the rows of the README's ablation table
ABLATION: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("without the novelty channel", {}, {"channels": "forecast,range"}),
    ("without the range channel", {}, {"channels": "forecast,novelty"}),
    ("without the forecast channel (no model)", {}, {"channels": "novelty,range"}),
    ("forecast channel alone", {}, {"channels": "forecast"}),
    ("novelty channel alone", {}, {"channels": "novelty"}),
    ("threshold 0.75", {}, {"threshold": "0.75"}),
    ("cooldown 24 rows", {}, {"cooldown": "24"}),
    ("incidents: columns learn while one is open (freeze none)", {}, {"freeze": "none"}),
    ("incidents: every column held while one is open (freeze series)", {}, {"freeze": "series"}),
    ("incidents: never accepted as the new normal", {}, {"accept_after": "0"}),
    ("incidents: release at 0.6", {}, {"release": "0.6"}),
    ("range tolerance 0.05", {}, {"range_tolerance": "0.05"}),
    ("the autoencoder (--model autoencoder) instead of the forecaster and kNN", {"model": "autoencoder"}, {}),
    ("forecast channel: horizon error (no seasonal part)", {"error": "horizon"}, {}),
    ("novelty windows of 10 rows", {"novelty_window": "10"}, {}),
    ("novelty memory of 2,000 windows", {"novelty_memory": "2000"}, {}),
]


def model_for(csv: Path, models: Path, settings: dict[str, Any], seed: int) -> tuple[Path, float]:
    onnx = models / f"{csv.parent.name}__{csv.stem}.onnx"
    started = time.perf_counter()
    if not onnx.exists():  # models depend on the training settings only: --cache reuses them across watch settings
        frame = pl.read_csv(csv)
        history = models / f"{csv.stem}.history.csv"
        frame.head(probation_rows(frame.height)).write_csv(history)
        model, score, config = configs(settings, seed)
        result = train(
            history,
            model=model,
            config=config,
            data_config=DataConfig(),
            name=csv.stem,
            runs_dir=models / "runs",
            score=score,
        )
        export_onnx(result.run, onnx)
    return onnx, time.perf_counter() - started


def run(
    files: list[str],
    data: Path,
    labels: Path,
    work: Path,
    settings: dict[str, Any],
    overrides: dict[str, Any],
    seed: int,
    cache: Path | None,
) -> dict[str, Any]:
    """Train (or reuse), watch every file, evaluate: the evaluation document, per category too."""
    key = "-".join(f"{k}={v}" for k, v in sorted(settings.items())) or "defaults"
    models = (cache or work / "models") / f"{key}-seed{seed}"
    models.mkdir(parents=True, exist_ok=True)
    scores = work / f"scores-{abs(hash((key, json.dumps(overrides, sort_keys=True, default=str), seed)))}"
    trained = watched = 0.0
    cooldown = overrides.get("cooldown")
    score = {k: v for k, v in overrides.items() if k != "cooldown"}
    for name in files:
        onnx, seconds = model_for(data / name, models, settings, seed)
        trained += seconds
        started = time.perf_counter()
        watch(data / name, onnx, scores_out=scores / name, cooldown=cooldown, score=score)
        watched += time.perf_counter() - started
    doc = evaluate(scores, labels).to_dict()
    doc["categories"] = {}
    for category in sorted({f.split("/")[0] for f in files}):
        part = evaluate(scores / category, labels).to_dict()
        doc["categories"][category] = {
            "score": part["nab"]["standard"]["score"],
            "windows": part["windows"],
            "windows_found": part["events"]["windows_found"],
            "false_alerts": part["events"]["alerts"] - part["events"]["alerts_in_windows"],
            "fp_rows": sum(
                f["nab_false_positive_rows"] for f in doc["per_file"] if f["file"].startswith(category + "/")
            ),
        }
    doc["seconds"] = {"train": trained, "watch": watched}
    return doc


def line(name: str, docs: list[dict[str, Any]]) -> str:
    std = [d["nab"]["standard"]["score"] for d in docs]
    fp = [d["nab"]["reward_low_FP_rate"]["score"] for d in docs]
    fn = [d["nab"]["reward_low_FN_rate"]["score"] for d in docs]
    seeds = " / ".join(f"{v:.1f}" for v in std)
    return (
        f"{name:52} {seeds:>13} {statistics.median(std):7.1f} {statistics.median(fp):7.1f} {statistics.median(fn):7.1f}"
        f" {statistics.median(d['nab']['standard']['windows_found'] for d in docs):6.0f} "
        f"{statistics.median(d['nab']['standard']['false_positive_rows'] for d in docs):5.0f}"
    )


def main() -> None:
    parser = parser_for(__doc__, str(ROOT.parent / "shared" / "data" / "nab_dev"))
    args = parser.parse_args()
    data = Path(args.data)
    labels = data / "labels" / "combined_windows.json"
    files = half(sorted(json.loads(labels.read_text())), args.files)
    rows = rows_to_run(args, ABLATION)
    settings, overrides = rows[0][1], rows[0][2]
    started = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache) if args.cache else None
        for name, s, o in rows:
            results[name] = [run(files, data, labels, Path(tmp), s, o, seed, cache) for seed in args.seeds]
    if args.json:
        print(json.dumps(results))
        return
    first = results[rows[0][0]]
    total_rows = sum(f["rows"] for f in first[0]["per_file"])
    print(
        f"NAB ({data.name}, {args.files} files): {first[0]['files']} files, {total_rows:,} rows, "
        f"{first[0]['windows']} labelled windows; "
        f"seeds {', '.join(map(str, args.seeds))}; {time.perf_counter() - started:.0f} s in all"
    )
    if settings or overrides:
        print(f"changed from the defaults: {json.dumps({**settings, **overrides}, default=str)}")
    print(f"{'detector':52} {'standard':>13} {'median':>7} {'low FP':>7} {'low FN':>7} {'found':>6} {'FP':>5}")
    for name, _, _ in rows:
        print(line(name, results[name]))
    print(
        "\nper category, standard profile (each category's own threshold sweep, '-' without windows; seeds "
        + ", ".join(map(str, args.seeds))
        + "):"
    )
    for category in first[0]["categories"]:
        cells = [d["categories"][category] for d in first]
        score = " / ".join(f"{c['score']:.1f}" if c["windows"] else "-" for c in cells)
        print(
            f"  {category:24} {score:>13}   windows found {' / '.join(str(c['windows_found']) for c in cells)} of "
            f"{cells[0]['windows']}; "
            f"false alerts at the detector's threshold {' / '.join(str(c['false_alerts']) for c in cells)}; "
            f"false-positive rows at the corpus's standard threshold {' / '.join(str(c['fp_rows']) for c in cells)}"
        )
    ev = [d["events"] for d in first]
    print(
        "\nevents at the detector's own threshold: "
        + "; ".join(
            f"seed {s}: precision {e['precision']:.3f}, recall {e['recall']:.3f}, F1 {e['f1']:.3f} ({e['alerts']} "
            f"alerts)"
            for s, e in zip(args.seeds, ev)
        )
    )
    t = first[0]["seconds"]
    print(
        f"time (first seed): training {t['train']:.0f} s, watch {t['watch']:.1f} s. Published (whole 58-file corpus, "
        f"NAB's own threshold "
        "sweep, not the same files): ARTime 74.9, Numenta HTM 70.5, CAD OSE 69.9, KNN CAD 58.0, Windowed Gaussian 39.6"
    )


if __name__ == "__main__":
    main()
