"""The Typer app: one module per command, errors turned into one line and exit code 2."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# numpy's OpenBLAS runs the novelty channel's small matrix products; its worker threads only wait
# and spin on them (measured: 40 % more CPU time, no faster), so one thread unless the user sets
# OPENBLAS_NUM_THREADS. It must be set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer
from typer.core import TyperCommand, TyperGroup

from tsrnn import __version__
from tsrnn.errors import TsrnnError

# one module each, in help order
COMMANDS = ("train", "export", "watch", "evaluate", "report", "forecast", "info", "bench")


class _Group(TyperGroup):
    """Runs a command and maps what can go wrong to exit codes: 2 for the user's errors."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,  # prog_name: always "tsrnn"
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        if {"--verbose", "-v"} & set(args[1:]) and "--" not in args:  # also after the command: `tsrnn watch ... -v`
            args = ["--verbose", *[a for a in args if a not in ("--verbose", "-v")]]
        try:
            code = super().main(args, "tsrnn", complete_var, standalone_mode=False, **extra)
        except TsrnnError as exc:
            _fail(str(exc), exc.exit_code)
        except typer.TyperException as exc:  # bad usage: unknown option, missing argument, bad value
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "tsrnn"
            said = f"{where}: " if where != "tsrnn" else ""  # the line starts with "tsrnn: error:" already
            _fail(f"{said}{exc.format_message()} (see `{where} --help`)", exc.exit_code)
        except typer.Abort:
            _fail("aborted", 130)
        except BrokenPipeError:  # e.g. `tsrnn watch ... --ndjson | head -1`
            sys.stderr.close()
            sys.exit(0)
        except OSError as exc:  # last resort (after BrokenPipeError): a file that could not be read or written
            from tsrnn.fsutil import os_error_line

            _fail(os_error_line(exc), 2)
        sys.exit(code if isinstance(code, int) else 0)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _help_as_written([self, *self.commands.values()]):
            super().format_help(ctx, formatter)


class _Command(TyperCommand):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _help_as_written([self]):
            super().format_help(ctx, formatter)


@contextmanager
def _help_as_written(commands: list[Any]) -> Iterator[None]:
    """Help texts shown as written, in Rich's panels: Typer reads them as Rich markup, where the
    `[train]` of `pip install tsrnn[train]` or a `[default: 64]` is a tag, and dropped. They are
    escaped while the help is formatted (the commands keep their own text)."""
    from rich.markup import escape

    saved = []
    for command in commands:
        for item in (command, *command.params):
            for attr in ("help", "short_help", "epilog"):
                text = getattr(item, attr, None)
                if isinstance(text, str):
                    saved.append((item, attr, text))
                    setattr(item, attr, escape(text))
    try:
        yield
    finally:
        for item, attr, text in saved:
            setattr(item, attr, text)


def _fail(message: str, code: int) -> None:
    from tsrnn.safetext import printable

    line = " ".join(printable(message).split())  # one line, whatever the message held; its controls shown, not obeyed
    print(f"tsrnn: error: {line}", file=sys.stderr)
    sys.exit(code)


def build_app(only: str | None = None) -> typer.Typer:
    """The Typer app with every command, or with `only` that one (what a run needs: a cron job's
    `tsrnn watch` then neither imports nor inspects the other commands, ~50 ms of its start-up)."""
    import importlib

    app = _new_app()
    for name in COMMANDS if only is None else (only,):
        module = importlib.import_module(f"{__package__}.{name}")
        app.command(module.NAME, cls=_Command, help=module.HELP, epilog=module.EXAMPLE)(module.command)
    return app


def _new_app() -> typer.Typer:
    app = typer.Typer(
        cls=_Group,
        help="Recurrent models for time-series anomaly detection: train, export to ONNX, watch.",
        epilog="Example: tsrnn train history.csv && tsrnn export --onnx && tsrnn watch new.csv --model "
        "exports/history.onnx",
        add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback(invoke_without_command=True)(_root)
    return app


def _version(value: bool) -> None:
    if value:
        print(f"tsrnn {__version__}")
        raise typer.Exit()


def _verbose(value: bool) -> None:
    if value:
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s tsrnn %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
        logger = logging.getLogger("tsrnn")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)


def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        callback=_verbose,
        is_eager=True,
        help="Log what happens on stderr (files, rows, provider, timings): for debugging cron jobs.",
    ),
) -> None:
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit()


def __getattr__(name: str) -> typer.Typer:
    """`from tsrnn_cli.main import app`: the full app, built on first use."""
    if name == "app":
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(name)


def main() -> None:
    """Console-script entry point.

    Ends with os._exit once the output is flushed: every file tsrnn writes is closed (and
    fsynced) by then, and skipping the interpreter's teardown of polars' and onnxruntime's
    thread pools saves about 0.15 s, a third of a cron run's start-up.
    """
    gc.set_threshold(200_000, 50, 1000)  # start-up allocates much and frees little: collect rarely (-40 ms)
    code: object = 0
    wanted = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    try:
        build_app(wanted if wanted in COMMANDS else None)()
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        _flush()
        raise
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    _flush()
    os._exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
