"""Option types shared by several commands, and where human and machine output go."""

from __future__ import annotations

import json
import math
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
    sys.stdout.write(to_json(doc) + "\n")
    sys.stdout.flush()


def to_json(doc: Any) -> str:
    """Strict JSON: a value that is not a number (NaN, such as `expected` before the model has a
    forecast, or infinity) is written as null, which every JSON parser reads."""
    return json.dumps(_finite(doc), ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
