"""The Numenta Anomaly Benchmark's scoring rules, written from its published description.

Per row, a detection is worth:
- inside a labelled window: A(y) = 2 / (1 + e^(5y)) - 1 at the relative position y in [-1, 0)
  of the row in its window (y = -(right - i + 1) / width), divided by A(-1) and weighted by the
  profile's true-positive weight, so a detection at the window's first row earns the full weight,
  and one at its last row almost nothing. Only the best (earliest) detection of a window counts.
- outside every window: a false positive, A(y) times the false-positive weight, where y is the
  distance to the end of the previous window relative to its width (so a detection just after a
  window costs little), or -1 (the full weight) when no window came before.
- a window without a detection costs the false-negative weight.
Rows of the probationary period (the first min(15 % of rows, 750)) are not scored. The threshold
on the anomaly score is swept over every score in the corpus, and the best corpus total is kept
for each profile; it is normalised to 100 * (S - S_null) / (S_perfect - S_null), where the null
detector never detects (every window missed) and the perfect one detects every window at its
first row with no false positive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROBATION_FRACTION = 0.15
PROBATION_CAP = 750


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


PROFILES = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


def probation_rows(rows: int) -> int:
    return int(min(math.floor(PROBATION_FRACTION * rows), PROBATION_FRACTION * 5000))


def scaled_sigmoid(y: np.ndarray | float) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return np.where(y > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(y, 3.0))) - 1.0)


MAX_TP = float(scaled_sigmoid(-1.0))


@dataclass
class ScoredFile:
    """One file's rows, ready for the sweep: scores, and what a detection at each row is worth."""

    name: str
    scores: np.ndarray  # (rows,) anomaly scores
    window: np.ndarray  # (rows,) index of the labelled window holding the row, -1 outside
    tp_value: np.ndarray  # (rows,) A(y) / A(-1) inside windows (before the profile's weight)
    fp_value: np.ndarray  # (rows,) A(y) outside windows (negative; before the profile's weight)
    windows: int  # labelled windows (after the probationary period)
    probation: int


def window_rows(times: np.ndarray, windows: list[tuple[np.datetime64, np.datetime64]]) -> list[tuple[int, int]]:
    """Each [start, end] window (inclusive timestamps) as the (first, last) row indices it covers."""
    out = []
    for start, end in windows:
        a = int(np.searchsorted(times, start, side="left"))
        b = int(np.searchsorted(times, end, side="right")) - 1
        if b >= a:
            out.append((a, b))
    return out


def prepare(
    name: str, times: np.ndarray, scores: np.ndarray, windows: list[tuple[np.datetime64, np.datetime64]]
) -> ScoredFile:
    """times (rows,) sorted datetime64; scores (rows,); windows as inclusive timestamp pairs."""
    n = scores.shape[0]
    spans = window_rows(times, windows)
    window = np.full(n, -1, np.int64)
    tp_value = np.zeros(n)
    fp_value = np.full(n, -1.0)
    for k, (a, b) in enumerate(spans):
        width = b - a + 1
        i = np.arange(a, b + 1)
        window[a : b + 1] = k
        tp_value[a : b + 1] = scaled_sigmoid(-(b - i + 1) / width) / MAX_TP
        after_end = spans[k + 1][0] if k + 1 < len(spans) else n
        j = np.arange(b + 1, after_end)
        if j.size:
            fp_value[j] = scaled_sigmoid(np.abs(b - j) / max(width - 1, 1))  # past the window, relative to its width
    probation = probation_rows(n)
    counted = sum(1 for a, _ in spans if a >= probation)
    return ScoredFile(name, np.asarray(scores, np.float64), window, tp_value, fp_value, counted, probation)


@dataclass(frozen=True)
class SweepResult:
    profile: str
    threshold: float
    raw: float  # the corpus total at that threshold
    null: float
    perfect: float
    true_positives: int  # windows detected
    false_positives: int  # rows detected outside windows
    windows: int

    @property
    def normalized(self) -> float:
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span > 0 else float("nan")


def sweep(files: list[ScoredFile], profile: Profile) -> SweepResult:
    """The threshold with the best corpus total (detections: rows with score >= threshold)."""
    scores, window_id, value, inside = [], [], [], []
    offset = 0
    total_windows = 0
    for f in files:
        keep = np.arange(f.scores.shape[0]) >= f.probation
        win = f.window[keep]
        # a window that starts in the probationary period is not scored, nor are its rows
        early = {int(w) for w in np.unique(f.window[~keep]) if w >= 0}
        mask = np.array([w < 0 or int(w) not in early for w in win], bool) if early else np.ones(win.size, bool)
        win = win[mask]
        scores.append(f.scores[keep][mask])
        inside.append(win >= 0)
        window_id.append(np.where(win >= 0, win + offset, -1))
        value.append(np.where(win >= 0, f.tp_value[keep][mask] * profile.tp, f.fp_value[keep][mask] * profile.fp))
        offset += int(f.window.max()) + 1 if f.window.size and f.window.max() >= 0 else 0
        total_windows += f.windows
    s, w, v, ins = (np.concatenate(a) if a else np.zeros(0) for a in (scores, window_id, value, inside))
    order = np.argsort(-s, kind="stable")
    s, w, v, ins = s[order], w[order].astype(np.int64), v[order], ins[order].astype(bool)
    null = -profile.fn * total_windows
    best_total, best_threshold, best_tp, best_fp = null, float("inf"), 0, 0
    best_value: dict[int, float] = {}
    tp_sum = fp_sum = 0.0
    fp_rows = 0
    i = 0
    while i < s.size:
        j = i
        while j < s.size and s[j] == s[i]:  # every row with this score is detected together
            if ins[j]:
                k = int(w[j])
                old = best_value.get(k)
                if old is None:
                    best_value[k] = v[j]
                    tp_sum += v[j]
                elif v[j] > old:
                    best_value[k] = v[j]
                    tp_sum += v[j] - old
            else:
                fp_sum += v[j]
                fp_rows += 1
            j += 1
        total = tp_sum + fp_sum - profile.fn * (total_windows - len(best_value))
        if total > best_total:
            best_total, best_threshold, best_tp, best_fp = total, float(s[i]), len(best_value), fp_rows
        i = j
    return SweepResult(
        profile.name, best_threshold, best_total, null, profile.tp * total_windows, best_tp, best_fp, total_windows
    )


def false_positive_rows(f: ScoredFile, threshold: float) -> int:
    """Rows of one file that a threshold counts as false positives (as `sweep` does)."""
    keep = np.arange(f.scores.shape[0]) >= f.probation
    return int(((f.scores >= threshold) & keep & (f.window < 0)).sum())
