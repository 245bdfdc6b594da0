"""PyTorch models (train extra). Import only from training and export code, never from watch."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from tsrnn.config import ModelConfig


def build_model(cfg: ModelConfig, features: int) -> torch.nn.Module:
    """The network for a model kind, from its config alone (weights are loaded separately)."""
    from tsrnn.models.autoencoder import Autoencoder
    from tsrnn.models.forecaster import Forecaster

    kinds = {"forecaster": Forecaster, "autoencoder": Autoencoder}
    return kinds[cfg.kind](features, cfg)
