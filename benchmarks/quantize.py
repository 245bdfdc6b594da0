"""Benchmark: int8 copies of exported models against float32: parity with PyTorch and speed.

    .venv/bin/python benchmarks/quantize.py [--models cpu sensors two gru] [--rounds 3] [--repeat 200] [--json]

Models: `cpu`, the demo model (trained as `make demo` does, in a temporary directory, on
sample_data/cpu_history.csv, --seed 0); `sensors`, trained on sample_data/sensors_history.csv
(three columns); `two`, a two-column LSTM trained for 2 epochs with --inputs diff on a smooth daily
cycle (the model whose dynamic copy `tsrnn export --quantize int8` refused before static int8
existed); `gru`, the same with --cell gru. `--epochs N` trains cpu and sensors for N epochs instead
of their defaults (the quick run).

Methods: fp32 (the exported graph), int8-dynamic (onnxruntime's quantize_dynamic, tsrnn's
`--quantize int8-dynamic`), int8 (static QDQ calibrated on the training rows, per-channel weights,
`--quantize int8`) and int8-per-tensor (the same with one weight scale per tensor).
Parity, in scaled units (|difference| / the feature's scale), against PyTorch:
  check      the figure `tsrnn export` holds to its limit: random rows around the training mean,
             batch x time 3x7 and 2x64, from random states
  new rows   rows the model was not trained on, one call from a fresh state: sample_data's
             cpu_recent.csv (2,532 rows, with its incident) and sensors_recent.csv (its cooling
             fault), the cycle's next 1,000 rows for two and gru
Speed: median microseconds per call, one onnxruntime thread, for one new row and a backlog of
1,000 rows (as `tsrnn export --quantize` reports); the median of --rounds rounds, the methods
interleaved in each so a slow moment of a shared machine falls on all of them.
`--json` prints one JSON document (the last line of stdout).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("cpu", "sensors", "two", "gru")
METHODS = ("fp32", "int8-dynamic", "int8", "int8-per-tensor")
REAL_ROWS = 3000


def two_columns(path: Path, rows: int = 1000, seed: int = 5, start: int = 0) -> Path:
    """A smooth daily cycle in two columns, 5 minutes apart (tests/helpers.py's cycle, noise 0.02)."""
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + rows)[:, None]
    values = 50.0 + 10.0 * np.sin(2 * np.pi * t / 144 + np.arange(2)[None, :] * 0.7) + rng.normal(0, 0.02, (rows, 2))
    times = np.datetime64("2024-01-01T00:00") + t[:, 0] * np.timedelta64(5, "m")
    lines = ["timestamp,a,b"] + [f"{str(s).replace('T', ' ')}:00,{a:.4f},{b:.4f}" for s, (a, b) in zip(times, values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def trained(name: str, tmp: Path, epochs: int | None):  # -> Run
    from tsrnn.config import ModelConfig, TrainConfig
    from tsrnn.training.train import train

    data = {
        "cpu": ROOT / "sample_data" / "cpu_history.csv",
        "sensors": ROOT / "sample_data" / "sensors_history.csv",
    }.get(name) or two_columns(tmp / "two.csv")
    model = ModelConfig(
        cell="gru" if name == "gru" else "lstm", **({"inputs": "diff"} if name in ("two", "gru") else {})
    )
    given = {"epochs": 2} if name in ("two", "gru") else {"epochs": epochs} if epochs else {}
    config = TrainConfig(seed=0, threads=1, **given)
    return train(data, model=model, config=config, runs_dir=tmp, name=name).run


def copies(run, data: bytes) -> tuple[dict[str, bytes], dict[str, float], str]:
    """Each method's file, the seconds it took to make, and where the calibration rows came from."""
    from tsrnn.export.quantize import calibration_feeds, static_int8_copy, training_rows
    from tsrnn.export.variants import int8_copy

    segments, note = training_rows(run)
    feeds = calibration_feeds(run, data, segments)
    makers = {
        "fp32": lambda: data,
        "int8-dynamic": lambda: int8_copy(data),
        "int8": lambda: static_int8_copy(data, feeds),
        "int8-per-tensor": lambda: static_int8_copy(data, feeds, per_channel=False),
    }
    blobs, seconds = {}, {}
    for method, make in makers.items():
        started = time.perf_counter()
        blobs[method] = make()
        seconds[method] = time.perf_counter() - started
    return blobs, seconds, note


def new_rows(name: str, tmp: Path) -> Path:
    """Rows the model was not trained on: the sample data's recent part (the CPU's with its
    incident), or the cycle's next 1,000 rows."""
    recent = {"cpu": "cpu_recent.csv", "sensors": "sensors_recent.csv"}.get(name)
    return ROOT / "sample_data" / recent if recent else two_columns(tmp / "new.csv", seed=55, start=1000)


def real_parity(run, module, blob: bytes, source: Path) -> float:
    """Max |onnxruntime - PyTorch| in scaled units over the rows of `source`, one call from a fresh state."""
    import onnxruntime as ort
    import torch

    from tsrnn.data.clean import read_dataset
    from tsrnn.data.timefeatures import time_features
    from tsrnn.export.onnx import RAW_OUTPUTS, graph_spec

    cfg = run.model_config
    data = read_dataset(str(source), run.data_config, interval=run.schema.get("interval_seconds"))
    seg = max(data.segments, key=lambda s: s.rows)
    x = seg.values[:REAL_ROWS].astype(np.float32)[None]
    names, outputs, _ = graph_spec(cfg)
    feed = {"x": x}
    if "tf" in names:
        feed["tf"] = time_features(seg.times[: x.shape[1]], cfg.time_features)[None]
    for n in cfg.spec.state_names(cfg.cell):
        feed[n] = np.zeros((cfg.layers, 1, cfg.hidden), np.float32)
    for n in cfg.spec.carried_rows(cfg.inputs):
        feed[n] = np.full((1, x.shape[2]), np.nan, np.float32)
    got = ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, feed)
    with torch.no_grad():
        want = module(*(torch.from_numpy(feed[n]) for n in names))
    scale = np.asarray(run.scaler.scale)
    worst = 0.0
    for name, g, w in zip(outputs, got, want):
        diff = np.abs(g.astype(np.float64) - w.numpy().astype(np.float64))
        worst = max(worst, float(np.nanmax(diff / scale if name in RAW_OUTPUTS else diff)))
    return worst


def measure(name: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    import onnx
    import torch

    from tsrnn.export.onnx import PARITY_SHAPES, _graph, _parity, _streaming_module, _timing_feeds
    from tsrnn.export.variants import timing

    run = trained(name, tmp, args.epochs)
    module = _streaming_module(run)
    data, _ = _graph(run, module, 17, torch, onnx)
    blobs, seconds, note = copies(run, data)
    feeds = _timing_feeds(run)
    samples: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    for _ in range(args.rounds):
        for method in METHODS:
            samples[method].append(timing(blobs[method], feeds, repeat=args.repeat))
    methods = {}
    for method in METHODS:
        methods[method] = {
            "kib": len(blobs[method]) / 1024,
            "seconds": seconds[method],
            "parity": max(_parity(module, blobs[method], run, b, t)[0] for b, t in PARITY_SHAPES),
            "parity_real": real_parity(run, module, blobs[method], new_rows(name, tmp)),
            **{
                f"us_{label.replace(' ', '_')}": statistics.median(s[label] for s in samples[method]) for label in feeds
            },
            "rounds": samples[method],  # each round's median per feed (benchmarks/run.py's min and max)
        }
    cfg = run.model_config
    return {
        "run": str(run.path),
        "model": f"{cfg.cell} {cfg.layers}x{cfg.hidden}, --inputs {cfg.inputs}, {len(run.schema['value_columns'])} "
        f"column(s), {run.info['summary'].get('epochs_run')} epochs",
        "calibration": note,
        "methods": methods,
    }


def table(doc: dict[str, Any]) -> str:
    head = (
        f"{'model':8} {'method':16} {'KiB':>6} {'parity check':>13} {'new rows':>10} {'µs 1 row':>9} {'1000 rows':>10}"
    )
    lines = [head, "-" * len(head)]
    for name, model in doc["models"].items():
        for method, m in model["methods"].items():
            lines.append(
                f"{name:8} {method:16} {m['kib']:6.1f} {m['parity']:13.1e} {m['parity_real']:10.1e} "
                f"{m['us_1_row']:9.0f} {m['us_1000_rows']:10.0f}"
            )
    lines += [
        f"{name}: {m['model']}; static int8 calibrated on {m['calibration']}" for name, m in doc["models"].items()
    ]
    lines.append(f"limit: {doc['limit']} scaled units (tsrnn.export.variants.TOLERANCE)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--epochs", type=int, help="train cpu and sensors for this many epochs (default: theirs)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds, methods interleaved")
    parser.add_argument("--repeat", type=int, default=200, help="calls per timing")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    import torch

    from tsrnn.export.variants import TOLERANCE

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for name in args.models:
            print(f"[quantize] {name}", file=sys.stderr)
            models[name] = measure(name, Path(tmp), args)
    doc = {"limit": TOLERANCE["int8"], "rounds": args.rounds, "repeat": args.repeat, "models": models}
    print(json.dumps(doc) if args.json else table(doc))


if __name__ == "__main__":
    main()
