"""tsrnn export: turn a run into a validated ONNX file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import Json, Quiet, RunsDir, human_console, print_json

NAME = "export"
HELP = "Export a run (by name or directory; default the newest) to exports/NAME.onnx, checked against PyTorch."
EXAMPLE = "Example: tsrnn export cpu_history --onnx --out exports/cpu.onnx"


def command(
    run: Annotated[str | None, typer.Argument(metavar="RUN", help="Run name under --runs-dir, or a run directory (default: the newest run).")] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the only format, and the default).")] = True,
    out: Annotated[str | None, typer.Option("--out", help="Output file (default: exports/NAME.onnx).")] = None,
    runs_dir: RunsDir = "runs",
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = 17,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also write NAME.fp16.onnx, half precision for GPU providers (checked against PyTorch).")] = False,
    quantize: Annotated[str | None, typer.Option("--quantize", help="int8: also write NAME.int8.onnx, dynamically quantized, with its parity and speed.")] = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.runs import resolve_run

    from tsrnn.errors import TsrnnError

    if quantize not in (None, "int8"):
        raise TsrnnError(f"--quantize {quantize!r}: only int8 is supported")
    resolved = resolve_run(run, Path(runs_dir))
    result = export_onnx(resolved, out, opset=opset, fp16=fp16, int8=quantize == "int8", timed=quantize == "int8")
    doc = {
        "run": resolved.name, "path": str(result.path), "bytes": result.bytes, "parity": result.parity, "parity_raw": result.parity_raw,
        "status": resolved.info.get("status", "complete"),
        "files": [{"precision": v.precision, "path": str(v.path), "bytes": v.bytes, "parity": v.parity, "microseconds": v.microseconds} for v in result.variants],
    }
    if json_out:
        print_json(doc)
    elif not quiet:
        from tsrnn.report.console import render_export

        render_export(human_console(False), doc)
