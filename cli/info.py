"""tsrnn info: what an exported model holds."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import Json, Quiet, human_console, print_json

NAME = "info"
HELP = "Show an exported model's metadata, inputs, outputs and size."
EXAMPLE = "Example: tsrnn info exports/cpu_history.onnx --json"


def command(
    path: Annotated[str, typer.Argument(metavar="PATH", help="An .onnx file written by `tsrnn export`.")],
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.export.info import model_info

    doc = model_info(path).to_dict()
    if json_out:
        print_json(doc)
    elif not quiet:
        from tsrnn.report.console import render_info

        render_info(human_console(False, report=True), doc)
