"""A recurrent encoder–decoder that reconstructs fixed windows; its error is the anomaly signal."""

from __future__ import annotations

import torch
from torch import nn

from tsrnn.config import ModelConfig
from tsrnn.models.cells import make_rnn, run_rnn


class Autoencoder(nn.Module):
    """Encode a window to the encoder's last hidden state(s), decode it back to the window."""

    def __init__(self, features: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.directions = 2 if cfg.bidirectional else 1
        self.encoder = make_rnn(cfg, features, bidirectional=cfg.bidirectional)
        self.decoder = make_rnn(cfg, cfg.hidden * self.directions)
        self.head = nn.Linear(cfg.hidden, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, window, features) scaled → reconstruction (batch, window, features) scaled."""
        _, state = run_rnn(self.encoder, x, ())  # state[0]: (layers * directions, batch, hidden)
        last = state[0][-self.directions :]  # the top layer, each direction
        code = last.transpose(0, 1).reshape(x.shape[0], -1)  # (batch, directions * hidden)
        y, _ = run_rnn(self.decoder, code.unsqueeze(1).expand(-1, x.shape[1], -1), ())
        return self.head(y)


class StreamingAutoencoder(nn.Module):
    """Raw windows in; reconstruction (batch, window, features) raw and error (batch, window) out.

    The error is the mean absolute error over features in scaled units, per step of the window.
    """

    mean: torch.Tensor  # buffers (register_buffer below)
    scale: torch.Tensor

    def __init__(self, model: Autoencoder, mean: list[float], scale: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        recon = self.model((x - self.mean) / self.scale) * self.scale + self.mean
        error = ((x - recon).abs() / self.scale).mean(dim=-1)
        return recon, error
