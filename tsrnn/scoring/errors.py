"""A forecaster's error per row and column, from its forecasts (numpy only: training and watch share it).

Each kind gives one value per value column (a sensor that goes wrong alone is not averaged away
by quiet ones), except mahalanobis, one joint value per row.

- abs: the absolute one-step error, in scaled units (the graph's `error` output is its mean over
  columns).
- squared: the squared one-step error, in scaled units.
- horizon: the mean absolute error of every forecast made for the row, from 1 to H rows ahead
  (a direct H-step head): a level shift then stays visible for H rows, and a model that learned
  the series' rhythm is judged on it rather than on "tomorrow equals today".
- both: the larger of the abs and horizon errors, each divided by its validation 99th
  percentile (`norms`), so a one-row spike and a shift the forecasts missed both show.
- mahalanobis: the one-step residuals (scaled) in units of their validation covariance,
  sqrt(r' S^-1 r / columns), one value per row: for several columns that move together, a row
  where they disagree stands out even when each column alone looks normal.
- blend: the mean of the horizon error and the seasonal error (the row against the same time a
  day earlier, no model involved), each divided by its 99th percentile in the training history;
  the horizon error alone until a day of rows has been seen. A second opinion that knows the
  daily rhythm, which a model trained on a few days of history may not have learned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsrnn.scoring import ERROR_KINDS  # noqa: F401 (the names, defined once)

DAY = 86_400.0
MAX_SEASON_ROWS = 20_000  # a day of rows every 4.3 s at most: beyond that the blend is refused


@dataclass(frozen=True)
class ErrorSpec:
    """Everything an error kind needs besides the rows (watch builds it from the model's metadata,
    training from its task), so both compute a row's error with the same code."""

    kind: str = "abs"
    horizon: int = 1
    features: int = 1
    season: int = 0  # blend: rows in a day
    norms: tuple[float, ...] = (1.0, 1.0)  # both, blend: the two parts' 99th percentiles
    inverse_cov: np.ndarray | None = None  # mahalanobis

    @property
    def needs_forecast(self) -> bool:
        return self.kind in ("horizon", "both", "blend")

    def initial(self) -> dict[str, np.ndarray]:
        """The arrays a series carries from call to call for this kind (none for abs, squared, mahalanobis)."""
        carried = {}
        if self.needs_forecast:  # the forecasts of the last H rows, (H, H, F), NaN at first
            carried["pending"] = np.full((self.horizon, self.horizon, self.features), np.nan, np.float32)
        if self.kind == "blend":  # the last day of rows, (P, F)
            carried["season"] = np.full((self.season, self.features), np.nan, np.float32)
        return carried


def row_errors(
    spec: ErrorSpec,
    x: np.ndarray,
    expected: np.ndarray,
    forecast: np.ndarray | None,
    scale: np.ndarray,
    carried: dict[str, np.ndarray],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """x, expected (rows, F) raw; forecast (rows, H, F) raw, made at each row for the rows after it
    (None when the kind needs none); carried: spec.initial(), or what the last call returned.
    → (error (rows, F), (rows, 1) for mahalanobis, NaN where it cannot be computed yet; the new
    carried arrays).

    Series of the same length go through together with a leading batch axis on every array
    (x (series, rows, F), carried (series, ...)): one call for a fleet, not one per series."""
    one = np.abs(x - expected) / scale
    if spec.kind == "abs":
        return one, {}
    if spec.kind == "squared":
        return one**2, {}
    if spec.kind == "mahalanobis":
        return mahalanobis((x - expected) / scale, spec.inverse_cov)[..., None], {}
    assert forecast is not None
    many, pending = _horizon_errors(x, forecast, carried["pending"], scale)
    if spec.kind == "horizon":
        return many, {"pending": pending}
    if spec.kind == "both":
        return np.fmax(one / spec.norms[0], many / spec.norms[1]), {"pending": pending}
    seasonal, season = seasonal_errors(x, carried["season"], scale)  # blend
    h = many / spec.norms[0]
    return np.where(np.isfinite(seasonal), 0.5 * (h + seasonal / spec.norms[1]), h), {
        "pending": pending,
        "season": season,
    }


def _horizon_errors(
    x: np.ndarray, forecast: np.ndarray, pending: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """x (..., rows, F); forecast (..., rows, H, F); pending (..., H, H, F): the last call's last H
    forecasts. → (the mean error of the forecasts made for each row, (..., rows, F); the new pending)."""
    rows, horizon = x.shape[-2], forecast.shape[-2]
    both = np.concatenate([pending, forecast.astype(np.float32)], axis=-3)  # (..., H + rows, H, F)
    # (..., rows, H, F), NaN where none was made yet: row i's forecast k ahead was made at row H + i - k of `both`
    k = np.arange(1, horizon + 1)
    if x.ndim > 2 and x.shape[0] > 1:  # several series: gathered (the sums below follow the gather's memory order)
        made = horizon + np.arange(rows)[:, None] - k[None, :]
        err = np.abs(both[..., made, k[None, :] - 1, :] - x[..., :, None, :]) / scale
    else:  # one series (a backfill): a slice per k, the same numbers in the same order as gathered, faster
        err = np.empty((*x.shape[:-1], horizon, x.shape[-1]), np.result_type(both, x, scale))
        for j in range(1, horizon + 1):
            np.divide(np.abs(both[..., horizon - j : horizon - j + rows, j - 1, :] - x), scale, out=err[..., j - 1, :])
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(err).all(axis=-1).sum(axis=-1)[..., None]  # (..., rows, 1)
        total = np.nansum(err, axis=-2)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan), both[..., rows:, :, :]


def season_rows(interval_seconds: float | None) -> int:
    """Rows in a day at this interval; 0 when unknown or out of range."""
    if not interval_seconds or interval_seconds <= 0:
        return 0
    rows = int(round(DAY / interval_seconds))
    return rows if 2 <= rows <= MAX_SEASON_ROWS else 0


def seasonal_errors(x: np.ndarray, buffer: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (..., rows, F) raw; buffer (..., P, F): the P rows before x. → (|x - the row P before| / scale
    per column, NaN without such a row; the new buffer)."""
    rows = x.shape[-2]
    both = np.concatenate([buffer, x.astype(np.float32)], axis=-2)
    err = np.abs(x - both[..., :rows, :]) / scale
    return err, both[..., rows:, :]


def mahalanobis(residuals: np.ndarray, inverse_cov: np.ndarray | None) -> np.ndarray:
    """(rows, F) residuals → sqrt(r' S^-1 r / F) per row (NaN rows stay NaN)."""
    r = np.asarray(residuals, np.float64)
    inv = np.eye(r.shape[-1]) if inverse_cov is None else np.asarray(inverse_cov, np.float64)
    return np.sqrt(np.maximum(np.einsum("...i,ij,...j->...", r, inv, r), 0.0) / r.shape[-1])


def inverse_covariance(residuals: np.ndarray) -> np.ndarray:
    """The regularised inverse covariance of validation residuals (rows, F)."""
    r = np.asarray(residuals, np.float64)
    r = r[np.isfinite(r).all(axis=1)]
    f = r.shape[1] if r.ndim == 2 else 1
    if r.shape[0] < 2:
        return np.eye(f)
    cov = np.atleast_2d(np.cov(r, rowvar=False))
    ridge = 1e-6 + 1e-3 * float(np.trace(cov)) / f  # a column that never moved still gets a finite spread
    return np.linalg.inv(cov + ridge * np.eye(f))


def seasonal_norm(parts: list[np.ndarray], season: int, scale: np.ndarray) -> float:
    """The 99th percentile of |row - the row a day before| / scale within the training parts."""
    errs = [(np.abs(p[season:] - p[:-season]) / scale).ravel() for p in parts if p.shape[0] > season]
    return max(float(np.quantile(np.concatenate(errs), 0.99)), 1e-6) if errs else 1.0


def q99(values: np.ndarray) -> float:
    return max(float(np.nanquantile(values, 0.99)), 1e-6)
