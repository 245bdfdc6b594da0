"""Turn a model's per-row error into a score in [0, 1] that is comparable across series."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ERROR_FLOOR = 1e-6  # in scaled units: a perfectly predictable history still gets a finite scale
DEFAULT_RATIO = 3.0  # an anomaly is an error this many times the 99th percentile of validation errors


@dataclass(frozen=True)
class Calibration:
    """What the scorer needs, fitted on validation errors and stored in the model."""

    error_scale: float  # the `quantile` of validation errors, in scaled units
    threshold: float  # score at or above which a row is anomalous
    warmup: int  # rows from a fresh state before errors mean anything
    quantile: float = 0.99

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> Calibration:
        return cls(float(data["error_scale"]), float(data["threshold"]), int(data["warmup"]), float(data["quantile"]))


def calibrate(val_errors: np.ndarray, warmup: int, *, ratio: float = DEFAULT_RATIO, quantile: float = 0.99) -> Calibration:
    """Fit the error scale on validation errors (rows after warm-up) and set the threshold.

    score = r / (1 + r) with r = error / scale keeps scores below 1, so a threshold sweep still
    separates large errors from huge ones; the threshold sits at r = `ratio`.
    """
    finite = val_errors[np.isfinite(val_errors)]
    scale = float(np.quantile(finite, quantile)) if finite.size else ERROR_FLOOR
    scale = max(scale, ERROR_FLOOR)
    return Calibration(error_scale=scale, threshold=ratio / (1.0 + ratio), warmup=warmup, quantile=quantile)


def score(errors: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Per-row errors (any shape) → scores in [0, 1); NaN errors (no prediction yet) score 0."""
    ratio = np.nan_to_num(errors, nan=0.0) / calibration.error_scale
    return ratio / (1.0 + ratio)
