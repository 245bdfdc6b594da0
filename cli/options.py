"""Option types shared by several commands, and where human and machine output go."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of the report.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or report on stderr.")]
RunsDir = Annotated[str, typer.Option("--runs-dir", help="Directory that holds run directories.")]


def human_console(machine_output: bool) -> Console:
    """Reports go to stdout on a terminal, else (or when stdout carries data) to stderr.

    Written to a log or pipe rather than a terminal, lines may run to 120 columns, not Rich's 80.
    """
    console = Console(stderr=machine_output or not sys.stdout.isatty(), highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 120
    return console


def print_json(doc: Any) -> None:
    """One JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()
