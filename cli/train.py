"""tsrnn train: fit a model on a CSV file and save it as a run directory."""

from __future__ import annotations

from typing import Annotated

import typer

from tsrnn.config import MODEL_KINDS, DataConfig, ModelConfig, TrainConfig

from .options import DataOptions, Json, Quiet, RunsDir, data_config, human_console, print_json

NAME = "train"
HELP = "Train a forecaster or autoencoder on a CSV of history and save it as runs/NAME/."
EXAMPLE = "Example: tsrnn train sample_data/cpu_history.csv --epochs 30 --seed 1"

_M, _T, _D = ModelConfig(), TrainConfig(), DataConfig()


def command(
    data: Annotated[str, typer.Argument(help="CSV file with a time column and numeric value columns ('-' reads stdin).")],
    model: Annotated[str, typer.Option("--model", help=f"Model kind: {' | '.join(MODEL_KINDS)}.")] = _M.kind,
    name: Annotated[str | None, typer.Option("--name", help="Run name (default: the file's stem).")] = None,
    runs_dir: RunsDir = "runs",
    epochs: Annotated[int, typer.Option("--epochs", help="Most epochs; early stopping may end sooner.")] = _T.epochs,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same data, seed and machine give the same weights.")] = _T.seed,
    hidden: Annotated[int, typer.Option("--hidden", help="Hidden units per layer.")] = _M.hidden,
    layers: Annotated[int, typer.Option("--layers", help="Stacked recurrent layers.")] = _M.layers,
    window: Annotated[int, typer.Option("--window", help="Autoencoder window; forecaster warm-up rows.")] = _M.window,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Last part of the rows kept for validation.")] = _T.val_fraction,
    time_column: DataOptions.TimeColumn = None,
    columns: DataOptions.Columns = None,
    id_column: DataOptions.IdColumn = None,
    duplicates: DataOptions.Duplicates = _D.duplicates,
    fill: DataOptions.Fill = _D.fill,
    fill_limit: DataOptions.FillLimit = _D.fill_limit,
    resample: DataOptions.Resample = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.training.train import train

    model_cfg = ModelConfig(kind=model, hidden=hidden, layers=layers, window=window)
    train_cfg = TrainConfig(epochs=epochs, seed=seed, val_fraction=val_fraction)
    data_cfg = data_config(time_column, columns, id_column, duplicates, fill, fill_limit, resample)
    console = human_console(json_out)
    progress = None if quiet else _progress(console, epochs)
    try:
        result = train(
            data, model=model_cfg, config=train_cfg, data_config=data_cfg, name=name, runs_dir=runs_dir,
            on_epoch=progress.update if progress else None,
        )
    finally:
        if progress:
            progress.stop()
    if json_out:
        print_json(result.summary)
    elif not quiet:
        from tsrnn.report.console import render_train

        render_train(console, result.summary)


class _progress:
    """A Rich progress bar fed by the training loop's per-epoch callback."""

    def __init__(self, console, epochs: int) -> None:  # noqa: ANN001
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=console, transient=True,
        )
        self.task = self.bar.add_task("train", total=epochs, losses="")
        self.bar.start()

    def update(self, stats) -> None:  # noqa: ANN001 (EpochStats)
        self.bar.update(self.task, completed=stats.epoch, losses=f"train {stats.train_loss:.4f} val {stats.val_loss:.4f}")

    def stop(self) -> None:
        self.bar.stop()
