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
    run: Annotated[str | None, typer.Argument(help="Run name under --runs-dir, or a run directory (default: the newest run).")] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the only format, and the default).")] = True,
    out: Annotated[str | None, typer.Option("--out", help="Output file (default: exports/NAME.onnx).")] = None,
    runs_dir: RunsDir = "runs",
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = 17,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.runs import resolve_run

    resolved = resolve_run(run, Path(runs_dir))
    result = export_onnx(resolved, out, opset=opset)
    doc = {"run": resolved.name, "path": str(result.path), "bytes": result.bytes, "parity": result.parity}
    if json_out:
        print_json(doc)
    elif not quiet:
        from tsrnn.report.console import render_export

        render_export(human_console(False), doc)
