"""Synthetic series for tests: a daily cycle with noise, optionally with injected anomalies."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

START = datetime(2024, 1, 1)
STEP = timedelta(minutes=5)
PERIOD = 144  # rows per cycle (12 hours at 5 minutes)


def cycle(rows: int, *, start_row: int = 0, seed: int = 0, noise: float = 0.5, features: int = 1) -> np.ndarray:
    """(rows, features): 50 + 10·sin(2πt/PERIOD) (+ a phase per feature) + Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(start_row, start_row + rows)[:, None]
    phase = np.arange(features)[None, :] * 0.7
    return 50.0 + 10.0 * np.sin(2 * np.pi * t / PERIOD + phase) + rng.normal(0.0, noise, (rows, features))


def inject_spike(values: np.ndarray, row: int, size: float, length: int = 1) -> np.ndarray:
    """A copy of values with `size` added to every feature of rows [row, row + length)."""
    out = values.copy()
    out[row : row + length] += size
    return out


def stamps(rows: int, start_row: int = 0) -> list[str]:
    return [(START + (start_row + i) * STEP).strftime("%Y-%m-%d %H:%M:%S") for i in range(rows)]


def write_csv(
    path: Path, values: np.ndarray, *, start_row: int = 0, names: list[str] | None = None, final_newline: bool = True
) -> Path:
    """Write timestamp + value columns; `final_newline=False` mimics many real exports."""
    names = names or (["value"] if values.shape[1] == 1 else [f"v{i}" for i in range(values.shape[1])])
    lines = ["timestamp," + ",".join(names)]
    lines += [f"{ts}," + ",".join(f"{v:.4f}" for v in row) for ts, row in zip(stamps(len(values), start_row), values)]
    path.write_text("\n".join(lines) + ("\n" if final_newline else ""))
    return path
