"""One runner per model kind: raw rows + carried arrays → expected values, errors, new arrays.

A registry (RUNNERS) rather than branches in the engine. Both work on one series at a time and
never import torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort

from tsrnn.export.metadata import ModelMetadata

AE_BATCH = 4096
Output = tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]  # expected (rows, features), error (rows,), arrays  # windows per onnxruntime call when backfilling with the autoencoder


class ForecasterRunner:
    """Carries (h, c, next): one call scores any number of new rows at a constant cost per row."""

    def __init__(self, session: ort.InferenceSession, meta: ModelMetadata) -> None:
        self.session = session
        self.layers, self.hidden = meta.state_shape
        self.features = meta.features

    def initial(self) -> dict[str, np.ndarray]:
        zeros = np.zeros((self.layers, 1, self.hidden), np.float32)
        return {"h": zeros, "c": zeros.copy(), "next": np.full((1, self.features), np.nan, np.float32)}

    def run_many(self, jobs: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> list[Output]:
        """Series with the same number of new rows go through one call, stacked on the batch axis.

        (Padding shorter series would run their state past their last row, so lengths are
        grouped instead; a cron job that brings one new row per series makes one call.)
        """
        out: list[Output | None] = [None] * len(jobs)
        groups: dict[int, list[int]] = {}
        for i, (values, _) in enumerate(jobs):
            groups.setdefault(values.shape[0], []).append(i)
        for members in groups.values():
            x = np.stack([jobs[i][0] for i in members]).astype(np.float32)  # (batch, rows, features)
            feed = {k: np.concatenate([jobs[i][1][k] for i in members], axis=1 if k in ("h", "c") else 0) for k in ("h", "c", "next")}
            expected, error, h, c, nxt = self.session.run(None, {"x": x, **feed})
            for b, i in enumerate(members):
                out[i] = (expected[b], error[b], {"h": h[:, b : b + 1], "c": c[:, b : b + 1], "next": nxt[b : b + 1]})
        return out  # type: ignore[return-value]


class AutoencoderRunner:
    """Carries the last window-1 rows: a row's error is the last step of the window ending at it."""

    def __init__(self, session: ort.InferenceSession, meta: ModelMetadata) -> None:
        self.session = session
        self.window = meta.window
        self.features = meta.features

    def initial(self) -> dict[str, np.ndarray]:
        return {"buffer": np.zeros((0, self.features), np.float32)}

    def run_many(self, jobs: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> list[Output]:
        return [self.run(values, arrays) for values, arrays in jobs]

    def run(self, values: np.ndarray, arrays: dict[str, np.ndarray]) -> Output:
        """values (rows, features) → expected (rows, features), error (rows,), new arrays."""
        rows = values.shape[0]
        full = np.concatenate([arrays["buffer"].astype(np.float32), values.astype(np.float32)])
        expected = np.full((rows, self.features), np.nan, np.float32)
        error = np.full(rows, np.nan, np.float32)
        if full.shape[0] >= self.window:
            windows = np.lib.stride_tricks.sliding_window_view(full, self.window, axis=0).transpose(0, 2, 1)
            # window k ends at row k + window - 1 of `full`, which is new row k + offset
            offset = self.window - 1 - arrays["buffer"].shape[0]
            for start in range(0, len(windows), AE_BATCH):
                recon, err = self.session.run(None, {"x": np.ascontiguousarray(windows[start : start + AE_BATCH])})
                expected[start + offset : start + offset + len(err)] = recon[:, -1]
                error[start + offset : start + offset + len(err)] = err[:, -1]
        return expected, error, {"buffer": full[-(self.window - 1) :] if self.window > 1 else full[:0]}


RUNNERS: dict[str, Any] = {"forecaster": ForecasterRunner, "autoencoder": AutoencoderRunner}


def arrays_to_json(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Arrays as nested lists with their shapes; NaN as null (JSON has no NaN)."""
    return {k: {"shape": list(v.shape), "data": [None if np.isnan(x) else float(x) for x in v.ravel()]} for k, v in arrays.items()}


def arrays_from_json(data: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        k: np.array([np.nan if x is None else x for x in v["data"]], dtype=np.float32).reshape(v["shape"])
        for k, v in data.items()
    }
