"""Run → one self-contained ONNX file: scaler, model and raw error inside, metadata beside them.

Uses torch's TorchScript-based exporter (`dynamo=False`). The torch.export-based one in torch 2.13
keeps the time axis dynamic only for the first export in a process and declares fixed output
lengths; the TorchScript exporter keeps every declared axis symbolic, and took 0.03-0.3 s here
where torch.export took 4-7 s.
Either way, every export is checked: symbolic axes, onnx.checker, and onnxruntime against PyTorch
at two shapes. The file is written atomically.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tsrnn import __version__
from tsrnn.config import ModelConfig, to_dict
from tsrnn.data.timefeatures import count as time_count
from tsrnn.errors import ModelError, TsrnnError
from tsrnn.export import QUANTIZE
from tsrnn.export.metadata import FORMAT, ModelMetadata
from tsrnn.export.quantize import calibration_feeds, static_int8_copy, training_rows
from tsrnn.export.variants import TOLERANCE, fp16_copy, int8_copy, timing
from tsrnn.extras import require
from tsrnn.fsutil import atomic_write_bytes
from tsrnn.training.runs import Run

PARITY_TOLERANCE = 1e-4  # max |onnxruntime - torch| in scaled units (raw / feature scale)
PARITY_SHAPES = ((3, 7), (2, 64))  # (batch, time): neither is 1, so neither axis can be fixed to 1

RAW_OUTPUTS = (
    "expected",
    "next_out",
    "prev_out",
    "forecast",
    "reconstruction",
)  # in data units, compared per feature scale


def graph_spec(cfg: ModelConfig) -> tuple[list[str], list[str], dict[str, dict[int, str]]]:
    """(input names, output names, dynamic axes) of the graph for a model configuration (tsrnn.kinds)."""
    return cfg.spec.graph(cfg)


@dataclass(frozen=True)
class Variant:
    """One file written by an export: the float32 graph or a reduced-precision copy."""

    precision: str  # fp32 | fp16 | int8 (static) | int8-dynamic
    path: Path
    bytes: int
    parity: dict[str, float]  # "BxT" → max |onnxruntime - PyTorch| in scaled units
    microseconds: dict[str, float]  # median per call: "1 row" and "1000 rows" (empty when not timed)
    calibration: str = ""  # static int8: the rows its activation ranges were measured on


@dataclass(frozen=True)
class ExportResult:
    """Where the model went and how closely onnxruntime matches PyTorch."""

    path: Path
    bytes: int
    parity: dict[str, float]  # "BxT" → max abs difference in scaled units
    parity_raw: float  # the largest difference of the data-unit outputs, in data units
    metadata: ModelMetadata
    variants: list[Variant]  # the float32 file first, then any --fp16 / --quantize copies
    status: str = "complete"  # the run's: complete, or interrupted (the best weights before a stop or a kill)
    checkpoint: str = ""  # which weights were exported: "its best checkpoint, epoch 7 of 9"

    def to_dict(self) -> dict[str, Any]:
        """The document `tsrnn export --json` prints."""
        files = [
            {
                "precision": v.precision,
                "path": str(v.path),
                "bytes": v.bytes,
                "parity": v.parity,
                "microseconds": v.microseconds,
                **({"calibration": v.calibration} if v.calibration else {}),
            }
            for v in self.variants
        ]
        return {
            "run": self.metadata.run_name,
            "path": str(self.path),
            "bytes": self.bytes,
            "parity": self.parity,
            "parity_raw": self.parity_raw,
            "status": self.status,
            "checkpoint": self.checkpoint,
            "files": files,
        }


def export_onnx(
    run: Run,
    out: str | Path | None = None,
    *,
    exports_dir: str | Path = "exports",
    opset: int = 17,
    fp16: bool = False,
    int8: bool = False,
    timed: bool = False,
    quantize: str | None = None,
) -> ExportResult:
    """Export a run to `out` (default exports_dir/NAME.onnx) and validate it.

    `fp16` and `quantize` add NAME.fp16.onnx and NAME.int8.onnx (static, calibrated on the
    training rows) or NAME.int8-dynamic.onnx beside it, each checked against PyTorch with its own
    limit (`int8=True` is `quantize="int8"`); `timed` measures the files' speed on this CPU.
    """
    torch = require("torch", "train", "export")
    onnx = require("onnx", "train", "export")
    quantize = quantize or ("int8" if int8 else None)
    if quantize is not None and quantize not in QUANTIZE:
        raise TsrnnError(f"--quantize {quantize!r}: use one of {', '.join(QUANTIZE)}")

    path = Path(out) if out is not None else Path(exports_dir)
    if path.is_dir() or out is None:
        path = path / f"{run.name}.onnx"
    module = _streaming_module(run)
    data, metadata = _graph(run, module, opset, torch, onnx)
    checked = {f"{b}x{t}": _parity(module, data, run, b, t) for b, t in PARITY_SHAPES}
    parity = {shape: scaled for shape, (scaled, _) in checked.items()}
    parity_raw = max(raw for _, raw in checked.values())
    worst = max(parity.values())
    if not worst <= PARITY_TOLERANCE:
        raise ModelError(
            f"export of {run.name}: onnxruntime differs from PyTorch by {worst:.2e} (limit {PARITY_TOLERANCE:.0e}); "
            f"not written"
        )
    variants, blobs = [Variant("fp32", path, len(data), parity, {})], [data]
    for precision, (blob, note) in _copies(run, data, fp16, quantize).items():
        copy_parity = {f"{b}x{t}": _parity(module, blob, run, b, t)[0] for b, t in PARITY_SHAPES}
        _check_copy(run, precision, max(copy_parity.values()))
        variants.append(Variant(precision, path.with_suffix(f".{precision}.onnx"), len(blob), copy_parity, {}, note))
        blobs.append(blob)
    if timed and run.model_config.spec.stateful:
        feeds = _timing_feeds(run)
        variants = [dataclasses.replace(v, microseconds=timing(b, feeds)) for v, b in zip(variants, blobs)]
    for variant, blob in zip(variants, blobs):
        atomic_write_bytes(variant.path, blob)
    status = run.info.get("status", "complete")
    return ExportResult(path, len(data), parity, parity_raw, metadata, variants, status, run.checkpoint)


def _copies(run: Run, data: bytes, fp16: bool, quantize: str | None) -> dict[str, tuple[bytes, str]]:
    """precision → (the reduced-precision copy of `data`, where its calibration rows came from)."""
    copies = {}
    if fp16:
        copies["fp16"] = (fp16_copy(data), "")
    if quantize == "int8-dynamic":
        copies[quantize] = (int8_copy(data), "")
    elif quantize == "int8":
        found = training_rows(run)
        feeds = calibration_feeds(run, data, found[0]) if found is not None else []
        note = found[1] if found is not None and feeds else "random rows around the training mean (no training rows)"
        if not feeds:  # neither run.json nor the source file holds the training rows
            names = graph_spec(run.model_config)[0]
            feeds = [{n: t.numpy() for n, t in zip(names, _example_inputs(run, 4, 64, seed=s))} for s in range(8)]
        copies[quantize] = (static_int8_copy(data, feeds), note)
    return copies


def _check_copy(run: Run, precision: str, worst: float) -> None:
    """Refuse a copy further from PyTorch than its limit, with both figures in the one line."""
    if not worst <= TOLERANCE[precision]:
        instead = {"fp16": "drop --fp16", "int8": "drop --quantize", "int8-dynamic": "use --quantize int8 or none"}
        raise ModelError(
            f"export of {run.name}: the {precision} copy differs from PyTorch by {worst:.2e} scaled units "
            f"(limit {TOLERANCE[precision]}); this data needs float32, so {instead[precision]}"
        )


def _graph(run: Run, module, opset: int, torch, onnx) -> tuple[bytes, ModelMetadata]:
    """The checked ONNX graph of the streaming module, with the metadata inside."""
    inputs, outputs, axes = graph_spec(run.model_config)
    example = _example_inputs(run, batch=2, time=5)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice; the checks below decide
        torch.onnx.export(
            module,
            example,
            buffer,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    _name_axes(proto, axes)
    metadata = _metadata(run)
    del proto.metadata_props[:]
    for key, value in metadata.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise ModelError(
            f"export of {run.name}: weights were stored outside the graph; not written"
        )  # one file, always
    _check_axes(proto, axes)
    return proto.SerializeToString(), metadata


def _timing_feeds(run: Run) -> dict[str, dict[str, np.ndarray]]:
    """One new row, and a backlog of 1000 rows, for one series from a fresh state."""
    names = graph_spec(run.model_config)[0]
    feeds = {}
    for label, rows in (("1 row", 1), ("1000 rows", 1000)):
        inputs = _example_inputs(run, 1, rows, seed=rows)
        feeds[label] = {n: t.numpy() for n, t in zip(names, inputs)}
    return feeds


def _streaming_module(run: Run):  # -> torch.nn.Module
    from tsrnn.models.autoencoder import StreamingAutoencoder
    from tsrnn.models.forecaster import StreamingForecaster, WindowedForecaster

    wrappers = {
        "stateful": StreamingForecaster,
        "windowed": WindowedForecaster,
        "autoencoder": StreamingAutoencoder,
    }  # by tsrnn.kinds name
    return wrappers[run.model_config.spec.name](run.load_model(), list(run.scaler.mean), list(run.scaler.scale)).eval()


def _example_inputs(run: Run, batch: int, time: int, seed: int = 0) -> tuple:
    """Inputs in raw units around the training data's mean and spread."""
    import torch

    from tsrnn.models import target_indices

    cfg = run.model_config
    features = len(run.schema["value_columns"])
    gen = torch.Generator().manual_seed(seed)
    mean = torch.tensor(run.scaler.mean, dtype=torch.float32)
    scale = torch.tensor(run.scaler.scale, dtype=torch.float32)
    if not cfg.spec.stateful:
        return (mean + scale * torch.randn(batch, cfg.window, features, generator=gen),)
    x = mean + scale * torch.randn(batch, time, features, generator=gen)
    states = tuple(
        0.1 * torch.randn(cfg.layers, batch, cfg.hidden, generator=gen) for _ in cfg.spec.state_names(cfg.cell)
    )
    targets = list(target_indices(cfg, list(run.schema["value_columns"])))
    rows: tuple[torch.Tensor, ...] = (
        mean[targets] + scale[targets] * torch.randn(batch, len(targets), generator=gen),
    )  # next: a forecast of the targets
    if "prev" in cfg.spec.carried_rows(cfg.inputs):
        rows += (mean + scale * torch.randn(batch, features, generator=gen),)  # prev: the last row read
    tf = (
        (torch.rand(batch, time, time_count(cfg.time_features), generator=gen) * 2 - 1,)
        if cfg.time_features != "none"
        else ()
    )
    return (x, *tf, *states, *rows)


def _name_axes(proto, axes: dict[str, dict[int, str]]) -> None:  # onnx.ModelProto
    """Give every declared dynamic axis its intended name (the exporter invents some for outputs)."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        for index, name in axes.get(value.name, {}).items():
            dims[index].ClearField("dim_value")
            dims[index].dim_param = name


def _check_axes(proto, axes: dict[str, dict[int, str]]) -> None:
    """Fail unless every axis meant to be dynamic is symbolic in the graph."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        for index, name in axes.get(value.name, {}).items():
            if dims[index].dim_param != name or dims[index].HasField("dim_value"):
                raise ModelError(f"export: axis {index} of {value.name!r} is not symbolic {name!r}; not written")


def _parity(module, data: bytes, run: Run, batch: int, time: int) -> tuple[float, float]:
    """(max |onnxruntime - torch| over every output in scaled units, the same in data units).

    The limit applies to scaled units: float32 resolves about 1e-7 of a value, so a fixed limit
    in data units would fail every series whose values run into the thousands.
    """
    import onnxruntime as ort
    import torch

    inputs = _example_inputs(run, batch, time, seed=batch * 1000 + time)
    names, outputs, _ = graph_spec(run.model_config)
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    )  # the default level crashed on fp16 LSTMs
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})
    with torch.no_grad():
        out = module(*inputs)
    want = [t.numpy() for t in (out if isinstance(out, (list, tuple)) else [out])]  # one output is a bare tensor
    scale = np.asarray(run.scaler.scale, dtype=np.float64)
    worst, worst_raw = 0.0, 0.0
    for name, g, w in zip(outputs, got, want):
        diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
        if name in RAW_OUTPUTS:
            worst_raw = max(worst_raw, float(np.max(diff)))
            diff = diff / scale  # raw units → scaled units, per feature (last axis)
        worst = max(worst, float(np.max(diff)))
    return worst, worst_raw


def _metadata(run: Run) -> ModelMetadata:
    cfg = run.model_config
    schema = run.schema
    interval = schema.get("interval_seconds")
    return ModelMetadata(
        tsrnn_version=__version__,
        format=FORMAT,
        kind=cfg.kind,
        cell=cfg.cell,
        run_name=run.name,
        time_column=schema["time_column"],
        id_column=schema.get("id_column") or "",
        value_columns=list(schema["value_columns"]),
        interval_seconds="" if interval is None else repr(float(interval)),
        data_config=to_dict(run.data_config),
        window=cfg.window,
        horizon=cfg.horizon,
        state_shape=[cfg.layers, cfg.hidden] if cfg.spec.stateful else [],
        state_names=list(cfg.spec.state_names(cfg.cell)),
        inputs=cfg.inputs,
        mode=cfg.mode,
        time_features=cfg.time_features,
        target=cfg.target or "",
        scaler=run.scaler.to_dict(),
        calibration=run.calibration.to_dict(),
        training_data={k: schema.get(k) for k in ("rows", "series", "first_time", "last_time", "sha256", "source")},
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
