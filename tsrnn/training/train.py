"""`tsrnn.train()`: CSV in, run directory out."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsrnn import __version__
from tsrnn.config import (
    WINDOW_BATCH,
    DataConfig,
    ModelConfig,
    ScoreConfig,
    TrainConfig,
    from_dict,
    to_dict,
)
from tsrnn.data.clean import Dataset, read_dataset
from tsrnn.data.scaling import Scaler
from tsrnn.data.timeparse import DAY_MONTH
from tsrnn.errors import InputError
from tsrnn.extras import require
from tsrnn.scoring.calibration import (
    History,
    calibrate,
    knn_values,
)
from tsrnn.training import distributed
from tsrnn.training.auto import auto_threads, resolve_auto, torch_threads
from tsrnn.training.batching import Split, split_series
from tsrnn.training.inputs import choose_inputs, network, task_for
from tsrnn.training.runs import Run, run_name_for, save_run, training_lock

if TYPE_CHECKING:
    from tsrnn.training.loop import EpochStats


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What `train` produced: the saved run and a JSON-ready summary."""

    run: Run
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The document `tsrnn train --json` prints (the run's summary)."""
        return self.summary


def train(
    data: str | Path,
    *,
    model: ModelConfig | None = None,
    config: TrainConfig | None = None,
    data_config: DataConfig | None = None,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    on_epoch: Callable[[EpochStats], None] | None = None,
    resume: Run | None = None,
    sources: dict[str, str] | None = None,
    score: ScoreConfig | None = None,
) -> TrainResult:
    """Train a model on a CSV (or files, or stdin) and save it as runs_dir/NAME (default: the file's stem).

    With `resume`, continue that run from its best checkpoint, with its own configuration: only
    the epoch limit and the device (RESUME_MAY_CHANGE) are taken from `config` (resume_config). `sources` records
    where each setting came from (flag, env, file).
    The run directory is complete after every improvement, so a killed training leaves the best
    model so far usable; Ctrl-C ends training early the same way.
    """
    torch = require("torch", "train", "training")
    if resume is not None:
        model_cfg, dcfg, cfg = resume.model_config, resume.data_config, resume_config(resume, config, sources)
        score = from_dict(ScoreConfig, resume.info.get("score", {}))
        run_name, runs_dir = resume.name, resume.path.parent
    else:
        model_cfg, cfg, dcfg = model or ModelConfig(), config or TrainConfig(), data_config or DataConfig()
        score, run_name = score or ScoreConfig(), run_name_for(name, data)
    distributed.select_device(cfg.device)  # --device cuda without CUDA: refused before any work
    with distributed.session(cfg.device) as world:
        given = {"name": run_name, "sources": sources or {}}
        dataset, split, part, scaler, model_cfg, score, base = _shared(data, dcfg, model_cfg, cfg, score, resume, given)
        threads = cfg.threads or auto_threads(model_cfg)
        lock = training_lock(Path(runs_dir) / run_name) if world.main else contextlib.nullcontext()
        with torch_threads(torch, threads), lock:
            run = _fit(
                Path(runs_dir) / run_name, base, model_cfg, cfg, dataset, (split, part), score, scaler, threads,
                resume, on_epoch,
            )  # fmt: skip
    return TrainResult(run, run.info["summary"])


def _shared(
    data: str | Path,
    dcfg: DataConfig,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    score: ScoreConfig,
    resume: Run | None,
    given: dict[str, Any],
) -> tuple[Dataset, Split, Split, Scaler, ModelConfig, ScoreConfig, dict[str, Any]]:
    """_prepare's results on every rank, and the split this rank trains. Rank 0 reads every series
    (it calibrates on them, and fits the scaler and the "auto" settings as one process would), deals
    the series (distributed.shares) and sends what it found; every other rank reads only its own
    series (filtered as the file is read)."""
    world = distributed.current()
    found: Any = None
    with distributed.told_on_failure():  # an error of the user's here: rank 0 alone says it
        if world.main:  # what every rank needs: each one's series, the grid, and the rest as rank 0 found it
            if world.size > 1 and str(data) == "-":
                raise InputError("several processes cannot share stdin: train from a file (or files) every rank reads")
            found = _prepare(data, dcfg, model_cfg, cfg, score, resume, given)
            rows = {k: sum(s.rows for s in v) for k, v in found[0].series().items()}
            sent = (distributed.shares(rows, world.size, str(data)), found[0].interval_seconds, *found[2:])
    dealt, interval, scaler, model_cfg, score, base = distributed.broadcast(sent if world.main else None)
    if world.size == 1:
        return found[0], found[1], found[1], scaler, model_cfg, score, base
    mine = frozenset(dealt[world.rank])
    dataset = found[0] if world.main else _read(data, from_dict(DataConfig, base["data"]), interval, mine)[0]
    part = split_series(distributed.shard(dataset, mine), model_cfg, cfg)
    return dataset, found[1] if world.main else part, part, scaler, model_cfg, score, base


def _prepare(
    data: str | Path,
    dcfg: DataConfig,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    score: ScoreConfig,
    resume: Run | None,
    base: dict[str, Any],
) -> tuple[Dataset, Split, Scaler, ModelConfig, ScoreConfig, dict[str, Any]]:
    """Read and split the data, resolve the "auto" settings from it, fit the scaler (or take the
    resumed run's), and the run.json fields known before training."""
    dataset, dcfg = _read(data, dcfg)
    log.info("%s: %d rows of %d series, columns %s", data, dataset.rows, len(dataset.series()), dataset.value_columns)
    model_cfg, score = resolve_auto(model_cfg, score, dataset, str(data))
    split = split_series(dataset, model_cfg, cfg)
    schema = dataset.schema()
    if resume is not None and schema["sha256"] != resume.schema["sha256"]:
        raise InputError(
            f"{data}: this is not the data run {base['name']!r} was trained on; "
            "resume with the same file, or train a new run"
        )
    scaler = (
        resume.scaler
        if resume is not None
        else Scaler.fit(np.concatenate(split.train), cfg.scaler, schema["value_columns"])
    )
    base = {
        "name": base["name"],
        "tsrnn_version": __version__,
        "data": to_dict(dcfg),
        "train": to_dict(cfg),
        "score": to_dict(score),
        "sources": base["sources"],
        "schema": schema,
        "scaler": scaler.to_dict(),
    }
    return dataset, split, scaler, model_cfg, score, base


def _fit(
    path: Path,
    base: dict[str, Any],
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    dataset: Dataset,
    splits: tuple[Split, Split],
    score: ScoreConfig,
    scaler: Scaler,
    threads: int,
    resume: Run | None,
    on_epoch: Callable[[EpochStats], None] | None,
) -> Run:
    """Build (or choose, with --inputs auto) the network, fit it, and save the run directory.

    `splits`: every series, and the series this process trains (the same with one process). Rank 0
    calibrates on every series and writes the run; the other ranks only train."""
    from tsrnn.training.loop import FitResult, fit

    started, (split, part), world = time.perf_counter(), splits, distributed.current()
    choices: dict[str, Any] = dict(resume.info["summary"].get("choices", {})) if resume is not None else {}
    columns = list(dataset.value_columns)
    if model_cfg.inputs == "auto":
        model_cfg, net, task, checkpoint, choices["inputs"], stopped = choose_inputs(
            model_cfg, cfg, part, scaler, columns
        )
    else:
        net, task = network(model_cfg, cfg, part, scaler, columns)
        checkpoint, stopped = resume.load_checkpoint(net) if resume is not None else None, False
    if not world.main:
        result = fit(net, task, cfg, None, None, checkpoint) if not stopped else FitResult([], True)
        return distributed.rank_run(path, base["name"], result, time.perf_counter() - started)
    whole = task if part is split else task_for(model_cfg, cfg, split, scaler, columns)
    saver = _Saver(
        path, {**base, "model": to_dict(model_cfg)}, net, whole, model_cfg, dataset, split, score, scaler, threads,
        choices,
    )  # fmt: skip
    saver.checkpoint = checkpoint if resume is None else None  # the chosen candidate's best, until training beats it
    if resume is not None and resume.info["status"] == "interrupted":
        saver.notes.append(f"resumed {resume.name!r}, whose training was interrupted, from {resume.checkpoint}")
    result = (
        FitResult(list(checkpoint.history), True)
        if stopped
        else fit(net, task, cfg, on_epoch, saver.on_best, checkpoint)
    )
    if result.diverged:
        saver.notes.append(
            f"training diverged at epoch {result.diverged} (its loss is not a number): it stopped "
            "there, and the best weights before it are kept; a lower --lr may go further"
        )
    seconds = time.perf_counter() - started + (resume.info["summary"]["train_seconds"] if resume is not None else 0.0)
    run = saver.save(result.history, "interrupted" if result.interrupted else "complete", seconds)
    log.info("%s: %d epochs in %.1f s on %d torch threads", run.path, len(result.history), seconds, threads)
    return run


RESUME_MAY_CHANGE = ("epochs", "device")  # the epoch limit and where; every other setting is the run's own


def _read(
    data: str | Path, dcfg: DataConfig, interval: float | None = None, series: frozenset[str] | None = None
) -> tuple[Dataset, DataConfig]:
    """The training data, and its reading settings with a day-first (or month-first) format found in it kept."""
    dataset = read_dataset(str(data), dcfg, keep_text=False, interval=interval, series=series)
    if dcfg.time_format is None and dataset.time_format in DAY_MONTH:
        dcfg = dataclasses.replace(dcfg, time_format=dataset.time_format)
    return dataset, dcfg


def resume_config(run: Run, config: TrainConfig | None, sources: dict[str, str] | None = None) -> TrainConfig:
    """The training settings of a resumed run, the rules in one place: its own, except the epoch
    limit in `config` (from the command line: when it was given, per `sources`). The Python API
    and the command line follow the same rule."""
    if config is None:
        return run.train_config
    given = {k: getattr(config, k) for k in RESUME_MAY_CHANGE if sources is None or k in sources}
    return dataclasses.replace(run.train_config, **given)


class _Saver:
    """Writes the run directory: at each improvement (status "training") and at the end."""

    def __init__(
        self,
        path: Path,
        base: dict[str, Any],
        net,
        task,
        model_cfg: ModelConfig,
        dataset: Dataset,
        split: Split,
        score: ScoreConfig,
        scaler: Scaler,
        threads: int,
        choices: dict[str, Any],
    ) -> None:
        from tsrnn.scoring.errors import season_rows

        self.threads, self.choices = threads, choices
        self.path, self.base, self.net, self.task, self.score = path, base, net, task, score
        self.season = season_rows(dataset.interval_seconds)
        self.model_cfg, self.dataset, self.split = model_cfg, dataset, split
        self.checkpoint, self.notes = None, list[str]()
        self.history = _history(dataset, scaler, score, getattr(task, "targets", None))  # the model does not change it

    def on_best(self, checkpoint) -> None:  # loop.Checkpoint
        self.checkpoint = checkpoint
        self.save(checkpoint.history, "training", sum(s.seconds for s in checkpoint.history))

    def save(self, history: list, status: str, seconds: float) -> Run:
        import torch

        from tsrnn.training.loop import refuse_zero_loss

        best = min(history, key=lambda s: s.val_loss)
        if best.val_loss == 0.0:  # a constant series forecast exactly, or nothing learnt (refused)
            cols = getattr(self.task, "targets", None) or list(range(len(self.dataset.value_columns)))
            refuse_zero_loss(np.concatenate(self.split.val)[:, cols], [self.dataset.value_columns[c] for c in cols])
        with torch.no_grad():
            errors, spec = self.task.calibration_errors(
                self.net, self.score.error if self.score.error != "none" else "abs", self.season
            )
        autoencoder = self.model_cfg.spec.own_novelty  # its reconstruction error is the novelty channel
        self.history.val_novelty = (
            errors if autoencoder else _aligned(self.history, self.split, getattr(self.task, "error_mask", None))
        )
        calibration = calibrate(
            None if autoencoder else errors,
            self.model_cfg.spec.warmup_rows(self.model_cfg.window),
            score=self.score,
            spec=spec,
            history=self.history,
            novelty=self.score.novelty,
        )
        info = {
            **self.base,
            "status": status,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "calibration": calibration.to_dict(),
            "history": [s.to_dict() for s in history],
            "summary": self._summary(history, best, calibration, status, seconds),
        }
        return save_run(self.path, info, self.net, self.checkpoint)

    def _summary(self, history: list, best, calibration, status: str, seconds: float) -> dict[str, Any]:
        train_rows = np.concatenate(self.split.train)
        notes = list(self.dataset.notes) + [
            f"column {c!r} is constant in the training data: any change in it will score as anomalous"
            for c, v in zip(self.dataset.value_columns, train_rows.std(axis=0))
            if v == 0.0
        ]
        notes += self.notes
        if status == "interrupted":
            notes.append(
                f"training was interrupted after epoch {history[-1].epoch}; the best weights so far are saved "
                f"(continue with --resume)"
            )
        return {
            "name": self.base["name"],
            "run_dir": str(self.path),
            "status": status,
            "model": self.model_cfg.kind,
            "cell": self.model_cfg.cell,
            "mode": self.model_cfg.mode,
            "horizon": self.model_cfg.horizon,
            "series": len(self.dataset.series()),
            "segments": len(self.dataset.segments),
            "rows_train": int(train_rows.shape[0]),
            "rows_val": int(sum(p.shape[0] - c for p, c in zip(self.split.val, self.split.context))),
            "epochs_run": len(history),
            "best_epoch": best.epoch,
            "best_val_loss": best.val_loss,
            "loss": self.base["train"].get("loss", "mse"),
            "batch": getattr(self.task, "batch", None) or self.base["train"].get("batch") or WINDOW_BATCH,
            "train_seconds": round(seconds, 3),
            "threads": self.threads,
            "world_size": distributed.current().size,
            "device": str(next(self.net.parameters()).device),  # cpu, or cuda:N (the saved run is on CPU)
            "inputs": self.model_cfg.inputs,
            "choices": self.choices,
            "target": self.model_cfg.target,
            "columns": len(self.dataset.value_columns),
            "parameters": sum(p.numel() for p in self.net.parameters()),
            "error_scale": calibration.error_scale,
            "threshold": calibration.threshold,
            "channels": calibration.channels,
            "cooldown": calibration.cooldown,
            "hold": calibration.hold,
            "accept_after": calibration.accept_after,
            "error": calibration.error,
            "time_features": self.model_cfg.time_features,
            "interval_seconds": self.dataset.interval_seconds,
            "dropped_rows": self.dataset.dropped,
            "filled": self.dataset.filled,
            "notes": notes,
        }


def _history(dataset: Dataset, scaler: Scaler, score: ScoreConfig, scored: list[int] | None = None) -> History:
    """The training series of the scored columns (every one, or --target's), for the kNN
    novelty's prior and seed and the range's seed."""
    cols = scored if scored is not None else list(range(len(dataset.value_columns)))
    series = [np.concatenate([seg.values for seg in segments])[:, cols] for segments in dataset.series().values()]
    times = [np.concatenate([seg.times for seg in segments]) for segments in dataset.series().values()]
    history = History(
        series, np.asarray(scaler.mean)[cols], np.asarray(scaler.scale)[cols], dataset.interval_seconds, times
    )
    if score.novelty == "knn":
        history.series_novelty = [
            knn_values(s, history.scaler_mean, history.scaler_scale, score.novelty_window, score.novelty_memory)
            for s in series
        ]
    return history


def _aligned(history: History, split: Split, mask: np.ndarray | None) -> np.ndarray | None:
    """The kNN novelty of the validation rows, in the order of the forecaster's validation errors."""
    if mask is None or not split.val_at or history.series_novelty is None:
        return None
    out = []
    for b, (index, start) in enumerate(split.val_at):
        rows = np.flatnonzero(mask[b])
        out.append(history.series_novelty[index][start + rows])
    return np.concatenate(out) if out else None
