"""Export (train extra) and the metadata contract (runtime, no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tsrnn.errors import TsrnnError

if TYPE_CHECKING:
    from tsrnn.export.onnx import ExportResult
    from tsrnn.training.runs import Run

FORMATS = ("onnx",)  # what `tsrnn export --format` writes
# the quantized copy: static QDQ calibrated on the training rows (the default, by benchmarks/quantize.py; see
# tsrnn.export.quantize), or onnxruntime's dynamic quantization (tsrnn.export.variants)
QUANTIZE = ("int8", "int8-dynamic")


def export(
    run: Run,
    out: str | Path | None = None,
    *,
    format: str = "onnx",
    opset: int = 17,
    fp16: bool = False,
    quantize: str | None = None,
    exports_dir: str | Path = "exports",
) -> ExportResult:
    """Export a run in `format` (ONNX, the one format: one graph with the scaler and error inside),
    checked against PyTorch; `quantize` ("int8": static, calibrated on the training rows; "int8-dynamic")
    adds a quantized copy with its parity and speed."""
    if format not in FORMATS:
        raise TsrnnError(f"--format {format!r}: use one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE:
        raise TsrnnError(f"--quantize {quantize!r}: use one of {', '.join(QUANTIZE)}")
    from tsrnn.export.onnx import export_onnx

    return export_onnx(
        run, out, exports_dir=exports_dir, opset=opset, fp16=fp16, quantize=quantize, timed=quantize is not None
    )
