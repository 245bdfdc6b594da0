"""tsrnn evaluate: how well scores written by `watch --scores-out` find labelled anomalies."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import Json, Quiet, human_console, print_json

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
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.evaluation.evaluate import evaluate

    doc = evaluate(scores, labels, label_key=label_key, id_column=id_column).to_dict()
    if json_out:
        print_json(doc)
    elif not quiet:
        from tsrnn.report.console import render_evaluation

        render_evaluation(human_console(False, report=True), doc)
