"""Feature scaling in numpy; the same two numbers per feature are baked into the exported graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsrnn.errors import InputError

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the exported graph holds mean and scale as float32


@dataclass(frozen=True)
class Scaler:
    """(x - mean) / scale per feature; `mean` is the centre each kind chooses."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    kind: str = "standard"

    @classmethod
    def fit(cls, values: np.ndarray, kind: str = "standard", columns: list[str] | None = None) -> Scaler:
        """Fit on (rows, features): standard (mean, std), minmax (min, range), robust (median, IQR).

        A feature with no spread would divide by zero; its scale falls back to 1e-3 of the
        feature's magnitude (at least 1e-6), so a change away from a constant history shows up as
        a very large, finite error: for a flat series, any change is news. Values so large that
        their centre or spread is not a finite float32 are refused: the model would only see zeros.
        """
        with np.errstate(over="ignore", invalid="ignore"):  # too large values are refused below, by name
            if kind == "minmax":
                center, spread = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
            elif kind == "robust":
                q25, center, q75 = np.quantile(values, [0.25, 0.5, 0.75], axis=0)
                spread = q75 - q25
            else:
                center, spread = values.mean(axis=0), values.std(axis=0)
            floor = np.maximum(np.abs(center) * 1e-3, 1e-6)
            scale = np.where(spread > floor, spread, floor)
            bad = ~(np.isfinite(center) & np.isfinite(scale) & (np.abs(center) + scale < FLOAT32_MAX))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            name = repr(columns[i]) if columns is not None else f"{i + 1}"
            raise InputError(
                f"column {name}: its values are too large to scale (centre {center[i]:.3g}, spread {spread[i]:.3g}; "
                f"a model computes in float32, up to {FLOAT32_MAX:.3g}); divide the column by a power of ten "
                "before training"
            )
        return cls(tuple(float(m) for m in center), tuple(float(s) for s in scale), kind)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.mean)) / np.asarray(self.scale)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * np.asarray(self.scale) + np.asarray(self.mean)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "mean": list(self.mean), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        return cls(tuple(data["mean"]), tuple(data["scale"]), data.get("kind", "standard"))
