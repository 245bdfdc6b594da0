"""tsrnn: recurrent models for time-series anomaly detection, exported to ONNX.

The public API is imported lazily, so `import tsrnn` (and `tsrnn watch`) never pulls in torch:

    import tsrnn

    result = tsrnn.train("history.csv", runs_dir="runs")                 # train extra → runs/history/
    exported = tsrnn.export_onnx(tsrnn.load_run("runs/history"), "exports/history.onnx")
    found = tsrnn.watch("new.csv", "exports/history.onnx")             # → WatchResult
    for event in found.alerts:
        print(event.start, event.end, event.channel)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {  # name → the module that defines it, imported on first use
    "train": "tsrnn.training.train",
    "TrainResult": "tsrnn.training.train",
    "load_run": "tsrnn.training.runs",
    "resolve_run": "tsrnn.training.runs",
    "Run": "tsrnn.training.runs",
    "export_onnx": "tsrnn.export.onnx",
    "ExportResult": "tsrnn.export.onnx",
    "read_metadata": "tsrnn.export.metadata",
    "ModelMetadata": "tsrnn.export.metadata",
    "model_info": "tsrnn.export.info",
    "ModelInfo": "tsrnn.export.info",
    "watch": "tsrnn.streaming.engine",
    "follow": "tsrnn.streaming.follow",
    "WatchResult": "tsrnn.streaming.result",
    "FollowResult": "tsrnn.streaming.result",
    "Event": "tsrnn.scoring.events",
    "evaluate": "tsrnn.evaluation.evaluate",
    "Evaluation": "tsrnn.evaluation.evaluate",
    "forecast": "tsrnn.forecasting",
    "rolling_forecasts": "tsrnn.forecasting",
    "Forecast": "tsrnn.forecasting",
    "read_dataset": "tsrnn.data.clean",
    "DataConfig": "tsrnn.config",
    "ModelConfig": "tsrnn.config",
    "TrainConfig": "tsrnn.config",
    "ScoreConfig": "tsrnn.config",
    "TsrnnError": "tsrnn.errors",
}

__all__ = [  # spelled out, so tools that read it without running the module see it (a test checks it matches _API)
    "__version__",
    "train",
    "TrainResult",
    "load_run",
    "resolve_run",
    "Run",
    "export_onnx",
    "ExportResult",
    "read_metadata",
    "ModelMetadata",
    "model_info",
    "ModelInfo",
    "watch",
    "follow",
    "WatchResult",
    "FollowResult",
    "Event",
    "evaluate",
    "Evaluation",
    "forecast",
    "rolling_forecasts",
    "Forecast",
    "read_dataset",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "ScoreConfig",
    "TsrnnError",
]

if TYPE_CHECKING:  # what editors and type checkers see; at run time each name loads on first use
    from tsrnn.config import DataConfig, ModelConfig, ScoreConfig, TrainConfig
    from tsrnn.data.clean import read_dataset
    from tsrnn.errors import TsrnnError
    from tsrnn.evaluation.evaluate import Evaluation, evaluate
    from tsrnn.export.info import ModelInfo, model_info
    from tsrnn.export.metadata import ModelMetadata, read_metadata
    from tsrnn.export.onnx import ExportResult, export_onnx
    from tsrnn.forecasting import Forecast, forecast, rolling_forecasts
    from tsrnn.scoring.events import Event
    from tsrnn.streaming.engine import watch
    from tsrnn.streaming.follow import follow
    from tsrnn.streaming.result import FollowResult, WatchResult
    from tsrnn.training.runs import Run, load_run, resolve_run
    from tsrnn.training.train import TrainResult, train


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'tsrnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
