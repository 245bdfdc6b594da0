"""What the "auto" settings become, decided from the data (model inputs, time features, the
detector's channels and incident lengths) and from the machine (torch threads)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager

from tsrnn.config import ModelConfig, ScoreConfig
from tsrnn.data.clean import Dataset
from tsrnn.errors import InputError, TsrnnError

COOLDOWN_SHARE = 0.133  # of a series' training rows (measured on NAB: benchmarks/nab.py)
COOLDOWN_MIN, COOLDOWN_MAX = 10, 1000
ACCEPT_MIN = 10  # rows


def resolve_auto(
    model: ModelConfig, score: ScoreConfig, dataset: Dataset, source: str
) -> tuple[ModelConfig, ScoreConfig]:
    """Settings left at `auto`, decided from the data (and recorded in the run as decided).

    - inputs: level for window models; a stateful forecaster's is chosen by validation (choose_inputs);
    - time features: the time of day for a stateful forecaster of rows under 12 hours apart;
    - error: blend (horizon and the same time a day earlier) when the rows are regular, between
      4.3 s and 12 h apart; else horizon when --horizon > 1; else abs. Window models: abs;
    - novelty: knn for forecasters, the model's own reconstruction error for autoencoders;
    - cooldown: 0.133 x a series' training rows, at least 10, at most a day of rows or 1,000;
    - hold: twice the novelty window (a column's windows hold no incident row by then);
    - accept_after: a day of rows, or the novelty memory's rows if fewer.
    """
    from tsrnn.scoring.errors import season_rows

    spec = model.spec
    stateful = spec.stateful
    interval = dataset.interval_seconds
    if model.inputs == "auto" and not stateful:
        model = dataclasses.replace(model, inputs="level")
    if model.time_features == "auto":
        model = dataclasses.replace(
            model, time_features="day" if stateful and interval and interval < 43_200 else "none"
        )
    if score.error == "auto":
        kind = ("blend" if season_rows(interval) else "horizon" if model.horizon > 1 else "abs") if stateful else "abs"
        score = dataclasses.replace(score, error=kind if spec.error_kinds else "none")
    if score.error not in ("abs", "none", *spec.error_kinds):
        raise TsrnnError(f"--error {score.error} needs the stateful forecaster; use --error abs with this model")
    if not spec.error_kinds:  # an autoencoder's error is its reconstruction error: the novelty channel
        score = dataclasses.replace(score, error="none")
    if score.error == "blend" and not season_rows(interval):
        raise InputError(
            f"{source}: --error blend compares each row with the same time a day earlier, which needs rows at a "
            f"regular interval "
            f"of 4.3 s to 12 h (found {interval or 'none'}); use --resample, or another --error"
        )
    if score.novelty == "auto":
        score = dataclasses.replace(score, novelty="autoencoder" if spec.own_novelty else "knn")
    if score.novelty == "autoencoder" and not spec.own_novelty:
        raise TsrnnError(
            "--novelty autoencoder: the novelty channel is an autoencoder's reconstruction error with --model "
            "autoencoder; "
            "a forecaster's novelty channel is knn (or none)"
        )
    if score.novelty == "knn" and spec.own_novelty:
        score = dataclasses.replace(score, novelty="autoencoder")
    if score.cooldown is None:
        per_series = dataset.rows / max(len(dataset.series()), 1)
        score = dataclasses.replace(score, cooldown=auto_cooldown(per_series, interval))
    if score.hold is None:
        score = dataclasses.replace(score, hold=2 * score.novelty_window)
    if score.accept_after is None:
        score = dataclasses.replace(score, accept_after=auto_accept(interval, score.novelty_memory))
    return model, score


def auto_threads(model_cfg: ModelConfig, cores: int | None = None, load: float | None = None) -> int:
    """Torch intra-op threads for training a model of this size (benchmarks/threads.py, README).

    Below AUTO_THREADS_HIDDEN units one thread: as fast as two on an idle 2-core machine, and
    5-9x faster than two next to a busy process. Wider models gain from more threads when the
    machine is idle and lose badly when it is not, so they get the cores that the last minute's
    load average leaves idle (at least one)."""
    if model_cfg.hidden < AUTO_THREADS_HIDDEN:
        return 1

    cores = cores or os.cpu_count() or 1
    load = os.getloadavg()[0] if load is None else load
    return max(1, min(cores, round(cores - load)))


AUTO_THREADS_HIDDEN = 256


@contextmanager
def torch_threads(torch, threads: int) -> Iterator[None]:
    """Train on `threads` intra-op threads, and give the caller's setting back afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def auto_accept(interval_seconds: float | None, novelty_memory: int) -> int:
    """An incident that lasts a day of rows is the new normal, or sooner, once it has lasted as
    long as the novelty memory (which then holds no normal row of its columns to compare with)."""
    day = int(round(86_400 / interval_seconds)) if interval_seconds and interval_seconds > 0 else novelty_memory
    return max(ACCEPT_MIN, min(day, novelty_memory))


def auto_cooldown(rows_per_series: float, interval_seconds: float | None) -> int:
    """0.133 x a series' training rows, at least 10, at most a day of rows (1,000 at most)."""
    top = COOLDOWN_MAX
    if interval_seconds and interval_seconds > 0:
        top = min(top, max(COOLDOWN_MIN, int(round(86_400 / interval_seconds))))
    return int(min(max(round(COOLDOWN_SHARE * rows_per_series), COOLDOWN_MIN), top))
