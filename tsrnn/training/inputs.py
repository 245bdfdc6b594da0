"""The network a training starts from: built and seeded per kind, and with --inputs auto, chosen
between level and diff inputs by a short probe of each."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np

from tsrnn.config import ModelConfig, TrainConfig
from tsrnn.data.scaling import Scaler
from tsrnn.training.batching import Split
from tsrnn.training.distributed import select_device

PROBE_EPOCHS = 10  # --inputs auto: epochs each candidate trains before the better one goes on


def network(model_cfg: ModelConfig, cfg: TrainConfig, split: Split, scaler: Scaler, columns: list[str]):
    """A freshly initialised network (seeded) and its training task."""
    import torch

    from tsrnn.models import build_model, target_indices

    torch.manual_seed(cfg.seed)
    net = build_model(model_cfg, columns)
    task = _task(model_cfg, split, scaler, cfg, target_indices(model_cfg, columns))
    if model_cfg.inputs == "diff":
        cast("torch.Tensor", net.diff_scale).copy_(torch.from_numpy(_change_spread(split, scaler)))  # a buffer
    return net.to(select_device(cfg.device)), task


def task_for(model_cfg: ModelConfig, cfg: TrainConfig, split: Split, scaler: Scaler, columns: list[str]):
    """The task of `split` alone (rank 0 of several calibrates on every series, trained elsewhere)."""
    from tsrnn.models import target_indices

    return _task(model_cfg, split, scaler, cfg, target_indices(model_cfg, columns))


def choose_inputs(model_cfg: ModelConfig, cfg: TrainConfig, split: Split, scaler: Scaler, columns: list[str]):
    """--inputs auto: train a level and a diff forecaster for PROBE_EPOCHS epochs each, from the
    same seed, and go on with the one whose validation loss is lower (a drifting series favours
    changes, a stationary one levels). Returns the chosen config, its network and task, the
    checkpoint to continue from, and the record of the choice (kept in run.json's summary)."""
    from tsrnn.training.loop import fit

    probe = dataclasses.replace(cfg, epochs=min(PROBE_EPOCHS, cfg.epochs))
    tried = {}
    for inputs in ("level", "diff"):
        candidate = dataclasses.replace(model_cfg, inputs=inputs)
        net, task = network(candidate, cfg, split, scaler, columns)
        best: list[Any] = []
        stopped = fit(net, task, probe, None, best.append).interrupted
        if best:
            tried[inputs] = (candidate, net, task, best[-1])
        if stopped:  # Ctrl-C while choosing: the better candidate so far is kept, and training ends
            break
    if not tried:
        raise KeyboardInterrupt
    chosen = min(tried, key=lambda k: tried[k][3].best_loss)
    record: dict[str, Any] = {
        "chosen": chosen,
        "by": f"validation loss after {probe.epochs} epochs each",
        "validation_loss": {k: round(float(v[3].best_loss), 6) for k, v in tried.items()},
    }
    if stopped:
        record["by"] += " (interrupted while choosing)"
    return (*tried[chosen], record, stopped)


def _task(model_cfg: ModelConfig, split: Split, scaler: Scaler, cfg: TrainConfig, targets: tuple[int, ...]):
    from tsrnn.training.tasks import TASKS

    return TASKS[model_cfg.spec.name](split, scaler, cfg, model_cfg, targets)


def _change_spread(split: Split, scaler: Scaler) -> np.ndarray:
    """Per column, the standard deviation of row-to-row changes (scaled) within training segments;
    a column that never changes gets 1, so its first change reads as a large input."""
    changes = [np.diff(scaler.transform(p), axis=0) for p in split.train if len(p) > 1]
    if not changes:
        return np.ones(len(scaler.mean), np.float32)
    spread = np.concatenate(changes).std(axis=0)
    return np.where(spread > 1e-6, spread, 1.0).astype(np.float32)
