"""A watch state document checked against the model before any of it is used.

Every key is known, every value has its type, every array its shape (the model's layers x hidden,
its columns, its kNN memory), every statistic is a finite number, and there are no more series
than the model can have. A state is a file anyone may edit: what it holds must not crash a run,
allocate without bound or be written back.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsrnn.scoring.channels import ring_rows
from tsrnn.scoring.normalizer import BINS
from tsrnn.scoring.thresholds import METHODS

# A real state of the default model (LSTM 2 x 32, --horizon 10, time of day, kNN memory 1,000
# rows) holds 10.8 KB per series. 50,000 series is 50 times the largest fleet benchmarked (1,000
# series, 1.3 s a run; more would not keep up with a cron interval). Loading is linear (measured:
# 100 us per series to check; 50,000 series, 527 MB: 6.9 s to parse, 5.0 s to check, 3.3 GB
# resident). The file limit is those 540 MB with room for wider models.
MAX_SERIES = 50_000
MAX_STATE_BYTES = 768 << 20
MAX_WINDOW = 1_000_000  # kNN window and memory rows: far above what train accepts, below a silly allocation
RATIO_CHANNELS = ("forecast", "novelty")
INT64 = 1 << 63


class Invalid(Exception):
    """What is wrong in the document, and where (`series 'web1': detector.rows: ...`)."""


@dataclass(frozen=True)
class StateModel:
    """What a state must look like for one model."""

    arrays: dict[str, tuple[int, ...]]  # the model's carried arrays and their shapes
    features: int  # the scored columns
    many: bool  # the model has an id column: many series (else one)
    window: int = 0  # a window model: its buffer holds up to window - 1 rows

    @classmethod
    def of(cls, runner: Any, meta: Any) -> StateModel:
        shapes = {k: tuple(v.shape) for k, v in runner.initial().items()}
        return cls(shapes, len(meta.scored), bool(meta.data.id_column), int(getattr(runner, "window", 0) or 0))


def check_document(doc: dict[str, Any], model: StateModel) -> None:
    """Raise Invalid unless `doc` (a parsed state of a readable version) fits `model`."""
    _keys(doc, "the document", {"format", "version", "model", "source", "cursors", "series"}, {"outputs", "shard"})
    if "shard" in doc and not (isinstance(doc["shard"], str) and re.fullmatch(r"\d{1,9}/\d{1,9}", doc["shard"])):
        raise Invalid("shard is not I/N")
    for name, cursor in _dict(doc["cursors"], "cursors").items():
        where = f"cursor {name!r}"
        _keys(cursor, where, {"offset", "lines", "head_sha256", "unterminated"})
        _int(cursor["offset"], f"{where}: offset")
        _int(cursor["lines"], f"{where}: lines")
        if not isinstance(cursor["head_sha256"], str) or len(cursor["head_sha256"]) not in (0, 64):
            raise Invalid(f"{where}: head_sha256 is not a SHA-256")
        _bool(cursor["unterminated"], f"{where}: unterminated")
    for name, size in _dict(doc.get("outputs", {}), "outputs").items():
        _int(size, f"outputs {name!r}")
    series = _dict(doc["series"], "series")
    limit = MAX_SERIES if model.many else 1
    if len(series) > limit:
        whose = "a model without an id column has one" if not model.many else f"at most {MAX_SERIES:,} are read"
        raise Invalid(f"{len(series):,} series ({whose})")
    for sid, data in series.items():
        where = f"series {sid!r}"
        _keys(data, where, {"rows_seen", "last_time_us", "arrays", "detector"}, {"last_values"})
        _int(data["rows_seen"], f"{where}: rows_seen")
        if data["last_time_us"] is not None:
            _int(data["last_time_us"], f"{where}: last_time_us", low=-INT64)
        if data.get("last_values") is not None:
            _numbers(data["last_values"], f"{where}: last_values", model.features)
        _arrays(data["arrays"], f"{where}: arrays", model)
        if data["detector"] is not None:
            _detector(_dict(data["detector"], f"{where}: detector"), f"{where}: detector", model.features)


def _arrays(arrays: Any, where: str, model: StateModel) -> None:
    arrays = _dict(arrays, where)
    if set(arrays) != set(model.arrays):
        raise Invalid(f"{where}: holds {sorted(arrays)}, the model carries {sorted(model.arrays)}")
    for name, want in model.arrays.items():
        at = f"{where}.{name}"
        item = arrays[name]
        _keys(item, at, {"shape", "f4"})
        shape = item["shape"]
        if not isinstance(shape, list) or not all(type(n) is int for n in shape):
            raise Invalid(f"{at}: shape is not a list of integers")
        ok = tuple(shape) == want
        if name == "buffer" and model.window:  # a window model's last rows: up to window - 1 of them
            ok = len(shape) == 2 and 0 <= shape[0] < model.window and shape[1] == want[1]
        if not ok:
            raise Invalid(f"{at}: shape {shape}, the model's is {list(want)}")
        values = _packed(item["f4"], at, "<f4", math.prod(shape))
        if np.isinf(values).any():
            raise Invalid(f"{at}: holds an infinite number")


def _detector(det: dict[str, Any], where: str, features: int) -> None:
    _keys(det, where, {"rows", "scales", "threshold", "novelty", "range", "event", "smoothed"}, {"incident"})
    _int(det["rows"], f"{where}.rows")
    for channel, scales in _dict(det["scales"], f"{where}.scales").items():
        if channel not in RATIO_CHANNELS:
            raise Invalid(f"{where}.scales: unknown channel {channel!r}")
        scales = scales if isinstance(scales, list) else [scales]  # version 4: one scale for every column
        if len(scales) not in (1, features):
            raise Invalid(f"{where}.scales.{channel}: {len(scales)} scales for {features} columns")
        for scale in scales:
            _keys(scale, f"{where}.scales.{channel}", {"hist", "pending", "scale"})
            _sparse(scale["hist"], f"{where}.scales.{channel}.hist")
            _sparse(scale["pending"], f"{where}.scales.{channel}.pending")
            _number(scale["scale"], f"{where}.scales.{channel}.scale")
    th = det["threshold"]
    _keys(th, f"{where}.threshold", {"method", "level", "peaks", "seen", "recent"})
    if not isinstance(th["method"], str) or th["method"] not in METHODS:
        raise Invalid(f"{where}.threshold.method: {th['method']!r} is not one of {', '.join(METHODS)}")
    _number(th["level"], f"{where}.threshold.level")
    _number(th["seen"], f"{where}.threshold.seen")
    _finite(_packed(th["peaks"], f"{where}.threshold.peaks", "<f8"), f"{where}.threshold.peaks")
    _finite(_packed(th["recent"], f"{where}.threshold.recent", "<f8"), f"{where}.threshold.recent")
    if det["novelty"] is not None:
        _novelty(det["novelty"], f"{where}.novelty", features)
    if det["range"] is not None:
        _keys(det["range"], f"{where}.range", {"low", "high", "seen"})
        _bounds(det["range"], f"{where}.range", features)
        _int(det["range"]["seen"], f"{where}.range.seen")
    if det["smoothed"] is not None:
        _number(det["smoothed"], f"{where}.smoothed")
    if det["event"] is not None:
        _event(det["event"], f"{where}.event", features)
    if det.get("incident") is not None:
        _incident(det["incident"], f"{where}.incident", features)


def _novelty(nov: Any, where: str, features: int) -> None:
    _keys(nov, where, {"window", "memory", "features", "ring", "seen", "warmup"}, {"unusable"})
    window = _int(nov["window"], f"{where}.window", low=1, high=MAX_WINDOW)
    memory = _int(nov["memory"], f"{where}.memory", low=1, high=MAX_WINDOW)
    if nov["features"] != features:
        raise Invalid(f"{where}.features: {nov['features']!r}, the model scores {features} columns")
    ring = _packed(nov["ring"], f"{where}.ring", "<f4", ring_rows(window, memory) * features)
    if np.isinf(ring).any():
        raise Invalid(f"{where}.ring: holds an infinite number")
    _int(nov["seen"], f"{where}.seen")
    _int(nov["warmup"], f"{where}.warmup")
    if nov.get("unusable"):
        index = _packed(nov["unusable"], f"{where}.unusable", "<i8")
        if index.size and (index.min() < 0 or index.max() >= ring.size):
            raise Invalid(f"{where}.unusable: an index outside the memory")


def _event(event: Any, where: str, features: int) -> None:
    ints = {"rows", "first_row", "last_row"}
    _keys(
        event,
        where,
        {"series", "start", "end", "peak", *ints},
        {"continued", "flagged", "columns", "start_us", "end_us"},
    )
    for key in ("series", "start", "end"):
        _str(event[key], f"{where}.{key}")
    for key in (*ints, "flagged"):
        if key in event:
            _int(event[key], f"{where}.{key}")
    for key in ("start_us", "end_us"):
        if event.get(key) is not None:
            _int(event[key], f"{where}.{key}", low=-INT64)
    if "continued" in event:
        _bool(event["continued"], f"{where}.continued")
    _indexes(event.get("columns", []), f"{where}.columns", features)
    peak = event["peak"]
    _keys(peak, f"{where}.peak", {"score", "time", "column", "channel", "ratio"}, {"observed", "expected"})
    for key in ("time", "column", "channel"):
        _str(peak[key], f"{where}.peak.{key}")
    for key in ("score", "ratio"):
        _number(peak[key], f"{where}.peak.{key}", finite=False)
    for key in ("observed", "expected"):
        if key in peak:
            _numbers(peak[key], f"{where}.peak.{key}", None, finite=False)


def _incident(inc: Any, where: str, features: int) -> None:
    _keys(inc, where, {"active", "quiet", "rows", "held", "low", "high"}, {"pending"})
    _indexes(inc["active"], f"{where}.active", features)
    for key in ("quiet", "held"):
        counts = inc[key]
        if not isinstance(counts, list) or len(counts) != features:
            raise Invalid(f"{where}.{key}: not a list of {features} counts")
        for n in counts:
            _int(n, f"{where}.{key}")
    _int(inc["rows"], f"{where}.rows")
    _bounds(inc, where, features)
    for channel, hists in _dict(inc.get("pending", {}), f"{where}.pending").items():
        if channel not in RATIO_CHANNELS or not isinstance(hists, list) or len(hists) not in (1, features):
            raise Invalid(f"{where}.pending: {channel!r} is not a channel's counts per column")
        for h in hists:
            _sparse(h, f"{where}.pending.{channel}")


def _bounds(data: dict[str, Any], where: str, features: int) -> None:
    """low and high per column: numbers or infinite (an empty range), never NaN."""
    for key in ("low", "high"):
        values = _packed(data[key], f"{where}.{key}", "<f8", features)
        if np.isnan(values).any():
            raise Invalid(f"{where}.{key}: holds NaN")


def _sparse(data: Any, where: str) -> None:
    """A histogram's stretch of non-zero bins: non-negative finite counts inside the BINS bins."""
    _keys(data, where, {"from", "data"})
    start = _int(data["from"], f"{where}.from", high=BINS - 1)
    counts = _packed(data["data"], f"{where}.data", "<f8")
    if start + counts.size > BINS:
        raise Invalid(f"{where}: {counts.size} bins from bin {start}, beyond the {BINS} bins")
    _finite(counts, where)
    if (counts < 0).any():
        raise Invalid(f"{where}: a negative count")


def _packed(text: Any, where: str, dtype: str, size: int | None = None) -> np.ndarray:
    """base64 of little-endian values; `size` values when given."""
    if not isinstance(text, str):
        raise Invalid(f"{where}: not base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"{where}: not base64 text") from None
    item = np.dtype(dtype).itemsize
    if len(raw) % item or (size is not None and len(raw) != size * item):
        want = f"{size} values" if size is not None else f"whole {item}-byte values"
        raise Invalid(f"{where}: {len(raw)} bytes, not {want}")
    return np.frombuffer(raw, dtype)


def _keys(data: Any, where: str, required: set[str], optional: set[str] | frozenset[str] = frozenset()) -> None:
    if not isinstance(data, dict):
        raise Invalid(f"{where}: not an object")
    missing = sorted(required - set(data))
    if missing:
        raise Invalid(f"{where}: {', '.join(missing)} missing")
    unknown = sorted(set(data) - required - set(optional))
    if unknown:
        raise Invalid(f"{where}: unknown key {unknown[0][:40]!r}")


def _dict(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid(f"{where}: not an object")
    return data


def _int(value: Any, where: str, *, low: int = 0, high: int = INT64 - 1) -> int:
    if type(value) is not int or not low <= value <= high:
        raise Invalid(f"{where}: {_show(value)} is not a whole number from {low} to {high}")
    return value


def _number(value: Any, where: str, *, finite: bool = True) -> None:
    if type(value) not in (int, float) or (finite and not math.isfinite(value)):
        raise Invalid(f"{where}: {_show(value)} is not a {'finite ' if finite else ''}number")


def _numbers(values: Any, where: str, size: int | None, *, finite: bool = True) -> None:
    if not isinstance(values, list) or (size is not None and len(values) != size):
        raise Invalid(f"{where}: not a list of {size if size is not None else ''} numbers")
    for v in values:
        if v is not None or finite:
            _number(v, where, finite=finite)


def _finite(values: np.ndarray, where: str) -> None:
    if not np.isfinite(values).all():
        raise Invalid(f"{where}: holds a number that is not finite")


def _indexes(values: Any, where: str, features: int) -> None:
    if not isinstance(values, list) or not all(type(v) is int and 0 <= v < features for v in values):
        raise Invalid(f"{where}: not a list of column indexes below {features}")


def _str(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise Invalid(f"{where}: {_show(value)} is not text")


def _bool(value: Any, where: str) -> None:
    if type(value) is not bool:
        raise Invalid(f"{where}: {_show(value)} is not true or false")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
