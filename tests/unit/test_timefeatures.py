"""Time features: the phase of each row's time in a day or a week."""

from __future__ import annotations

import numpy as np
import pytest

from tsrnn.config import ModelConfig
from tsrnn.data.timefeatures import count, time_features
from tsrnn.errors import TsrnnError


def test_phase_of_the_day_and_week() -> None:
    t = np.array(
        ["2024-01-01T00:00", "2024-01-01T06:00", "2024-01-01T12:00", "2024-01-02T00:00"], dtype="datetime64[us]"
    )
    day = time_features(t, "day")
    assert day.shape == (4, 2) and count("day") == 2 and count("day+week") == 4 and count("none") == 0
    assert np.allclose(day[0], [0, 1], atol=1e-6) and np.allclose(day[1], [1, 0], atol=1e-6)
    assert np.allclose(day[2], [0, -1], atol=1e-6) and np.allclose(
        day[3], day[0], atol=1e-6
    )  # a day later: the same phase
    both = time_features(t, "day+week")
    assert both.shape == (4, 4) and not np.allclose(
        both[3, 2:], both[0, 2:]
    )  # a day later is another point of the week
    assert time_features(t, "none").shape == (4, 0)


def test_time_features_need_the_stateful_forecaster() -> None:
    with pytest.raises(TsrnnError, match="stateful forecaster only"):
        ModelConfig(kind="autoencoder", time_features="day")
    with pytest.raises(TsrnnError, match="unknown time features"):
        ModelConfig(time_features="hour")
