"""Calibration: what the scorer learns from validation errors at train time, stored in the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tsrnn.config import ScoreConfig
from tsrnn.scoring.errors import ErrorSpec
from tsrnn.scoring.detector import ERROR_FLOOR, BINS, DetectorSettings, hist_quantile, histogram



@dataclass(frozen=True)
class Calibration:
    """Fitted on validation errors (scaled units) and stored in the run and the exported model."""

    error_scale: float  # the `quantile` of validation errors
    threshold: float  # score at or above which a row is flagged
    warmup: int  # rows from a fresh state before errors mean anything
    quantile: float = 0.99
    memory: int = 10_000  # rows: time constant of watch's running error statistics
    error_hist: dict[str, float] = field(default_factory=dict)  # validation errors per log bin (sparse)
    method: str = "fixed"  # threshold method (thresholds.METHODS)
    level_quantile: float = 0.999  # quantile method
    risk: float = 1e-4  # pot method
    smooth: int = 0  # EWMA span of the ratio; 0: none
    error: str = "abs"  # forecaster error per row (errors.ERROR_KINDS)
    error_norms: list[float] = field(default_factory=lambda: [1.0, 1.0])  # "both", "blend": the two parts' 99th percentiles
    inverse_cov: list[list[float]] | None = None  # "mahalanobis": of the validation residuals

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(float(data["error_scale"]), float(data["threshold"]), int(data["warmup"]), float(data["quantile"]),
                   int(data.get("memory", 10_000)), {str(k): float(v) for k, v in data.get("error_hist", {}).items()},
                   str(data.get("method", "fixed")), float(data.get("level_quantile", 0.999)), float(data.get("risk", 1e-4)), int(data.get("smooth", 0)),
                   str(data.get("error", "abs")), [float(v) for v in data.get("error_norms", (1.0, 1.0))], data.get("inverse_cov"))

    def prior(self) -> np.ndarray:
        """The validation errors' histogram; a point mass at error_scale for a model without one."""
        hist = np.zeros(BINS)
        for i, v in self.error_hist.items():
            hist[int(i)] = v
        if hist.sum() == 0:
            hist = histogram(np.full(100, self.error_scale))
        return hist

    def settings(self, **overrides: Any) -> DetectorSettings:
        base = {"threshold": self.threshold, "quantile": self.quantile, "memory": self.memory, "warmup": self.warmup,
                "method": self.method, "level_quantile": self.level_quantile, "risk": self.risk, "smooth": self.smooth}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return DetectorSettings(**base)


def calibrate(val_errors: np.ndarray, warmup: int, *, score: ScoreConfig | None = None, quantile: float = 0.99,
              spec: ErrorSpec | None = None) -> Calibration:
    """Fit the error scale on validation errors (rows after warm-up), with the scoring settings.

    score = r / (1 + r) with r = error / scale keeps scores below 1, so a threshold sweep still
    separates large errors from huge ones; the fixed threshold 0.75 sits at r = 3.
    """
    score = score or ScoreConfig()
    finite = val_errors[np.isfinite(val_errors)]
    hist = histogram(finite)
    scale = max(hist_quantile(hist, quantile), ERROR_FLOOR) if finite.size else ERROR_FLOOR
    sparse = {str(int(i)): float(hist[i]) for i in np.flatnonzero(hist)}
    return Calibration(error_scale=scale, threshold=score.threshold, warmup=warmup, quantile=quantile, memory=score.memory, error_hist=sparse,
                       method=score.threshold_method, level_quantile=score.level_quantile, risk=score.risk, smooth=score.smooth, error=score.error,
                       error_norms=[float(v) for v in spec.norms] if spec else [1.0, 1.0],
                       inverse_cov=spec.inverse_cov.tolist() if spec is not None and spec.inverse_cov is not None else None)
