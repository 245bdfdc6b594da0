"""The training loop: Adam, plateau schedule, early stopping, checkpoints; the tasks (tasks.py) say what an epoch is."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from tsrnn.config import TrainConfig
from tsrnn.errors import ModelError
from tsrnn.training import distributed
from tsrnn.training.optim import Adam, Plateau

if TYPE_CHECKING:
    from tsrnn.training.tasks import Task


@dataclass(frozen=True)
class EpochStats:
    """One line of the training history."""

    epoch: int
    train_loss: float
    val_loss: float
    grad_norm: float  # mean global gradient norm before clipping
    lr: float
    seconds: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class Checkpoint:
    """What `--resume` needs to go on: the best weights and the optimiser as they were then."""

    history: list[EpochStats]
    best_loss: float
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: Mapping[str, Any]  # numpy bit-generator state, JSON-ready
    torch_rng: torch.Tensor


@dataclass
class FitResult:
    history: list[EpochStats]
    interrupted: bool  # stopped by Ctrl-C (SIGINT) or SIGTERM; the best weights are kept
    diverged: int = 0  # the epoch whose loss was not finite (training stopped there); 0: none


class Diverged(ModelError):
    """A loss that is not a finite number before any epoch was good: nothing worth keeping."""


def fit(
    model: nn.Module,
    task: Task,
    cfg: TrainConfig,
    on_epoch: Callable[[EpochStats], None] | None = None,
    on_best: Callable[[Checkpoint], None] | None = None,
    resume: Checkpoint | None = None,
) -> FitResult:
    """Train until `cfg.epochs` or `cfg.patience` epochs without improvement; keep the best weights.

    `on_best` is called each time the validation loss improves, with the model holding the best
    weights, so the caller can save a checkpoint that survives a kill. Ctrl-C ends training early
    and keeps the best weights. `resume` continues from a checkpoint (its weights already loaded).
    """
    rng = np.random.default_rng(cfg.seed)
    opt = Adam(model.parameters(), lr=cfg.lr)
    schedule = Plateau(opt, patience=max(1, cfg.patience // 3))
    history: list[EpochStats] = []
    best_loss, stale = math.inf, 0
    if resume is not None:
        opt.load_state_dict(resume.optimizer)
        schedule.load_state_dict(resume.scheduler)
        rng.bit_generator.state = resume.rng
        torch.set_rng_state(resume.torch_rng)
        history, best_loss = list(resume.history), resume.best_loss
    model = distributed.wrap(model)  # DDP with several processes; every loss a decision reads is global
    best_state = copy.deepcopy(model.state_dict())
    interrupted, diverged = False, 0
    try:
        for epoch in range(len(history) + 1, cfg.epochs + 1):
            started = time.perf_counter()
            train_loss, val_loss, grad_norm = _epoch(model, task, cfg, opt, rng)
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                diverged = _diverged(epoch, train_loss, val_loss, cfg, math.isfinite(best_loss))
                break
            schedule.step(val_loss)  # the rate recorded is the one after the step, for the next epoch
            stats = EpochStats(epoch, train_loss, val_loss, grad_norm, opt.lr, time.perf_counter() - started)
            history.append(stats)
            if stats.val_loss < best_loss:
                best_loss, best_state, stale = stats.val_loss, copy.deepcopy(model.state_dict()), 0
                if on_best:
                    state = (
                        copy.deepcopy(opt.state_dict()),
                        schedule.state_dict(),
                        rng.bit_generator.state,
                        torch.get_rng_state(),
                    )
                    on_best(Checkpoint(list(history), best_loss, *state))
            else:
                stale += 1
            if on_epoch:
                on_epoch(stats)
            if stale >= cfg.patience:
                break
    except KeyboardInterrupt:
        interrupted = True
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(history, interrupted, diverged)


def refuse_zero_loss(rows: np.ndarray, columns: list[str]) -> None:
    """A validation loss of exactly 0: a constant series forecast exactly is fine (any change will be
    news, as the run's summary notes); on validation rows that vary, the model saw nothing: refused."""
    varying = [c for c, spread in zip(columns, np.ptp(rows, axis=0)) if spread > 0]
    if varying:
        raise ModelError(
            f"training is degenerate: the validation loss is exactly 0 although {', '.join(map(repr, varying))} "
            "vary in the validation rows: either no validation row was scored (gaps cut the series into "
            "pieces shorter than the warm-up, --window rows: try --resample or a larger --fill-limit) or the "
            "model learnt nothing (check the data's scale); then train again"
        )


def _diverged(epoch: int, train_loss: float, val_loss: float, cfg: TrainConfig, kept: bool) -> int:
    """The epoch that stopped a training whose loss is no longer a number; refused when no epoch was good."""
    if kept:
        return epoch
    raise Diverged(
        f"training diverged: epoch {epoch}'s loss is not a finite number (training {train_loss}, validation "
        f"{val_loss}), so there is no model to keep; lower --lr (it is {cfg.lr:g}) or look for extreme values "
        "in the data"
    )


def _epoch(
    model: nn.Module, task: Task, cfg: TrainConfig, opt: Adam, rng: np.random.Generator
) -> tuple[float, float, float]:
    """One pass over the training data, then the validation loss: (train loss, validation loss, gradient norm)."""
    model.train()
    train_loss, grad_norm = task.train_epoch(model, opt, cfg, rng)  # type: ignore[arg-type]
    model.eval()
    with torch.no_grad():
        val_loss = task.val_loss(distributed.unwrap(model))  # type: ignore[arg-type]
    train_loss, grad_norm, val_loss = distributed.epoch_losses(train_loss, grad_norm, val_loss, task.val_weight)
    return train_loss, val_loss, grad_norm
