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


class DataOptions:
    """How a CSV becomes series (train stores them with the model; watch reuses them)."""

    TimeColumn = Annotated[str | None, typer.Option("--time-column", help="Time column (default: timestamp, time, date, datetime or ts, else the first date-time column).")]
    Columns = Annotated[str | None, typer.Option("--columns", help="Comma-separated value columns (default: every numeric column).")]
    IdColumn = Annotated[str | None, typer.Option("--id-column", help="Long format: the column naming each series (e.g. host).")]
    Resample = Annotated[str | None, typer.Option("--resample", help="Average onto a regular grid first, e.g. 30s, 5m, 1h.")]


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
