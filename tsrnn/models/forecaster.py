"""The forecaster, and the streaming form of it that is exported to ONNX."""

from __future__ import annotations

import torch
from torch import nn

from tsrnn.config import ModelConfig
from tsrnn.models.cells import make_rnn, run_rnn, zero_state


class Forecaster(nn.Module):
    """A recurrent layer + linear head predicting the next `horizon` rows, in scaled units.

    Each forecast is x[t] + f_k(h[t]) rather than the value itself: the model starts at
    persistence ("tomorrow equals today") and learns the rest.
    """

    def __init__(self, features: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = features
        self.horizon = cfg.horizon
        self.rnn = make_rnn(cfg, features)
        self.head = nn.Linear(cfg.hidden, features * cfg.horizon)
        nn.init.zeros_(self.head.weight)  # start exactly at persistence, whatever the cell's first states
        nn.init.zeros_(self.head.bias)

    def zero_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        """One (layers, batch, hidden) tensor per state of the cell: (h, c) for LSTM, (h,) else."""
        return zero_state(self.cfg, batch)

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x (batch, time, features) scaled → (forecasts (batch, time, horizon, features), *state)."""
        y, state = run_rnn(self.rnn, x, state)  # y: (batch, time, hidden)
        b, t, _ = y.shape
        return (x.unsqueeze(2) + self.head(y).view(b, t, self.horizon, self.features), *state)


class StreamingForecaster(nn.Module):
    """Raw units in and out, with the pending one-step prediction carried as state.

    Inputs: x (batch, time, features) raw; the cell's state, each (layers, batch, hidden); next
    (batch, features), the prediction made for x[:, 0] by the previous call (NaN when none).
    Outputs: expected (batch, time, features) raw, the one-step prediction for each row; error
    (batch, time), the mean absolute error over features in scaled units; forecast
    (batch, time, horizon, features) raw, the rows after each row; the new state; next.
    """

    def __init__(self, model: Forecaster, mean: list[float], scale: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor, *state_and_next: torch.Tensor) -> tuple[torch.Tensor, ...]:
        *state, next_in = state_and_next
        pred, *state = self.model((x - self.mean) / self.scale, *state)
        forecast = pred * self.scale + self.mean  # (batch, time, horizon, features) raw
        one_step = forecast[:, :, 0]
        expected = torch.cat([next_in.unsqueeze(1), one_step[:, :-1]], dim=1)
        error = ((x - expected).abs() / self.scale).mean(dim=-1)  # (batch, time)
        return (expected, error, forecast, *state, one_step[:, -1])


class WindowedForecaster(nn.Module):
    """Raw windows (batch, window, features) in → forecast (batch, horizon, features) raw out.

    The baseline most libraries use: every prediction re-runs a whole window from a zero state.
    """

    def __init__(self, model: Forecaster, mean: list[float], scale: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pred, *_ = self.model((x - self.mean) / self.scale, *self.model.zero_state(x.shape[0]))
        return pred[:, -1] * self.scale + self.mean
