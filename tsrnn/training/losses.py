"""Training losses and the optimiser step (torch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from tsrnn.training.optim import Adam

HUBER_DELTA = 0.05  # scaled units: smaller errors are squared, larger ones count linearly


def pointwise(pred: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "mae":
        return (pred - target).abs()
    if loss == "huber":
        return nn.functional.huber_loss(pred, target, reduction="none", delta=HUBER_DELTA)
    return (pred - target) ** 2


def masked_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, loss: str = "mse") -> torch.Tensor:
    """pred, target (..., features); mask (...): the mean loss (mse, mae or huber) where mask is 1."""
    per = pointwise(pred, target, loss).mean(dim=-1)
    return (per * mask).sum() / mask.sum().clamp(min=1.0)


def step(model: nn.Module, opt: Adam, loss: torch.Tensor, max_norm: float) -> float:
    """One optimiser step, clipped by global norm (when max_norm > 0); the norm before clipping."""
    opt.zero_grad()
    loss.backward()
    norm = float(nn.utils.clip_grad_norm_(model.parameters(), max_norm if max_norm > 0 else math.inf))
    opt.step()
    return norm
