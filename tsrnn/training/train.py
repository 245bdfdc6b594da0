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
from tsrnn.config import ModelConfig, TrainConfig, to_dict
from tsrnn.data.reader import Table, read_table
from tsrnn.data.scaling import Scaler
from tsrnn.errors import InputError
from tsrnn.extras import require
from tsrnn.scoring.scorers import calibrate
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
    name: str | None = None,
    runs_dir: str | Path = "runs",
    time_column: str | None = None,
    columns: list[str] | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train a model on a CSV file and save it as runs_dir/NAME (NAME defaults to the file stem)."""
    torch = require("torch", "train", "training")

    from tsrnn.models import build_model
    from tsrnn.training.loop import AutoencoderTask, ForecasterTask, fit

    model_cfg = model or ModelConfig()
    cfg = config or TrainConfig()
    run_name = _run_name(name, data)
    table = read_table(data, time_column=time_column, columns=columns)
    val_start = _split(table, model_cfg, cfg)
    scaler = Scaler.fit(table.values[:val_start])
    scaled = scaler.transform(table.values)

    torch.manual_seed(cfg.seed)
    net = build_model(model_cfg, len(table.value_columns))
    if model_cfg.kind == "forecaster":
        task: ForecasterTask | AutoencoderTask = ForecasterTask(scaled, val_start, context=4 * model_cfg.window)
        warmup = model_cfg.window
    else:
        task = AutoencoderTask(scaled, val_start, model_cfg.window)
        warmup = model_cfg.window - 1
    started = time.perf_counter()
    history = fit(net, task, cfg, on_epoch)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        val_errors = task.val_errors(net, table.values, list(scaler.mean), list(scaler.scale))
    calibration = calibrate(val_errors, warmup)

    best = min(history, key=lambda s: s.val_loss)
    summary = {
        "name": run_name,
        "run_dir": str(Path(runs_dir) / run_name),
        "model": model_cfg.kind,
        "cell": model_cfg.cell,
        "rows_train": val_start,
        "rows_val": table.rows - val_start,
        "epochs_run": len(history),
        "best_epoch": best.epoch,
        "best_val_loss": best.val_loss,
        "train_seconds": round(seconds, 3),
        "parameters": sum(p.numel() for p in net.parameters()),
        "error_scale": calibration.error_scale,
        "threshold": calibration.threshold,
        "dropped_rows": table.dropped,
    }
    info = {
        "name": run_name,
        "tsrnn_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": to_dict(model_cfg),
        "train": to_dict(cfg),
        "schema": _schema(table, val_start),
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


def _split(table: Table, model: ModelConfig, cfg: TrainConfig) -> int:
    """The first validation row; refuse data too short to train and validate on."""
    val_start = int(round(table.rows * (1.0 - cfg.val_fraction)))
    need_train = model.window + 16
    need_val = 8
    if val_start < need_train or table.rows - val_start < need_val:
        raise InputError(
            f"{table.source}: {table.rows} usable rows is too few to train a {model.kind} with window "
            f"{model.window}; give at least {int((need_train + need_val) / (1 - cfg.val_fraction)) + 1} rows "
            "or a smaller --window"
        )
    return val_start


def _schema(table: Table, val_start: int) -> dict[str, Any]:
    digest = hashlib.sha256()
    digest.update(table.times.astype("datetime64[us]").astype(np.int64).tobytes())
    digest.update(np.ascontiguousarray(table.values).tobytes())
    return {
        "source": table.source,
        "time_column": table.time_column,
        "value_columns": list(table.value_columns),
        "id_column": None,
        "interval_seconds": table.interval_seconds(),
        "rows": table.rows,
        "rows_train": val_start,
        "first_time": table.time_text[0],
        "last_time": table.time_text[-1],
        "sha256": digest.hexdigest(),
    }
