"""Channels: each turns what the model and the data give into a raw value per row, with its own state.

Every channel gives one value per row and value column, so a sensor that goes wrong alone is
not diluted by quiet ones (the normalizer divides each column by its own running quantile):
- forecast: the model's error for the row, per column (errors.py: abs, squared, horizon, both,
  blend); mahalanobis and an autoencoder's reconstruction error are one joint value per row.
  The runner computes it.
- novelty: how far the last W rows of a column (scaled) are from the nearest of the M earlier
  W-row windows of that column that do not overlap them: a shape never seen before is far from
  all of them, a repeat of a seen one is close to one. `knn` computes it here; `autoencoder`
  takes a companion autoencoder's reconstruction error (the runner computes that one).
- range: how far a value lies beyond the smallest and largest values seen so far in its column,
  as a fraction of that span (0 inside, and within `tolerance` of the span outside).

Each channel computes without changing its state (`distances`, `excess`) and then `commit`s the
rows, told which of them it may learn from: the detector leaves out a column's rows while an
incident about that column is open, so a fault that persists stays anomalous.

The kNN distances of a block of rows are one matrix product: with a window a and a stored window
b, |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, and the minimum over b needs only |b|^2 - 2 a.b, which is
[a, 1] . [-2 b, |b|^2]. The product finds the nearest window; its distance is then computed
exactly from the differences, so a repeat scores 0 and the value does not depend on how rows are
grouped into blocks or calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsrnn.encoding import pack, unpack
from tsrnn.scoring import CHANNELS, NOVELTY_KINDS, RATIO_CHANNELS  # noqa: F401 (the names, defined once)

QUERY_BLOCK = 64  # query rows per matrix product (64 to 256 measured alike; 64 a little faster)
# |b|^2 of a window that may not be compared with: never the nearest while one that may be exists
FAR = np.float32(1e30)


def min_windows(memory: int) -> int:
    """Stored windows the novelty channel needs before its distances mean anything."""
    return max(1, memory // 20)


@dataclass
class Novelty:
    """The last rows of a series (scaled, float32; NaN before the first), enough for the next row's
    M candidate windows: ring (ring_rows(W, M), features); which of them the memory may compare
    with (`usable`: False for a column's rows inside an open incident, which must not teach the
    memory that the incident is normal); and how many rows the series has shown.

    Each column is its own channel: its windows are W rows of that column, so one sensor going
    wrong is not diluted by quiet ones."""

    window: int
    memory: int
    ring: np.ndarray  # (rows, features) float32
    seen: int = 0  # rows of the series so far (the history's rows, for a memory seeded from it)
    warmup: int = 0  # rows the series must have shown before a distance counts
    usable: np.ndarray | None = None  # (rows, features) bool; None: all

    def __post_init__(self) -> None:
        if self.usable is None:
            self.usable = np.ones(self.ring.shape, bool)

    @classmethod
    def empty(cls, window: int, memory: int, features: int, warmup: int = 0) -> Novelty:
        return cls(window, memory, np.full((ring_rows(window, memory), features), np.nan, np.float32), 0, warmup)

    @classmethod
    def seeded(cls, window: int, memory: int, rows: np.ndarray, seen: int | None = None, warmup: int = 0) -> Novelty:
        """A memory that already holds the last rows of `rows` (scaled), e.g. the training data's end;
        `seen`: the rows of history they end (default: as many as given)."""
        out = cls.empty(window, memory, rows.shape[1], warmup)
        take = rows[-out.ring.shape[0] :].astype(np.float32)
        out.ring[out.ring.shape[0] - take.shape[0] :] = take
        out.seen = rows.shape[0] if seen is None else seen
        return out

    def distances(self, scaled: np.ndarray, usable: np.ndarray | None = None) -> np.ndarray:
        """scaled (rows, features) → (rows, features): each row's distance, per column, to the
        nearest earlier window of that column; NaN until enough windows are stored and the series
        has shown `warmup` rows. `usable` (rows, features): which of these rows the memory may
        use for the rows after them (None: all). Changes nothing: `commit` stores the rows."""
        rows, features = scaled.shape
        z = np.concatenate([self.ring, scaled.astype(np.float32)])
        ok = np.concatenate([self.usable, np.ones(scaled.shape, bool) if usable is None else usable])
        dist = np.empty((rows, features))
        for c in range(features):
            dist[:, c] = nearest_windows(z[:, c : c + 1], self.window, self.memory, ok[:, c])[0]
        return self.warm(dist)

    def warm(self, dist: np.ndarray) -> np.ndarray:
        """The distances of the next rows, NaN while the series has shown fewer than `warmup` rows."""
        if self.seen < self.warmup:
            dist[: self.warmup - self.seen] = np.nan
        return dist

    def ahead(self, scaled: np.ndarray, first: int, size: int) -> Ahead | None:
        """The distances of the whole blocks of `size` rows of `scaled` from row `first`, each as
        `distances` will give them to that block alone once the rows before it are committed, if
        every row is usable then (Ahead.get checks); the same numbers, in a few calls for all the
        blocks. None where there is none to compute, or the memory holds rows not usable."""
        take = (scaled.shape[0] - first) // size * size
        assert self.usable is not None  # set in __post_init__
        if take <= 0 or size % min(QUERY_BLOCK, self.memory) or not self.usable.all():
            return None
        z = np.concatenate([self.ring, scaled[: first + take].astype(np.float32)])[first:]  # the rows before each
        ok = np.ones(z.shape[0], bool)
        dist = np.empty((take, z.shape[1]))
        for c in range(z.shape[1]):
            dist[:, c] = nearest_blocks(np.ascontiguousarray(z[:, c]), self.window, self.memory, ok, size)
        return Ahead(self, first, size, dist)

    def commit(self, scaled: np.ndarray, usable: np.ndarray | None = None) -> None:
        """The rows join the memory (`usable` as for `distances`)."""
        rows = scaled.shape[0]
        if rows:
            keep = self.ring.shape[0]
            self.ring = np.concatenate([self.ring, scaled.astype(np.float32)])[-keep:]
            self.usable = np.concatenate([self.usable, np.ones(scaled.shape, bool) if usable is None else usable])[
                -keep:
            ]
        self.seen += rows

    def step(self, scaled: np.ndarray) -> np.ndarray:
        """distances, then commit: every row usable."""
        dist = self.distances(scaled)
        self.commit(scaled)
        return dist

    def accept(self, rows: int, columns: np.ndarray) -> None:
        """An incident that lasted is the new normal: the last `rows` rows become usable in `columns`."""
        if rows > 0:
            assert self.usable is not None  # set in __post_init__
            self.usable[-rows:, columns] = True

    def to_dict(self) -> dict[str, Any]:
        out = {
            "window": self.window,
            "memory": self.memory,
            "features": int(self.ring.shape[1]),
            "ring": pack(self.ring, "<f4"),
            "seen": self.seen,
            "warmup": self.warmup,
        }
        assert self.usable is not None  # set in __post_init__
        if not self.usable.all():
            out["unusable"] = pack(np.flatnonzero(~self.usable.ravel()).astype(np.int64), "<i8")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Novelty:
        window, memory, features = int(data["window"]), int(data["memory"]), int(data["features"])
        ring = unpack(data["ring"], "<f4", (ring_rows(window, memory), features))
        usable = np.ones(ring.size, bool)
        if data.get("unusable"):
            usable[unpack(data["unusable"], "<i8")] = False
        return cls(window, memory, ring, int(data["seen"]), int(data["warmup"]), usable.reshape(ring.shape))


@dataclass
class Ahead:
    """Novelty distances computed ahead (Novelty.ahead) for the blocks of rows [first, first + rows)."""

    novelty: Novelty
    first: int
    size: int
    dist: np.ndarray  # (rows, features)

    def get(self, a: int, b: int) -> np.ndarray | None:
        """The distances of rows [a, b), all usable, if they are a block computed ahead and the
        memory's rows are all usable still (as they were assumed to be); else None."""
        k = a - self.first
        assert self.novelty.usable is not None  # set in __post_init__
        if b - a != self.size or k < 0 or k % self.size or k + self.size > self.dist.shape[0]:
            return None
        return self.novelty.warm(self.dist[k : k + self.size].copy()) if self.novelty.usable.all() else None


def ring_rows(window: int, memory: int) -> int:
    """Rows a series must keep so that its next row has all its candidate windows."""
    return memory + 2 * window - 2


def nearest_windows(
    z: np.ndarray, window: int, memory: int, usable: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """z (ring_rows + queries, features) float32, NaN where unknown: the ring, then the rows to score.

    For query row t, the candidates are the `memory` windows ending at t - window - memory + 1 ..
    t - window (the nearest that do not overlap t's own window) whose rows are all `usable`
    (rows,) bool (None: all). → (distance per query, float64, NaN where the query window is
    incomplete or fewer than min_windows(memory) candidates are complete; the column whose
    differences to the nearest window are largest, per query).
    """
    ring = ring_rows(window, memory)
    queries, features = z.shape[0] - ring, z.shape[1]
    if queries <= 0:
        return np.zeros(0), np.zeros(0, np.int64)
    width = window * features
    flat = np.lib.stride_tricks.sliding_window_view(z, window, axis=0)  # (windows, features, window)
    flat = flat.transpose(0, 2, 1).reshape(flat.shape[0], width)  # window j: rows j .. j + window - 1, row by row
    missing = np.isnan(z)
    whole = not missing.any() and np.isfinite(z).all()  # the usual case: no window needs leaving out
    finite = np.ones(flat.shape[0], bool) if whole else np.isfinite(flat).all(axis=1)  # a query needs its window
    ok = finite if usable is None else finite & _all_in_window(usable, window)  # a candidate also needs it usable
    # Distances do not change when every value moves by the same amount: centring on the rows at
    # hand keeps |b|^2 - 2ab in float32 accurate for values far from the training mean.
    centre = np.tile(_nanmean(z, missing), window) if finite.any() else np.zeros(width, np.float32)
    clean = flat - centre if whole else np.where(finite[:, None], flat - centre, np.float32(0.0))
    cand = np.empty((flat.shape[0], width + 1), np.float32)  # [-2 b, |b|^2]; |b|^2 = FAR for non-candidates
    np.multiply(clean, np.float32(-2.0), out=cand[:, :width])
    cand[:, width] = np.where(ok, np.einsum("ij,ij->i", clean, clean), FAR)  # finite: BLAS may multiply it by 0
    query = np.empty_like(cand)  # [a, 1]
    query[:, :width] = clean
    query[:, width] = 1.0
    nearest = _nearest(query[ring - window + 1 :], cand, queries, memory)
    counts = np.concatenate([[0], np.cumsum(ok)])
    have = counts[memory : memory + queries] - counts[:queries]  # complete candidates of each query
    own = slice(ring - window + 1, ring - window + 1 + queries)  # each query's own window
    diff = flat[own].astype(np.float64) - flat[nearest].astype(np.float64)  # exact, from the windows themselves
    sq = (diff * diff).reshape(queries, window, features)
    valid = finite[own] & ok[nearest] & (have >= min_windows(memory))
    worst = np.zeros(queries, np.int64) if features == 1 else np.argmax(sq.sum(axis=1), axis=1)
    return np.where(valid, np.sqrt(sq.sum(axis=(1, 2))), np.nan), worst


def _nanmean(z: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """np.nan_to_num(np.nanmean(z, axis=0)) of a float32 z, the same bits, without its overhead."""
    arr = np.where(missing, np.float32(0.0), z)  # a fresh C-ordered copy, as nanmean sums
    tot = np.add.reduce(arr, axis=0)
    np.divide(tot, (~missing).sum(axis=0, dtype=np.intp), out=tot, casting="unsafe")
    return np.nan_to_num(tot)


def _nearest(query: np.ndarray, cand: np.ndarray, queries: int, memory: int) -> np.ndarray:
    """(queries,) for query i (query row i), the index of its nearest candidate among cand rows
    i .. i + memory - 1: the products in blocks of QUERY_BLOCK queries, all whole blocks in one
    stacked matmul (the same products, block by block, as one call each)."""
    nearest = np.zeros(queries, np.int64)
    block = min(QUERY_BLOCK, memory)
    whole = queries // block if block > 1 else 0
    if whole:
        width = cand.shape[1]
        step = query.strides[0] * block
        qs = np.lib.stride_tricks.as_strided(query, (whole, block, width), (step, *query.strides))
        cs = np.lib.stride_tricks.as_strided(
            cand, (whole, block + memory - 1, width), (cand.strides[0] * block, *cand.strides)
        )
        g = qs @ cs.transpose(0, 2, 1)  # (blocks, block, memory + block - 1)
        left, right = _edges(block)
        g[:, :, : block - 1] += left
        g[:, :, memory:] += right
        nearest[: whole * block] = (np.argmin(g, axis=2) + np.arange(0, whole * block, block)[:, None]).ravel()
    for a in range(whole * block, queries, block):
        b = min(block, queries - a)
        g = query[a : a + b] @ cand[a : a + b + memory - 1].T  # (b, memory + b - 1)
        if b > 1:  # query k may use columns k .. k + memory - 1: the triangles outside, at both edges, get inf
            left, right = _edges(b)
            g[:, : b - 1] += left
            g[:, memory:] += right
        nearest[a : a + b] = a + np.argmin(g, axis=1)
    return nearest


def nearest_blocks(z: np.ndarray, window: int, memory: int, usable: np.ndarray, size: int) -> np.ndarray:
    """z (ring_rows + blocks * size,) float32, usable alike → (blocks * size,) the distances of
    nearest_windows(z[s : s + ring_rows + size, None], window, memory, usable[s : ...])[0] for
    s = 0, size, 2 * size, ...: block by block the same centring, products and differences,
    stacked (a few calls for many blocks)."""
    ring = ring_rows(window, memory)
    blocks, block = (z.shape[0] - ring) // size, min(QUERY_BLOCK, memory)
    span, per = ring + size, ring + size - window + 1  # rows and windows of one block's call
    flat = np.lib.stride_tricks.sliding_window_view(z, window).copy()  # window j: rows j .. j + window - 1
    missing = np.isnan(z)
    finite = np.isfinite(flat).all(axis=1)
    ok = finite & _all_in_window(usable, window)
    starts = np.arange(blocks) * size
    rows = np.where(missing, np.float32(0.0), z)[:, None]  # each block's mean as np.nanmean sums it
    centre = np.array([np.add.reduce(rows[s : s + span], axis=0)[0] for s in starts], np.float32)
    present, fin = np.cumsum(np.r_[0, ~missing]), np.cumsum(np.r_[0, finite])
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(centre, present[starts + span] - present[starts], out=centre, casting="unsafe")
    centre = np.where(fin[starts + per] > fin[starts], np.nan_to_num(centre), np.float32(0.0))
    nearest = np.empty(blocks * size, np.int64)
    for a in range(0, blocks, 4):  # 4 blocks at a time: their products take 4 MB
        k = min(4, blocks - a)
        view = np.lib.stride_tricks.as_strided
        fs = view(flat[a * size :], (k, per, window), (flat.strides[0] * size, *flat.strides))
        fk = view(finite[a * size :], (k, per), (size, 1))
        clean = fs - centre[a : a + k, None, None]
        if not fk.all():
            clean = np.where(fk[..., None], clean, np.float32(0.0))
        cand = np.empty((k, per, window + 1), np.float32)
        np.multiply(clean, np.float32(-2.0), out=cand[..., :window])
        ok_k = view(ok[a * size :], (k, per), (size, 1))
        cand[..., window] = np.where(ok_k, np.einsum("bij,bij->bi", clean, clean), FAR)
        query = np.empty_like(cand)
        query[..., :window] = clean
        query[..., window] = 1.0
        st, subs = cand.strides, size // block
        qs = view(query[:, ring - window + 1 :], (k, subs, block, window + 1), (st[0], st[1] * block, *st[1:]))
        cs = view(cand, (k, subs, block + memory - 1, window + 1), (st[0], st[1] * block, *st[1:]))
        g = qs @ cs.transpose(0, 1, 3, 2)  # (k, subs, block, memory + block - 1): each as nearest_windows's
        if block > 1:
            left, right = _edges(block)
            g[..., : block - 1] += left
            g[..., memory:] += right
        local = np.argmin(g, axis=3) + np.arange(0, size, block)[:, None]
        nearest[a * size : (a + k) * size] = (local + starts[a : a + k, None, None]).ravel()
    counts = np.cumsum(np.r_[0, ok])
    queries = np.arange(blocks * size)
    have = counts[queries + memory] - counts[queries]  # complete candidates of each query
    own = queries + ring - window + 1
    diff = flat[own].astype(np.float64) - flat[nearest].astype(np.float64)
    sq = (diff * diff).reshape(queries.size, window, 1)
    valid = finite[own] & ok[nearest] & (have >= min_windows(memory))
    return np.where(valid, np.sqrt(sq.sum(axis=(1, 2))), np.nan)


def _all_in_window(mask: np.ndarray, window: int) -> np.ndarray:
    """(rows,) bool → (rows - window + 1,): window j (rows j .. j + window - 1) all True."""
    counts = np.concatenate([[0], np.cumsum(mask)])
    return counts[window:] - counts[:-window] == window


_EDGES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _edges(b: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, b - 1) penalties of 0 or inf: the band's left edge (column j < row k), and its right."""
    if b not in _EDGES:
        lower = np.tri(b, b - 1, -1, bool)
        _EDGES[b] = (
            np.where(lower, np.float32(np.inf), np.float32(0)),
            np.where(lower, np.float32(0), np.float32(np.inf)),
        )
    return _EDGES[b]


@dataclass
class Range:
    """The smallest and largest value seen per column (rows inside an open incident left out for
    the columns it is about), and how many rows the series has shown."""

    low: np.ndarray  # (features,) float64; +inf before any row
    high: np.ndarray  # (features,) float64; -inf before any row
    seen: int = 0

    @classmethod
    def empty(cls, features: int) -> Range:
        return cls(np.full(features, np.inf), np.full(features, -np.inf), 0)

    @classmethod
    def of(cls, values: np.ndarray) -> Range:
        """The range of rows already seen (e.g. the training data)."""
        return cls(values.min(axis=0).astype(np.float64), values.max(axis=0).astype(np.float64), int(values.shape[0]))

    def excess(self, values: np.ndarray, tolerance: float, warmup: int, usable: np.ndarray | None = None) -> np.ndarray:
        """values (rows, features) raw → (rows, features): how far each value lies beyond the range
        seen before its row, as a fraction of the range's width (0 inside it or within the
        tolerance; NaN while fewer than `warmup` rows were seen). `usable` (rows, features): which
        of these values widen the range for the rows after them (None: all). Changes nothing."""
        rows = values.shape[0]
        if rows == 0:
            return np.zeros(values.shape)
        x = values.astype(np.float64)
        learn = x if usable is None or usable.all() else np.where(usable, x, np.nan)
        high = np.fmax.accumulate(np.concatenate([self.high[None], learn[:-1]]), axis=0)  # before each row (NaN: none)
        low = np.fmin.accumulate(np.concatenate([self.low[None], learn[:-1]]), axis=0)
        span = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            beyond = np.maximum(x - high, low - x) / span  # fraction of the span outside it
            beyond = np.where((span > 0) & np.isfinite(span) & (beyond > tolerance), beyond, 0.0)
        if self.seen >= warmup:  # every row past the warm-up
            return beyond
        return np.where((self.seen + np.arange(rows) >= warmup)[:, None], beyond, np.nan)

    def commit(self, values: np.ndarray, usable: np.ndarray | None = None) -> None:
        """The rows widen the range (`usable` as for `excess`)."""
        if values.shape[0]:
            self.widen(values if usable is None else np.where(usable, values, np.nan))
        self.seen += values.shape[0]

    def widen(self, values: np.ndarray) -> None:
        """Take values (rows, features; NaN: none) into the range without counting rows."""
        if values.shape[0]:
            x = values.astype(np.float64)
            self.high = np.fmax(self.high, np.fmax.reduce(x, axis=0))
            self.low = np.fmin(self.low, np.fmin.reduce(x, axis=0))

    def to_dict(self) -> dict[str, Any]:
        return {"low": pack(self.low), "high": pack(self.high), "seen": self.seen}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Range:
        return cls(unpack(data["low"]).copy(), unpack(data["high"]).copy(), int(data["seen"]))
