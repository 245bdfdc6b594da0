"""The forecaster, and the streaming form of it that is exported to ONNX."""

from __future__ import annotations

import torch
from torch import nn

from tsrnn.config import ModelConfig
from tsrnn.data.timefeatures import count as time_count
from tsrnn.models.cells import make_rnn, run_rnn, zero_state


class Forecaster(nn.Module):
    """A recurrent layer + linear head predicting the next `horizon` rows, in scaled units.

    Each forecast is x[t] + f_k(h[t]) rather than the value itself: the model starts at
    persistence ("tomorrow equals today") and learns the rest. It reads every value column and
    forecasts the `targets` (every column unless trained with --target).
    """

    diff_scale: torch.Tensor  # a buffer (register_buffer below)

    def __init__(self, features: int, cfg: ModelConfig, targets: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = features
        self.targets = list(targets) if targets is not None else list(range(features))
        self.outputs = len(self.targets)
        self.horizon = cfg.horizon
        self.time_inputs = time_count(
            cfg.time_features if cfg.time_features != "auto" else "none"
        )  # train() decides auto from the data
        self.rnn = make_rnn(cfg, features + self.time_inputs)
        self.head = nn.Linear(cfg.hidden, self.outputs * cfg.horizon)
        nn.init.zeros_(self.head.weight)  # start exactly at persistence, whatever the cell's first states
        nn.init.zeros_(self.head.bias)
        # inputs="diff": the changes are divided by their training spread, so the cell reads values
        # of order 1 (changes in scaled units are often ~0.01 and the cell barely learned from them)
        self.register_buffer("diff_scale", torch.ones(features))

    def zero_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        """One (layers, batch, hidden) tensor per state of the cell: (h, c) for LSTM, (h,) else; on the
        network's device."""
        return zero_state(self.cfg, batch, self.head.weight.device)

    def forward(
        self, x: torch.Tensor, *state: torch.Tensor, diff: torch.Tensor | None = None, tf: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """x (batch, time, features) scaled → (forecasts (batch, time, horizon, targets), *state).

        With `inputs="diff"` the cell reads `diff`, each row minus the row before (scaled), so
        it never sees the level itself; `diff` defaults to differences within x (0 for row 0).
        With time features, `tf` (batch, time, k) is read beside them (timefeatures.py).
        """
        if self.cfg.inputs == "diff":
            if diff is None:
                diff = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
            inputs = diff / self.diff_scale
        else:
            inputs = x
        if self.time_inputs:
            assert tf is not None, "a model with time features reads them from tf"
            inputs = torch.cat([inputs, tf], dim=-1)
        y, state = run_rnn(self.rnn, inputs, state)  # y: (batch, time, hidden)
        b, t, _ = y.shape
        base = x if self.outputs == self.features else x[..., self.targets]
        return (base.unsqueeze(2) + self.head(y).view(b, t, self.horizon, self.outputs), *state)


class StreamingForecaster(nn.Module):
    """Raw units in and out, with the pending one-step prediction carried as state.

    Inputs: x (batch, time, features) raw; with time features, tf (batch, time, k); the cell's
    state, each (layers, batch, hidden); next
    (batch, targets), the prediction made for x[:, 0] by the previous call (NaN when none); and
    for inputs="diff", prev (batch, features), the last row of the previous call (NaN when none).
    Outputs: expected (batch, time, targets) raw, the one-step prediction for each row; error
    (batch, time), the mean absolute error over targets in scaled units; forecast
    (batch, time, horizon, targets) raw, the rows after each row; the new state; next; [prev].
    The targets are every value column unless the model was trained with --target.
    """

    mean: torch.Tensor  # buffers (register_buffer below)
    scale: torch.Tensor

    def __init__(self, model: Forecaster, mean: list[float], scale: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor, *carried: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """carried: [tf,] the cell's states, next, and (inputs="diff") prev, the last row of the previous call."""
        tf = None
        if self.model.time_inputs:
            tf, carried = carried[0], carried[1:]
        diff_inputs = self.model.cfg.inputs == "diff"
        state, next_in = carried[: len(carried) - 1 - diff_inputs], carried[len(carried) - 1 - diff_inputs]
        xs = (x - self.mean) / self.scale
        diff = None
        if diff_inputs:
            prev = carried[-1]
            prev = torch.where(torch.isnan(prev), x[:, 0], prev)  # no previous row: a change of 0
            before = torch.cat([((prev - self.mean) / self.scale).unsqueeze(1), xs[:, :-1]], dim=1)
            diff = xs - before
        pred, *state = self.model(xs, *state, diff=diff, tf=tf)
        targets = self.model.targets
        mean, scale = (
            (self.mean, self.scale)
            if self.model.outputs == self.model.features
            else (self.mean[targets], self.scale[targets])
        )
        forecast = pred * scale + mean  # (batch, time, horizon, targets) raw
        one_step = forecast[:, :, 0]
        expected = torch.cat([next_in.unsqueeze(1), one_step[:, :-1]], dim=1)
        actual = x if self.model.outputs == self.model.features else x[..., targets]
        error = ((actual - expected).abs() / scale).mean(dim=-1)  # (batch, time)
        out = (expected, error, forecast, *state, one_step[:, -1])
        return (*out, x[:, -1]) if diff_inputs else out


class WindowedForecaster(nn.Module):
    """Raw windows (batch, window, features) in → forecast (batch, horizon, features) raw out.

    The baseline most libraries use: every prediction re-runs a whole window from a zero state.
    """

    mean: torch.Tensor  # buffers (register_buffer below)
    scale: torch.Tensor

    def __init__(self, model: Forecaster, mean: list[float], scale: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pred, *_ = self.model((x - self.mean) / self.scale)  # no state given: the cell starts at zero
        return pred[:, -1] * self.scale + self.mean
