"""Training tasks: one per model kind (tsrnn.kinds), each turning the split series into batches,
losses, and the validation errors the detector is calibrated on, computed as the exported graph does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np
import torch
from torch import nn

from tsrnn.config import STATEFUL_BATCH, WINDOW_BATCH, ModelConfig, TrainConfig
from tsrnn.data.scaling import Scaler
from tsrnn.models.autoencoder import Autoencoder, StreamingAutoencoder
from tsrnn.models.forecaster import Forecaster, StreamingForecaster, WindowedForecaster
from tsrnn.scoring.errors import ErrorSpec, q99, seasonal_norm
from tsrnn.training import distributed
from tsrnn.training.batching import (
    Split,
    gather_windows,
    horizon_targets,
    pad_stack,
    tbptt_pieces,
    window_index,
)
from tsrnn.training.losses import masked_loss, pointwise, step
from tsrnn.training.optim import Adam

MAX_WINDOWS_PER_EPOCH = 8192  # autoencoder: a random sample of windows per epoch keeps epochs short
MAX_VAL_WINDOWS = 4096
MIN_STEPS = 8  # stateful forecaster: optimiser steps per epoch that even a short history gets

M = TypeVar("M", bound=nn.Module)  # the model a window task trains


def _diffs(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Each row minus the row before along `axis`; 0 for the first row."""
    first = np.take(values, [0], axis=axis)
    return np.diff(values, axis=axis, prepend=first).astype(np.float32)


class ForecasterTask:
    """Stateful: truncated BPTT over contiguous pieces, carrying the state from chunk to chunk."""

    def __init__(
        self,
        split: Split,
        scaler: Scaler,
        cfg: TrainConfig,
        model_cfg: ModelConfig,
        targets: tuple[int, ...] | None = None,
    ) -> None:
        from tsrnn.data.timefeatures import count
        from tsrnn.data.timefeatures import time_features as features_of

        warmup, horizon, diff, time_features = (
            model_cfg.spec.warmup_rows(model_cfg.window),
            model_cfg.horizon,
            model_cfg.inputs == "diff",
            model_cfg.time_features,
        )
        self.split, self.scaler, self.horizon, self.diff, self.loss = split, scaler, horizon, diff, cfg.loss
        self.device = dev = distributed.select_device(cfg.device)  # where the network, batches and states live
        self.train = [scaler.transform(p) for p in split.train]
        self.time_inputs = count(time_features)
        self.train_tf = [features_of(t, time_features) for t in split.train_times] if self.time_inputs else []
        val_tf = pad_stack([features_of(t, time_features) for t in split.val_times])[0] if self.time_inputs else None
        self.val_tf = torch.from_numpy(val_tf).to(dev) if val_tf is not None else None
        self.features = self.train[0].shape[1]
        self.targets = (
            list(targets) if targets is not None else list(range(self.features))
        )  # the columns forecast (--target)
        total = sum(p.shape[0] for p in self.train)
        # A pass makes about total / (batch * chunk) optimiser steps: fewer streams on small data,
        # so that even a short history gets MIN_STEPS steps per epoch.
        self.batch = int(np.clip(total // (cfg.chunk * MIN_STEPS), 1, cfg.batch or STATEFUL_BATCH))
        self.length = int(np.clip(total // self.batch, cfg.chunk, 16 * cfg.chunk))
        val, lengths = pad_stack([scaler.transform(p) for p in split.val])
        self.val = torch.from_numpy(val).to(dev)
        self.val_diff = torch.from_numpy(_diffs(val, axis=1)).to(dev) if diff else None
        future, valid = horizon_targets(val, horizon)
        steps = np.arange(val.shape[1])
        # an input row counts when its target rows are validation rows, past context and warm-up
        first = np.maximum(np.array(split.context), warmup)[:, None]
        scored = (steps[None, :] + 1 >= first) & (steps[None, :] + 1 < lengths[:, None])
        self.val_targets = torch.from_numpy(future[..., self.targets].astype(np.float32)).to(dev)
        self.val_mask = torch.from_numpy(
            (
                scored[:, :, None] & valid & (steps[None, :, None] + np.arange(1, horizon + 1) < lengths[:, None, None])
            ).astype(np.float32)
        ).to(dev)
        self.error_mask = (steps[None, :] >= first) & (steps[None, :] < lengths[:, None])  # one-step errors by row
        self.val_weight = float(self.val_mask.sum())  # what the validation loss averages over

    def train_epoch(
        self, model: Forecaster, opt: Adam, cfg: TrainConfig, rng: np.random.Generator
    ) -> tuple[float, float]:
        parts = [np.concatenate([p, _diffs(p)], axis=1) for p in self.train] if self.diff else self.train
        if self.time_inputs:
            parts = [np.concatenate([p, t], axis=1) for p, t in zip(parts, self.train_tf)]
        x_all, y_all, m_all = tbptt_pieces(
            parts, self.length, self.horizon, rng
        )  # [values | changes (diff) | time features]
        f, k = self.features, self.time_inputs
        order = rng.permutation(len(x_all))
        losses, norms = [], []
        used = (m_all.any(axis=2) * np.arange(1, self.length + 1)).max(axis=1)  # rows with a target, per piece
        planned = sum(
            -(-int(used[order[a : a + self.batch]].max()) // cfg.chunk) for a in range(0, len(order), self.batch)
        )
        left = distributed.agree_steps(planned)  # every rank takes as many steps (DDP)
        for start in range(0, len(order) if left else 0, self.batch):
            pick = order[start : start + self.batch]
            x, y, m = (torch.from_numpy(a[pick]).to(self.device) for a in (x_all, y_all, m_all))
            state: Sequence[torch.Tensor] = model.zero_state(len(pick))
            for t in range(0, self.length, cfg.chunk):
                mask = m[:, t : t + cfg.chunk]
                if not mask.any() or left == 0:
                    break
                left -= 1
                chunk = x[:, t : t + cfg.chunk]
                pred, *state = model(
                    chunk[..., :f],
                    *state,
                    diff=chunk[..., f : 2 * f] if self.diff else None,
                    tf=chunk[..., chunk.shape[-1] - k :] if k else None,
                )
                loss = masked_loss(pred, y[:, t : t + cfg.chunk, :, :f][..., self.targets], mask, cfg.loss)
                norms.append(step(model, opt, loss, cfg.clip_grad))
                state = [s.detach() for s in state]
                losses.append(loss.item())
        return float(np.mean(losses)), float(np.mean(norms))

    def val_loss(self, model: Forecaster) -> float:
        pred, *_ = model(self.val, *model.zero_state(self.val.shape[0]), diff=self.val_diff, tf=self.val_tf)
        return float(masked_loss(pred, self.val_targets, self.val_mask, self.loss))

    def _val_stream(self, model: Forecaster) -> tuple[np.ndarray, ...]:
        """The validation parts (raw, padded) and the exported graph's outputs over them, with
        its carried inputs empty as watch starts them: raw (the target columns), expected, error, forecast."""
        stream = StreamingForecaster(model, list(self.scaler.mean), list(self.scaler.scale)).to(self.device).eval()
        raw, _ = pad_stack(self.split.val)
        nan = torch.full((raw.shape[0], raw.shape[2]), float("nan"), device=self.device)
        tf = (self.val_tf,) if self.val_tf is not None else ()
        carried = (nan[:, self.targets], nan) if self.diff else (nan[:, self.targets],)  # next, and prev for changes
        expected, error, forecast, *_ = (
            t.cpu().numpy()  # errors, and the calibration from them, on CPU
            for t in stream(torch.from_numpy(raw).to(self.device), *tf, *model.zero_state(raw.shape[0]), *carried)
        )
        return raw[..., self.targets], expected, error, forecast

    def val_errors(self, model: Forecaster) -> np.ndarray:
        """One-step errors of the validation rows, computed exactly as the exported graph does."""
        return self._val_stream(model)[2][self.error_mask].astype(np.float64)

    def calibration_errors(self, model: Forecaster, kind: str, season: int = 0) -> tuple[np.ndarray, ErrorSpec]:
        """The validation rows' errors of `kind` (rows, columns; one column for mahalanobis),
        computed by the same code as watch, and the spec that watch needs to repeat it (norms and
        covariance fitted here, over every column's values; `season`: rows in a day).

        A validation part is seldom a day long, so for the blend its rows mostly get the horizon
        part alone, as watch's first day does."""
        from tsrnn.scoring.errors import inverse_covariance, row_errors

        raw, expected, _, forecast = self._val_stream(model)
        scale = np.asarray(self.scaler.scale, np.float32)[self.targets]
        outputs = len(self.targets)

        def errors(spec: ErrorSpec) -> np.ndarray:
            rows = [
                row_errors(spec, raw[b], expected[b], forecast[b], scale, spec.initial())[0]
                for b in range(raw.shape[0])
            ]
            return np.stack(rows)[self.error_mask].astype(np.float64)

        spec = ErrorSpec(kind, self.horizon, outputs, season)
        if kind == "mahalanobis":
            residuals = ((raw - expected) / scale)[self.error_mask]
            spec = ErrorSpec(kind, self.horizon, outputs, inverse_cov=inverse_covariance(residuals))
        elif kind in ("both", "blend"):  # each part in units of its own 99th percentile
            horizon = q99(errors(ErrorSpec("horizon", self.horizon, outputs)))
            other = (
                q99(errors(ErrorSpec("abs", self.horizon, outputs)))
                if kind == "both"
                else seasonal_norm([p[:, self.targets] for p in self.split.train], season, scale)
            )
            spec = ErrorSpec(
                kind, self.horizon, outputs, season, (other, horizon) if kind == "both" else (horizon, other)
            )
        return errors(spec), spec


class _WindowTask(Generic[M]):
    """Window models score one error kind, the graph's own."""

    def val_errors(self, model: M) -> np.ndarray:
        raise NotImplementedError

    def calibration_errors(self, model: M, kind: str, season: int = 0) -> tuple[np.ndarray, ErrorSpec]:
        return self.val_errors(model), ErrorSpec()


class WindowedTask(_WindowTask[Forecaster]):
    """The baseline: fixed windows of `window` rows from a zero state, each predicting what follows."""

    def __init__(
        self,
        split: Split,
        scaler: Scaler,
        cfg: TrainConfig,
        model_cfg: ModelConfig,
        targets: tuple[int, ...] | None = None,
    ) -> None:
        window, horizon = model_cfg.window, model_cfg.horizon
        self.val_weight = 0.0  # the validation targets scored, counted by val_loss
        self.split, self.scaler, self.window, self.horizon, self.loss = split, scaler, window, horizon, cfg.loss
        self.device = distributed.select_device(cfg.device)
        self.train = [scaler.transform(p) for p in split.train]
        self.train_index = window_index([p[:-1] for p in self.train], window)  # each window needs a next row
        self.val_scaled = [scaler.transform(p) for p in split.val]
        first = [max(c, window) for c in split.context]  # windows whose next row is a validation row
        self.val_index = window_index([p[:-1] for p in self.val_scaled], window, first=[f - 1 for f in first])

    def _targets(self, parts: list[np.ndarray], index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        y = np.zeros((len(index), self.horizon, parts[0].shape[1]), np.float32)
        m = np.zeros((len(index), self.horizon), np.float32)
        for i, (p, s) in enumerate(index):
            rows = parts[p][s + self.window : s + self.window + self.horizon]
            y[i, : len(rows)], m[i, : len(rows)] = rows, 1.0
        return torch.from_numpy(y).to(self.device), torch.from_numpy(m).to(self.device)

    def train_epoch(
        self, model: Forecaster, opt: Adam, cfg: TrainConfig, rng: np.random.Generator
    ) -> tuple[float, float]:
        order = rng.permutation(len(self.train_index))
        losses, norms = [], []
        batch = cfg.batch or WINDOW_BATCH
        steps = distributed.agree_steps(-(-len(order) // batch))  # every rank takes as many steps (DDP)
        for start in range(0, min(len(order), steps * batch), batch):
            index = self.train_index[order[start : start + batch]]
            x = torch.from_numpy(gather_windows(self.train, index, self.window)).to(self.device)
            y, m = self._targets(self.train, index)
            pred, *_ = model(x, *model.zero_state(len(index)))
            loss = masked_loss(pred[:, -1], y, m, cfg.loss)
            norms.append(step(model, opt, loss, cfg.clip_grad))
            losses.append(loss.item())
        return float(np.mean(losses)), float(np.mean(norms))

    def val_loss(self, model: Forecaster) -> float:
        total, count = 0.0, 0.0
        for start in range(0, len(self.val_index), 4096):
            index = self.val_index[start : start + 4096]
            x = torch.from_numpy(gather_windows(self.val_scaled, index, self.window)).to(self.device)
            pred, *_ = model(x, *model.zero_state(len(index)))
            y, m = self._targets(self.val_scaled, index)
            total += float(masked_loss(pred[:, -1], y, m, self.loss)) * float(m.sum())
            count += float(m.sum())
        self.val_weight = count
        return total / max(count, 1.0)

    def val_errors(self, model: Forecaster) -> np.ndarray:
        stream = WindowedForecaster(model, list(self.scaler.mean), list(self.scaler.scale)).to(self.device).eval()
        scale = np.asarray(self.scaler.scale)
        out = []
        for start in range(0, len(self.val_index), 4096):
            index = self.val_index[start : start + 4096]
            x = torch.from_numpy(gather_windows(self.split.val, index, self.window)).to(self.device)
            pred = stream(x)[:, 0].cpu().numpy()
            actual = np.stack([self.split.val[p][s + self.window] for p, s in index])
            out.append(np.abs(actual - pred) / scale)  # per column, as watch computes it
        return np.concatenate(out).astype(np.float64)


class AutoencoderTask(_WindowTask[Autoencoder]):
    """Reconstruct windows inside segments; a row's error is the last step of the window ending at it."""

    def __init__(
        self,
        split: Split,
        scaler: Scaler,
        cfg: TrainConfig,
        model_cfg: ModelConfig,
        targets: tuple[int, ...] | None = None,
    ) -> None:
        self.split, self.scaler, self.device = split, scaler, distributed.select_device(cfg.device)
        self.window = window = model_cfg.window
        self.loss = cfg.loss
        self.train = [scaler.transform(p) for p in split.train]
        self.train_index = window_index(self.train, window)
        self.val_scaled = [scaler.transform(p) for p in split.val]
        val_index = window_index(self.val_scaled, window, first=split.context)
        keep = np.linspace(0, len(val_index) - 1, min(len(val_index), MAX_VAL_WINDOWS)).astype(int)
        self.val_index = val_index[keep] if len(val_index) else val_index
        self.val_windows = torch.from_numpy(gather_windows(self.val_scaled, self.val_index, window)).to(self.device)
        self.val_weight = float(len(self.val_index))

    def train_epoch(
        self, model: Autoencoder, opt: Adam, cfg: TrainConfig, rng: np.random.Generator
    ) -> tuple[float, float]:
        order = rng.permutation(len(self.train_index))[:MAX_WINDOWS_PER_EPOCH]
        losses, norms = [], []
        batch = cfg.batch or WINDOW_BATCH
        steps = distributed.agree_steps(-(-len(order) // batch))  # every rank takes as many steps (DDP)
        for start in range(0, min(len(order), steps * batch), batch):
            x = torch.from_numpy(
                gather_windows(self.train, self.train_index[order[start : start + batch]], self.window)
            ).to(self.device)
            loss = pointwise(model(x), x, cfg.loss).mean()
            norms.append(step(model, opt, loss, cfg.clip_grad))
            losses.append(loss.item())
        return float(np.mean(losses)), float(np.mean(norms))

    def val_loss(self, model: Autoencoder) -> float:
        return pointwise(model(self.val_windows), self.val_windows, self.loss).mean().item()

    def val_errors(self, model: Autoencoder) -> np.ndarray:
        stream = StreamingAutoencoder(model, list(self.scaler.mean), list(self.scaler.scale)).to(self.device).eval()
        index = window_index(self.split.val, self.window, first=self.split.context)
        out = []
        for start in range(0, len(index), 4096):
            x = torch.from_numpy(gather_windows(self.split.val, index[start : start + 4096], self.window))
            out.append(stream(x.to(self.device))[1][:, -1].cpu().numpy())
        return np.concatenate(out).astype(np.float64)[:, None]  # one joint value per row


Task = ForecasterTask | WindowedTask | AutoencoderTask
TASKS: dict[str, type[Task]] = {
    "stateful": ForecasterTask,
    "windowed": WindowedTask,
    "autoencoder": AutoencoderTask,
}  # by tsrnn.kinds name
