"""`tsrnn.train()`: CSV in, run directory out."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsrnn import __version__
from tsrnn.config import DataConfig, ModelConfig, TrainConfig, to_dict
from tsrnn.data.clean import Dataset, read_dataset
from tsrnn.data.scaling import Scaler
from tsrnn.errors import InputError
from tsrnn.extras import require
from tsrnn.scoring.scorers import calibrate
from tsrnn.training.batching import Split
from tsrnn.training.runs import Run, save_run

if TYPE_CHECKING:
    from tsrnn.training.loop import EpochStats


@dataclass(frozen=True)
class TrainResult:
    """What `train` produced: the saved run and a JSON-ready summary."""

    run: Run
    summary: dict[str, Any]


def train(
    data: str | Path,
    *,
    model: ModelConfig | None = None,
    config: TrainConfig | None = None,
    data_config: DataConfig | None = None,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train a model on a CSV (or files, or stdin) and save it as runs_dir/NAME (default: the file's stem)."""
    torch = require("torch", "train", "training")
    from tsrnn.models import build_model
    from tsrnn.training.loop import AutoencoderTask, ForecasterTask, fit

    model_cfg = model or ModelConfig()
    cfg = config or TrainConfig()
    dcfg = data_config or DataConfig()
    run_name = _run_name(name, data)
    dataset = read_dataset(str(data), dcfg, keep_text=False)
    warmup = model_cfg.window if model_cfg.kind == "forecaster" else model_cfg.window - 1
    split = _split(dataset, model_cfg, cfg)
    scaler = Scaler.fit(np.concatenate(split.train))

    torch.manual_seed(cfg.seed)
    net = build_model(model_cfg, len(dataset.value_columns))
    if model_cfg.kind == "forecaster":
        task: ForecasterTask | AutoencoderTask = ForecasterTask(split, scaler, cfg, warmup)
    else:
        task = AutoencoderTask(split, scaler, cfg, model_cfg.window)
    started = time.perf_counter()
    history = fit(net, task, cfg, on_epoch)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        val_errors = task.val_errors(net)
    calibration = calibrate(val_errors, warmup)

    best = min(history, key=lambda s: s.val_loss)
    notes = list(dataset.notes) + [
        f"column {c!r} is constant in the training data: any change in it will score as anomalous"
        for c, v in zip(dataset.value_columns, np.concatenate(split.train).std(axis=0)) if v == 0.0
    ]
    summary = {
        "name": run_name,
        "run_dir": str(Path(runs_dir) / run_name),
        "model": model_cfg.kind,
        "cell": model_cfg.cell,
        "series": len(dataset.series()),
        "segments": len(dataset.segments),
        "rows_train": int(sum(p.shape[0] for p in split.train)),
        "rows_val": int(sum(p.shape[0] - c for p, c in zip(split.val, split.context))),
        "epochs_run": len(history),
        "best_epoch": best.epoch,
        "best_val_loss": best.val_loss,
        "train_seconds": round(seconds, 3),
        "parameters": sum(p.numel() for p in net.parameters()),
        "error_scale": calibration.error_scale,
        "threshold": calibration.threshold,
        "interval_seconds": dataset.interval_seconds,
        "dropped_rows": dataset.dropped,
        "filled": dataset.filled,
        "notes": notes,
    }
    info = {
        "name": run_name,
        "tsrnn_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": to_dict(dcfg),
        "model": to_dict(model_cfg),
        "train": to_dict(cfg),
        "schema": _schema(dataset),
        "scaler": scaler.to_dict(),
        "calibration": calibration.to_dict(),
        "history": [s.to_dict() for s in history],
        "summary": summary,
    }
    run = save_run(Path(runs_dir) / run_name, info, net)
    return TrainResult(run, summary)


def _run_name(name: str | None, data: str | Path) -> str:
    """The run's name: given, or the data file's stem; safe as one directory name."""
    if name is None and str(data) != "-":  # "my data.csv" → "my_data"
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(data)).stem).lstrip("._-")
    run_name = name or ""
    if not run_name:
        raise InputError("no run name could be derived from the input; give one with --name")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_name):
        raise InputError(f"run name {run_name!r}: use letters, digits, '.', '_' and '-' only (set it with --name)")
    return run_name


def _split(dataset: Dataset, model: ModelConfig, cfg: TrainConfig) -> Split:
    """Per series, the last val_fraction of rows validate; the rest train. Never shuffled in time.

    A validation part that continues a training segment starts with up to 4 windows of context
    from it, so its state is warm when scoring begins.
    """
    train, val, context = [], [], []
    for segments in dataset.series().values():
        total = sum(s.rows for s in segments)
        cut = int(round(total * (1.0 - cfg.val_fraction)))  # rows of this series before the split
        seen = 0
        for seg in segments:
            a = min(max(cut - seen, 0), seg.rows)  # rows of this segment that train
            if a > 1:
                train.append(seg.values[:a])
            if a < seg.rows:
                ctx = min(a, 4 * model.window)
                val.append(seg.values[a - ctx :])
                context.append(ctx)
            seen += seg.rows
    rows_train = sum(p.shape[0] for p in train)
    rows_val = sum(p.shape[0] - c for p, c in zip(val, context))
    need_train, need_val = model.window + 16, 8
    if rows_train < need_train or rows_val < need_val:
        raise InputError(
            f"{dataset.source}: {dataset.rows} usable rows is too few to train a {model.kind} with window "
            f"{model.window}; give at least {int((need_train + need_val) / (1 - cfg.val_fraction)) + 1} rows "
            "or a smaller --window"
        )
    return Split(train, val, context)


def _schema(dataset: Dataset) -> dict[str, Any]:
    digest = hashlib.sha256()
    for seg in dataset.segments:
        digest.update(seg.series.encode())
        digest.update(seg.times.astype(np.int64).tobytes())
        digest.update(np.ascontiguousarray(seg.values).tobytes())
    first = min(seg.times[0] for seg in dataset.segments)
    last = max(seg.times[-1] for seg in dataset.segments)
    return {
        "source": dataset.source,
        "time_column": dataset.time_column,
        "value_columns": list(dataset.value_columns),
        "id_column": dataset.id_column,
        "interval_seconds": dataset.interval_seconds,
        "series": len(dataset.series()),
        "rows": dataset.rows,
        "first_time": np.datetime_as_string(first, unit="s").replace("T", " "),
        "last_time": np.datetime_as_string(last, unit="s").replace("T", " "),
        "sha256": digest.hexdigest(),
    }
