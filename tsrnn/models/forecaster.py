"""A stateful next-step forecaster, and the streaming form of it that is exported to ONNX."""

from __future__ import annotations

import torch
from torch import nn

from tsrnn.config import ModelConfig


class Forecaster(nn.Module):
    """LSTM + linear head predicting the change to the next row, in scaled units.

    Predicting x[t] + f(h[t]) rather than the next value itself starts the model at
    persistence ("tomorrow equals today") and lets it learn the rest.
    """

    def __init__(self, features: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.features = features
        self.hidden = cfg.hidden
        self.layers = cfg.layers
        dropout = cfg.dropout if cfg.layers > 1 else 0.0
        self.rnn = nn.LSTM(features, cfg.hidden, cfg.layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(cfg.hidden, features)

    def zero_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, c), each (layers, batch, hidden)."""
        shape = (self.layers, batch, self.hidden)
        return torch.zeros(shape), torch.zeros(shape)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (batch, time, features) scaled → prediction of each next row (batch, time, features), h, c."""
        y, (h, c) = self.rnn(x, (h, c))  # y: (batch, time, hidden)
        return x + self.head(y), h, c


class StreamingForecaster(nn.Module):
    """Raw units in, raw units out, with the pending prediction carried as state.

    Inputs: x (batch, time, features) raw; h, c (layers, batch, hidden); next (batch, features),
    the prediction made for x[:, 0] by the previous call (NaN when there was none).
    Outputs: expected (batch, time, features) raw; error (batch, time), the mean absolute error
    over features in scaled units; h, c; next, the prediction for the row after the last.
    """

    def __init__(self, model: Forecaster, mean: list[float], scale: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, next_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        pred, h, c = self.model((x - self.mean) / self.scale, h, c)
        pred = pred * self.scale + self.mean  # (batch, time, features) raw
        expected = torch.cat([next_in.unsqueeze(1), pred[:, :-1]], dim=1)
        error = ((x - expected).abs() / self.scale).mean(dim=-1)  # (batch, time)
        return expected, error, h, c, pred[:, -1]
