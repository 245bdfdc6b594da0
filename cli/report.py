"""tsrnn report: pictures of a scores file or of a training run, as PNG, SVG or one HTML file."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import Json, Quiet, RunsDir, human_console, print_json

NAME = "report"
HELP = (
    "Draw SCORES.csv (from `tsrnn watch --scores-out`: each value column against the model's expectation, the "
    "score with the threshold, events and labelled windows, a zoomed panel per event) or a RUN's training curves "
    "(loss and gradient norm per epoch). Needs the plot extra: pip install 'tsrnn[plot]'."
)
EXAMPLE = (
    "Example: tsrnn report runs/cpu_recent_scores.csv --labels sample_data/cpu_labels.json --label-key cpu_recent.csv "
    "--out report.png --html report.html"
)


def command(
    target: Annotated[str, typer.Argument(metavar="SCORES|RUN", help="A scores CSV, or a run (name or directory).")],
    out: Annotated[
        str | None, typer.Option("--out", help="What to write: .png, .svg, or .html (one self-contained file).")
    ] = None,
    html: Annotated[str | None, typer.Option("--html", help="Also (or instead) one self-contained HTML file.")] = None,
    labels: Annotated[str | None, typer.Option("--labels", help="Labelled windows (NAB's JSON) to draw.")] = None,
    label_key: Annotated[str | None, typer.Option("--label-key", help="The labels' key for this file.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The exported model that scored the file: its threshold.")
    ] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Draw this threshold on the score.")] = None,
    series: Annotated[
        str | None, typer.Option("--series", help="Long format: the series to draw (default: the first).")
    ] = None,
    events: Annotated[int, typer.Option("--events", help="Zoomed panels: one for each of the first N events.")] = 3,
    runs_dir: RunsDir = "runs",
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.report.figures import report

    options = dict(labels=labels, label_key=label_key, threshold=threshold, series=series, events=events, html=html)
    result = report(target, out, runs_dir=runs_dir, model=model, **options)
    if json_out:
        print_json(result.to_dict())
    elif not quiet:
        more = f" ({len(result.series)} series in the file: --series picks another)" if len(result.series) > 1 else ""
        console = human_console(False)
        console.print(f"{result.kind} of {result.drawn}{more}: {result.events} event(s) → {', '.join(result.files)}")
