"""The recurrent cells: one registry, so every model kind and the exporter handle each the same way."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tsrnn.config import ModelConfig
from tsrnn.kinds import CELL_STATES

# constructors: LSTM, GRU and RNN take (input_size, hidden_size, num_layers, ...), not RNNBase's (mode, ...)
CELLS: dict[str, Callable[..., nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def make_rnn(cfg: ModelConfig, inputs: int, hidden: int | None = None, *, bidirectional: bool = False) -> nn.RNNBase:
    """A stacked recurrent layer of the configured cell, batch first.

    The plain RNN with ReLU starts from identity recurrent weights and zero biases (Le, Jaitly and
    Hinton 2015, "IRNN"), so early training passes gradients through time unchanged.
    """
    hidden = hidden or cfg.hidden
    dropout = cfg.dropout if cfg.layers > 1 else 0.0
    kwargs = {"nonlinearity": cfg.nonlinearity} if cfg.cell == "rnn" else {}
    rnn = CELLS[cfg.cell](
        inputs, hidden, cfg.layers, batch_first=True, dropout=dropout, bidirectional=bidirectional, **kwargs
    )
    if cfg.cell == "rnn" and cfg.nonlinearity == "relu":
        with torch.no_grad():
            for name, param in rnn.named_parameters():
                if name.startswith("weight_hh"):
                    param.copy_(torch.eye(hidden))
                elif name.startswith("bias"):
                    param.zero_()
    return rnn


def zero_state(cfg: ModelConfig, batch: int, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
    """The initial state: one (layers, batch, hidden) tensor per state name of the cell, on `device` (CPU: None)."""
    return tuple(torch.zeros(cfg.layers, batch, cfg.hidden, device=device) for _ in CELL_STATES[cfg.cell])


def run_rnn(
    rnn: nn.RNNBase, x: torch.Tensor, state: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Run any cell with its state as a tuple, in and out (an empty tuple: a zero state)."""
    if not state:
        y, out = rnn(x)
        return y, tuple(out) if isinstance(out, tuple) else (out,)
    if isinstance(rnn, nn.LSTM):
        y, (h, c) = rnn(x, state)
        return y, (h, c)
    y, h = rnn(x, state[0])
    return y, (h,)
