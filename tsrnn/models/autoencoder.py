"""An LSTM encoder–decoder that reconstructs fixed windows; its error is the anomaly signal."""

from __future__ import annotations

import torch
from torch import nn

from tsrnn.config import ModelConfig


class Autoencoder(nn.Module):
    """Encode a window to the encoder's last hidden state, decode it back to the window."""

    def __init__(self, features: int, cfg: ModelConfig) -> None:
        super().__init__()
        dropout = cfg.dropout if cfg.layers > 1 else 0.0
        self.encoder = nn.LSTM(features, cfg.hidden, cfg.layers, batch_first=True, dropout=dropout)
        self.decoder = nn.LSTM(cfg.hidden, cfg.hidden, cfg.layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(cfg.hidden, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, window, features) scaled → reconstruction (batch, window, features) scaled."""
        _, (h, _) = self.encoder(x)  # h: (layers, batch, hidden)
        code = h[-1].unsqueeze(1).expand(-1, x.shape[1], -1)  # (batch, window, hidden)
        y, _ = self.decoder(code)
        return self.head(y)


class StreamingAutoencoder(nn.Module):
    """Raw windows in; reconstruction (batch, window, features) raw and error (batch, window) out.

    The error is the mean absolute error over features in scaled units, per step of the window.
    """

    def __init__(self, model: Autoencoder, mean: list[float], scale: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        recon = self.model((x - self.mean) / self.scale) * self.scale + self.mean
        error = ((x - recon).abs() / self.scale).mean(dim=-1)
        return recon, error
