"""Thresholds on the fused ratio r (scores are r / (1 + r)): one registry of methods.

- fixed: a score the user gives (0.70 by default: r = 2.33, a channel at 2.33 times its running
  99th percentile).
- quantile: a high quantile of the fused ratios of the validation rows.
- pot: peaks over threshold (SPOT, Siffer et al. 2017): a generalised Pareto tail fitted to the
  ratios above an initial level t, then the level exceeded with probability `risk`:
  z = t + (sigma / gamma) * ((risk * n / n_t) ** -gamma - 1). Refitted as rows stream.
- dynamic: telemanom's non-parametric threshold (Hundman et al. 2018) over a window of recent
  ratios: the epsilon = mean + z * std that best splits the window, anomalous sequences whose
  peaks are within `prune` of the next smaller one pruned away.

Each method keeps its running statistics in a ThresholdState, is started from the validation
ratios, observes the ratios of scored rows, and refreshes its level every BLOCK rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tsrnn.encoding import pack, unpack
from tsrnn.scoring.normalizer import bin_centers, hist_quantile, to_ratio

if TYPE_CHECKING:
    from tsrnn.scoring.types import DetectorSettings

POT_START = 1.0  # pot: excesses over r = 1 (about 1 % of rows, as each channel's scale is its running 99th percentile)
POT_MIN_PEAKS = 20  # pot: fewer excesses than this keep the starting level
POT_MAX_PEAKS = 500  # per series, in the state: enough for the tail fit, small enough for fleets


@dataclass
class ThresholdState:
    """A series' threshold: the level in use (a ratio) and what the method needs to refresh it."""

    method: str
    level: float
    peaks: list[float] = field(default_factory=list)  # pot: excesses of r over POT_START
    seen: float = 0.0  # pot: rows those excesses came from
    recent: list[float] = field(default_factory=list)  # dynamic: the last `window` ratios

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "level": self.level,
            "peaks": pack(np.asarray(self.peaks)),
            "seen": self.seen,
            "recent": pack(np.asarray(self.recent)),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdState:
        return cls(
            str(data["method"]),
            float(data["level"]),
            unpack(data["peaks"]).tolist(),
            float(data["seen"]),
            unpack(data["recent"]).tolist(),
        )


class Method:
    """A threshold method: its start from the validation ratios, what it learns from each block of
    scored ratios, and the refresh of its level at the block's end. The base keeps a fixed level."""

    name = ""

    def start(self, settings: DetectorSettings, prior: np.ndarray) -> ThresholdState:
        return ThresholdState(self.name, to_ratio(settings.threshold))

    def observe(self, state: ThresholdState, r: np.ndarray, settings: DetectorSettings) -> None:
        return None

    def refresh(self, state: ThresholdState, settings: DetectorSettings) -> None:
        return None


class Fixed(Method):
    """The level the user gives, as a score."""

    name = "fixed"


class Quantile(Method):
    """A quantile of the validation rows' fused ratios."""

    name = "quantile"

    def start(self, settings: DetectorSettings, prior: np.ndarray) -> ThresholdState:
        if prior.sum() <= 0:
            return ThresholdState(self.name, to_ratio(settings.threshold))
        return ThresholdState(self.name, hist_quantile(prior, settings.level_quantile))


class Pot(Method):
    """A generalised Pareto tail over r = POT_START, refitted as rows stream."""

    name = "pot"

    def start(self, settings: DetectorSettings, prior: np.ndarray) -> ThresholdState:
        state = ThresholdState(self.name, to_ratio(settings.threshold))
        if prior.sum() > 0:
            counts = np.round(prior).astype(np.int64)
            above = bin_centers() > POT_START
            peaks = np.repeat(bin_centers()[above] - POT_START, counts[above])
            state.seen = float(counts.sum())
            if peaks.size > POT_MAX_PEAKS:  # an even sample of them, standing for the same share of rows
                state.seen *= POT_MAX_PEAKS / peaks.size
                peaks = peaks[np.linspace(0, peaks.size - 1, POT_MAX_PEAKS).astype(np.int64)]
            state.peaks = peaks.tolist()
            self.refresh(state, settings)
        return state

    def observe(self, state: ThresholdState, r: np.ndarray, settings: DetectorSettings) -> None:
        state.seen += r.size
        state.peaks.extend((r[r > POT_START] - POT_START).tolist())
        if len(state.peaks) > POT_MAX_PEAKS:  # keep the newest half, and the share of rows they stand for
            cut = len(state.peaks) // 2
            state.seen *= (len(state.peaks) - cut) / len(state.peaks)
            state.peaks = state.peaks[cut:]

    def refresh(self, state: ThresholdState, settings: DetectorSettings) -> None:
        if len(state.peaks) >= POT_MIN_PEAKS:
            state.level = max(pot_level(np.asarray(state.peaks), state.seen, POT_START, settings.risk), POT_START)


class Dynamic(Method):
    """telemanom's epsilon over the last `window` ratios."""

    name = "dynamic"

    def observe(self, state: ThresholdState, r: np.ndarray, settings: DetectorSettings) -> None:
        state.recent.extend(r.tolist())
        if len(state.recent) > settings.window:
            state.recent = state.recent[-settings.window :]

    def refresh(self, state: ThresholdState, settings: DetectorSettings) -> None:
        if len(state.recent) < settings.window // 2:
            return
        window = np.asarray(state.recent)
        epsilon, kept = dynamic_level(window)
        if not math.isfinite(epsilon):
            return
        pruned = window[(window >= epsilon) & ~kept]  # minor peaks the pruning judged normal
        state.level = max(epsilon, float(pruned.max()) * (1 + 1e-9) if pruned.size else epsilon)


METHODS: dict[str, Method] = {m.name: m for m in (Fixed(), Quantile(), Pot(), Dynamic())}


def gpd_fit(excess: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (gamma, sigma) of a generalised Pareto law for excesses y > 0.

    Grimshaw's reduction: with theta = gamma / sigma, the likelihood's maximum for a fixed theta
    is at gamma = mean(log(1 + theta * y)), which leaves a search over theta alone:
    theta in (-1 / max(y), 0) gives a negative shape (a bounded tail), theta > 0 a positive one,
    and theta -> 0 the exponential law. Shapes at or below -1 are left out: there the likelihood
    grows without bound towards the sample's maximum, and no maximum exists.
    """
    y = np.asarray(excess, np.float64)
    y = y[y > 0]
    if y.size < 3:
        return 0.0, float(y.mean()) if y.size else 1.0
    n, mean, top = y.size, float(y.mean()), float(y.max())

    def profile(theta: float) -> tuple[float, float, float]:
        """(log-likelihood, gamma, sigma) at theta; -inf where theta is outside the search."""
        if theta == 0.0 or 1.0 + theta * top <= 0.0:
            return -math.inf, 0.0, mean
        gamma = float(np.log1p(theta * y).mean())
        if not math.isfinite(gamma) or gamma <= -1.0 or gamma == 0.0:
            return -math.inf, 0.0, mean
        sigma = gamma / theta
        return -n * math.log(sigma) - n * (1.0 + gamma), gamma, sigma

    best = (-n * math.log(mean) - n, 0.0, mean)  # the exponential law (gamma = 0)
    low = -1.0 / top
    grid = np.concatenate([low * (1.0 - np.logspace(-8, 0, 80, endpoint=False)), np.logspace(-5, 3, 160) / mean])
    lls = [profile(float(t)) for t in grid]
    i = int(np.argmax([ll[0] for ll in lls]))
    if lls[i][0] > best[0]:
        best = lls[i]
        a, b = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, grid.size - 1)])  # refine between the neighbours
        if a < 0.0 < b:
            a, b = (a, 0.0) if grid[i] < 0 else (0.0, b)
        for _ in range(60):  # golden-section search on the profile likelihood
            c, d = b - 0.618034 * (b - a), a + 0.618034 * (b - a)
            if profile(c)[0] >= profile(d)[0]:
                b = d
            else:
                a = c
        refined = profile(0.5 * (a + b))
        if refined[0] > best[0]:
            best = refined
    return best[1], best[2]


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


def dynamic_level(
    smoothed: np.ndarray, z_values: tuple[float, ...] = tuple(np.arange(2.5, 12.5, 0.5)), prune: float = 0.13
) -> tuple[float, np.ndarray]:
    """telemanom's epsilon for a window of smoothed values, and the rows left anomalous after pruning."""
    e = np.asarray(smoothed, np.float64)
    flagged = np.zeros(e.size, bool)
    if e.size == 0:
        return math.inf, flagged
    mean, std = float(e.mean()), float(e.std())
    if std == 0:
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
