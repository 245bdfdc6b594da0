"""Feature scaling in numpy; the same numbers are baked into the exported graph."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scaler:
    """Standard scaling: (x - mean) / scale, per feature."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        """Fit on (rows, features). A constant feature keeps a small positive scale.

        With a zero spread any later change would divide by zero; instead the scale falls back to
        1e-3 of the feature's magnitude (at least 1e-6), so that a change away from a constant
        history shows up as a very large, finite error: for a flat series, any change is news.
        """
        mean = values.mean(axis=0)
        std = values.std(axis=0)
        floor = np.maximum(np.abs(mean) * 1e-3, 1e-6)
        scale = np.where(std > floor, std, floor)
        return cls(tuple(float(m) for m in mean), tuple(float(s) for s in scale))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.mean)) / np.asarray(self.scale)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * np.asarray(self.scale) + np.asarray(self.mean)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Scaler:
        return cls(tuple(data["mean"]), tuple(data["scale"]))
