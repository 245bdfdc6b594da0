"""Scaler, normalizer, detector and events: the numbers a user sees."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tsrnn.data.scaling import Scaler
from tsrnn.encoding import pack, pack_sparse, unpack, unpack_sparse
from tsrnn.scoring.calibration import calibrate
from tsrnn.scoring.channels import Novelty, Range
from tsrnn.scoring.detector import SeriesDetector
from tsrnn.scoring.normalizer import (
    BINS,
    BLOCK,
    FLOOR,
    RunningScale,
    hist_quantile,
    histogram,
)
from tsrnn.scoring.types import DetectorSettings, Inputs
from tsrnn.training.auto import auto_cooldown


def test_scaler_round_trip_and_constant_feature() -> None:
    values = np.column_stack([np.arange(10.0), np.full(10, 42.0)])
    s = Scaler.fit(values)
    assert np.allclose(s.inverse(s.transform(values)), values)
    assert s.scale[1] == 42.0 * 1e-3  # a flat feature gets a small scale, not zero
    changed = s.transform(np.array([[0.0, 43.0]]))
    assert changed[0, 1] > 20  # a change of 1 away from a constant history is a huge step


def test_histogram_quantile_and_compact_forms() -> None:
    values = np.linspace(0.0, 1.0, 10001)
    hist = histogram(values)
    assert abs(hist_quantile(hist, 0.99) - 0.99) / 0.99 < 0.02  # log bins, interpolated inside the bin
    assert hist_quantile(np.zeros(BINS), 0.99) == FLOOR
    assert np.array_equal(unpack_sparse(pack_sparse(hist), BINS), hist)
    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    assert np.array_equal(unpack(pack(x, "<f4"), "<f4", (7, 3)), x)  # exact, and about 4/3 bytes per byte
    assert len(pack(x, "<f4")) == 4 * ((7 * 3 * 4 + 2) // 3)


def test_running_scale_scores_with_the_past_and_learns_at_block_ends() -> None:
    scale = RunningScale.start(histogram(np.full(1000, 2.0)), memory=10_000, quantile=0.99)
    assert abs(scale.scale - 2.0) / 2.0 < 0.1
    scale.learn(np.full(BLOCK, 50.0))
    assert abs(scale.scale - 2.0) / 2.0 < 0.1  # not before the refresh
    scale.refresh(0.9, 0.99)
    assert scale.scale > 40.0  # 256 of 1,156 values are 50 now
    assert RunningScale.from_dict(scale.to_dict()).scale == scale.scale


def test_calibration_uses_the_validation_quantile_and_a_floor() -> None:
    cal = calibrate(np.linspace(0.0, 1.0, 10001), warmup=5)
    assert abs(cal.error_scale - 0.99) / 0.99 < 0.02 and cal.threshold == 0.70 and cal.warmup == 5
    assert abs(sum(cal.error_hist.values()) - 10001) < 1e-9
    assert calibrate(np.zeros(100), warmup=1).error_scale == FLOOR


def test_auto_cooldown_follows_the_training_length_within_bounds() -> None:
    assert auto_cooldown(750, 300.0) == 100  # NAB's probationary period at 5-minute rows
    assert auto_cooldown(30, 300.0) == 10
    assert auto_cooldown(100_000, 300.0) == 288  # at most a day of rows
    assert auto_cooldown(100_000, 3600.0) == 24 and auto_cooldown(100_000, None) == 1000


def _settings(**kw: object) -> DetectorSettings:
    base: dict[str, object] = {"channels": ("forecast",), "cooldown": 0}
    base.update(kw)
    return DetectorSettings(**base)  # type: ignore[arg-type]


def _detector(
    settings: DetectorSettings,
    features: int = 1,
    scale: float = 1.0,
    novelty: Novelty | None = None,
    value_range: Range | None = None,
) -> SeriesDetector:
    prior = histogram(np.full(1000, scale))
    return SeriesDetector.start(settings, {"forecast": prior, "novelty": prior}, prior, novelty, value_range)


def _score(det: SeriesDetector, error: np.ndarray | None, values: np.ndarray | None = None, offset: int = 0):
    n = error.shape[0] if error is not None else values.shape[0]  # type: ignore[union-attr]
    if values is None:
        values = np.arange(offset, offset + n, dtype=float)[:, None]
    rows = Inputs(values, values, error, values + 1, None, [f"t{offset + i}" for i in range(n)])
    return det.score(
        rows, series="s", columns=[f"v{i}" for i in range(values.shape[1])], scale=np.ones(values.shape[1])
    )


def test_scores_are_monotonic_bounded_and_zero_without_a_value() -> None:
    det = _detector(_settings())
    out = _score(det, np.array([np.nan, 0.0, 0.5, 2.0, 1e9]))
    assert out.scores[0] == 0.0 and out.warmup.tolist() == [True, False, False, False, False]
    assert np.all(np.diff(out.scores[1:]) > 0) and np.all(out.scores < 1.0)
    assert abs(out.scores[3] - 2.0 / (2.0 + det.scales["forecast"][0].scale)) < 1e-12
    assert out.flagged.tolist() == [False, False, False, False, True]  # 1e9 only: 2.33x the scale is the bar


def test_channels_fuse_by_max_and_the_range_lifts_to_its_floor() -> None:
    settings = _settings(channels=("forecast", "novelty", "range"))
    rng = np.random.default_rng(0)
    history = rng.normal(0, 1, (1100, 1))
    det = _detector(
        settings, novelty=Novelty.seeded(5, 1000, history.astype(np.float32)), value_range=Range.of(history)
    )
    values = rng.normal(0, 1, (80, 1))
    values[40] = 10.0  # beyond anything seen
    out = _score(det, np.full(80, 0.5), values)
    ch = out.channel_scores
    fused = np.maximum(ch["forecast"], ch["novelty"])
    assert np.allclose(out.scores[:40], fused[:40])
    assert ch["range"][40] == 0.9 and out.scores[40] >= 0.9 and out.flagged[40]
    (event,) = out.events  # the out-of-range row, the rows whose novelty window holds it, then `hold` quiet rows
    assert (event.start, event.peak_time, event.channel, event.column, event.columns) == (
        "t40",
        "t40",
        "range",
        "v0",
        ["v0"],
    )
    assert event.ratio == pytest.approx((10.0 - history.max()) / (history.max() - history.min()))
    assert out.anomaly[40 : 40 + event.rows].all() and not out.anomaly[:40].any() and event.rows >= settings.hold
    assert out.alert.tolist() == [i == 40 for i in range(80)]  # the row that raised the alert


def _calibrated(settings: DetectorSettings, history: np.ndarray, **changes: object) -> SeriesDetector:
    """A detector as training makes it: per-column priors of the errors (|N(0, 1)| here) and of
    the kNN novelty on the history, its memory and range seeded from the history."""
    from tsrnn.config import ScoreConfig
    from tsrnn.scoring.calibration import History

    features = history.shape[1]
    times = np.datetime64("2024-01-01T00:00", "us") + np.arange(history.shape[0]) * np.timedelta64(1, "s")
    val = np.abs(np.random.default_rng(99).normal(0, 1, (2000, features)))
    cal = calibrate(
        val,
        0,
        score=ScoreConfig(cooldown=settings.cooldown),
        history=History([history], np.zeros(features), np.ones(features), 1.0, [times]),
        novelty="knn",
    )
    return cal.start(
        dataclasses.replace(
            cal.settings(),
            **{f: getattr(settings, f) for f in ("cooldown", "hold", "accept_after", "freeze")},
            **changes,
        ),
        features,
        first_time_us=int(times[-1].astype(np.int64)) + 1_000_000,
    )


def test_a_level_fault_in_one_of_eight_columns_is_marked_for_its_whole_extent_and_named() -> None:
    """A sensor that goes wrong alone: seven quiet columns do not dilute it, and while the fault
    lasts its rows teach its column nothing, so it stays anomalous until the sensor is back."""
    settings = _settings(channels=("forecast", "novelty", "range"), cooldown=20, hold=10, accept_after=0)
    rng = np.random.default_rng(11)
    n = 1600
    values = rng.normal(0, 1, (n, 8))
    values[1000:1300, 5] += 4.0  # a stuck offset on sensor 5 for 300 rows
    history = rng.normal(0, 1, (1100, 8))
    errors = np.abs(values - 0.0) / 1.0  # a forecaster that expects 0: its error per column
    out = _score(_calibrated(settings, history), errors, values)
    assert out.anomaly[1000:1300].mean() > 0.98  # the whole extent
    assert not out.anomaly[1320:].any()  # and it ends once the sensor is back (after `hold` quiet rows)
    assert out.anomaly[:1000].mean() < 0.02
    fault = [e for e in out.events if e.start == "t1000"]
    assert len(fault) == 1 and fault[0].columns == ["v5"] and fault[0].column == "v5"
    assert 300 <= fault[0].rows <= 320
    assert (
        out.flagged[1020:1300].mean() > 0.9
    )  # its range and novelty keep firing: what they compare with is the sensor before the fault
    # learning the fault's rows as they come, the same channels stop firing within a few rows
    learned = _score(_calibrated(dataclasses.replace(settings, freeze="none"), history), errors, values)
    assert learned.flagged[1020:1300].mean() < 0.05


def test_a_quiet_seven_column_file_with_one_spiking_column_raises_one_alert() -> None:
    settings = _settings(channels=("forecast", "novelty", "range"), cooldown=50)
    rng = np.random.default_rng(12)
    history = rng.uniform(-1, 1, (1100, 8))  # bounded sensors: a quiet file sets no new extremes
    values = rng.uniform(-1, 1, (800, 8))
    values[500:503, 2] += 12.0  # one short spike on one column
    det = _calibrated(settings, history)
    out = _score(det, np.abs(values), values)
    alerts = np.flatnonzero(out.alert)
    assert alerts.tolist() == [500]
    (event,) = [e for e in out.events if not e.continued] + ([det.open_event()] if det.open_event() else [])
    assert event.columns == ["v2"] and event.start == "t500"


def test_a_rows_score_does_not_depend_on_later_rows() -> None:
    rng = np.random.default_rng(1)
    errors = rng.exponential(1.0, 3 * BLOCK)
    settings = _settings(memory=500)
    full = _score(_detector(settings), errors).scores
    cut = BLOCK + 17
    assert np.array_equal(_score(_detector(settings), errors[:cut]).scores, full[:cut])


def test_increments_give_the_same_scores_and_events_as_one_pass() -> None:
    rng = np.random.default_rng(3)
    n = 5 * BLOCK + 17
    errors = rng.exponential(1.0, n)
    errors[rng.choice(n, 12, replace=False)] *= 30
    values = np.column_stack([np.sin(np.arange(n) / 9.0), rng.normal(0, 0.1, n)])
    values[900:905] += 3.0
    settings = _settings(channels=("forecast", "novelty", "range"), memory=500, cooldown=5, warmup=10)

    def fresh() -> SeriesDetector:
        return _detector(settings, features=2, scale=4.6, novelty=Novelty.empty(5, 300, 2), value_range=Range.empty(2))

    once_det = fresh()
    once = _score(once_det, errors, values)
    det = fresh()
    cuts = np.sort(rng.choice(np.arange(1, n), 9, replace=False))
    scores, alerts, anomaly, alert, events = [], [], [], [], []
    for a, b in zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [n]))):
        det = SeriesDetector.from_dict(
            det.to_dict(), settings
        )  # through the state file's form (incident, held rows, hysteresis)
        part = _score(det, errors[a:b], values[a:b], offset=int(a))
        scores.append(part.scores)
        alerts.append(part.alert_scores)
        anomaly.append(part.anomaly)
        alert.append(part.alert)
        events += part.events
    assert np.array_equal(np.concatenate(scores), once.scores)
    assert np.array_equal(np.concatenate(alerts), once.alert_scores)
    assert np.array_equal(np.concatenate(anomaly), once.anomaly) and np.array_equal(np.concatenate(alert), once.alert)
    assert once.anomaly.sum() > once.flagged.sum()  # incidents outlast their flagged rows
    assert [e.start for e in events] == [e.start for e in once.events] and len(events) >= 3
    assert det.to_dict() == once_det.to_dict()


def test_incidents_last_until_hold_quiet_rows_and_events_merge_within_cooldown() -> None:
    errors = np.full(60, 0.01)
    errors[[5, 6, 9, 30]] = [100.0, 50.0, 200.0, 100.0]
    det = _detector(_settings(cooldown=3, hold=4))
    out = _score(det, errors)
    # rows 5..12: flagged at 5, 6, 9, then 10, 11, 12 quiet (12 is the 4th quiet row after 9, with 7, 8 reset by 9)
    # rows 5..13: flagged at 5, 6, 9, then 10..13 quiet (7, 8 were quiet too, but 9 reset the count)
    assert np.flatnonzero(out.anomaly).tolist() == list(range(5, 14)) + list(range(30, 35))
    assert [(e.start, e.end, e.rows, e.flagged, e.peak_time, e.channel) for e in out.events] == [
        ("t5", "t13", 9, 3, "t9", "forecast"),
        ("t30", "t34", 5, 1, "t30", "forecast"),
    ]
    assert out.events[0].observed == [9.0] and out.events[0].expected == [10.0] and out.events[0].ratio > 100
    assert out.flagged[[5, 6, 9, 30]].all() and out.flagged.sum() == 4
    assert np.all(out.scores[[5, 6, 9]] > 0.9)  # every row keeps its own score
    assert (
        out.alert_scores[5] == out.scores[5]
        and np.all(out.alert_scores[6:17] == 0.0)
        and out.alert_scores[17] == out.scores[17]
    )
    assert np.flatnonzero(out.alert).tolist() == [5, 30]


def test_an_event_open_at_the_end_of_a_run_is_not_a_new_alert_in_the_next() -> None:
    errors = np.full(32, 0.01)
    errors[30] = 100.0
    det = _detector(_settings(cooldown=3, hold=4))
    _score(det, errors)
    assert det.open_event().start == "t30"  # its incident is still open at the end: ongoing
    det = SeriesDetector.from_dict(det.to_dict(), det.settings)
    det.carry_over()  # what watch does with the saved state at the start of the next run
    more = _score(det, np.full(10, 0.01), offset=32)
    assert [(e.start, e.end, e.continued, e.ongoing) for e in more.events] == [
        ("t30", "t34", True, False)
    ] and det.event is None
    assert not more.alert.any() and more.anomaly.tolist() == [True, True, True] + [False] * 7


def test_min_duration_drops_short_events() -> None:
    errors = np.full(60, 0.01)
    errors[[3, 30, 31, 32]] = 100.0
    out = _score(_detector(_settings(min_duration=2, hold=3)), errors)
    assert [(e.start, e.flagged) for e in out.events] == [("t30", 3)]
    assert np.flatnonzero(out.alert).tolist() == [31]  # where the event reached two flagged rows


def test_running_scale_adapts_to_a_drift() -> None:
    """A new normal that everything flags at first: incidents hold it back, then accept it."""
    det = _detector(_settings(memory=2000, accept_after=500))
    drifted = np.random.default_rng(0).exponential(1.0, 20_000) * 20  # the normal level is now 20x higher
    out = _score(det, drifted)
    assert out.flagged[:200].mean() > 0.5  # at first, everything looks anomalous
    assert out.flagged[-5000:].mean() < 0.01  # later, the running scale has caught up


@pytest.mark.parametrize("freeze", ["column", "none"])
def test_a_fault_that_persists_stays_flagged_only_while_its_rows_are_held(freeze: str) -> None:
    rng = np.random.default_rng(5)
    errors = np.concatenate(
        [rng.exponential(1.0, 2 * BLOCK), 30 + rng.exponential(1.0, 12 * BLOCK)]
    )  # a fault that persists
    out = _score(_detector(_settings(memory=2000, freeze=freeze, accept_after=0), scale=4.6), errors)
    late = out.flagged[-2 * BLOCK :].mean()
    assert (late == 1.0 and out.anomaly[2 * BLOCK :].all()) if freeze == "column" else (late < 0.05)


def test_an_incident_is_accepted_as_the_new_normal_after_accept_after_rows() -> None:
    rng = np.random.default_rng(6)
    values = rng.normal(0, 1, (3000, 1))
    values[1500:] += 10.0  # a new level for good
    history = rng.normal(0, 1, (1100, 1))
    settings = _settings(channels=("novelty", "range"), accept_after=300, memory=2000)
    det = _detector(
        settings, novelty=Novelty.seeded(5, 1000, history.astype(np.float32)), value_range=Range.of(history)
    )
    out = _score(det, None, values)
    assert out.anomaly[1500:1800].all() and not out.anomaly[1900:].any()  # held for 300 rows, then the new normal
    assert det.range.high[0] > 10.0  # its rows widened the range when it was accepted


def test_an_incident_reaching_min_duration_across_runs_is_a_new_alert() -> None:
    """Cron, one row a run: the event has too few rows to be an alert when a run ends, so the next
    run must not treat it as reported (continued) when it reaches --min-duration."""
    settings = _settings(min_duration=3, cooldown=5)
    errors = [0.1] * 20 + [50.0] * 4 + [0.1] * 20
    det, alerts = _detector(settings), []
    for i, e in enumerate(errors):
        out = _score(det, np.array([e]), offset=i)
        found = out.events + ([det.open_event()] if det.open_event() else [])
        alerts += [ev.start for ev in found if not ev.continued]
        det = SeriesDetector.from_dict(det.to_dict(), settings)
        det.carry_over()  # what watch does at the start of each run
    assert alerts == ["t20"]


def test_pot_starts_from_an_even_sample_of_many_validation_peaks() -> None:
    from tsrnn.scoring.thresholds import METHODS, pot_level

    r = np.random.default_rng(0).exponential(0.2, size=200_000)  # about 1,300 ratios above 1
    state = METHODS["pot"].start(DetectorSettings(method="pot", risk=1e-4), histogram(r))
    truth = float(np.quantile(r, 1 - 1e-4))
    assert len(state.peaks) == 500 and abs(state.level / truth - 1) < 0.02
    assert abs(pot_level(r[r > 1] - 1, r.size, 1.0, 1e-4) / truth - 1) < 0.02


def test_the_range_starts_from_the_history_only_for_rows_after_it() -> None:
    """Rows of the history scored again must not be judged against values that come after them."""
    history = np.sin(np.arange(1000) / 20.0)[:, None] * 10
    times = np.datetime64("2024-01-01T00:00", "us") + np.arange(1000) * np.timedelta64(60, "s")
    from tsrnn.config import ScoreConfig
    from tsrnn.scoring.calibration import History

    h = History([history], np.zeros(1), np.ones(1), 60.0, [times])
    cal = calibrate(np.full(100, 0.5), 0, score=ScoreConfig(cooldown=10), history=h, novelty="knn")
    settings = cal.settings()
    again = cal.start(settings, 1, first_time_us=int(times[0].astype(np.int64)))
    later = cal.start(settings, 1, first_time_us=int(times[-1].astype(np.int64)) + 60_000_000)
    assert again.range is not None and again.range.seen == 0  # builds from the rows it scores
    assert later.range is not None and later.range.seen == 1000 and later.range.high[0] == history.max()
    assert (
        later.novelty is not None
        and later.novelty.seen == 1000
        and again.novelty is not None
        and again.novelty.seen == 0
    )


def test_a_version_4_detector_state_is_read_and_goes_on_scoring() -> None:
    """State version 4 (before per-column scales and incidents): one scale per channel, no incident."""
    settings = _settings(cooldown=3, hold=4)
    errors = np.full(40, 0.01)
    errors[[10, 30]] = 100.0
    det = _detector(settings)
    _score(det, errors[:20])
    new = det.to_dict()
    old = {**new, "scales": {c: v[0] for c, v in new["scales"].items()}}
    del old["incident"]
    if old["event"]:
        del old["event"]["flagged"], old["event"]["columns"]
    back = SeriesDetector.from_dict(old, settings)
    assert [len(v) for v in back.scales.values()] == [1] and back.incident is None
    assert np.array_equal(
        _score(back, errors[20:], offset=20).scores,
        _score(SeriesDetector.from_dict(new, settings), errors[20:], offset=20).scores,
    )
