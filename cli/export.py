"""tsrnn export: turn a run into a validated ONNX file."""

from __future__ import annotations

from typing import Annotated

import typer

from tsrnn.errors import TsrnnError
from tsrnn.export import FORMATS, QUANTIZE

from .options import Json, Quiet, RunsDir, human_console, print_json

NAME = "export"
HELP = "Export a run (by name or directory; default the newest) to exports/NAME.onnx, checked against PyTorch."
EXAMPLE = "Example: tsrnn export cpu_history --format onnx --out exports/cpu.onnx"


def command(
    run: Annotated[
        str | None,
        typer.Argument(metavar="RUN", help="Run name under --runs-dir, or a run directory (default: the newest run)."),
    ] = None,
    format: Annotated[str, typer.Option("--format", help=f"File format: {' | '.join(FORMATS)}.")] = "onnx",
    onnx: Annotated[bool, typer.Option("--onnx", help="The same as --format onnx (the default).")] = False,
    out: Annotated[str | None, typer.Option("--out", help="Output file (default: exports/NAME.onnx).")] = None,
    runs_dir: RunsDir = "runs",
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = 17,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16", help="Also write NAME.fp16.onnx, half precision for GPU providers (checked against PyTorch)."
        ),
    ] = False,
    quantize: Annotated[
        str | None,
        typer.Option(
            "--quantize",
            help=f"{' | '.join(QUANTIZE)}: also write NAME.int8.onnx, int8 calibrated on the training rows (static), "
            "or NAME.int8-dynamic.onnx (onnxruntime's dynamic quantization), with its parity and speed.",
        ),
    ] = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.export import export
    from tsrnn.training.runs import resolve_run

    if onnx and format != "onnx":
        raise TsrnnError(f"--onnx and --format {format} ask for two formats; give one")
    doc = export(resolve_run(run, runs_dir), out, format=format, opset=opset, fp16=fp16, quantize=quantize).to_dict()
    if json_out:
        print_json(doc)
    elif not quiet:
        from tsrnn.report.console import render_export

        render_export(human_console(False), doc)
