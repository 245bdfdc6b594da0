"""Option types shared by several commands, and where human and machine output go."""

from __future__ import annotations

import copy
import inspect
import json
import math
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from tsrnn.safetext import printable

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of the report.")]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress or report (errors are still printed; --json still prints).")
]
RunsDir = Annotated[str, typer.Option("--runs-dir", help="Directory that holds run directories.")]
RawCsv = Annotated[
    bool,
    typer.Option(
        "--raw-csv",
        help="Write text cells and column names as read: by default one starting with = + - @, tab or a line break "
        "gets a leading ' so a spreadsheet shows it as text instead of running it as a formula (numbers are never "
        "changed; tsrnn reads its files either way).",
    ),
]


class DataOptions:
    """How a CSV becomes series (train stores them with the model; watch reuses them)."""

    TimeColumn = Annotated[
        str | None,
        typer.Option(
            "--time-column",
            help="Time column (default: timestamp, time, date, datetime or ts, else the first date-time column).",
        ),
    ]
    Columns = Annotated[
        str | None, typer.Option("--columns", help="Comma-separated value columns (default: every numeric column).")
    ]
    IdColumn = Annotated[
        str | None, typer.Option("--id-column", help="Long format: the column naming each series (e.g. host).")
    ]
    Resample = Annotated[
        str | None, typer.Option("--resample", help="Average onto a regular grid first, e.g. 30s, 5m, 1h.")
    ]


def human_console(machine_output: bool, *, report: bool = False) -> Console:
    """Where the human text goes: stdout on a terminal; else stderr (a cron job's log), unless
    the text is the command's product (`report`: `tsrnn info m.onnx > f` writes the file) and
    stdout carries no data.

    Written to a file or pipe rather than a terminal, lines may run to 120 columns, not Rich's 80,
    without colour and without trailing spaces.
    """
    to_stderr = machine_output or (not report and not sys.stdout.isatty())
    stream = sys.stderr if to_stderr else sys.stdout
    if stream.isatty():
        return TextConsole(file=stream, highlight=False, soft_wrap=False)
    return TextConsole(file=_Rstrip(stream), highlight=False, soft_wrap=False, width=120, no_color=True)


class TextConsole(Console):
    """A Rich console that shows the control characters of what it prints (`\\x1b`) instead of
    sending them to the terminal: model names, column names, series ids and notes come from files.
    Every string printed, every table cell and title, passes through `render_str`."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


class _Rstrip:
    """A text stream that drops the spaces Rich pads lines with before each newline."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.pending = stream, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        if lines:
            self.stream.write("".join(line.rstrip() + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self.pending.strip():
            self.stream.write(self.pending.rstrip())
        self.pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def print_json(doc: Any) -> None:
    """One JSON document on stdout, nothing else."""
    sys.stdout.write(to_json(doc) + "\n")
    sys.stdout.flush()


def to_json(doc: Any) -> str:
    """Strict JSON: a value that is not a number (NaN, such as `expected` before the model has a
    forecast, or infinity) is written as null, which every JSON parser reads."""
    return json.dumps(_finite(doc), ensure_ascii=False, allow_nan=False).translate(_C1)


# JSON escapes C0 control characters itself; C1 ones (U+0080-U+009F: U+009B is a CSI, an escape
# sequence's start, to some terminals) only occur inside strings, where \u escapes are valid
_C1 = {c: f"\\u{c:04x}" for c in range(0x80, 0xA0)}


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


REQUIRED = inspect.Parameter.empty  # a parameter without a default


def with_parameters(
    parameters: list[tuple[str, Any, Any]], *, env: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a `command(**given)` the signature Typer reads its options from: a table of
    (name, Annotated type with its typer.Option or Argument, default), kept beside the command.
    With `env`, each option also reads a TSRNN_* variable named as its flag (--scores-out:
    TSRNN_SCORES_OUT; the argument: TSRNN_SOURCE); a flag given wins."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        table = [(n, _with_envvar(n, t) if env else t, d) for n, t, d in parameters]
        params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=t, default=d) for n, t, d in table]
        command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        return command

    return decorate


def _with_envvar(name: str, annotated: Any) -> Any:
    """The same Annotated type with a copy of its typer option that also reads TSRNN_<FLAG> (the
    shared options, --json and --quiet, are copied, so other commands do not read the variable)."""
    infos = getattr(annotated, "__metadata__", ())
    if not infos or getattr(infos[0], "envvar", "absent") is not None:
        return annotated
    info = copy.copy(infos[0])
    decls = [info.default, *info.param_decls] if isinstance(info.default, str) else list(info.param_decls or ())
    flag = next((d for d in decls if d.startswith("--")), "--" + name)
    info.envvar = "TSRNN_" + flag[2:].upper().replace("-", "_")
    return Annotated[annotated.__origin__, info]


def recorded(render: Callable[..., None], *args: Any) -> str:
    """What a Rich renderer prints, as plain text (for the HTML report), at the width of a log."""
    import os

    with open(os.devnull, "w") as sink:
        console = TextConsole(record=True, width=120, file=sink, no_color=True)
        render(console, *args)
        return console.export_text()
