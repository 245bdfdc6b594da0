"""Batches for training: contiguous pieces of segments for TBPTT, or windows inside segments."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tsrnn.config import ModelConfig, TrainConfig
from tsrnn.data.clean import Dataset
from tsrnn.errors import InputError


@dataclass
class Split:
    """Training parts and validation parts (raw units); each validation part starts with
    `context[i]` rows from before the split that warm the state and are not scored."""

    train: list[np.ndarray]
    val: list[np.ndarray]
    context: list[int]
    train_times: list[np.ndarray] = field(default_factory=list)  # datetime64 per row of each part (time features)
    val_times: list[np.ndarray] = field(default_factory=list)
    val_at: list[tuple[int, int]] = field(
        default_factory=list
    )  # (series, row of the series) where each validation part starts


def split_series(dataset: Dataset, model: ModelConfig, cfg: TrainConfig) -> Split:
    """Per series, the last val_fraction of rows validate; the rest train. Never shuffled in time.

    A validation part that continues a training segment starts with up to 4 windows of context
    from it, so its state is warm when scoring begins.
    """
    train, val, context, train_times, val_times, val_at = [], [], [], [], [], []
    for index, segments in enumerate(dataset.series().values()):
        total = sum(s.rows for s in segments)
        cut = int(round(total * (1.0 - cfg.val_fraction)))  # rows of this series before the split
        seen = 0
        for seg in segments:
            a = min(max(cut - seen, 0), seg.rows)  # rows of this segment that train
            if a > 1:
                train.append(seg.values[:a])
                train_times.append(seg.times[:a])
            if a < seg.rows:
                ctx = min(a, 4 * model.window)
                val.append(seg.values[a - ctx :])
                val_times.append(seg.times[a - ctx :])
                context.append(ctx)
                val_at.append((index, seen + a - ctx))
            seen += seg.rows
    rows_train = sum(p.shape[0] for p in train)
    rows_val = sum(p.shape[0] - c for p, c in zip(val, context))
    need_train, need_val = model.window + 16, 8
    if rows_train < need_train or rows_val < need_val:
        raise InputError(
            f"{dataset.source}: {dataset.rows} usable rows is too few to train a {model.kind} with window "
            f"{model.window}; give at least {int((need_train + need_val) / (1 - cfg.val_fraction)) + 1} rows "
            "or a smaller --window"
        )
    return Split(train, val, context, train_times, val_times, val_at)


def tbptt_pieces(
    parts: list[np.ndarray], length: int, horizon: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut each part (rows, features) into contiguous pieces of `length` input rows.

    Returns inputs (pieces, length, features), targets (pieces, length, horizon, features) where
    targets[p, i, k] is the row k + 1 after input i, and a mask (pieces, length, horizon) that is 0
    where a short piece was padded or a target lies past the part's end. A random cut offset per
    call (per epoch) keeps piece borders from always falling on the same rows. Pieces never cross
    parts, so no model learns a jump between two series or across a gap.
    """
    features = parts[0].shape[1]
    xs, ys, ms = [], [], []
    steps = np.arange(1, horizon + 1)
    for part in parts:
        usable = part.shape[0] - 1  # every input row needs at least its next row as a target
        if usable < 1:
            continue
        offset = int(rng.integers(0, min(length, usable))) if usable > length else 0
        cuts = [0, *range(offset if offset else length, usable, length), usable]
        for a, b in zip(cuts, cuts[1:]):
            if b <= a:
                continue
            x = np.zeros((length, features))
            y = np.zeros((length, horizon, features))
            m = np.zeros((length, horizon))
            rows = np.arange(a, b)
            target = rows[:, None] + steps[None, :]  # (rows, horizon)
            valid = target < part.shape[0]
            x[: b - a] = part[a:b]
            y[: b - a] = part[np.minimum(target, part.shape[0] - 1)]
            m[: b - a] = valid
            xs.append(x)
            ys.append(y)
            ms.append(m)
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32), np.stack(ms).astype(np.float32)


def horizon_targets(values: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row i of (parts, rows, features): rows i+1..i+horizon, and where they exist."""
    rows = values.shape[1]
    target = np.arange(rows)[:, None] + np.arange(1, horizon + 1)[None, :]  # (rows, horizon)
    return values[:, np.minimum(target, rows - 1)], np.broadcast_to(target < rows, (values.shape[0], rows, horizon))


def window_index(parts: list[np.ndarray], window: int, first: list[int] | None = None) -> np.ndarray:
    """(windows, 2) of (part, start) for every full window inside a part.

    With `first`, only windows that end at or after row first[i] of part i.
    """
    rows = []
    for i, part in enumerate(parts):
        lowest = max(0, (first[i] if first else window - 1) - window + 1)
        starts = np.arange(lowest, part.shape[0] - window + 1)
        rows.append(np.column_stack([np.full(starts.size, i), starts]))
    return np.concatenate(rows) if rows else np.zeros((0, 2), int)


def gather_windows(parts: list[np.ndarray], index: np.ndarray, window: int) -> np.ndarray:
    """(len(index), window, features) float32 windows picked by window_index rows."""
    return np.stack([parts[p][s : s + window] for p, s in index]).astype(np.float32)


def pad_stack(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack parts of different lengths: (parts, longest, features) zero-padded, and lengths."""
    lengths = np.array([p.shape[0] for p in parts])
    out = np.zeros((len(parts), int(lengths.max()), parts[0].shape[1]), np.float32)
    for i, p in enumerate(parts):
        out[i, : p.shape[0]] = p
    return out, lengths
