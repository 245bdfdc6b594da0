"""Scaler, scorer and events: the numbers a user sees."""

from __future__ import annotations

import numpy as np

from tsrnn.data.scaling import Scaler
from tsrnn.scoring.detector import BLOCK, DetectorSettings, SeriesDetector, detect, histogram, open_event
from tsrnn.scoring.scorers import ERROR_FLOOR, calibrate


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
    assert abs(cal.error_scale - 0.99) / 0.99 < 0.02  # a log-binned histogram, interpolated
    assert cal.threshold == 0.75 and cal.warmup == 5
    assert abs(sum(cal.error_hist.values()) - errors.size) < 1e-9


def test_calibrate_floors_a_perfectly_predictable_history() -> None:
    assert calibrate(np.zeros(100), warmup=1).error_scale == ERROR_FLOOR


def _run(errors: np.ndarray, settings: DetectorSettings, det: SeriesDetector, offset: int = 0):  # noqa: ANN202
    n = errors.size
    assert det.rows == offset
    values = np.arange(offset, offset + n, dtype=float)[:, None]
    return detect(det, settings, errors, offset, series="s", time_text=[f"t{offset + i}" for i in range(n)],
                  observed=values, expected=values + 1, columns=["v"], scale=np.ones(1))


def _fresh(scale: float = 1.0, settings: DetectorSettings | None = None) -> tuple[SeriesDetector, DetectorSettings]:
    settings = settings or DetectorSettings()
    return SeriesDetector.start(histogram(np.full(1000, scale)), settings), settings


def test_scores_are_monotonic_bounded_and_zero_in_warmup() -> None:
    det, settings = _fresh(settings=DetectorSettings(warmup=2, cooldown=0))
    out = _run(np.array([5.0, np.nan, 0.0, 0.5, 2.0, 1e9]), settings, det)
    assert out.scores[0] == 0.0 and out.scores[1] == 0.0 and out.warmup[:2].all() and not out.warmup[2:].any()
    assert np.all(np.diff(out.scores[2:]) > 0) and np.all(out.scores < 1.0)
    assert abs(out.scores[4] - 2.0 / (2.0 + det.scale)) < 1e-12
    assert out.flagged.tolist() == [False, False, False, False, False, True]  # 1e9 only: its error is >> 3x the scale


def test_events_merge_within_cooldown_and_later_rows_score_zero() -> None:
    errors = np.full(32, 0.01)
    errors[[5, 6, 9, 30]] = [100.0, 50.0, 200.0, 100.0]
    det, settings = _fresh(settings=DetectorSettings(cooldown=3))
    out = _run(errors, settings, det)
    assert [(e.start, e.end, e.rows, e.peak_time) for e in out.events] == [("t5", "t9", 3, "t9")]
    assert out.events[0].observed == [9.0] and out.events[0].expected == [10.0]
    assert out.flagged[[5, 6, 9, 30]].all() and out.flagged.sum() == 4
    assert out.scores[5] > 0.75 and np.all(out.scores[6:13] == 0.0) and out.scores[13] > 0  # incident rows after its first score 0
    assert open_event(det, settings).start == "t30"  # still within its cooldown at the end: ongoing
    from tsrnn.scoring.detector import carry_over

    state = det.to_dict()
    carry_over(state)  # what watch does with the saved state at the start of the next run
    det = SeriesDetector.from_dict(state)
    more = _run(np.full(10, 0.01), settings, det, offset=32)
    assert [(e.start, e.continued, e.ongoing) for e in more.events] == [("t30", True, False)] and det.event is None


def test_min_duration_drops_short_events() -> None:
    errors = np.full(30, 0.01)
    errors[[3, 10, 11, 12]] = 100.0
    det, settings = _fresh(settings=DetectorSettings(cooldown=0, min_duration=2))
    out = _run(errors, settings, det)
    assert [(e.start, e.rows) for e in out.events] == [("t10", 3)]


def test_increments_give_the_same_scores_as_one_pass() -> None:
    rng = np.random.default_rng(3)
    errors = rng.exponential(1.0, 5 * BLOCK + 17)
    errors[rng.choice(errors.size, 12, replace=False)] *= 30
    once_det, settings = _fresh(settings=DetectorSettings(warmup=10, memory=500))
    once = _run(errors, settings, once_det)
    det, _ = _fresh(settings=settings)
    cuts = np.sort(rng.choice(np.arange(1, errors.size), 9, replace=False))
    scores, events = [], []
    for a, b in zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [errors.size]))):
        det = SeriesDetector.from_dict(det.to_dict())  # through the state file's form
        part = _run(errors[a:b], settings, det, offset=int(a))
        scores.append(part.scores)
        events += [e for e in part.events]
    assert np.array_equal(np.concatenate(scores), once.scores)
    assert [e.start for e in events] == [e.start for e in once.events]
    assert det.to_dict() == once_det.to_dict()


def test_running_scale_adapts_to_a_drift() -> None:
    det, settings = _fresh(scale=1.0, settings=DetectorSettings(memory=2000, cooldown=0))
    rng = np.random.default_rng(0)
    drifted = rng.exponential(1.0, 20_000) * 20  # the normal error level is now 20x higher
    out = _run(drifted, settings, det)
    assert out.flagged[:200].mean() > 0.5  # at first, everything looks anomalous
    assert out.flagged[-5000:].mean() < 0.01  # later, the running scale has caught up
