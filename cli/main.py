"""The Typer app: one module per command, errors turned into one line and exit code 2."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from tsrnn import __version__
from tsrnn.errors import TsrnnError

from . import export, forecast, info, train, watch


class _Group(TyperGroup):
    """Runs a command and maps what can go wrong to exit codes: 2 for the user's errors."""

    def main(self, args: Any = None, prog_name: Any = None,  # prog_name: always "tsrnn"
              complete_var: Any = None, standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args, "tsrnn", complete_var, standalone_mode=False, **extra)
        except TsrnnError as exc:
            _fail(str(exc), exc.exit_code)
        except typer.TyperException as exc:  # bad usage: unknown option, missing argument, bad value
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "tsrnn"
            _fail(f"{where}: {exc.format_message()} (see `{where} --help`)", exc.exit_code)
        except typer.Abort:
            _fail("aborted", 130)
        except BrokenPipeError:  # e.g. `tsrnn watch ... --ndjson | head -1`
            sys.stderr.close()
            sys.exit(0)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"tsrnn: error: {line}", file=sys.stderr)
    sys.exit(code)


app = typer.Typer(
    cls=_Group,
    help="Recurrent models for time-series anomaly detection: train, export to ONNX, watch.",
    epilog="Example: tsrnn train history.csv && tsrnn export --onnx && tsrnn watch new.csv --model exports/history.onnx",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"tsrnn {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit()


for module in (train, export, watch, forecast, info):
    app.command(module.NAME, help=module.HELP, epilog=module.EXAMPLE)(module.command)


def main() -> None:
    """Console-script entry point."""
    app()
