"""Labelled windows (NAB's format, {"file.csv": [["start", "end"], ...]}): read, matched to a scores
file by name, each checked against the scored rows; and the timestamps of a scores file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsrnn.data.timeparse import detect_time_format, parse_times
from tsrnn.errors import InputError


def load_labels(path: str | Path) -> dict[str, list[tuple[str, str]]]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such labels file; give NAB-style windows JSON with --labels") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(
            f'{path}: not valid JSON; give NAB-style windows: {{"file.csv": [["start", "end"], ...]}}'
        ) from None
    if not isinstance(doc, dict) or not all(
        isinstance(v, list) and all(isinstance(w, list) and len(w) == 2 for w in v) for v in doc.values()
    ):
        raise InputError(f'{path}: expected NAB-style windows: {{"file.csv": [["start", "end"], ...]}}')
    return {str(k): [(str(a), str(b)) for a, b in v] for k, v in doc.items()}


def label_windows(pairs: list[tuple[str, str]], times: np.ndarray, where: str) -> list[tuple[Any, Any]]:
    """The labelled windows of one file as times, each checked: its end not before its start, and
    some of it within the scores file's rows (a window outside them is a wrong key, year or zone)."""
    windows = []
    for k, (a, b) in enumerate(pairs, 1):
        start, end = times_of([a], where)[0], times_of([b], where)[0]
        if end < start:
            raise InputError(f"{where}: window {k} [{a!r}, {b!r}] ends before it starts; swap its two times")
        if len(times) and (end < times[0] or start > times[-1]):
            first, last = (str(t).replace("T", " ") for t in (times[0], times[-1]))
            raise InputError(
                f"{where}: window {k} [{a!r}, {b!r}] lies outside the scored rows ({first} to {last}); check the "
                "labels' key, year and time zone"
            )
        windows.append((start, end))
    return windows


def match_label(name: str, labels: dict[str, Any]) -> str | None:
    if name in labels:
        return name
    base = Path(name).name
    hits = [k for k in labels if Path(k).name == base]
    if len(hits) > 1:
        raise InputError(
            f"{name}: labels {', '.join(hits)} all match this file name; name score files by their label key "
            f"(category/file.csv)"
        )
    return hits[0] if hits else None


def times_of(values: list[str] | pl.Series, where: str) -> np.ndarray:
    text = values if isinstance(values, pl.Series) else pl.Series(values, dtype=pl.String)
    fmt = detect_time_format(text.head(200).to_list())
    if fmt == "":
        raise InputError(f"{where}: cannot parse timestamps such as {text[0]!r}; use ISO 8601")
    parsed = parse_times(text, fmt)
    if parsed.null_count():
        bad = text.filter(parsed.is_null())[0]
        raise InputError(f"{where}: cannot parse timestamp {bad!r}; use ISO 8601")
    return parsed.to_numpy().astype("datetime64[us]")
