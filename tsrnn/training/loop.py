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
from tsrnn.data.scaling import Scaler
from tsrnn.models.autoencoder import Autoencoder, StreamingAutoencoder
from tsrnn.models.forecaster import Forecaster, StreamingForecaster
from tsrnn.training.batching import Split, gather_windows, pad_stack, tbptt_pieces, window_index

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
    """Truncated BPTT over contiguous pieces, carrying the state from chunk to chunk."""

    def __init__(self, split: Split, scaler: Scaler, cfg: TrainConfig, warmup: int) -> None:
        self.split = split
        self.scaler = scaler
        self.warmup = warmup
        self.train = [scaler.transform(p) for p in split.train]
        total = sum(p.shape[0] for p in self.train)
        self.length = int(np.clip(total // max(1, cfg.batch), cfg.chunk, 16 * cfg.chunk))
        val, self.val_lengths = pad_stack([scaler.transform(p) for p in split.val])
        self.val = torch.from_numpy(val)
        # a validation row is scored when it is past the context and past the warm-up
        steps = np.arange(val.shape[1])[None, :]
        first = np.maximum(np.array(split.context), warmup)[:, None]
        self.val_mask = torch.from_numpy(((steps >= first) & (steps < self.val_lengths[:, None])).astype(np.float32))

    def train_epoch(self, model: Forecaster, opt: torch.optim.Optimizer, cfg: TrainConfig, rng: np.random.Generator) -> tuple[float, float]:
        x_all, y_all, m_all = tbptt_pieces(self.train, self.length, rng)
        order = rng.permutation(len(x_all))
        losses, norms = [], []
        for start in range(0, len(order), cfg.batch):
            pick = order[start : start + cfg.batch]
            x, y, m = (torch.from_numpy(a[pick]) for a in (x_all, y_all, m_all))
            h, c = model.zero_state(len(pick))
            for t in range(0, self.length, cfg.chunk):
                mask = m[:, t : t + cfg.chunk]
                if not mask.any():
                    break
                pred, h, c = model(x[:, t : t + cfg.chunk], h, c)
                per_step = ((pred - y[:, t : t + cfg.chunk]) ** 2).mean(dim=-1)
                loss = (per_step * mask).sum() / mask.sum()
                opt.zero_grad()
                loss.backward()
                norms.append(_clip(model, cfg.clip_grad))
                opt.step()
                h, c = h.detach(), c.detach()
                losses.append(loss.item())
        return float(np.mean(losses)), float(np.mean(norms))

    def val_loss(self, model: Forecaster) -> float:
        pred, _, _ = model(self.val[:, :-1], *model.zero_state(self.val.shape[0]))
        per_step = ((pred - self.val[:, 1:]) ** 2).mean(dim=-1)  # target row t+1 from input row t
        mask = self.val_mask[:, 1:]
        return float((per_step * mask).sum() / mask.sum())

    def val_errors(self, model: Forecaster) -> np.ndarray:
        """Per-row errors of the validation rows, computed exactly as the exported graph does."""
        stream = StreamingForecaster(model, list(self.scaler.mean), list(self.scaler.scale)).eval()
        raw, _ = pad_stack(self.split.val)
        nan = torch.full((raw.shape[0], raw.shape[2]), float("nan"))
        _, error, _, _, _ = stream(torch.from_numpy(raw), *model.zero_state(raw.shape[0]), nan)
        return error.numpy()[self.val_mask.numpy() > 0].astype(np.float64)


class AutoencoderTask:
    """Reconstruct windows inside segments; a row's error is the last step of the window ending at it."""

    def __init__(self, split: Split, scaler: Scaler, cfg: TrainConfig, window: int) -> None:
        self.split = split
        self.scaler = scaler
        self.window = window
        self.train = [scaler.transform(p) for p in split.train]
        self.train_index = window_index(self.train, window)
        self.val_scaled = [scaler.transform(p) for p in split.val]
        val_index = window_index(self.val_scaled, window, first=split.context)
        keep = np.linspace(0, len(val_index) - 1, min(len(val_index), MAX_VAL_WINDOWS)).astype(int)
        self.val_index = val_index[keep] if len(val_index) else val_index
        self.val_windows = torch.from_numpy(gather_windows(self.val_scaled, self.val_index, window))

    def train_epoch(self, model: Autoencoder, opt: torch.optim.Optimizer, cfg: TrainConfig, rng: np.random.Generator) -> tuple[float, float]:
        order = rng.permutation(len(self.train_index))[:MAX_WINDOWS_PER_EPOCH]
        losses, norms = [], []
        for start in range(0, len(order), cfg.batch):
            x = torch.from_numpy(gather_windows(self.train, self.train_index[order[start : start + cfg.batch]], self.window))
            loss = nn.functional.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            norms.append(_clip(model, cfg.clip_grad))
            opt.step()
            losses.append(loss.item())
        return float(np.mean(losses)), float(np.mean(norms))

    def val_loss(self, model: Autoencoder) -> float:
        return nn.functional.mse_loss(model(self.val_windows), self.val_windows).item()

    def val_errors(self, model: Autoencoder) -> np.ndarray:
        stream = StreamingAutoencoder(model, list(self.scaler.mean), list(self.scaler.scale)).eval()
        index = window_index(self.split.val, self.window, first=self.split.context)
        out = []
        for start in range(0, len(index), 4096):
            x = torch.from_numpy(gather_windows(self.split.val, index[start : start + 4096], self.window))
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
