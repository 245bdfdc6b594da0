"""`tsrnn bench`: a model's speed and parity per execution provider and precision (onnxruntime; never torch).

Every measurement goes through the runners watch uses (inferencer.py), so a call costs what it
costs in watch, Python included: one new row of one series with its state carried, a backlog of
one series in calls of `batch` rows, and one new row for each of `series` series in one call.
The inputs are synthetic (seeded), in the model's units, so every provider and precision sees
the same rows; parity is measured against the float32 file on the CPU.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from tsrnn.errors import ModelError, TsrnnError
from tsrnn.export.metadata import ModelMetadata, session_metadata
from tsrnn.runtime.inferencer import BACKLOG_ROWS, ForecasterRunner, _WindowRunner, runner_for
from tsrnn.runtime.providers import PROVIDERS, GpuOptions
from tsrnn.runtime.session import open_session

ORDER = ("cpu", "cuda", "tensorrt")  # measured in this order: the CPU first, parity's reference
# precision copies `tsrnn export --fp16 / --quantize int8 / --quantize int8-dynamic` writes beside NAME.onnx
COPIES = ("fp16", "int8", "int8-dynamic")
PARITY_UNITS = "max |expected - expected of cpu fp32| / the model's scaler scale (scaled units)"
BACKLOG_PASSES = 3  # the backlog's rate is the median of this many passes
LIMITS = {"rows": 10_000_000, "series": 100_000, "batch": 10_000_000, "repeat": 1_000_000}
Runner = ForecasterRunner | _WindowRunner


@dataclass(frozen=True)
class Measurement:
    """One provider and precision: latencies in milliseconds per call, rates per second."""

    provider: str
    precision: str  # fp32 | fp16 | int8 | int8-dynamic
    file: str
    session_providers: list[str]  # what onnxruntime runs the session on, in its order
    step_p50_ms: float  # one new row of one series (a windowed model: one window)
    step_p99_ms: float
    backlog_rows_per_s: float
    series_p50_ms: float  # one call with one new row for each of `series` series
    series_p99_ms: float
    series_per_s: float
    parity: float  # max difference from cpu fp32 (PARITY_UNITS); inf when one has a value where the other has none
    baseline: bool = False  # cpu fp32 measured as parity's reference, though cpu was not asked for


@dataclass(frozen=True)
class Skipped:
    """A provider (precision None: every precision) or one copy on it that could not run, and why."""

    provider: str
    precision: str | None
    reason: str


@dataclass(frozen=True)
class BenchResult:
    model: str
    kind: str  # stateful | windowed | autoencoder
    onnxruntime: str
    available: list[str]  # onnxruntime.get_available_providers()
    settings: dict[str, int]
    parity_units: str
    measurements: list[Measurement] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Inputs:
    """The same synthetic rows for every session: (rows, features) values and their times."""

    prefill: np.ndarray  # rows that fill a window (or settle a state) before anything is timed
    step: np.ndarray  # warm-up + repeat single rows
    backlog: np.ndarray
    series: np.ndarray  # (calls, series, features): one new row per series per call
    start: np.datetime64
    step_seconds: int


def _check_not_a_copy(model: str | Path) -> None:
    """A precision copy given as the model would be measured as float32 with parity 0: refused."""
    copy = next((c for c in COPIES if str(model).endswith(f".{c}.onnx")), None)
    if copy is not None:
        raise TsrnnError(
            f"{model}: this is the {copy} copy; give the float32 file beside it "
            f"({str(model)[: -len(f'.{copy}.onnx')]}.onnx), whose copies are measured too"
        )


def bench(
    model: str | Path,
    *,
    providers: list[str] | None = None,
    rows: int = 10_000,
    series: int = 64,
    batch: int = BACKLOG_ROWS,
    repeat: int = 200,
    threads: int = 1,
    strict_provider: bool = False,
    gpu: GpuOptions | None = None,
) -> BenchResult:
    """Measure `model` on each provider of `providers` (None: every one tsrnn knows; "auto": those
    onnxruntime has) and on each precision copy found beside it (NAME.fp16.onnx, NAME.int8.onnx).

    A provider that cannot run is listed in `skipped` with the reason; with `strict_provider` it is
    a TsrnnError instead. The CPU's float32 run is always measured: it is parity's reference.
    """
    if strict_provider and providers is None:  # strict about what this onnxruntime has, not every provider known
        providers = ["auto"]
    wanted = _check_arguments(providers, rows=rows, series=series, batch=batch, repeat=repeat, threads=threads)
    _check_not_a_copy(model)
    if strict_provider:  # before anything is measured
        for name in wanted:
            if (why := _unavailable(name, ort.get_available_providers())) is not None:
                raise _refused(name, why)
    path = Path(model)
    reference = open_session(path, provider="cpu", threads=threads)  # one line for a missing or damaged file
    meta = session_metadata(reference, path)
    available = ort.get_available_providers()
    inputs = _synthetic(meta, rows=rows, series=series, repeat=repeat)
    result = BenchResult(
        str(path),
        meta.spec.name,
        ort.__version__,
        list(available),
        dict(
            rows=rows,
            passes=BACKLOG_PASSES,
            series=series,
            batch=batch,
            repeat=repeat,
            warmup=_warmup(repeat),
            threads=threads,
        ),
        PARITY_UNITS,
    )
    files = {"fp32": path, **{p: path.with_suffix(f".{p}.onnx") for p in COPIES}}
    files = {p: f for p, f in files.items() if p == "fp32" or f.is_file()}
    run = _Run(meta, inputs, batch=batch, repeat=repeat, threads=threads, gpu=gpu or GpuOptions())
    for name in ("cpu", *[p for p in wanted if p != "cpu"]):
        why = _unavailable(name, available)
        if why is None:
            session = reference if name == "cpu" else None
            why = run.measure_provider(name, files, result, session=session, baseline=name not in wanted)
        if why is not None:
            if strict_provider:
                raise _refused(name, why)
            result.skipped.append(Skipped(name, None, why))
    return result


def _check_arguments(providers: list[str] | None, *, threads: int, **counts: int) -> list[str]:
    for name, value in counts.items():
        if not 1 <= value <= LIMITS[name]:
            raise TsrnnError(f"--{name} {value}: expected a whole number from 1 to {LIMITS[name]:,}")
    if counts["series"] * counts["repeat"] > LIMITS["rows"]:
        raise TsrnnError(
            f"--series {counts['series']:,} x --repeat {counts['repeat']:,}: at most {LIMITS['rows']:,} rows in all"
        )
    if threads < 0:
        raise TsrnnError(f"--threads {threads}: expected 0 (onnxruntime's choice) or more")
    wanted: list[str] = []
    for name in providers or list(ORDER):
        if name != "auto" and name not in PROVIDERS:
            raise TsrnnError(f"unknown provider {name!r}: use auto, {', '.join(ORDER)}")
        chosen = [p for p in ORDER if PROVIDERS[p] in ort.get_available_providers()] if name == "auto" else [name]
        wanted += [p for p in chosen if p not in wanted]
    return sorted(wanted, key=ORDER.index)


def _refused(name: str, why: str) -> TsrnnError:
    return TsrnnError(f"provider {name!r} cannot run: {why} (drop --strict-provider to list it and go on)")


def _unavailable(name: str, available: list[str]) -> str | None:
    if PROVIDERS[name] in available:
        return None
    return f"not installed in this onnxruntime (it has {', '.join(available)})"


def fallback_reason(session: Any, name: str) -> str | None:
    """Why a session asked for provider `name` does not run on it: onnxruntime falls back silently."""
    running = list(session.get_providers())
    if running and running[0] == PROVIDERS[name]:
        return None
    return f"no device: onnxruntime fell back to {', '.join(running) or 'nothing'}"


def _start_error(exc: ModelError) -> str:
    """The first line of onnxruntime's own error, which open_session wraps; else open_session's line
    (a copy that modelcheck refuses)."""
    cause = exc.__cause__ or exc.__context__
    text = str(cause).strip() if cause is not None and "onnxruntime cannot load" in str(exc) else ""
    return f"failed to start: {(text.splitlines()[0] if text else str(exc))[:300]}"


def _warmup(repeat: int) -> int:
    return min(20, max(3, repeat // 10))


def _synthetic(meta: ModelMetadata, *, rows: int, series: int, repeat: int) -> _Inputs:
    """Seeded values around the training data's centre and spread: a slow cycle and noise per column."""
    rng = np.random.default_rng(0)
    mean = np.asarray(meta.scaler["mean"], np.float64)
    scale = np.asarray(meta.scaler["scale"], np.float64)
    calls = _warmup(repeat) + repeat

    def values(n: int, offset: int) -> np.ndarray:
        t = np.arange(offset, offset + n)[:, None] + np.arange(meta.features)[None, :] * 7
        z = np.sin(2 * np.pi * t / 144) + 0.3 * rng.standard_normal((n, meta.features))
        return (mean + scale * z).astype(np.float32)

    prefill = values(meta.window + 1, 0)
    step = values(calls, meta.window + 1)
    backlog = values(rows, meta.window + 1)
    per_series = np.stack([values(calls, meta.window + 1 + 31 * s) for s in range(series)], axis=1)
    seconds = int(meta.interval) if meta.interval and meta.interval >= 1 else 60
    return _Inputs(prefill, step, backlog, per_series, np.datetime64("2024-01-01T00:00:00", "s"), seconds)


class _Run:
    """What is measured on each session, the same way for each; the CPU fp32 outputs kept for parity."""

    def __init__(
        self, meta: ModelMetadata, inputs: _Inputs, *, batch: int, repeat: int, threads: int, gpu: GpuOptions
    ) -> None:
        self.meta, self.inputs = meta, inputs
        self.batch, self.repeat, self.threads, self.gpu = batch, repeat, threads, gpu
        self.reference: list[np.ndarray] | None = None

    def measure_provider(
        self, name: str, files: dict[str, Path], result: BenchResult, *, session: Any, baseline: bool
    ) -> str | None:
        """Every precision on provider `name` (`session`: the float32 file's, when open already); the
        reason the provider cannot run, or None. A copy that cannot run is listed on its own."""
        for precision, path in files.items():
            if precision != "fp32" or session is None:
                try:
                    session = open_session(path, provider=name, threads=self.threads, gpu=self.gpu)
                except ModelError as exc:
                    if precision == "fp32":
                        return _start_error(exc)
                    result.skipped.append(Skipped(name, precision, _start_error(exc)))
                    continue
            why = fallback_reason(session, name) or self._foreign(session, path)
            if why is not None and precision == "fp32":
                return why
            if why is not None:
                result.skipped.append(Skipped(name, precision, why))
                continue
            result.measurements.append(self._measure(name, precision, path, session, baseline))
            if baseline:
                return None  # the CPU as parity's reference alone: its copies were not asked for
        return None

    def _foreign(self, session: Any, path: Path) -> str | None:
        """A copy beside the model that is not a copy of it (a stale file from an earlier export)."""
        try:
            other = session_metadata(session, path)
        except ModelError as exc:
            return str(exc)
        if other.to_props() != self.meta.to_props():
            return f"{path.name}: its metadata differ from the float32 file's (a stale copy? export the model again)"
        return None

    def _measure(self, name: str, precision: str, path: Path, session: Any, baseline: bool) -> Measurement:
        runner = runner_for(session, self.meta)
        step, step_out = self._step(runner)
        rate, backlog_out = self._backlog(runner)
        many, many_out = self._series(runner)
        outputs = [step_out, backlog_out, many_out]
        if self.reference is None:
            self.reference = outputs  # the CPU's float32 run comes first
        n = self.inputs.series.shape[1]
        p50 = float(np.percentile(many, 50))
        return Measurement(
            name,
            precision,
            str(path),
            list(session.get_providers()),
            float(np.percentile(step, 50)) * 1e3,
            float(np.percentile(step, 99)) * 1e3,
            rate,
            p50 * 1e3,
            float(np.percentile(many, 99)) * 1e3,
            n / p50 if p50 > 0 else float("inf"),
            _parity(outputs, self.reference, runner.scale),
            baseline,
        )

    def _times(self, start: int, n: int) -> np.ndarray:
        return self.inputs.start + (np.arange(start, start + n) * self.inputs.step_seconds).astype("timedelta64[s]")

    def _call(self, runner: Runner, jobs: list[tuple[np.ndarray, dict[str, np.ndarray]]], at: int) -> list[Any]:
        times = [self._times(at, len(values)) for values, _ in jobs] if self.meta.time_features != "none" else None
        return runner.run_many(jobs, times)

    def _step(self, runner: Runner) -> tuple[list[float], np.ndarray]:
        """One new row per call for one series, its state carried; the warm-up calls are not timed."""
        prefill = len(self.inputs.prefill)
        (_, _, arrays), *_ = self._call(runner, [(self.inputs.prefill, runner.initial())], 0)
        samples, expected = [], []
        for i, row in enumerate(self.inputs.step):
            started = time.perf_counter()
            (e, _, arrays), *_ = self._call(runner, [(row[None], arrays)], prefill + i)
            if i >= _warmup(self.repeat):
                samples.append(time.perf_counter() - started)
            expected.append(e)
        return samples, np.concatenate(expected)

    def _backlog(self, runner: Runner) -> tuple[float, np.ndarray]:
        """`rows` rows of one series in calls of `batch` rows (watch backfills in BACKLOG_ROWS):
        rows per second, the median of BACKLOG_PASSES passes after one warm-up call."""
        values = self.inputs.backlog
        self._call(runner, [(values[: self.batch], runner.initial())], 0)
        seconds: list[float] = []
        expected: list[np.ndarray] = []
        for _ in range(BACKLOG_PASSES):
            arrays, expected = runner.initial(), []
            started = time.perf_counter()
            for at in range(0, len(values), self.batch):
                (e, _, arrays), *_ = self._call(runner, [(values[at : at + self.batch], arrays)], at)
                expected.append(e)
            seconds.append(time.perf_counter() - started)
        median = statistics.median(seconds)
        return (len(values) / median if median > 0 else float("inf")), np.concatenate(expected)

    def _series(self, runner: Runner) -> tuple[list[float], np.ndarray]:
        """One call with one new row for each series, states carried; the warm-up calls are not timed."""
        n = self.inputs.series.shape[1]
        prefill = len(self.inputs.prefill)
        states = [a for _, _, a in self._call(runner, [(self.inputs.prefill, runner.initial())] * n, 0)]
        samples, expected = [], []
        for i, rows in enumerate(self.inputs.series):
            started = time.perf_counter()
            out = self._call(runner, [(row[None], a) for row, a in zip(rows, states)], prefill + i)
            if i >= _warmup(self.repeat):
                samples.append(time.perf_counter() - started)
            states = [a for _, _, a in out]
            expected.append(np.stack([e for e, _, _ in out]))
        return samples, np.stack(expected)


def _parity(got: list[np.ndarray], want: list[np.ndarray], scale: np.ndarray) -> float:
    """The largest difference of the expected values, in scaled units; rows without a value (a window
    not yet full) must agree on having none."""
    worst = 0.0
    for g, w in zip(got, want):
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if (np.isfinite(g64) != np.isfinite(w64)).any():
            return float("inf")
        both = np.isfinite(g64)
        if both.any():
            diff = np.abs(g64 - w64) / np.broadcast_to(np.asarray(scale, np.float64), g64.shape)
            worst = max(worst, float(np.max(diff[both])))
    return worst
