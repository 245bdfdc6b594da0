"""Threshold methods and forecaster error kinds against known distributions and hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from tsrnn.config import THRESHOLD_METHODS
from tsrnn.scoring.detector import SeriesDetector
from tsrnn.scoring.errors import ErrorSpec, row_errors, season_rows, seasonal_errors
from tsrnn.scoring.normalizer import BLOCK, histogram
from tsrnn.scoring.thresholds import (
    METHODS,
    dynamic_level,
    gpd_fit,
    pot_level,
    quantile_level,
)
from tsrnn.scoring.types import DetectorSettings, Inputs


def test_pot_level_lands_on_the_true_quantile_of_an_exponential_tail() -> None:
    x = np.random.default_rng(0).exponential(1.0, 100_000)
    t = float(np.quantile(x, 0.98))
    z = pot_level(x[x > t] - t, x.size, t, 1e-3)
    assert abs(z / math.log(1000) - 1) < 0.03  # the true 1 - 1e-3 quantile is ln(1000)


def test_pot_level_follows_a_heavy_pareto_tail() -> None:
    y = np.random.default_rng(1).pareto(3.0, 200_000) + 1.0  # P(Y > y) = y^-3
    t = float(np.quantile(y, 0.98))
    z = pot_level(y[y > t] - t, y.size, t, 1e-4)  # 20 of the 200,000 samples lie beyond it
    assert abs(z / 1e-4 ** (-1 / 3) - 1) < 0.08
    gamma, _ = gpd_fit(y[y > t] - t)
    assert abs(gamma - 1 / 3) < 0.08


def test_quantile_level() -> None:
    assert abs(quantile_level(np.linspace(0, 1, 100_001), 0.999) - 0.999) < 1e-9


def test_dynamic_level_keeps_a_big_anomaly_and_prunes_a_minor_peak() -> None:
    rng = np.random.default_rng(2)
    e = np.abs(rng.normal(0, 1, 2000))
    e[1000:1005] += 8.0
    eps, kept = dynamic_level(e)
    assert kept[1000:1005].all() and kept.sum() == 5
    assert 3.0 < eps < 9.0


def _feed(settings: DetectorSettings, errors: np.ndarray) -> tuple[SeriesDetector, np.ndarray]:
    prior = histogram(np.random.default_rng(5).exponential(1.0, 2000))
    det = SeriesDetector.start(
        settings, {"forecast": prior}, histogram(np.random.default_rng(5).exponential(1.0, 2000) / 4.6), None, None
    )
    n = errors.size
    out = det.score(
        Inputs(np.zeros((n, 1)), np.zeros((n, 1)), errors, np.zeros((n, 1)), None, [str(i) for i in range(n)]),
        series="",
        columns=["v"],
        scale=np.ones(1),
    )
    return det, out.flagged


def test_streaming_pot_flags_about_its_risk_on_a_stationary_stream() -> None:
    errors = np.random.default_rng(6).exponential(1.0, 200 * BLOCK)
    det, flagged = _feed(DetectorSettings(method="pot", risk=1e-3, cooldown=0, channels=("forecast",)), errors)
    assert 0.3e-3 < flagged[20 * BLOCK :].mean() < 3e-3  # near the asked false-alarm rate
    assert det.threshold.level > 1.0 and len(det.threshold.peaks) > 100


def test_fixed_threshold_flags_two_and_a_third_times_the_running_99th_percentile() -> None:
    errors = np.random.default_rng(7).exponential(1.0, 50 * BLOCK)
    det, flagged = _feed(DetectorSettings(method="fixed", cooldown=0, channels=("forecast",)), errors)
    # P(error > 2.33 * Q99) for an exponential: 100 ** -2.33, about 2e-5 per row
    assert flagged.sum() <= 3 and det.threshold.level == pytest.approx(0.7 / 0.3)


def test_quantile_threshold_starts_from_the_validation_ratios() -> None:
    det, _ = _feed(DetectorSettings(method="quantile", level_quantile=0.999, channels=("forecast",)), np.zeros(0))
    expected = np.quantile(np.random.default_rng(5).exponential(1.0, 2000) / 4.6, 0.999)
    assert abs(det.threshold.level / expected - 1) < 0.1


def test_every_method_is_in_the_registry_and_the_help_lists_them_all() -> None:
    assert tuple(METHODS) == THRESHOLD_METHODS
    for name in METHODS:
        det, flagged = _feed(
            DetectorSettings(method=name, cooldown=0, channels=("forecast",)),
            np.random.default_rng(8).exponential(1.0, 8 * BLOCK),
        )
        assert det.threshold.level > 0 and flagged.mean() < 0.05


@pytest.mark.parametrize("shape", [-0.3, 0.0, 0.3])
def test_gpd_fit_agrees_with_scipy_for_bounded_exponential_and_heavy_tails(shape: float) -> None:
    y = scipy.stats.genpareto.rvs(shape, scale=2.0, size=3000, random_state=11)
    gamma, sigma = gpd_fit(y)
    ref_shape, _, ref_scale = scipy.stats.genpareto.fit(y, floc=0)
    assert abs(gamma - ref_shape) < 0.01 and abs(sigma / ref_scale - 1) < 0.01
    ours = scipy.stats.genpareto.logpdf(y, gamma, 0, sigma).sum()
    theirs = scipy.stats.genpareto.logpdf(y, ref_shape, 0, ref_scale).sum()
    assert ours >= theirs - 1e-3  # as likely as scipy's fit, or more
    assert abs(gamma - shape) < 0.06  # and near the truth


def test_pot_level_stays_inside_a_bounded_tail() -> None:
    y = scipy.stats.genpareto.rvs(-0.3, scale=1.0, size=5000, random_state=12)  # the upper end is 1 / 0.3
    level = pot_level(y, n=5000 / 0.02, t=0.0, risk=1e-4)  # 2 % of rows exceed t; asking for 1e-4 of all rows
    truth = scipy.stats.genpareto.ppf(1 - 1e-4 / 0.02, -0.3, 0, 1.0)
    assert level < 1 / 0.3 and abs(level / truth - 1) < 0.05


def test_horizon_error_averages_every_forecast_made_for_a_row() -> None:
    spec = ErrorSpec("horizon", horizon=2, features=1)
    x = np.array([[10.0], [20.0], [30.0]])
    forecast = np.zeros((3, 2, 1))  # H = 2: forecast[i, k - 1] is the guess for row i + k
    forecast[0] = [[19.0], [33.0]]  # row 1: 19, row 2: 33
    forecast[1] = [[28.0], [0.0]]  # row 2: 28
    one = np.ones(1, np.float32)
    err, carried = row_errors(spec, x, x, forecast, one, spec.initial())
    assert np.isnan(err[0])  # nothing forecast row 0
    assert abs(err[1] - 1.0) < 1e-6 and abs(err[2] - (3.0 + 2.0) / 2) < 1e-6
    assert carried["pending"].shape == (2, 2, 1) and np.array_equal(carried["pending"][0], forecast[1])
    more = np.array([[5.0]])
    err2, _ = row_errors(spec, more, more, np.zeros((1, 2, 1)), one, carried)
    assert abs(err2[0] - (abs(0.0 - 5.0) + abs(0.0 - 5.0)) / 2) < 1e-6  # forecast[2][0] = 0 and forecast[1][1] = 0
    sq, none = row_errors(ErrorSpec("squared"), x, x + 2.0, None, np.full(1, 2.0, np.float32), {})
    assert np.allclose(sq, 1.0) and none == {}


def test_seasonal_error_compares_with_the_row_a_day_before_across_calls() -> None:
    assert season_rows(300.0) == 288 and season_rows(None) == 0 and season_rows(1.0) == 0  # 86,400 rows a day: refused
    x = np.arange(10.0)[:, None]
    half = np.full(1, 2.0, np.float32)
    err, buf = seasonal_errors(x[:6], np.full((4, 1), np.nan, np.float32), half)
    assert np.isnan(err[:4]).all() and np.allclose(err[4:], 2.0)  # (x - x four rows before) / 2
    err2, _ = seasonal_errors(x[6:], buf, half)
    assert np.allclose(err2, 2.0)  # the buffer carries the last four rows over


def test_blend_averages_horizon_and_seasonal_errors_in_their_own_units() -> None:
    spec = ErrorSpec("blend", horizon=1, features=1, season=2, norms=(2.0, 3.0))
    x = np.array([[0.0], [0.0], [6.0]])
    forecast = np.zeros((3, 1, 1))  # every row was forecast as 0 by the row before
    err, carried = row_errors(spec, x, x, forecast, np.ones(1, np.float32), spec.initial())
    assert np.isnan(err[0])  # no forecast, no row a day before
    assert err[1] == 0.0  # horizon part alone (no row a day before yet): 0 / 2
    assert abs(err[2] - 0.5 * (6.0 / 2.0 + 6.0 / 3.0)) < 1e-6  # row 2 against row 0 (6 - 0), and its forecast 0
    assert set(carried) == {"pending", "season"} and carried["season"].shape == (2, 1)


def test_mahalanobis_flags_columns_that_stop_moving_together() -> None:
    from tsrnn.scoring.errors import inverse_covariance, mahalanobis

    rng = np.random.default_rng(8)
    common = rng.normal(0, 1, 5000)
    residuals = np.column_stack([common + rng.normal(0, 0.1, 5000), common + rng.normal(0, 0.1, 5000)])
    inv = inverse_covariance(residuals)
    together, apart = mahalanobis(np.array([[2.0, 2.0], [2.0, -2.0]]), inv)
    assert apart > 10 * together  # the same size of residual, but against the columns' usual agreement
    assert abs(float(mahalanobis(np.array([[3.0]]), inverse_covariance(rng.normal(0, 1, (5000, 1))))[0]) - 3.0) < 0.15


@pytest.mark.parametrize("kind", ["horizon", "both", "blend", "mahalanobis"])
def test_series_batched_together_get_the_errors_they_get_alone(kind: str) -> None:
    rng = np.random.default_rng(9)
    spec = ErrorSpec(kind, horizon=3, features=2, season=4, norms=(1.5, 2.0), inverse_cov=np.eye(2) * 2.0)
    x, expected, forecast = rng.normal(size=(3, 7, 2)), rng.normal(size=(3, 7, 2)), rng.normal(size=(3, 7, 3, 2))
    carried = [
        {n: np.where(np.isnan(v), rng.normal(size=v.shape), v).astype(np.float32) for n, v in spec.initial().items()}
        for _ in range(3)
    ]
    scale = np.array([1.0, 2.0], np.float32)
    together, after = row_errors(
        spec, x, expected, forecast, scale, {n: np.stack([c[n] for c in carried]) for n in spec.initial()}
    )
    for b in range(3):
        alone, left = row_errors(spec, x[b], expected[b], forecast[b], scale, carried[b])
        assert np.allclose(together[b], alone, equal_nan=True)
        assert all(np.array_equal(after[n][b], left[n], equal_nan=True) for n in left)
