"""The NAB scorer against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsrnn.evaluation.nab import (
    PROFILES,
    prepare,
    probation_rows,
    scaled_sigmoid,
    sweep,
)

STANDARD, LOW_FP, LOW_FN = PROFILES
T0 = np.datetime64("2020-01-01T00:00:00", "us")


def times(n: int) -> np.ndarray:
    return T0 + np.arange(n) * np.timedelta64(300, "s")


def window(first: int, last: int) -> tuple[np.datetime64, np.datetime64]:
    return times(last + 1)[first], times(last + 1)[last]


def run(scores: np.ndarray, windows: list, profile=STANDARD):
    return sweep([prepare("f.csv", times(scores.size), scores, windows)], profile)


def test_probationary_period_is_15_percent_at_most_750_rows() -> None:
    assert probation_rows(1000) == 150 and probation_rows(4032) == 604 and probation_rows(10_000) == 750


def test_scaled_sigmoid_matches_its_definition() -> None:
    assert abs(float(scaled_sigmoid(-1.0)) - (2 / (1 + math.exp(-5)) - 1)) < 1e-12
    assert float(scaled_sigmoid(0.0)) == 0.0 and float(scaled_sigmoid(3.5)) == -1.0


def test_a_detection_at_the_start_of_the_window_is_perfect() -> None:
    s = np.zeros(1000)
    s[400] = 1.0
    res = run(s, [window(400, 409)])
    assert res.threshold == 1.0 and res.true_positives == 1 and res.false_positives == 0
    assert abs(res.raw - 1.0) < 1e-12 and abs(res.normalized - 100.0) < 1e-9


def test_a_detection_at_the_last_row_of_the_window_earns_little() -> None:
    s = np.zeros(1000)
    s[409] = 1.0
    res = run(s, [window(400, 409)])
    value = (2 / (1 + math.exp(-5 * 0.1)) - 1) / (2 / (1 + math.exp(-5)) - 1)  # y = -1/10
    assert abs(res.raw - value) < 1e-12
    assert abs(res.normalized - 100 * (value + 1) / 2) < 1e-9


def test_a_false_positive_before_any_window_costs_the_full_fp_weight() -> None:
    s = np.zeros(1000)
    s[400] = 0.9  # the window's first row
    s[200] = 0.95  # outside, before any window
    res = run(s, [window(400, 409)])
    # threshold 0.95: -0.11 - 1 (missed) = -1.11, worse than detecting nothing; 0.9: 1 - 0.11 = 0.89
    assert res.threshold == 0.9 and abs(res.raw - 0.89) < 1e-12
    assert abs(res.normalized - 100 * (0.89 + 1) / 2) < 1e-9
    low_fp = run(s, [window(400, 409)], LOW_FP)
    assert abs(low_fp.raw - (1 - 0.22)) < 1e-12


def test_a_false_positive_just_after_a_window_costs_less() -> None:
    s = np.zeros(1000)
    s[400] = 0.9
    s[412] = 0.95  # 3 rows past the end of a 10-row window: y = 3 / 9
    res = run(s, [window(400, 409)])
    fp = 0.11 * (2 / (1 + math.exp(5 * 3 / 9)) - 1)
    assert abs(res.raw - (1 + fp)) < 1e-12


def test_a_missed_window_scores_zero_and_low_fn_weighs_it_double() -> None:
    s = np.zeros(1000)
    res = run(s, [window(400, 409)])  # every row scores 0: detecting every row costs far more than the miss
    assert res.threshold == math.inf and res.true_positives == 0 and res.raw == -1.0 and res.normalized == 0.0
    none = sweep([prepare("f.csv", times(1000), np.zeros(1000), [window(400, 409)])], LOW_FN)
    assert none.null == -2.0 and none.perfect == 1.0


def test_rows_of_the_probationary_period_are_not_scored() -> None:
    s = np.zeros(1000)
    s[100] = 1.0  # a false positive inside the first 150 rows: ignored
    s[400] = 0.5
    res = run(s, [window(400, 409)])
    assert res.threshold == 0.5 and res.false_positives == 0 and abs(res.normalized - 100.0) < 1e-9
    early = run(s, [window(100, 120), window(400, 409)])  # a window inside the probationary period is not counted
    assert early.windows == 1 and abs(early.normalized - 100.0) < 1e-9


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    s = np.zeros(1000)
    s[405], s[401] = 0.9, 0.8
    res = run(s, [window(400, 409)])
    early = float(scaled_sigmoid(-9 / 10)) / float(scaled_sigmoid(-1.0))
    assert res.threshold == 0.8 and abs(res.raw - early) < 1e-12


@pytest.mark.parametrize("profile", PROFILES)
def test_normalisation_spans_null_and_perfect(profile) -> None:
    s = np.zeros(2000)
    wins = [window(500, 520), window(1500, 1530)]
    res = run(s, wins, profile)
    assert res.null == -profile.fn * 2 and res.perfect == profile.tp * 2


def test_false_positive_rows_count_what_the_sweep_counts() -> None:
    from tsrnn.evaluation.nab import PROFILES, false_positive_rows, prepare, sweep

    times = np.arange(
        np.datetime64("2024-01-01T00:00"),
        np.datetime64("2024-01-01T00:00") + np.timedelta64(1000, "m"),
        np.timedelta64(1, "m"),
    )
    scores = np.zeros(1000)
    scores[[100, 400, 600, 601]] = [0.9, 0.8, 0.95, 0.6]  # 100 falls in the probationary period (150 rows)
    window = [(times[590], times[610])]
    f = prepare("f", times, scores, window)
    result = sweep([f], PROFILES[0])
    assert (
        false_positive_rows(f, 0.7) == 1 and false_positive_rows(f, 0.5) == 1
    )  # row 400; row 601 is inside the window
    assert false_positive_rows(f, result.threshold) == result.false_positives
