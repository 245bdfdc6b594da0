"""One slice's segments on their way through watch: which state each continues, what the detector
reads for its rows, and the rows of the scores file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from tsrnn.data.clean import Dataset, Segment
from tsrnn.export.metadata import ModelMetadata
from tsrnn.runtime.inferencer import arrays_from_json, arrays_to_json
from tsrnn.scoring.events import Event
from tsrnn.scoring.types import Detected, Inputs
from tsrnn.streaming.output import scores_frame
from tsrnn.streaming.resume import continues
from tsrnn.streaming.state import SeriesState


def plan(
    segments: list[Segment], states: dict[str, SeriesState], runner: Any
) -> list[tuple[Segment, dict[str, np.ndarray], int]]:
    """(segment, the graph's carried arrays, rows the model has seen) for each segment with new rows."""
    jobs = []
    for seg in segments:
        st = states.get(seg.series)
        if seg.carried and st is not None:  # continues the saved state
            seg = continues(seg)
            if seg.rows:
                jobs.append((seg, arrays_from_json(st.arrays), st.rows_seen))
        else:  # a new series, or after a gap too long to fill: the model starts again, the detector goes on
            jobs.append((seg, runner.initial(), 0))
    return jobs


def advanced(old: SeriesState | None, seg: Segment, seen: int, arrays: dict[str, np.ndarray]) -> SeriesState:
    """A series' state after its segment: the model's arrays and the last row (the detector is saved at the
    end of a pass)."""
    last = [float(v) for v in seg.values[-1]]
    detector = old.detector if old else None
    return SeriesState(seen + seg.rows, int(seg.times[-1].astype(np.int64)), arrays_to_json(arrays), last, detector)


@dataclass(frozen=True)
class Prepared:
    """How a model's outputs become the detector's inputs: the scored columns and their scale."""

    scored: list[int]  # the columns forecast and scored (every one, or --target's)
    all_scored: bool
    mean: np.ndarray  # of the scored columns
    scale: np.ndarray
    own_novelty: bool  # an autoencoder: its error is the novelty channel

    @classmethod
    def of(cls, meta: ModelMetadata, own_novelty: bool) -> Prepared:
        mean, scale = np.asarray(meta.scaler["mean"])[meta.scored], np.asarray(meta.scaler["scale"])[meta.scored]
        return cls(meta.scored, len(meta.scored) == meta.features, mean, scale, own_novelty)

    def inputs(self, seg: Segment, seen: int, expected: np.ndarray, error: np.ndarray, warmup: int) -> Inputs:
        """The detector's inputs for a segment; the error is NaN for rows still in the model's warm-up."""
        error = np.asarray(error, np.float64)
        error = error[:, None] if error.ndim == 1 else error  # (rows, columns), or one joint column
        warm = seen + np.arange(seg.rows) < warmup
        if warm.any():
            error = np.where(warm[:, None], np.nan, error)
        values = seg.values if self.all_scored else seg.values[:, self.scored]  # --target: that column alone is scored
        return Inputs(
            values=values,
            scaled=(values - self.mean) / self.scale,
            expected=expected,
            time_text=seg.text or [""] * seg.rows,
            error=None if self.own_novelty else error,
            novelty=error if self.own_novelty else None,
            times_us=seg.times.astype("datetime64[us]").astype(np.int64),
        )


def scores_rows(
    meta: ModelMetadata,
    seg: Segment,
    rows: Inputs,
    found: Detected,
    keep: np.ndarray,
    kept: list[str],
    channels: list[str] | None,
) -> pl.DataFrame:
    """The scores file's rows of a segment (`keep`: rows from the data, not filled into gaps)."""
    per_channel = None
    if channels is not None:
        zero = np.zeros(seg.rows)
        per_channel = {c: found.channel_scores.get(c, zero)[keep] for c in channels}
    return scores_frame(
        meta,
        [seg.series] * len(kept),
        kept,
        rows.values[keep],
        rows.expected[keep],
        found.scores[keep],
        found.alert_scores[keep],
        found.anomaly[keep],
        found.alert[keep],
        per_channel,
    )


def with_context(event: Event, time_text: list[str], scores: np.ndarray, rows: int = 5) -> Event:
    """The event with the scores of up to `rows` rows each side of its peak (those scored in the
    same stretch of rows: the terminal report draws them)."""
    try:
        k = time_text.index(event.peak_time)
    except ValueError:  # the peak was in an earlier stretch
        return event
    return replace(event, around=[round(float(v), 4) for v in scores[max(0, k - rows) : k + rows + 1]])


def interval_note(meta: ModelMetadata, dataset: Dataset) -> list[str]:
    """A note when rows arrive at another interval than the model was trained on."""
    trained, now = meta.interval, dataset.data_interval_seconds
    if meta.data.resample or not (trained and now and dataset.rows >= 3):
        return []
    if abs(now - trained) > 0.1 * trained:
        return [
            f"new rows arrive every {now:g} s but the model was trained on rows every {trained:g} s; scores may "
            f"mislead (retrain, or use --resample at train time)"
        ]
    return []
