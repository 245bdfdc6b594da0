"""tsrnn: recurrent models for time-series anomaly detection, exported to ONNX.

The public API is imported lazily, so `import tsrnn` (and `tsrnn watch`) never pulls in torch:

    tsrnn.train("history.csv")              # → runs/history/          (train extra)
    tsrnn.export_onnx(tsrnn.load_run("runs/history"))   # → exports/history.onnx
    tsrnn.streaming("new.csv", "exports/history.onnx")      # → WatchResult
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "train": "tsrnn.training.train",
    "load_run": "tsrnn.training.runs",
    "resolve_run": "tsrnn.training.runs",
    "export_onnx": "tsrnn.export.onnx",
    "read_metadata": "tsrnn.export.metadata",
    "watch": "tsrnn.streaming.engine",
    "read_dataset": "tsrnn.data.clean",
    "DataConfig": "tsrnn.config",
    "ModelConfig": "tsrnn.config",
    "TrainConfig": "tsrnn.config",
    "TsrnnError": "tsrnn.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'tsrnn' has no attribute {name!r}")
