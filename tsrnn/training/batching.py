"""Batches for training: contiguous streams cut into TBPTT chunks, or sliding windows."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def stream_chunks(
    scaled: np.ndarray, streams: int, chunk: int, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Cut (rows, features) into `streams` contiguous pieces read in parallel, chunk by chunk.

    Yields (inputs, targets), each (streams, ≤chunk, features), in time order, so the caller can
    carry the recurrent state from one chunk to the next. A random start offset each epoch keeps
    chunk borders from always falling on the same rows.
    """
    usable = scaled.shape[0] - 1  # every input row needs its next row as target
    length = usable // streams
    offset = int(rng.integers(0, usable - streams * length + 1))
    idx = offset + np.arange(streams)[:, None] * length + np.arange(length)[None, :]  # (streams, length)
    inputs = torch.from_numpy(scaled[idx].astype(np.float32))
    targets = torch.from_numpy(scaled[idx + 1].astype(np.float32))
    for start in range(0, length, chunk):
        yield inputs[:, start : start + chunk], targets[:, start : start + chunk]


def sliding_windows(scaled: np.ndarray, window: int) -> np.ndarray:
    """(rows, features) → (rows - window + 1, window, features), a view without copying."""
    view = np.lib.stride_tricks.sliding_window_view(scaled, window, axis=0)  # (n, features, window)
    return view.transpose(0, 2, 1)
