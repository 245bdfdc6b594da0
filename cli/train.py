"""tsrnn train: fit a model on a CSV file and save it as a run directory."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tsrnn.config import (
    CELLS,
    DUPLICATES,
    FILLS,
    MODEL_KINDS,
    MODES,
    SCALERS,
    THRESHOLD_METHODS,
    TIME_FEATURES,
    DataConfig,
    ModelConfig,
    ScoreConfig,
    TrainConfig,
)

from .options import (
    REQUIRED,
    DataOptions,
    Json,
    Quiet,
    RunsDir,
    human_console,
    print_json,
    with_parameters,
)

NAME = "train"
HELP = (
    "Train a forecaster or autoencoder on a CSV of history and save it as runs/NAME/. "
    "Settings come from flags, then TSRNN_* environment variables (TSRNN_EPOCHS=20), then --config FILE.toml, "
    "then defaults; the run records where each came from."
)
EXAMPLE = "Example: tsrnn train sample_data/cpu_history.csv --cell gru --horizon 12 --epochs 30 --seed 1"

_M, _T, _D, _S = ModelConfig(), TrainConfig(), DataConfig(), ScoreConfig()


def _opt(flag: str, text: str, default: Any) -> Any:
    return typer.Option(flag, help=f"{text} [default: {default}]", show_default=False)


def setting(name: str, kind: type, text: str, default: Any) -> tuple[str, Any, None]:
    """An option for a setting (tsrnn.settings): --name, of `kind`; None when not given (then env, file, default)."""
    return (name, Annotated[kind | None, _opt("--" + name.replace("_", "-"), text, default)], None)


PARAMETERS: list[tuple[str, Any, Any]] = [  # (name, type with its typer option, default): the command's signature
    (
        "data",
        Annotated[
            str, typer.Argument(metavar="DATA", help="CSV file, directory or glob of CSV files ('-' reads stdin).")
        ],
        REQUIRED,
    ),
    setting("model", str, f"Model kind: {' | '.join(MODEL_KINDS)}.", _M.kind),
    setting("cell", str, f"Recurrent cell: {' | '.join(CELLS)}.", _M.cell),
    setting(
        "nonlinearity",
        str,
        "Plain RNN: tanh | relu (identity-initialised recurrent weights; best with --layers 1).",
        _M.nonlinearity,
    ),
    setting("hidden", int, "Hidden units per layer.", _M.hidden),
    setting("layers", int, "Stacked recurrent layers.", _M.layers),
    setting("dropout", float, "Dropout between stacked layers.", _M.dropout),
    setting(
        "window",
        int,
        "Window of the autoencoder and windowed mode; warm-up rows of the stateful forecaster.",
        _M.window,
    ),
    setting("horizon", int, "Forecaster: rows predicted ahead from each row.", _M.horizon),
    setting("mode", str, f"Forecaster training: {' | '.join(MODES)}.", _M.mode),
    setting(
        "inputs",
        str,
        "Stateful forecaster reads: level (values) | diff (changes; robust when levels drift) | auto "
        "(whichever validates better; the run records the choice).",
        _M.inputs,
    ),
    (
        "target",
        Annotated[
            str | None,
            typer.Option(
                "--target",
                help="Stateful forecaster: forecast (and score) this one value column from all of them. [default: "
                "every column]",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "bidirectional",
        Annotated[
            bool | None,
            typer.Option("--bidirectional", help="Autoencoder: a bidirectional encoder.", show_default=False),
        ],
        None,
    ),
    setting(
        "time_features",
        str,
        f"Stateful forecaster also reads the time of day and/or week: {' | '.join(TIME_FEATURES)}.",
        _M.time_features,
    ),
    setting("epochs", int, "Most epochs; early stopping may end sooner.", _T.epochs),
    setting("patience", int, "Epochs without a better validation loss before stopping.", _T.patience),
    setting("lr", float, "Adam learning rate (halved when validation stalls).", _T.lr),
    setting("clip_grad", float, "Global gradient-norm limit; 0 turns clipping off.", _T.clip_grad),
    setting("batch", int, "Parallel streams (stateful) or windows per step.", "8 streams, 32 windows"),
    setting("chunk", int, "Truncated-BPTT length of the stateful forecaster.", _T.chunk),
    setting(
        "loss", str, "Training loss: mse | mae (forecasts the median: lowest mean absolute error) | huber.", _T.loss
    ),
    setting("scaler", str, f"Feature scaling, fitted on the training part: {' | '.join(SCALERS)}.", _T.scaler),
    setting("val_fraction", float, "Last part of each series kept for validation.", _T.val_fraction),
    setting(
        "threads",
        int,
        "Torch threads while training; 0: auto (1 for models under 256 hidden units: fastest on a shared machine).",
        "0 (auto)",
    ),
    setting(
        "device",
        str,
        "Train on cpu | cuda (a GPU: cuda:LOCAL_RANK under torchrun, NCCL between processes; needs a CUDA build "
        "of torch). The run is saved on CPU either way.",
        _T.device,
    ),
    setting("seed", int, "Random seed: same data, seed and machine give the same weights.", _T.seed),
    setting(
        "threshold_method",
        str,
        f"How rows are flagged: {' | '.join(THRESHOLD_METHODS)} (stored in the model; watch can override).",
        _S.threshold_method,
    ),
    setting("threshold", float, "fixed: the score in (0, 1) that flags a row; the others start there.", _S.threshold),
    setting(
        "level_quantile", float, "quantile: the quantile of validation scores that flags a row.", _S.level_quantile
    ),
    setting("risk", float, "pot: the false-alarm probability per row.", _S.risk),
    setting(
        "smooth", int, "Span (rows) of an exponentially weighted mean of the error before scoring; 0: none.", _S.smooth
    ),
    setting("memory", int, "Rows over which watch's running error statistics adapt.", _S.memory),
    setting(
        "error",
        str,
        "Forecast channel, the forecaster's error per row: auto (blend with regular rows, else horizon if "
        "--horizon > 1, else abs) | abs | squared | horizon (mean over the --horizon forecasts made for the "
        "row) | both | blend (horizon and the same time a day earlier) | mahalanobis (residuals against their "
        "validation covariance) | none (no forecast channel).",
        _S.error,
    ),
    setting(
        "novelty",
        str,
        "Novelty channel: auto (knn; an autoencoder's reconstruction error with --model autoencoder) | knn "
        "(distance of the last rows to the nearest earlier window) | autoencoder | none.",
        _S.novelty,
    ),
    setting("novelty_window", int, "knn: rows in a window.", _S.novelty_window),
    setting("novelty_memory", int, "knn: earlier windows compared with.", _S.novelty_memory),
    (
        "range_check",
        Annotated[
            bool | None,
            typer.Option(
                "--range-check/--no-range-check",
                help="Range channel: a value beyond the range seen lifts the score to --range-floor. [default: on]",
                show_default=False,
            ),
        ],
        None,
    ),
    setting(
        "range_tolerance",
        float,
        "Range channel: how far beyond the seen range, as a fraction of its width, a value must lie.",
        _S.range_tolerance,
    ),
    setting("range_floor", float, "Range channel: the score a value out of range lifts its row to.", _S.range_floor),
    setting(
        "cooldown",
        int,
        "Incidents within this many rows of an event's end join it (one alert per incident).",
        "0.133 x a series' training rows, 10 to a day of rows",
    ),
    setting(
        "release",
        float,
        "Incidents: a column is back to normal once its score has stayed below this for --hold rows.",
        _S.release,
    ),
    setting(
        "hold",
        int,
        "Incidents: rows a column must stay below --release to leave its incident.",
        "twice --novelty-window",
    ),
    setting(
        "accept_after",
        int,
        "Incidents: rows after which one that goes on is the new normal (0: never).",
        "a day of rows, at most --novelty-memory",
    ),
    setting(
        "freeze",
        str,
        "What an open incident keeps from learning: column (the columns that fired) | series (every column) | none.",
        _S.freeze,
    ),
    ("time_column", DataOptions.TimeColumn, None),
    ("columns", DataOptions.Columns, None),
    ("id_column", DataOptions.IdColumn, None),
    setting("duplicates", str, f"Rows with the same timestamp: {' | '.join(DUPLICATES)}.", _D.duplicates),
    setting("fill", str, f"Missing values and short gaps: {' | '.join(FILLS)}.", _D.fill),
    setting("fill_limit", int, "Longest run of missing rows filled; longer gaps split the series.", _D.fill_limit),
    ("resample", DataOptions.Resample, None),
    setting("decimal", str, "Decimal mark of the values: . | , (1,5; kept with the model for watch).", _D.decimal),
    setting(
        "time_format",
        str,
        "strptime format of the time column, e.g. '%d/%m/%Y %H:%M' (kept with the model for watch).",
        "detected: ISO 8601, epoch, day-first or month-first when a day above 12 tells",
    ),
    setting(
        "timezone",
        str,
        "IANA zone of naive times, e.g. Europe/Berlin: converted to UTC, so a DST hour is not merged (kept with "
        "the model for watch).",
        "UTC",
    ),
    (
        "config",
        Annotated[
            str | None,
            typer.Option(
                "--config",
                help="TOML file of settings (keys as the flags: fill_limit = 5; or under [data], [model], [train]).",
            ),
        ],
        None,
    ),
    (
        "resume",
        Annotated[
            str | None,
            typer.Option(
                "--resume", help="Continue this run (name or directory) from its best checkpoint, on the same data."
            ),
        ],
        None,
    ),
    ("name", Annotated[str | None, typer.Option("--name", help="Run name (default: the file's stem).")], None),
    (
        "nproc",
        Annotated[
            int | None,
            typer.Option(
                "--nproc",
                help="Train as N processes on this machine (torchrun; gloo, NCCL with --device cuda): series shared; "
                "the same as `torchrun --standalone --nproc-per-node N -m tsrnn train ...`. [default: 1]",
                show_default=False,
            ),
        ],
        None,
    ),
    ("runs_dir", RunsDir, "runs"),
    ("json_out", Json, False),
    ("quiet", Quiet, False),
]


@with_parameters(PARAMETERS)
def command(**given: Any) -> None:
    from tsrnn.settings import SETTINGS, resolve
    from tsrnn.training import distributed
    from tsrnn.training.runs import resolve_run
    from tsrnn.training.train import resume_config, train

    flags = {k: v for k, v in given.items() if k in SETTINGS and v is not None}
    resolved = resolve(flags, dict(os.environ), given["config"])  # a bad setting: refused once, before any launch
    if given["nproc"] is not None:
        distributed.check_nproc(given["nproc"])
    if given["nproc"] and given["nproc"] > 1 and "WORLD_SIZE" not in os.environ:
        distributed.select_device(resolved.train.device)
        raise typer.Exit(distributed.launch(given["nproc"], _without_nproc(sys.argv[1:])))
    if distributed.env_rank() != 0:  # rank 0 reports; the others train in silence
        given = {**given, "quiet": True, "json_out": False}
    run = resolve_run(given["resume"], Path(given["runs_dir"])) if given["resume"] else None
    train_cfg = resume_config(run, resolved.train, resolved.sources) if run is not None else resolved.train
    console = human_console(given["json_out"])
    progress = None if given["quiet"] else _Progress(console, train_cfg.epochs)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends training like Ctrl-C: best weights kept
    try:
        result = train(
            given["data"],
            model=resolved.model,
            config=train_cfg,
            data_config=resolved.data,
            name=given["name"],
            runs_dir=given["runs_dir"],
            on_epoch=progress.update if progress else None,
            resume=run,
            sources=resolved.sources,
            score=resolved.score,
        )
    except distributed.Stopped as exc:  # rank 0 failed and says why: this rank ends with its code, silently
        raise typer.Exit(exc.exit_code) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if progress:
            progress.stop()
    if given["json_out"]:
        print_json(result.to_dict())
    elif not given["quiet"]:
        from tsrnn.report.console import render_train

        render_train(console, result.summary)
    if result.summary["status"] == "interrupted":
        raise typer.Exit(130)


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line each process runs: this one without --nproc (and its value)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class _Progress:
    """A Rich progress bar fed by the training loop's per-epoch callback."""

    def __init__(self, console, epochs: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            TextColumn("left at most"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("train", total=epochs, losses="")
        self.started = False  # from the first epoch: an error before it is the only line printed

    def update(self, stats) -> None:  # EpochStats
        if not self.started:
            self.bar.start()
            self.started = True
        self.bar.update(
            self.task, completed=stats.epoch, losses=f"train {stats.train_loss:.4f} val {stats.val_loss:.4f}"
        )

    def stop(self) -> None:
        if self.started:
            self.bar.stop()
