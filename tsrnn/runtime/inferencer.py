"""The inferencer: raw rows + carried arrays → expected values, errors, new arrays (onnxruntime; never torch).

One per way a model meets rows: the stateful forecaster carries its recurrent state; the
autoencoder and the windowed forecaster carry the last rows and re-run a window per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort

from tsrnn.data.timefeatures import time_features
from tsrnn.encoding import pack, unpack
from tsrnn.export.metadata import ModelMetadata
from tsrnn.runtime import BACKLOG_ROWS
from tsrnn.scoring.errors import ErrorSpec, row_errors, season_rows

WINDOW_BATCH = 4096  # windows per onnxruntime call when backfilling a windowed model

Output = tuple[
    np.ndarray, np.ndarray, dict[str, np.ndarray]
]  # expected (rows, features), error (rows, columns or 1), arrays


class ForecasterRunner:
    """Carries the cell's state and the pending prediction: any number of new rows is one call.

    With the `horizon` error (errors.py), the forecasts of the last H rows are carried too.
    """

    def __init__(self, session: ort.InferenceSession, meta: ModelMetadata) -> None:
        self.session = session
        self.layers, self.hidden = meta.state_shape
        self.states = list(meta.state_names)  # ["h", "c"] for LSTM, ["h"] for GRU and RNN
        self.rows = list(meta.spec.carried_rows(meta.inputs))  # carried rows (1, features)
        cal = meta.scorer_calibration
        self.scored = meta.scored  # the columns forecast: every one, or --target's
        self.errors = ErrorSpec(
            cal.error,
            meta.horizon,
            len(self.scored),
            season_rows(meta.interval) if cal.error == "blend" else 0,
            tuple(cal.error_norms),
            np.asarray(cal.inverse_cov) if cal.inverse_cov is not None else None,
        )
        self.with_forecast = self.errors.needs_forecast
        self.outputs = [
            "expected",
            "error",
            *(["forecast"] if self.with_forecast else []),
            *(f"{n}_out" for n in self.states + self.rows),
        ]
        self.features = meta.features
        self.time_features = meta.time_features  # "none", or the graph reads `tf` computed from each row's time
        self.scale = np.asarray(meta.scaler["scale"], np.float32)[self.scored]
        self.all_columns = len(self.scored) == self.features

    def initial(self) -> dict[str, np.ndarray]:
        arrays = {n: np.zeros((self.layers, 1, self.hidden), np.float32) for n in self.states}
        arrays.update(
            {n: np.full((1, self.features if n == "prev" else len(self.scored)), np.nan, np.float32) for n in self.rows}
        )
        arrays.update(self.errors.initial())
        return arrays

    def run_many(
        self, jobs: list[tuple[np.ndarray, dict[str, np.ndarray]]], times: list[np.ndarray] | None = None
    ) -> list[Output]:
        """Series with the same number of new rows go through one call, stacked on the batch axis.
        `times` (datetime64 per row of each job) feed the time features of a model that reads them.

        (Padding shorter series would run their state past their last row, so lengths are
        grouped instead; a cron job that brings one new row per series makes one call.)
        """
        out: list[Output | None] = [None] * len(jobs)
        groups: dict[int, list[int]] = {}
        for i, (values, _) in enumerate(jobs):
            groups.setdefault(values.shape[0], []).append(i)
        for members in groups.values():
            x = np.array(
                [jobs[i][0] for i in members], np.float32
            )  # (batch, rows, features); np.array stacks in C, np.stack in Python
            feed = {n: np.concatenate([jobs[i][1][n] for i in members], axis=1) for n in self.states}
            feed.update({n: np.concatenate([jobs[i][1][n] for i in members], axis=0) for n in self.rows})
            tf = None
            if self.time_features != "none":
                if times is None:
                    raise ValueError("this model reads time features: pass the rows' times")
                stamps = np.concatenate([times[i] for i in members])  # one call for the group: (batch, rows, inputs)
                tf = time_features(stamps, self.time_features).reshape(len(members), x.shape[1], -1)
            expected, error, forecast, states, rows = self._run_long(x, feed, tf)
            # per column (the graph's own `error` is their mean), for the whole group at once
            before = {n: np.array([jobs[i][1][n] for i in members]) for n in self.errors.initial()}
            error, carried = row_errors(
                self.errors, x if self.all_columns else x[..., self.scored], expected, forecast, self.scale, before
            )
            # per series, views of the batch: iterating an array's first axis is fast, indexing it in a loop is not
            names = [*self.states, *self.rows, *carried]
            parts = (
                [list(s.swapaxes(0, 1)[:, :, None]) for s in states]
                + [list(r[:, None]) for r in rows]
                + [list(c) for c in carried.values()]
            )
            for i, e, err, *arrays in zip(members, expected, error, *parts):
                out[i] = (e, err, dict(zip(names, arrays)))
        return out  # type: ignore[return-value]

    def _run_long(
        self, x: np.ndarray, feed: dict[str, np.ndarray], tf: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[np.ndarray], list[np.ndarray]]:
        """A long backlog goes through in slices of BACKLOG_ROWS, the state carried between them.

        One call per slice costs nothing measurable, and it bounds memory: onnxruntime's LSTM
        keeps its gate inputs for every row of a call (4 x hidden floats per row and layer).
        """
        expected, error, forecast = [], [], []
        for start in range(0, x.shape[1], BACKLOG_ROWS):
            extra = {"tf": tf[:, start : start + BACKLOG_ROWS]} if tf is not None else {}
            e, r, *carried = self.session.run(self.outputs, {"x": x[:, start : start + BACKLOG_ROWS], **extra, **feed})
            expected.append(e)
            error.append(r)
            if self.with_forecast:
                forecast.append(carried.pop(0))
            feed = dict(zip(self.states + self.rows, carried))
        states = [feed[n] for n in self.states]
        return (
            np.concatenate(expected, axis=1),
            np.concatenate(error, axis=1),
            np.concatenate(forecast, axis=1) if forecast else None,
            states,
            [feed[n] for n in self.rows],
        )


class _WindowRunner:
    """Carries the last window-1 rows; each new row is scored from the window ending at it."""

    def __init__(self, session: ort.InferenceSession, meta: ModelMetadata) -> None:
        self.session = session
        self.window = meta.window
        self.features = meta.features
        self.scale = np.asarray(meta.scaler["scale"], np.float32)
        self.error_columns = self.features  # a forecaster's error is per column, an autoencoder's one joint value

    def initial(self) -> dict[str, np.ndarray]:
        return {"buffer": np.zeros((0, self.features), np.float32)}

    def run_many(
        self, jobs: list[tuple[np.ndarray, dict[str, np.ndarray]]], times: list[np.ndarray] | None = None
    ) -> list[Output]:
        return [self.run(values, arrays) for values, arrays in jobs]

    def run(self, values: np.ndarray, arrays: dict[str, np.ndarray]) -> Output:
        """values (rows, features) → expected (rows, features), error (rows, error_columns), new arrays."""
        rows = values.shape[0]
        full = np.concatenate([arrays["buffer"].astype(np.float32), values.astype(np.float32)])
        expected = np.full((rows, self.features), np.nan, np.float32)
        error = np.full((rows, self.error_columns), np.nan, np.float32)
        offset = self.window - 1 - arrays["buffer"].shape[0]  # window k ends at new row k + offset
        if full.shape[0] >= self.window:
            windows = np.lib.stride_tricks.sliding_window_view(full, self.window, axis=0).transpose(0, 2, 1)
            for start in range(0, len(windows), WINDOW_BATCH):
                batch = np.ascontiguousarray(windows[start : start + WINDOW_BATCH])
                at = slice(start + offset, start + offset + len(batch))
                expected[at], error[at] = self._score(batch)
        keep = full[len(full) - (self.window - 1) :] if self.window > 1 else full[:0]
        return expected, error, {"buffer": keep}

    def _score(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class AutoencoderRunner(_WindowRunner):
    """A row's error is the last step of the reconstruction of the window ending at it."""

    def __init__(self, session: ort.InferenceSession, meta: ModelMetadata) -> None:
        super().__init__(session, meta)
        self.error_columns = 1

    def _score(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        recon, err = self.session.run(None, {"x": windows})
        return recon[:, -1], err[:, -1:]


class WindowedForecasterRunner(_WindowRunner):
    """A windowed forecaster predicts each row from the `window` rows before it, re-run every row."""

    def __init__(self, session: ort.InferenceSession, meta: ModelMetadata) -> None:
        super().__init__(session, meta)
        self.window += 1  # the rows before a row, and the row itself

    def _score(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (forecast,) = self.session.run(None, {"x": windows[:, :-1]})
        expected = forecast[:, 0]
        return expected, np.abs(windows[:, -1] - expected) / self.scale


def runner_for(session: ort.InferenceSession, meta: ModelMetadata) -> ForecasterRunner | _WindowRunner:
    """The runner for a model: its kind (tsrnn.kinds) decides how rows meet the graph."""
    runners: dict[str, type[ForecasterRunner | _WindowRunner]] = {
        "stateful": ForecasterRunner,
        "windowed": WindowedForecasterRunner,
        "autoencoder": AutoencoderRunner,
    }
    return runners[meta.spec.name](session, meta)


def arrays_to_json(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Arrays as their shapes and little-endian float32 bytes in base64: exact, NaN kept, compact."""
    return {k: {"shape": list(v.shape), "f4": pack(v, "<f4")} for k, v in arrays.items()}


def arrays_from_json(data: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: unpack(v["f4"], "<f4", tuple(v["shape"])).copy() for k, v in data.items()}
