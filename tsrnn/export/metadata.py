"""The metadata contract of an exported model, written to and read from ONNX `metadata_props`.

Read with onnxruntime only (no onnx, no torch), so `watch` and `info` stay light. Every value is a
string in the file; structured values are JSON.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tsrnn.config import DataConfig, from_dict
from tsrnn.errors import ModelError
from tsrnn.kinds import Kind, kind_of
from tsrnn.scoring.calibration import Calibration

FORMAT = "1"
_JSON_KEYS = ("value_columns", "data_config", "scaler", "calibration", "training_data", "state_shape", "state_names")


@dataclass(frozen=True)
class ModelMetadata:
    """What a runtime needs besides the graph."""

    tsrnn_version: str
    format: str
    kind: str  # forecaster | autoencoder
    cell: str
    run_name: str
    time_column: str
    id_column: str
    value_columns: list[str]
    interval_seconds: str  # seconds as text; "" when unknown
    data_config: dict[str, Any]  # duplicates, fill, fill_limit, resample...: watch reads new data the same way
    window: int  # autoencoder window; forecaster warm-up rows
    horizon: int
    mode: str  # stateful | windowed (forecaster)
    inputs: str  # level | diff: a diff model also carries prev, the last row it saw
    state_shape: list[int]  # (layers, hidden) of each carried state; [] when nothing is carried
    state_names: list[str]  # the graph's state inputs: ["h", "c"] (LSTM), ["h"] (GRU, RNN), []
    scaler: dict[str, Any]  # Scaler.to_dict(): kind, and mean and scale per feature (also inside the graph)
    calibration: dict[str, Any]
    training_data: dict[str, Any]  # rows, time range, sha256 of what the model was trained on
    created: str
    time_features: str = "none"  # stateful forecaster: the graph's `tf` input (tsrnn.data.timefeatures)
    target: str = ""  # a forecaster trained with --target forecasts and scores this column alone; "": every column

    @property
    def spec(self) -> Kind:
        """The model's kind in the registry (tsrnn.kinds)."""
        return kind_of(self.kind, self.mode)

    @property
    def features(self) -> int:
        return len(self.value_columns)

    @property
    def scored(self) -> list[int]:
        """The value columns the model forecasts and watch scores: --target's, or every one."""
        return [self.value_columns.index(self.target)] if self.target else list(range(self.features))

    @property
    def scored_columns(self) -> list[str]:
        return [self.value_columns[i] for i in self.scored]

    @property
    def interval(self) -> float | None:
        return float(self.interval_seconds) if self.interval_seconds else None

    @property
    def data(self) -> DataConfig:
        return from_dict(DataConfig, self.data_config)

    @property
    def scorer_calibration(self) -> Calibration:
        return Calibration.from_dict(self.calibration)

    def to_props(self) -> dict[str, str]:
        """Flat string key/values for ONNX metadata_props."""
        out = {}
        for key, value in asdict(self).items():
            out[key] = json.dumps(value) if key in _JSON_KEYS else str(value)
        return out

    @classmethod
    def from_props(cls, props: dict[str, str], source: str) -> ModelMetadata:
        if props.get("format") != FORMAT or "kind" not in props:
            raise ModelError(f"{source}: not a tsrnn model (no tsrnn metadata); export one with `tsrnn export RUN`")
        values: dict[str, Any] = {}
        try:
            for f in fields(cls):
                raw = props[f.name] if f.default is MISSING else props.get(f.name, f.default)
                if f.name in _JSON_KEYS:
                    values[f.name] = json.loads(raw)
                elif f.name in ("window", "horizon"):
                    values[f.name] = int(raw)
                else:
                    values[f.name] = raw
        except (KeyError, ValueError) as exc:
            raise ModelError(f"{source}: tsrnn metadata is incomplete ({exc}); export the model again") from None
        return cls(**values)


def read_metadata(path: str | Path) -> ModelMetadata:
    """Read an exported model's metadata with onnxruntime (fast: the graph is not optimised)."""
    from tsrnn.runtime.session import open_session

    return session_metadata(open_session(path, optimize=False), path)


def session_metadata(session: Any, path: str | Path) -> ModelMetadata:
    """The tsrnn metadata of an open onnxruntime session on the file at `path`, once its inputs and
    outputs are checked against the kind the metadata names."""
    from tsrnn.runtime.modelcheck import check_io

    meta = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map, str(path))
    check_io(session, meta, str(path))
    return meta
