"""Static int8: QDQ quantization calibrated on the run's own training rows (onnxruntime.quantization).

onnxruntime's static (QDQ) quantizer has no LSTM, GRU or RNN in its registry, so the recurrent
cell stays float32: the MatMul and Gemm nodes (the forecast head, the autoencoder's output layer)
get int8 weights, one scale per output channel, and an int8 input whose range was measured on
real rows. Its dynamic quantizer has an int8 LSTM (not GRU or RNN); that copy is
`variants.int8_copy`. The calibration rows are the training data's, in the order watch meets
them: backlogs from a fresh state, then one row per call with the state carried.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tsrnn.data.timefeatures import time_features
from tsrnn.encoding import unpack
from tsrnn.errors import TsrnnError
from tsrnn.runtime import BACKLOG_ROWS

if TYPE_CHECKING:
    from tsrnn.training.runs import Run

CALIBRATION_ROWS = 100_000  # at most this many training rows, the last ones (ranges are min and max: all count)

STEPS = 64  # the last rows one per call, as a cron job brings new rows
WINDOWS = 8192  # windowed kinds: about this many windows of each segment (every k-th)
OP_TYPES = ["MatMul", "Gemm"]  # the weighted operators QDQ covers here (the cell's own are not among them)
Feed = dict[str, np.ndarray]
Segments = list[tuple[np.ndarray, np.ndarray]]  # (rows, features) raw values and their (rows,) times


def training_rows(run: Run) -> tuple[Segments, str] | None:
    """Segments of the training data and where they came from: every row of its source file when
    it still reads with the run's columns, else the last rows run.json keeps (one series); None
    when neither holds them."""
    return _source_rows(run) or _seed_rows(run)


def _source_rows(run: Run) -> tuple[Segments, str] | None:
    source = run.schema.get("source")
    if not source or not Path(source).is_file():
        return None
    from tsrnn.data.clean import read_dataset

    try:
        data = read_dataset(source, run.data_config, interval=run.schema.get("interval_seconds"), keep_text=False)
    except (TsrnnError, OSError):
        return None
    if data.value_columns != list(run.schema["value_columns"]) or not data.segments:
        return None
    segments: Segments = []
    left = CALIBRATION_ROWS
    for seg in reversed(data.segments):
        take = min(left, seg.rows)
        segments.insert(0, (seg.values[seg.rows - take :], seg.times[seg.rows - take :]))
        left -= take
        if not left:
            break
    rows = f"{CALIBRATION_ROWS - left:,}"
    changed = "" if data.schema()["sha256"] == run.schema.get("sha256") else " (changed since training)"
    return segments, f"{rows} rows of {'' if changed else 'the training file '}{source}{changed}"


def _seed_rows(run: Run) -> tuple[Segments, str] | None:
    cal, columns = run.calibration, len(run.schema["value_columns"])
    if not cal.novelty_seed or not cal.novelty_seed_times:
        return None
    times = unpack(cal.novelty_seed_times, "<i8").astype("datetime64[us]")
    scaled = unpack(cal.novelty_seed, "<f4")
    if not len(times) or scaled.size != len(times) * columns:  # --target's column alone: not the graph's input
        return None
    values = scaled.reshape(len(times), columns) * np.asarray(run.scaler.scale) + np.asarray(run.scaler.mean)
    return [(values, times)], f"the last {len(times):,} rows run.json keeps (its source file is not found)"


def calibration_feeds(run: Run, data: bytes, segments: Segments) -> list[Feed]:
    """The graph's inputs for the rows of `segments`: a stateful graph's states and carried rows
    as watch builds them, from the float32 graph `data`; windows for the other kinds."""
    cfg = run.model_config
    if cfg.spec.stateful:
        return _stateful_feeds(run, data, segments)
    feeds = []
    for values, _ in segments:
        x = np.asarray(values, np.float32)
        if len(x) >= cfg.window:
            windows = np.lib.stride_tricks.sliding_window_view(x, cfg.window, axis=0).transpose(0, 2, 1)
            windows = windows[:: max(1, len(windows) // WINDOWS)]
            feeds += [np.ascontiguousarray(windows[i : i + 1024]) for i in range(0, len(windows), 1024)]
    return [{"x": x} for x in feeds]


def _stateful_feeds(run: Run, data: bytes, segments: Segments) -> list[Feed]:
    import onnxruntime as ort

    from tsrnn.models import target_indices

    cfg = run.model_config
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    targets = len(target_indices(cfg, list(run.schema["value_columns"])))
    feeds = []
    for index, (values, times) in enumerate(segments):
        x = np.asarray(values, np.float32)
        carried = {n: np.zeros((cfg.layers, 1, cfg.hidden), np.float32) for n in cfg.spec.state_names(cfg.cell)}
        for n in cfg.spec.carried_rows(cfg.inputs):
            carried[n] = np.full((1, x.shape[1] if n == "prev" else targets), np.nan, np.float32)
        tf = time_features(times, cfg.time_features) if cfg.time_features != "none" else None
        steps = min(STEPS, len(x) - 1) if index == len(segments) - 1 else 0
        cuts = [(i, min(i + BACKLOG_ROWS, len(x) - steps)) for i in range(0, len(x) - steps, BACKLOG_ROWS)]
        for start, stop in cuts + [(i, i + 1) for i in range(len(x) - steps, len(x))]:
            feed = {"x": x[None, start:stop], **({"tf": tf[None, start:stop]} if tf is not None else {}), **carried}
            feeds.append(feed)
            out = dict(zip(names, session.run(None, feed)))
            carried = {n: out[f"{n}_out"] for n in carried}
    return feeds


def static_int8_copy(data: bytes, feeds: list[Feed], per_channel: bool = True) -> bytes:
    """onnxruntime's static quantization in QDQ form: int8 weights (per output channel unless
    `per_channel` is False), uint8 inputs with the range they had in `feeds` (MinMax). The
    outputs of the quantized nodes stay float: quantizing them too clipped forecasts beyond the
    calibrated range (0.14 scaled units on the demo model's parity check, 0.007 without)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(feeds)

        def get_next(self) -> Feed | None:
            return next(self.left, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process concerns image models
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(data)
        try:
            quantize_static(
                source,
                target,
                Reader(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=OP_TYPES,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                calibration_providers=["CPUExecutionProvider"],
                # not CalibMaxIntermediateOutputs: onnxruntime 1.32 drops what it collected at that count
                # instead of merging its range (microsoft/onnxruntime#18893), and only the MatMul's
                # tensors are kept: 100,000 rows x 32 hidden units are 13 MB
                extra_options={"OpTypesToExcludeOutputQuantization": OP_TYPES},
            )
        finally:
            root.setLevel(level)
        proto = onnx.load(str(target))
    original = onnx.load_from_string(data)
    del proto.metadata_props[:]
    proto.metadata_props.extend(original.metadata_props)
    return proto.SerializeToString()
