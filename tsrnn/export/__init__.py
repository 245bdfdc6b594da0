"""Export (train extra) and the metadata contract (runtime, no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tsrnn.errors import TsrnnError

if TYPE_CHECKING:
    from tsrnn.export.onnx import ExportResult
    from tsrnn.training.runs import Run

FORMATS = ("onnx",)  # what `tsrnn export --format` writes
QUANTIZE = ("int8",)  # reduced-precision copies besides fp16 (tsrnn.export.variants)


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
    checked against PyTorch; `quantize="int8"` adds a quantized copy with its parity and speed."""
    if format not in FORMATS:
        raise TsrnnError(f"--format {format!r}: use one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE:
        raise TsrnnError(f"--quantize {quantize!r}: use one of {', '.join(QUANTIZE)}")
    from tsrnn.export.onnx import export_onnx

    return export_onnx(
        run, out, exports_dir=exports_dir, opset=opset, fp16=fp16, int8=quantize == "int8", timed=quantize == "int8"
    )
