"""`tsrnn forecast`: the rows after the end of each series, from a trained forecaster (torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import polars as pl

from tsrnn.data.clean import Segment, read_dataset
from tsrnn.errors import InputError, ModelError
from tsrnn.extras import require
from tsrnn.training.runs import Run, load_run

if TYPE_CHECKING:
    from torch import Tensor

    from tsrnn.models.forecaster import Forecaster


@dataclass(frozen=True)
class Forecast:
    """Future rows per series: (series, step, time, values)."""

    frame: pl.DataFrame  # timestamp, [id column], step, one column per value column
    series: int
    steps: int
    # per series, for pictures: (times, values of the forecast columns) of the rows before the forecast,
    # and of the rows held out (--holdout: the actual values the forecast can be set against)
    recent: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    actual: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)

    def to_csv(self, *, raw: bool = False) -> bytes:
        """The CSV `tsrnn forecast` writes, the same bytes to a file or stdout: UTF-8, "\\n" line
        ends; text cells and names a spreadsheet would run as formulas quoted (`tsrnn.safetext`)
        unless `raw`."""
        from tsrnn.safetext import formula_safe_frame

        return (self.frame if raw else formula_safe_frame(self.frame)).write_csv().encode()


def forecast(run: Run | str | Path, data: str | Path, steps: int, *, holdout: int = 0) -> Forecast:
    """Forecast `steps` rows after the last row of every series in `data` (`holdout`: after the
    row `holdout` rows before the end; the rows held out are the actual values beside it).

    The model reads each series' last segment from a zero state, then predicts `horizon` rows at
    a time; beyond its horizon it feeds its own predictions back (recursive forecasting). A model
    trained with --target forecasts that column alone, up to its horizon.
    """
    torch = require("torch", "train", "forecasting")
    run = run if isinstance(run, Run) else load_run(run)
    cfg = run.model_config
    if not cfg.spec.forecasts:
        raise ModelError(
            f"run {run.name!r} is an {cfg.kind}; forecasting needs a forecaster (train with --model forecaster)"
        )
    _check_steps(run, steps)
    interval = run.schema.get("interval_seconds")
    dataset = read_dataset(str(data), run.data_config, interval=interval)
    if not interval:
        raise InputError(
            f"{data}: the sampling interval is unknown (one row per series?), so future timestamps cannot be placed"
        )
    if dataset.value_columns != run.schema["value_columns"]:
        raise InputError(
            f"{data}: value columns {dataset.value_columns} differ from the run's {run.schema['value_columns']}"
        )
    model = cast("Forecaster", run.load_model())  # cfg.spec.forecasts, checked above
    scaler = run.scaler
    columns = [dataset.value_columns[i] for i in model.targets]
    mean, scale = np.asarray(scaler.mean)[model.targets], np.asarray(scaler.scale)[model.targets]
    if holdout < 0:
        raise InputError(f"--holdout must be 0 or more rows, got {holdout}")
    frames, recent, actual = [], {}, {}
    with torch.no_grad():
        for sid, segments in dataset.series().items():
            last = segments[-1]
            if last.rows - holdout < (2 if cfg.spec.stateful else cfg.window):
                raise InputError(
                    f"{data}: series {sid or '(all)'} ends with only {last.rows} rows after a gap"
                    f"{f', {holdout} of them held out' if holdout else ''}; give more history"
                )
            if holdout:
                actual[sid] = (last.times[-holdout:], last.values[-holdout:][:, model.targets])
                last = Segment(sid, last.times[:-holdout], last.values[:-holdout], last.observed[:-holdout], None)
            recent[sid] = (last.times[-4 * steps :], last.values[-4 * steps :][:, model.targets])
            future = last.times[-1] + (np.arange(1, steps + 1) * interval * 1e6).astype("timedelta64[us]")
            predicted = _roll(
                model, cfg, scaler.transform(last.values), steps, torch, np.concatenate([last.times, future])
            )
            frames.append(_frame(dataset.id_column, sid, last, predicted * scale + mean, interval, columns))
    return Forecast(pl.concat(frames), len(frames), steps, recent, actual, columns)


def _roll(model, cfg, scaled: np.ndarray, steps: int, torch, times: np.ndarray) -> np.ndarray:
    """(steps, features) scaled predictions after the rows of `scaled`; `times`: the rows' times,
    then the forecast rows' (a model that reads the time of day or week gets them from these)."""
    from tsrnn.data.timefeatures import time_features

    def tf(a: int, b: int):
        if cfg.time_features == "none":
            return None
        return torch.from_numpy(time_features(times[a:b], cfg.time_features)[None])

    out: list[np.ndarray] = []
    if not cfg.spec.stateful:
        window = scaled[-cfg.window :]
        while len(out) < steps:
            pred, *_ = model(torch.from_numpy(window[None].astype(np.float32)), *model.zero_state(1))
            rows = pred[0, -1].numpy()[: steps - len(out)]  # (≤ horizon, features)
            out.extend(rows)
            window = np.concatenate([window, rows])[-cfg.window :]
        return np.asarray(out)
    pred, *state = model(torch.from_numpy(scaled[None].astype(np.float32)), *model.zero_state(1), tf=tf(0, len(scaled)))
    last = scaled[-1]
    while True:
        rows = pred[0, -1].numpy()[: steps - len(out)]
        out.extend(rows)
        if len(out) >= steps:
            return np.asarray(out)
        diff = np.diff(np.concatenate([last[None], rows]), axis=0) if cfg.inputs == "diff" else None
        at = len(scaled) + len(out) - len(rows)  # the rows just predicted, fed back with their own times
        pred, *state = model(
            torch.from_numpy(rows[None].astype(np.float32)),
            *state,
            diff=None if diff is None else torch.from_numpy(diff[None].astype(np.float32)),
            tf=tf(at, at + len(rows)),
        )
        last = rows[-1]


def _check_steps(run: Run, steps: int) -> None:
    """At least one step; a --target model at most its horizon (the other columns' future is unknown,
    so nothing can be fed back)."""
    cfg = run.model_config
    if steps < 1:
        raise InputError(f"--steps must be at least 1, got {steps}")
    if cfg.target is not None and steps > cfg.horizon:
        raise InputError(
            f"--steps {steps}: run {run.name!r} forecasts {cfg.target!r} from every column, and the other columns' "
            f"future is unknown, "
            f"so it forecasts at most its --horizon ({cfg.horizon}) rows; ask for fewer steps or train with a longer "
            f"--horizon"
        )


def _frame(
    id_column: str | None, sid: str, last: Segment, values: np.ndarray, interval: float, columns: list[str]
) -> pl.DataFrame:
    step = np.arange(1, len(values) + 1)
    times = last.times[-1] + (step * interval * 1e6).astype("timedelta64[us]")
    data: dict[str, object] = {"timestamp": [t.replace("T", " ") for t in np.datetime_as_string(times, unit="s")]}
    if id_column:
        data[id_column] = [sid] * len(values)
    data["step"] = step
    for i, col in enumerate(columns):
        data[col] = values[:, i]
    return pl.DataFrame(data)


def rolling_forecasts(run: Run, values: np.ndarray, times: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
    """What `tsrnn forecast` would have said at each origin row: (origins, steps, forecast columns) in data units.

    `values` (rows, value columns) in data units and `times` (rows,) datetime64 are one series;
    the model reads it from its first row with the state carried, so the forecast made at row o
    uses rows 0..o only. Up to the model's horizon the forecasts are its direct outputs; beyond
    it, each origin's predictions are fed back (recursive), all origins in one batch. This is how
    benchmarks/forecast.py scores a run on held-out rows."""
    torch = require("torch", "train", "forecasting")
    from tsrnn.data.timefeatures import time_features

    cfg = run.model_config
    if not cfg.spec.stateful:
        raise ModelError(f"run {run.name!r}: rolling forecasts need a stateful forecaster")
    origins = np.asarray(origins, int)
    if origins.size == 0 or origins.min() < 0 or origins.max() >= len(values) or np.any(np.diff(origins) <= 0):
        raise InputError("origins must be increasing rows of the series")
    _check_steps(run, steps)
    model, scaler = cast("Forecaster", run.load_model()), run.scaler  # stateful: a forecaster
    mean, scale = np.asarray(scaler.mean)[model.targets], np.asarray(scaler.scale)[model.targets]
    scaled = scaler.transform(values).astype(np.float32)
    diff = np.diff(scaled, axis=0, prepend=scaled[:1])
    tf = time_features(times, cfg.time_features) if cfg.time_features != "none" else None

    def piece(a: int, b: int, state):
        t = lambda arr: None if arr is None else torch.from_numpy(np.ascontiguousarray(arr[a:b][None]))  # noqa: E731
        return model(
            torch.from_numpy(scaled[a:b][None]), *state, diff=t(diff) if cfg.inputs == "diff" else None, tf=t(tf)
        )

    with torch.no_grad():
        pred, *_ = piece(0, len(scaled), model.zero_state(1))
        direct = pred[0].numpy()[origins, : min(steps, cfg.horizon)]  # (origins, ≤ horizon, targets)
        if steps <= cfg.horizon:
            return direct * scale + mean
        state: Sequence[Tensor]
        states, state, done = [], model.zero_state(1), 0
        for o in origins:  # the state after each origin row (origins increase: one pass)
            _, *state = piece(done, o + 1, state)
            done = o + 1
            states.append(state)
        state = [torch.cat([s[i] for s in states], dim=1) for i in range(len(states[0]))]
        interval = np.timedelta64(int(round(run.schema["interval_seconds"] * 1e6)), "us")
        out = _fed_back(model, cfg, state, direct, scaled[origins], times[origins], interval, steps, torch)
        return out * scale + mean


def _fed_back(model, cfg, state, direct, last, starts, interval, steps: int, torch) -> np.ndarray:
    """Beyond the horizon: each origin's last predictions are fed back as rows (with their own times),
    all origins in one batch, until `steps` rows are forecast; (origins, steps, targets), scaled."""
    from tsrnn.data.timefeatures import time_features

    out = [direct]
    while (done := sum(p.shape[1] for p in out)) < steps:
        rows = out[-1]  # (origins, k, features)
        before = np.concatenate([last[:, None], rows[:, :-1]], axis=1)
        tf = None
        if cfg.time_features != "none":
            future = starts[:, None] + (np.arange(done - rows.shape[1] + 1, done + 1) * interval)[None, :]
            tf = torch.from_numpy(
                time_features(future.ravel(), cfg.time_features).reshape(len(starts), rows.shape[1], -1)
            )
        diff = torch.from_numpy((rows - before).astype(np.float32)) if cfg.inputs == "diff" else None
        pred, *state = model(torch.from_numpy(rows.astype(np.float32)), *state, diff=diff, tf=tf)
        last = rows[:, -1]
        out.append(pred[:, -1].numpy()[:, : steps - done])
    return np.concatenate(out, axis=1)
