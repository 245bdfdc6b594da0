"""Reduced-precision copies of an exported graph: fp16 (for GPU providers) and dynamic int8
(static int8, calibrated on the training rows, is tsrnn.export.quantize).

Each copy keeps float32 inputs and outputs and the same metadata, so every runtime feeds it the
same way, and each is checked against PyTorch like the float32 file.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

# Refuse a copy that strays further than this from PyTorch (scaled units): past it, the
# precision is not good enough to score anomalies with.
TOLERANCE = {"fp16": 0.05, "int8": 0.1, "int8-dynamic": 0.1}


def fp16_copy(data: bytes) -> bytes:
    """Weights and compute in half precision; inputs and outputs stay float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = convert_float_to_float16(onnx.load_from_string(data), keep_io_types=True)
    return proto.SerializeToString()


def int8_copy(data: bytes) -> bytes:
    """onnxruntime's dynamic quantization: int8 weights, activations quantized per call."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process concerns image models
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(data)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        proto = onnx.load(str(target))
    original = onnx.load_from_string(data)
    del proto.metadata_props[:]
    proto.metadata_props.extend(original.metadata_props)
    return proto.SerializeToString()


def timing(data: bytes, feeds: dict[str, dict[str, np.ndarray]], repeat: int = 200) -> dict[str, float]:
    """Median microseconds per call for each named feed (one CPU thread, as watch runs)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    out = {}
    for name, feed in feeds.items():
        session.run(None, feed)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            session.run(None, feed)
            samples.append(time.perf_counter() - started)
        out[name] = statistics.median(samples) * 1e6
    return out
