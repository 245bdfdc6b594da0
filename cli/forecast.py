"""tsrnn forecast: write the rows after the end of the data, predicted by a trained forecaster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .options import Quiet, RawCsv, RunsDir, human_console

NAME = "forecast"
HELP = (
    "Forecast the next STEPS rows after the end of each series in DATA with a trained run, as CSV (stdout by default)."
)
EXAMPLE = "Example: tsrnn forecast etth1 ETTh1.csv --steps 24 --out next_day.csv"


def command(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run name under --runs-dir, or a run directory.")],
    data: Annotated[
        str,
        typer.Argument(metavar="DATA", help="CSV with the history to continue (the columns the run was trained on)."),
    ],
    steps: Annotated[int, typer.Option("--steps", help="Rows to forecast after the last row of each series.")] = 24,
    out: Annotated[str, typer.Option("--out", help="Output CSV ('-' for stdout).")] = "-",
    holdout: Annotated[
        int,
        typer.Option(
            "--holdout", help="Keep the last N rows out of the model's input: the forecast starts before them."
        ),
    ] = 0,
    plot: Annotated[
        str | None,
        typer.Option("--plot", help="Draw the recent history, the forecast and the held-out rows: .png or .svg."),
    ] = None,
    runs_dir: RunsDir = "runs",
    raw_csv: RawCsv = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.forecasting import forecast
    from tsrnn.fsutil import atomic_write_bytes, check_not_input
    from tsrnn.training.runs import resolve_run

    check_not_input(out, data)
    check_not_input(plot, data, "--plot")
    if plot:
        from tsrnn.extras import require

        require("matplotlib", "plot", "--plot")
    resolved = resolve_run(run, Path(runs_dir))
    result = forecast(resolved, data, steps, holdout=holdout)
    if plot:
        from tsrnn.report.figures import forecast_picture

        forecast_picture(
            result, plot, title=f"tsrnn forecast: run {resolved.name}, {steps} rows after {Path(data).name}"
        )
    text = result.to_csv(raw=raw_csv)
    if out == "-":  # the bytes a file gets (typer.echo would drop escape sequences, and re-encode)
        sys.stdout.flush()
        sys.stdout.buffer.write(text)
        sys.stdout.buffer.flush()
    else:
        atomic_write_bytes(Path(out), text)
    if not quiet:
        where = "stdout" if out == "-" else out
        human_console(out == "-").print(f"forecast {result.steps} rows for {result.series} series → {where}")
