"""tsrnn watch: score new rows through onnxruntime and report anomalies (never imports torch)."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from tsrnn.errors import TsrnnError
from tsrnn.runtime.providers import PROVIDERS
from tsrnn.scoring import CHANNELS, THRESHOLD_METHODS

from .options import (
    REQUIRED,
    Json,
    Quiet,
    RawCsv,
    human_console,
    print_json,
    recorded,
    to_json,
    with_parameters,
)

NAME = "watch"
HELP = (
    "Score the rows of SOURCE through an exported model and report anomalies. "
    "Exit code 0: no new alert; 1: an anomaly began in the rows scored (0 with --exit-zero); 2: bad usage, input, "
    "model or state."
)
EXAMPLE = "Example (cron): tsrnn watch /var/log/cpu.csv --model exports/cpu.onnx --state cpu.state --ndjson"


PARAMETERS: list[tuple[str, Any, Any]] = [  # (name, type with its typer option, default): the command's signature
    ("source", Annotated[str, typer.Argument(metavar="SOURCE", help="CSV file to score ('-' reads stdin).")], REQUIRED),
    (
        "model",
        Annotated[str, typer.Option("--model", "-m", help="Exported .onnx model (from `tsrnn export`).")],
        REQUIRED,
    ),
    (
        "state",
        Annotated[str | None, typer.Option("--state", help="State file: later runs score only rows added since.")],
        None,
    ),
    (
        "scores_out",
        Annotated[
            str | None, typer.Option("--scores-out", help="Write one row per scored row to this CSV ('-' for stdout).")
        ],
        None,
    ),
    ("json_out", Json, False),
    ("ndjson", Annotated[bool, typer.Option("--ndjson", help="Print one JSON line per event on stdout.")], False),
    (
        "exit_zero",
        Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when anomalies are found (report-only jobs).")],
        False,
    ),
    (
        "provider",
        Annotated[
            str, typer.Option("--provider", help=f"Execution provider: auto | {' | '.join(reversed(PROVIDERS))}.")
        ],
        "cpu",
    ),
    (
        "strict_provider",
        Annotated[bool, typer.Option("--strict-provider", help="Fail (exit 2) when the provider is not available.")],
        False,
    ),
    (
        "threads",
        Annotated[int, typer.Option("--threads", help="onnxruntime intra-op threads (0: onnxruntime's choice).")],
        1,
    ),
    (
        "cooldown",
        Annotated[
            int | None,
            typer.Option(
                "--cooldown",
                help="Override the model's: flagged rows within this many rows of an event join it instead of raising "
                "another.",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "min_duration",
        Annotated[int, typer.Option("--min-duration", help="Anomalous rows an event needs to be an alert.")],
        1,
    ),
    (
        "threshold_method",
        Annotated[
            str | None,
            typer.Option(
                "--threshold-method", help=f"Override the model's: {' | '.join(THRESHOLD_METHODS)}.", show_default=False
            ),
        ],
        None,
    ),
    (
        "threshold",
        Annotated[
            float | None,
            typer.Option(
                "--threshold", help="Override the model's fixed threshold (a score in (0, 1)).", show_default=False
            ),
        ],
        None,
    ),
    (
        "level_quantile",
        Annotated[
            float | None,
            typer.Option("--level-quantile", help="Override the quantile method's quantile.", show_default=False),
        ],
        None,
    ),
    (
        "risk",
        Annotated[
            float | None,
            typer.Option(
                "--risk", help="Override the pot method's false-alarm probability per row.", show_default=False
            ),
        ],
        None,
    ),
    (
        "smooth",
        Annotated[
            int | None,
            typer.Option("--smooth", help="Override the model's smoothing span (rows; 0: none).", show_default=False),
        ],
        None,
    ),
    (
        "channels",
        Annotated[
            str | None,
            typer.Option(
                "--channels",
                help=f"Fuse only these of the model's channels: {','.join(CHANNELS)}.",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "channel_scores",
        Annotated[
            bool,
            typer.Option(
                "--channel-scores",
                help="Also write each channel's score to --scores-out (score_forecast, score_novelty, score_range).",
            ),
        ],
        False,
    ),
    ("raw_csv", RawCsv, False),
    (
        "shard",
        Annotated[
            str | None,
            typer.Option(
                "--shard",
                metavar="I/N",
                help="Score only the series whose id hashes to shard I of N (0 <= I < N; one --state per shard): "
                "N jobs split a fleet with no coordination.",
                show_default=False,
            ),
        ],
        None,
    ),
    ("plot", Annotated[str | None, typer.Option("--plot", help="Draw the --scores-out file: .png or .svg.")], None),
    ("html", Annotated[str | None, typer.Option("--html", help="One self-contained HTML report with the plot.")], None),
    (
        "wait",
        Annotated[
            bool,
            typer.Option("--wait", help="Wait for another run on the same --state to finish instead of exiting 2."),
        ],
        False,
    ),
    ("device", Annotated[int, typer.Option("--device", help="CUDA device id (cuda, tensorrt).")], 0),
    (
        "trt_cache",
        Annotated[
            str | None,
            typer.Option("--trt-cache", help="TensorRT engine cache directory [default: ~/.cache/tsrnn/tensorrt]."),
        ],
        None,
    ),
    ("fp16", Annotated[bool, typer.Option("--fp16", help="TensorRT: allow half-precision engines.")], False),
    (
        "follow",
        Annotated[
            bool,
            typer.Option(
                "--follow",
                "-f",
                help="Keep running and score rows as they are appended (survives rotation and truncation).",
            ),
        ],
        False,
    ),
    (
        "interval",
        Annotated[float, typer.Option("--interval", help="--follow: seconds between looks at the file.")],
        1.0,
    ),
    (
        "follow_for",
        Annotated[
            float | None,
            typer.Option("--follow-for", help="--follow: stop after this many seconds (default: until Ctrl-C)."),
        ],
        None,
    ),
    ("quiet", Quiet, False),
]


@with_parameters(PARAMETERS, env=True)
def command(**given: Any) -> None:
    o = SimpleNamespace(**given)
    stdout_users = [
        flag
        for flag, on in (("--json", o.json_out), ("--ndjson", o.ndjson), ("--scores-out -", o.scores_out == "-"))
        if on
    ]
    if len(stdout_users) > 1:
        raise TsrnnError(f"{' and '.join(stdout_users)} would both write to stdout; choose one")
    if o.plot or o.html:
        _check_pictures(o)
    from tsrnn.runtime.providers import GpuOptions

    chosen = tuple(c.strip() for c in o.channels.split(",") if c.strip()) if o.channels is not None else None
    score = {
        "method": o.threshold_method,
        "threshold": o.threshold,
        "level_quantile": o.level_quantile,
        "risk": o.risk,
        "smooth": o.smooth,
        "channels": chosen,
    }
    options = dict(
        provider=o.provider,
        strict_provider=o.strict_provider,
        threads=o.threads,
        cooldown=o.cooldown,
        min_duration=o.min_duration,
        gpu=GpuOptions(o.device, o.trt_cache, o.fp16),
        score=score,
        channel_scores=o.channel_scores,
        raw_csv=o.raw_csv,
        shard=o.shard,
    )
    if o.follow:
        _follow(o, options)
        return
    from tsrnn.streaming.engine import watch

    result = watch(
        o.source,
        o.model,
        state=o.state,
        scores_out=o.scores_out,
        wait=o.wait,
        on_event=_print_event if o.ndjson else None,
        **options,
    )
    if o.json_out:
        print_json(result.to_dict())
    if not o.quiet:
        from tsrnn.report.console import render_watch

        render_watch(human_console(bool(stdout_users)), result.to_dict(), result.tally.trace)
    if o.plot or o.html:
        _pictures(o, result)
    if result.alerts and not o.exit_zero:
        raise typer.Exit(1)


def _print_event(event) -> None:
    """--ndjson: a line when an event is found (an incident still open at the end is printed then,
    with "ongoing": true) and when an event reported by an earlier run ends; not again while it goes on."""
    if event.continued and event.ongoing:
        return
    sys.stdout.write(to_json(event.to_dict()) + "\n")
    sys.stdout.flush()


def _follow(o: SimpleNamespace, options: dict[str, Any]) -> None:
    """Passes until --follow-for ends or Ctrl-C; events as they are found; exit 1 if any."""
    import signal
    import threading

    from rich.markup import escape

    from tsrnn.streaming.follow import follow

    console = human_console(o.json_out or o.ndjson)

    def on_pass(result) -> None:
        events = [e.to_dict() for e in result.events]
        if o.ndjson:
            for event in result.events:
                _print_event(event)
        if not o.quiet and (result.rows or events):
            where = ", ".join(
                escape(
                    f"{e['series'] + ' ' if e['series'] else ''}{e['start']} → {e['end']} (peak {e['peak_score']:.3f})"
                )
                for e in events
            )
            console.print(
                f"{result.rows:,} new rows, {len(events)} event(s){': ' + where if where else ''}", highlight=False
            )

    # SIGTERM or Ctrl-C ends the loop after the pass in progress (its rows written and committed);
    # a second Ctrl-C interrupts at once.
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if stopping.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    where = dict(state=o.state, scores_out=o.scores_out, interval=o.interval, seconds=o.follow_for, wait=o.wait)
    try:
        summary = follow(o.source, o.model, on_pass=on_pass, stop=stopping, **where, **options)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if o.json_out:
        print_json(summary.to_dict())
    elif not o.quiet:
        for note in summary.notes:
            console.print(f"note: {escape(note)}", highlight=False)
        console.print(
            f"followed {escape(o.source)}: {summary.passes} passes, {summary.rows:,} rows scored,"
            f" {len(summary.alerts)} event(s)",
            highlight=False,
        )
    if summary.alerts and not o.exit_zero:
        raise typer.Exit(1)


def _check_pictures(o: SimpleNamespace) -> None:
    """Before anything is scored: pictures need the plot extra and a scores file to draw."""
    from tsrnn.extras import require

    if o.scores_out is None or o.scores_out == "-" or o.follow:
        raise TsrnnError("--plot and --html draw the scores file: give --scores-out FILE.csv too (not with --follow)")
    require("matplotlib", "plot", "--plot and --html")


def _pictures(o: SimpleNamespace, result: Any) -> None:
    """The scores file drawn (with --state: every run's rows in it), and the HTML report around it."""

    from tsrnn.report.console import render_watch
    from tsrnn.report.figures import report

    text = ""
    if o.html:
        text = recorded(render_watch, result.to_dict(), result.tally.trace)
    report(o.scores_out, o.plot, html=o.html, threshold=result.settings.threshold, model=o.model, console_text=text)
