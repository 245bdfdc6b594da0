"""Scaler, scorer and events: the numbers a user sees."""

from __future__ import annotations

import numpy as np

from tsrnn.data.scaling import Scaler
from tsrnn.scoring.events import find_events
from tsrnn.scoring.scorers import ERROR_FLOOR, calibrate, score


def test_scaler_round_trip_and_constant_feature() -> None:
    values = np.column_stack([np.arange(10.0), np.full(10, 42.0)])
    s = Scaler.fit(values)
    assert np.allclose(s.inverse(s.transform(values)), values)
    assert s.scale[1] == 42.0 * 1e-3  # a flat feature gets a small scale, not zero
    changed = s.transform(np.array([[0.0, 43.0]]))
    assert changed[0, 1] > 20  # a change of 1 away from a constant history is a huge step


def test_calibrate_uses_the_validation_quantile() -> None:
    errors = np.linspace(0.0, 1.0, 10001)
    cal = calibrate(errors, warmup=5)
    assert abs(cal.error_scale - 0.99) < 1e-9
    assert cal.threshold == 0.75 and cal.warmup == 5


def test_calibrate_floors_a_perfectly_predictable_history() -> None:
    assert calibrate(np.zeros(100), warmup=1).error_scale == ERROR_FLOOR


def test_score_is_monotonic_bounded_and_zero_without_prediction() -> None:
    cal = calibrate(np.linspace(0.0, 1.0, 101), warmup=0)
    s = score(np.array([np.nan, 0.0, 0.5, 0.99, 2.97, 1e9]), cal)
    assert s[0] == 0.0 and s[1] == 0.0
    assert np.all(np.diff(s[1:]) > 0) and np.all(s < 1.0)
    assert abs(s[3] - 0.5) < 1e-9  # an error at the validation 99th percentile scores 0.5
    assert s[4] >= cal.threshold  # three times that percentile is an anomaly


def test_events_merge_runs_and_respect_cooldown() -> None:
    flags = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1], bool)
    scores = np.where(flags, 0.8, 0.1)
    scores[5] = 0.95
    times = [f"t{i}" for i in range(11)]
    values = np.arange(11.0)[:, None]
    separate = find_events(flags, scores, times, values, values + 1, cooldown=0)
    assert [(e.start, e.end, e.rows) for e in separate] == [("t1", "t2", 2), ("t5", "t5", 1), ("t10", "t10", 1)]
    merged = find_events(flags, scores, times, values, values + 1, cooldown=2)
    assert [(e.start, e.end, e.rows) for e in merged] == [("t1", "t5", 3), ("t10", "t10", 1)]
    assert merged[0].peak_time == "t5" and merged[0].observed == [5.0] and merged[0].expected == [6.0]
    assert len(find_events(flags, scores, times, values, values, cooldown=10)) == 1
    assert find_events(np.zeros(3, bool), np.zeros(3), ["a", "b", "c"], values[:3], values[:3]) == []
