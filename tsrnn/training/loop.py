"""The training loop: Adam, plateau schedule, clipping, early stopping; one task per model kind."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from tsrnn.config import TrainConfig
from tsrnn.models.autoencoder import Autoencoder, StreamingAutoencoder
from tsrnn.models.forecaster import Forecaster, StreamingForecaster
from tsrnn.training.batching import sliding_windows, stream_chunks

MAX_WINDOWS_PER_EPOCH = 8192  # autoencoder: a random sample of windows per epoch keeps epochs short
MAX_VAL_WINDOWS = 4096


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


class ForecasterTask:
    """Truncated BPTT over contiguous streams, carrying the state from chunk to chunk."""

    def __init__(self, scaled: np.ndarray, val_start: int, context: int) -> None:
        self.scaled = scaled  # (rows, features), train rows then validation rows
        self.val_start = val_start
        self.ctx_start = max(0, val_start - context)

    def train_epoch(self, model: Forecaster, opt: torch.optim.Optimizer, cfg: TrainConfig, rng: np.random.Generator) -> tuple[float, float]:
        train = self.scaled[: self.val_start]
        streams = max(1, min(cfg.batch, (train.shape[0] - 1) // (2 * cfg.chunk)))
        h, c = model.zero_state(streams)
        losses, norms = [], []
        for x, y in stream_chunks(train, streams, cfg.chunk, rng):
            pred, h, c = model(x, h, c)
            loss = nn.functional.mse_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            norms.append(_clip(model, cfg.clip_grad))
            opt.step()
            h, c = h.detach(), c.detach()
            losses.append(loss.item())
        return float(np.mean(losses)), float(np.mean(norms))

    def val_loss(self, model: Forecaster) -> float:
        seg = torch.from_numpy(self.scaled[self.ctx_start :].astype(np.float32)).unsqueeze(0)
        pred, _, _ = model(seg[:, :-1], *model.zero_state(1))
        first = self.val_start - 1 - self.ctx_start  # the input row whose target is the first val row
        return nn.functional.mse_loss(pred[:, first:], seg[:, first + 1 :]).item()

    def val_errors(self, model: Forecaster, raw: np.ndarray, mean: list[float], scale: list[float]) -> np.ndarray:
        """Per-row errors of the validation rows, computed exactly as the exported graph does."""
        stream = StreamingForecaster(model, mean, scale).eval()
        x = torch.from_numpy(raw[self.ctx_start :].astype(np.float32)).unsqueeze(0)
        nan = torch.full((1, raw.shape[1]), float("nan"))
        _, error, _, _, _ = stream(x, *model.zero_state(1), nan)
        return error[0, self.val_start - self.ctx_start :].numpy().astype(np.float64)


class AutoencoderTask:
    """Reconstruct sliding windows; a row's error is the last step of the window ending at it."""

    def __init__(self, scaled: np.ndarray, val_start: int, window: int) -> None:
        self.window = window
        self.train_windows = sliding_windows(scaled[:val_start], window)
        val = sliding_windows(scaled[val_start - window + 1 :], window)
        self.val_index = np.linspace(0, len(val) - 1, min(len(val), MAX_VAL_WINDOWS)).astype(int)
        self.val_windows = torch.from_numpy(np.ascontiguousarray(val[self.val_index]).astype(np.float32))
        self.val_start = val_start

    def train_epoch(self, model: Autoencoder, opt: torch.optim.Optimizer, cfg: TrainConfig, rng: np.random.Generator) -> tuple[float, float]:
        order = rng.permutation(len(self.train_windows))[:MAX_WINDOWS_PER_EPOCH]
        losses, norms = [], []
        for start in range(0, len(order), cfg.batch):
            x = torch.from_numpy(np.ascontiguousarray(self.train_windows[order[start : start + cfg.batch]]).astype(np.float32))
            loss = nn.functional.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            norms.append(_clip(model, cfg.clip_grad))
            opt.step()
            losses.append(loss.item())
        return float(np.mean(losses)), float(np.mean(norms))

    def val_loss(self, model: Autoencoder) -> float:
        return nn.functional.mse_loss(model(self.val_windows), self.val_windows).item()

    def val_errors(self, model: Autoencoder, raw: np.ndarray, mean: list[float], scale: list[float]) -> np.ndarray:
        stream = StreamingAutoencoder(model, mean, scale).eval()
        windows = sliding_windows(raw[self.val_start - self.window + 1 :], self.window)
        out = []
        for start in range(0, len(windows), 4096):
            x = torch.from_numpy(np.ascontiguousarray(windows[start : start + 4096]).astype(np.float32))
            out.append(stream(x)[1][:, -1].numpy())
        return np.concatenate(out).astype(np.float64)


def _clip(model: nn.Module, max_norm: float) -> float:
    """Clip by global norm (when max_norm > 0) and return the norm before clipping."""
    limit = max_norm if max_norm > 0 else math.inf
    return float(nn.utils.clip_grad_norm_(model.parameters(), limit))


def fit(
    model: nn.Module,
    task: ForecasterTask | AutoencoderTask,
    cfg: TrainConfig,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> list[EpochStats]:
    """Train until `cfg.epochs` or `cfg.patience` epochs without improvement; keep the best weights."""
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, cfg.patience // 3))
    history: list[EpochStats] = []
    best_loss, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        model.train()
        train_loss, grad_norm = task.train_epoch(model, opt, cfg, rng)
        model.eval()
        with torch.no_grad():
            val_loss = task.val_loss(model)
        schedule.step(val_loss)
        stats = EpochStats(epoch, train_loss, val_loss, grad_norm, opt.param_groups[0]["lr"], time.perf_counter() - started)
        history.append(stats)
        if on_epoch:
            on_epoch(stats)
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return history
