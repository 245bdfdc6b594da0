"""PyTorch models (train extra). Import only from training and export code, never from watch."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from tsrnn.config import ModelConfig


def build_model(cfg: ModelConfig, columns: list[str]) -> torch.nn.Module:
    """The network for a model kind, from its config and the value columns it reads (weights are loaded separately)."""
    from tsrnn.models.autoencoder import Autoencoder
    from tsrnn.models.forecaster import Forecaster

    if cfg.spec.forecasts:
        return Forecaster(len(columns), cfg, target_indices(cfg, columns))
    return Autoencoder(len(columns), cfg)


def target_indices(cfg: ModelConfig, columns: list[str]) -> tuple[int, ...]:
    """The columns a forecaster forecasts: --target's, or every one."""
    if cfg.target is None:
        return tuple(range(len(columns)))
    if cfg.target not in columns:
        from tsrnn.errors import InputError

        raise InputError(f"--target {cfg.target!r} is not a value column; the value columns are {', '.join(columns)}")
    return (columns.index(cfg.target),)
