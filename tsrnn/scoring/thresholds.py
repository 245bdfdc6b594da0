"""Thresholds on the error ratio r = error / running tail quantile (scores are r / (1 + r)).

- quantile: a high quantile of the validation ratios.
- pot: peaks over threshold (SPOT, Siffer et al. 2017): a generalised Pareto tail fitted to the
  ratios above an initial level t, then the level exceeded with probability `risk`:
  z = t + (sigma / gamma) * ((risk * n / n_t) ** -gamma - 1). Watch refits it as rows stream.
- dynamic: telemanom's non-parametric threshold (Hundman et al. 2018) over a window of smoothed
  ratios: the epsilon = mean + z * std that best splits the window, anomalous sequences whose
  peaks are within `prune` of the next smaller one pruned away.
- fixed: a value the user gives (as a score in [0, 1)).
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("fixed", "quantile", "pot", "dynamic")


def gpd_fit(excess: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (gamma, sigma) of a generalised Pareto law for excesses y > 0.

    Grimshaw's reduction: with theta = gamma / sigma, the likelihood's maximum over gamma for a
    fixed theta is at gamma = mean(log(1 + theta * y)), which leaves a search over theta alone.
    """
    y = np.asarray(excess, np.float64)
    y = y[y > 0]
    if y.size < 3:
        return 0.0, float(y.mean()) if y.size else 1.0
    n = y.size
    mean = float(y.mean())
    best_gamma, best_sigma, best = 0.0, mean, -n * math.log(mean) - n  # the exponential law (gamma = 0)
    low = -1.0 / float(y.max())  # theta must keep 1 + theta * y > 0
    thetas = np.concatenate([low * (1 - np.logspace(-6, 0, 60, endpoint=False)), np.logspace(-4, 3, 120) / mean])
    for theta in thetas:
        if theta == 0:
            continue
        u = float(np.log1p(theta * y).mean())
        if u <= 0 or not math.isfinite(u):
            continue
        sigma = u / theta
        if sigma <= 0:
            continue
        ll = -n * math.log(sigma) - (1.0 + 1.0 / u) * n * u
        if ll > best:
            best, best_gamma, best_sigma = ll, u, sigma
    return best_gamma, best_sigma


def pot_level(excess: np.ndarray, n: float, t: float, risk: float) -> float:
    """The level exceeded with probability `risk`, from excesses over t among n observations."""
    peaks = np.asarray(excess, np.float64)
    peaks = peaks[peaks > 0]
    if peaks.size == 0 or n <= 0:
        return t
    gamma, sigma = gpd_fit(peaks)
    ratio = risk * n / peaks.size
    if ratio >= 1.0:  # asking for a level below t
        return t
    if abs(gamma) < 1e-9:
        return t - sigma * math.log(ratio)
    return t + (sigma / gamma) * (ratio ** (-gamma) - 1.0)


def quantile_level(values: np.ndarray, q: float) -> float:
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(np.quantile(finite, q)) if finite.size else math.inf


def dynamic_level(smoothed: np.ndarray, z_values: tuple[float, ...] = tuple(np.arange(2.5, 12.5, 0.5)), prune: float = 0.13) -> tuple[float, np.ndarray]:
    """telemanom's epsilon for a window of smoothed values, and the rows left anomalous after pruning."""
    e = np.asarray(smoothed, np.float64)
    mean, std = float(e.mean()), float(e.std())
    flagged = np.zeros(e.size, bool)
    if e.size == 0 or std == 0:
        return math.inf, flagged
    best, epsilon = -math.inf, math.inf
    for z in z_values:
        eps = mean + z * std
        below = e[e < eps]
        above = e >= eps
        if not above.any() or below.size == 0:
            continue
        d_mean = (mean - float(below.mean())) / mean if mean > 0 else 0.0
        d_std = (std - float(below.std())) / std
        sequences = int(np.count_nonzero(np.diff(np.concatenate(([0], above.astype(np.int8)))) == 1))
        score = (d_mean + d_std) / (int(above.sum()) + sequences**2)
        if score > best:
            best, epsilon = score, eps
    if not math.isfinite(epsilon):
        return epsilon, flagged
    return epsilon, _prune(e, e >= epsilon, prune)


def _prune(e: np.ndarray, above: np.ndarray, prune: float) -> np.ndarray:
    """Keep the anomalous sequences whose peak stands more than `prune` above the next one down."""
    edges = np.diff(np.concatenate(([0], above.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.size == 0:
        return above
    peaks = np.array([e[a:b].max() for a, b in zip(starts, ends)])
    normal_max = float(e[~above].max()) if (~above).any() else 0.0
    order = np.argsort(-peaks)
    ranked = np.concatenate([peaks[order], [normal_max]])
    drops = (ranked[:-1] - ranked[1:]) / np.where(ranked[:-1] > 0, ranked[:-1], 1.0)
    keep_count = 0
    for i, d in enumerate(drops):  # sequences up to the last big drop stay anomalous
        if d > prune:
            keep_count = i + 1
    kept = np.zeros(e.size, bool)
    for k in order[:keep_count]:
        kept[starts[k] : ends[k]] = True
    return kept
