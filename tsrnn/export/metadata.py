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
from tsrnn.encoding import unpack
from tsrnn.errors import ModelError
from tsrnn.kinds import Kind, kind_of
from tsrnn.scoring.calibration import Calibration

FORMAT = "1"
MAX_ROWS = 10_000_000  # the largest window, memory or cooldown in rows a model's metadata may ask for
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
        try:
            return _checked(cls(**values))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError) as exc:
            raise ModelError(f"{source}: tsrnn metadata is damaged ({exc}); export the model again") from None


def _checked(meta: ModelMetadata) -> ModelMetadata:
    """Every value of the right type and shape, and the detector buildable from it: a file edited by
    hand (or by an attacker) is refused here, not halfway through scoring."""
    from tsrnn.schema import conforms

    conforms(ModelMetadata, asdict(meta), "metadata")
    conforms(DataConfig, meta.data_config, "data_config")
    conforms(Calibration, meta.calibration, "calibration")
    columns, n = meta.value_columns, meta.features
    if not columns or len(set(columns)) != n or (meta.target and meta.target not in columns):
        raise ValueError("value_columns: expected distinct column names (and the target among them)")
    if not (0 < meta.window <= 1_000_000 and 0 < meta.horizon <= 100_000):
        raise ValueError(f"window {meta.window} or horizon {meta.horizon} out of range")
    spec = meta.spec
    from tsrnn.config import TIME_FEATURES

    if meta.time_features not in TIME_FEATURES:
        raise ValueError(f"time_features {meta.time_features!r} is not one of {', '.join(TIME_FEATURES)}")
    shape = meta.state_shape
    if shape and (len(shape) != 2 or not all(isinstance(d, int) and 0 < d <= 65_536 for d in shape)):
        raise ValueError(f"state_shape: expected [layers, hidden], got {shape}")
    if not set(meta.state_names) <= set(spec.state_names(meta.cell)):
        raise ValueError(f"state_names {meta.state_names} are not those of a {meta.cell} {meta.kind}")
    for key in ("mean", "scale"):
        part = meta.scaler.get(key)
        if not (isinstance(part, list) and len(part) == n and all(isinstance(v, (int, float)) for v in part)):
            raise ValueError(f"scaler.{key}: expected {n} numbers")
        if key == "scale" and not all(0 < v < float("inf") for v in part):
            raise ValueError("scaler.scale: expected positive finite numbers")
    meta.data  # noqa: B018 (the data settings, checked as they are built)
    try:
        interval = meta.interval  # "" or a number of seconds
    except ValueError:
        interval = -1.0
    if interval is not None and not 0 < interval < float("inf"):
        raise ValueError(f"interval_seconds: expected a positive number, got {meta.interval_seconds!r}")
    _check_calibration(meta)
    return meta


def _check_calibration(meta: ModelMetadata) -> None:
    """The detector's settings among their choices, its arrays of the model's size, and a detector built from them."""
    from tsrnn.scoring import CHANNELS, ERROR_KINDS, FREEZE_SCOPES, NOVELTY_KINDS, THRESHOLD_METHODS

    calibration = meta.scorer_calibration
    for key in ("warmup", "memory", "smooth", "novelty_window", "novelty_memory", "cooldown", "hold", "accept_after"):
        if not 0 <= getattr(calibration, key) <= MAX_ROWS:  # sizes of what a detector allocates, or counts of rows
            raise ValueError(f"calibration.{key}: {getattr(calibration, key)} is not between 0 and {MAX_ROWS:,}")
    if not 0 <= calibration.history_rows <= 10**12:
        raise ValueError(f"calibration.history_rows: {calibration.history_rows} is not a number of rows")
    settings = calibration.settings()
    for key, allowed in (
        ("error", (*ERROR_KINDS, "none")),
        ("method", THRESHOLD_METHODS),
        ("novelty", NOVELTY_KINDS),
        ("freeze", FREEZE_SCOPES),
    ):
        if getattr(calibration, key) not in allowed:
            raise ValueError(f"calibration.{key}: {getattr(calibration, key)!r} is not one of {', '.join(allowed)}")
    if not set(calibration.channels) <= set(CHANNELS):
        raise ValueError(f"calibration.channels: {calibration.channels} are not among {', '.join(CHANNELS)}")
    norms = calibration.error_norms
    if len(norms) != 2 or not all(v > 0 for v in norms):
        raise ValueError(f"calibration.error_norms: expected two positive numbers, got {norms}")
    scored, own = len(meta.scored), calibration.novelty == "autoencoder"
    cov = calibration.inverse_cov
    if cov is not None and (len(cov) != scored or any(len(row) != scored for row in cov)):
        raise ValueError(f"calibration.inverse_cov: expected {scored} x {scored} numbers")
    seed = calibration.range_seed
    if seed is not None and not all(
        isinstance(seed.get(k), list) and len(seed[k]) == scored and all(isinstance(v, (int, float)) for v in seed[k])
        for k in ("low", "high")
    ):
        raise ValueError(f"calibration.range_seed: expected low and high of {scored} numbers")
    if calibration.novelty_seed and calibration.novelty_seed_times:
        rows = unpack(calibration.novelty_seed, "<f4").reshape(-1, scored).shape[0]
        if unpack(calibration.novelty_seed_times, "<i8").shape != (rows,):
            raise ValueError("calibration.novelty_seed_times: not one time per seed row")
    for first in (None, 0):  # the range seeded from the history, or built from the rows
        calibration.start(settings, scored, own_novelty=own, first_time_us=first)


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
