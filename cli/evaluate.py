"""tsrnn evaluate: how well scores written by `watch --scores-out` find labelled anomalies."""

from __future__ import annotations

from typing import Annotated

import typer

from tsrnn.errors import TsrnnError

from .options import Json, Quiet, human_console, print_json, recorded

NAME = "evaluate"
HELP = (
    "Score anomaly scores against labelled windows: the NAB score (standard, reward-low-FP and "
    "reward-low-FN profiles), event-level precision/recall/F1, point-adjusted F1, forecast MAE/RMSE/MASE."
)
EXAMPLE = "Example: tsrnn evaluate scores/ --labels combined_windows.json --json"


def command(
    scores: Annotated[
        str,
        typer.Argument(metavar="SCORES", help="A scores CSV from `tsrnn watch --scores-out`, or a directory of them."),
    ],
    labels: Annotated[
        str, typer.Option("--labels", help='Labelled windows in NAB\'s format: {"file.csv": [["start", "end"], ...]}.')
    ],
    label_key: Annotated[
        str | None,
        typer.Option(
            "--label-key", help="The labels' key for a single scores file named otherwise (e.g. cpu_recent.csv)."
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column", help="Long format: the column naming each series (found by itself when its values are text)."
        ),
    ] = None,
    plot: Annotated[
        str | None, typer.Option("--plot", help="Draw the scores file with its labels: .png or .svg.")
    ] = None,
    html: Annotated[str | None, typer.Option("--html", help="One self-contained HTML report with the plot.")] = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from pathlib import Path

    from tsrnn.evaluation.evaluate import evaluate

    if (plot or html) and not Path(scores).is_file():
        raise TsrnnError(f"--plot and --html draw one scores file; {scores} is not one (draw each with tsrnn report)")
    if plot or html:
        from tsrnn.extras import require

        require("matplotlib", "plot", "--plot and --html")
    doc = evaluate(scores, labels, label_key=label_key, id_column=id_column).to_dict()
    if plot or html:
        _pictures(scores, labels, label_key, plot, html, doc)
    if json_out:
        print_json(doc)
    elif not quiet:
        from tsrnn.report.console import render_evaluation

        render_evaluation(human_console(False, report=True), doc)


def _pictures(scores: str, labels: str, label_key: str | None, plot: str | None, html: str | None, doc: dict) -> None:

    from tsrnn.report.console import render_evaluation
    from tsrnn.report.figures import report

    report(scores, plot, labels=labels, label_key=label_key, html=html, console_text=recorded(render_evaluation, doc))
