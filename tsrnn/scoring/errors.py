"""A forecaster's error per row, from its forecasts (numpy only: training and watch share it).

- abs: the mean absolute one-step error over columns, in scaled units (what the graph outputs).
- squared: the mean squared one-step error over columns, in scaled units.
- horizon: the mean absolute error of every forecast made for the row, from 1 to H rows ahead
  (a direct H-step head): a level shift then stays visible for H rows, and a model that learned
  the series' rhythm is judged on it rather than on "tomorrow equals today".
- both: the larger of the abs and horizon errors, each divided by its validation 99th
  percentile (`norms`), so a one-row spike and a shift the forecasts missed both show.
- mahalanobis: the one-step residuals (scaled) in units of their validation covariance,
  sqrt(r' S^-1 r / columns): for several columns that move together, a row where they disagree
  stands out even when each column alone looks normal.
- blend: the mean of the horizon error and the seasonal error (the row against the same time a
  day earlier, no model involved), each divided by its 99th percentile in the training history;
  the horizon error alone until a day of rows has been seen. A second opinion that knows the
  daily rhythm, which a model trained on a few days of history may not have learned.
"""

from __future__ import annotations

import numpy as np

ERROR_KINDS = ("abs", "squared", "horizon", "both", "blend", "mahalanobis")
DAY = 86_400.0
MAX_SEASON_ROWS = 20_000  # a day of rows every 4.3 s at most: beyond that the blend is refused


def pending_forecasts(horizon: int, features: int) -> np.ndarray:
    """The carried forecasts of the last `horizon` rows, (horizon, horizon, features), NaN at first."""
    return np.full((horizon, horizon, features), np.nan, np.float32)


def row_errors(kind: str, x: np.ndarray, expected: np.ndarray, forecast: np.ndarray, pending: np.ndarray, scale: np.ndarray,
               norms: tuple[float, float] | list[float] = (1.0, 1.0), inverse_cov: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x, expected (rows, F) raw; forecast (rows, H, F) raw, made at each row for the rows after it;
    pending (H, H, F): the forecasts made at the H rows before these. → (errors (rows,), new pending).
    A row with no forecast yet has error NaN."""
    rows, horizon = x.shape[0], forecast.shape[1]
    both = np.concatenate([pending, forecast.astype(np.float32)])  # (H + rows, H, F)
    new_pending = both[-horizon:]
    if kind == "abs":
        return (np.abs(x - expected) / scale).mean(axis=-1), new_pending
    if kind == "squared":
        return (((x - expected) / scale) ** 2).mean(axis=-1), new_pending
    if kind == "mahalanobis":
        return mahalanobis((x - expected) / scale, inverse_cov), new_pending
    if kind == "both":
        one = (np.abs(x - expected) / scale).mean(axis=-1) / norms[0]
        many = row_errors("horizon", x, expected, forecast, pending, scale)[0] / norms[1]
        return np.fmax(one, many), new_pending
    k = np.arange(1, horizon + 1)
    made = horizon + np.arange(rows)[:, None] - k[None, :]  # (rows, H): the row of `both` that forecast row i, k ahead
    guesses = both[made, k[None, :] - 1]  # (rows, H, F)
    err = np.abs(guesses - x[:, None, :]) / scale  # NaN where no forecast was made yet
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(err).all(axis=-1).sum(axis=1)
        total = np.nansum(err.mean(axis=-1), axis=1)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan), new_pending


def season_rows(interval_seconds: float | None) -> int:
    """Rows in a day at this interval; 0 when unknown or out of range."""
    if not interval_seconds or interval_seconds <= 0:
        return 0
    rows = int(round(DAY / interval_seconds))
    return rows if 2 <= rows <= MAX_SEASON_ROWS else 0


def season_buffer(rows: int, features: int) -> np.ndarray:
    return np.full((rows, features), np.nan, np.float32)


def seasonal_errors(x: np.ndarray, buffer: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (rows, F) raw; buffer (P, F): the P rows before x. → (|x - the row P before| / scale
    averaged over columns, NaN without such a row; the new buffer)."""
    period = buffer.shape[0]
    both = np.concatenate([buffer, x.astype(np.float32)])
    err = (np.abs(x - both[: x.shape[0]]) / scale).mean(axis=-1)
    return err, both[-period:]


def blend(horizon: np.ndarray, seasonal: np.ndarray, norms: tuple[float, float] | list[float]) -> np.ndarray:
    h = horizon / norms[0]
    return np.where(np.isfinite(seasonal), 0.5 * (h + seasonal / norms[1]), h)


def mahalanobis(residuals: np.ndarray, inverse_cov: np.ndarray | None) -> np.ndarray:
    """(rows, F) residuals → sqrt(r' S^-1 r / F) per row (NaN rows stay NaN)."""
    r = np.asarray(residuals, np.float64)
    inv = np.eye(r.shape[-1]) if inverse_cov is None else np.asarray(inverse_cov, np.float64)
    return np.sqrt(np.maximum(np.einsum("...i,ij,...j->...", r, inv, r), 0.0) / r.shape[-1])


def inverse_covariance(residuals: np.ndarray) -> list[list[float]]:
    """The regularised inverse covariance of validation residuals (rows, F), as nested lists."""
    r = np.asarray(residuals, np.float64)
    r = r[np.isfinite(r).all(axis=1)]
    f = r.shape[1] if r.ndim == 2 else 1
    if r.shape[0] < 2:
        return np.eye(f).tolist()
    cov = np.atleast_2d(np.cov(r, rowvar=False))
    ridge = 1e-6 + 1e-3 * float(np.trace(cov)) / f  # a column that never moved still gets a finite spread
    return np.linalg.inv(cov + ridge * np.eye(f)).tolist()
