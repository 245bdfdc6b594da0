"""The detector's channels: kNN novelty over recent windows, and the range check."""

from __future__ import annotations

import numpy as np
import pytest

from tsrnn.scoring.channels import (
    Novelty,
    Range,
    min_windows,
    nearest_blocks,
    nearest_windows,
    ring_rows,
)


def _brute(z: np.ndarray, start: int, window: int, memory: int, usable: np.ndarray | None = None) -> np.ndarray:
    """The novelty of each query row by a plain loop: the nearest of the `memory` earlier
    complete (and usable) windows ending at least `window` rows before it."""
    usable = np.ones(z.shape[0], bool) if usable is None else usable
    out = np.full(z.shape[0] - start, np.nan)
    for i in range(out.size):
        t = start + i
        if t - window + 1 < 0 or not np.isfinite(z[t - window + 1 : t + 1]).all():
            continue
        a = z[t - window + 1 : t + 1].astype(np.float64)
        best, count = np.inf, 0
        for e in range(t - window - memory + 1, t - window + 1):
            if (
                e - window + 1 < 0
                or not np.isfinite(z[e - window + 1 : e + 1]).all()
                or not usable[e - window + 1 : e + 1].all()
            ):
                continue
            count += 1
            best = min(best, float(((a - z[e - window + 1 : e + 1]) ** 2).sum()))
        if count >= min_windows(memory):
            out[i] = np.sqrt(best)
    return out


@pytest.mark.parametrize(("features", "window", "memory"), [(1, 5, 40), (3, 3, 60), (2, 5, 300)])
def test_novelty_matches_a_plain_nearest_neighbour_search(features: int, window: int, memory: int) -> None:
    rng = np.random.default_rng(features + window)
    z = rng.normal(size=(900, features)).astype(np.float32)
    z[100:103] = np.nan  # missing rows: windows holding them are neither queries nor candidates
    start = ring_rows(window, memory)
    z = np.concatenate([np.full((start, features), np.nan, np.float32), z])
    dist, _ = nearest_windows(z, window, memory)
    expected = _brute(z, start, window, memory)
    assert np.array_equal(np.isnan(dist), np.isnan(expected))
    assert np.isfinite(dist).sum() > 700
    assert np.allclose(dist[np.isfinite(dist)], expected[np.isfinite(expected)], rtol=1e-6, atol=1e-6)


def test_novelty_leaves_out_windows_holding_rows_it_may_not_learn() -> None:
    """Rows of an open incident are not candidates: a level that persists stays far from the memory."""
    rng = np.random.default_rng(9)
    z = rng.normal(size=(700, 1)).astype(np.float32)
    z[400:] += 6.0  # a level shift that persists
    start = ring_rows(5, 400)
    full = np.concatenate([np.full((start, 1), np.nan, np.float32), z])
    usable = np.ones(full.shape[0], bool)
    usable[start + 400 :] = False  # the incident's rows
    dist, _ = nearest_windows(full, 5, 400, usable)
    assert np.allclose(dist, _brute(full, start, 5, 400, usable), equal_nan=True, rtol=1e-6, atol=1e-6)
    learned, _ = nearest_windows(full, 5, 400)
    assert np.nanmin(dist[450:]) > 3 * np.nanquantile(dist[:390], 0.99)  # still far, 300 rows on
    assert np.nanmax(learned[450:]) < np.nanquantile(dist[:390], 0.999) * 2  # learned: it looks normal


def test_a_repeat_of_a_seen_window_scores_zero_and_a_new_shape_scores_high() -> None:
    rng = np.random.default_rng(0)
    base = np.sin(np.arange(2000) / 10.0) + rng.normal(0, 0.05, 2000)
    values = base.copy()
    values[1500:1510] = base[600:610]  # a stretch seen 900 rows before: within a memory of 1,000 windows
    values[1700:1705] = [2.0, -2.0, 2.0, -2.0, 2.0]  # a zigzag never seen
    nov = Novelty.empty(5, 1000, 1)
    dist = nov.step(values[:, None].astype(np.float32))[:, 0]
    typical = np.nanquantile(dist[1100:1490], 0.99)
    assert np.all(dist[1504:1510] == 0.0)  # windows wholly inside the copied stretch
    assert dist[1704] > 10 * typical  # the zigzag is far from everything seen


@pytest.mark.parametrize("offset", [0.0, 300.0])
def test_novelty_increments_equal_one_pass_through_the_state_form(offset: float) -> None:
    """Far from the training mean too (offset 300 scaled units): the matrix product works on
    centred values, and the distances are computed exactly for the window it finds."""
    rng = np.random.default_rng(1)
    z = (rng.normal(size=(1500, 2)) + offset).astype(np.float32)
    z[1200:1260] = z[1050:1110]  # an exact repeat within the memory: distance 0 however far from the mean
    once = Novelty.empty(5, 200, 2).step(z)
    nov = Novelty.empty(5, 200, 2)
    parts = []
    for a, b in zip([0, 1, 2, 50, 51, 333, 700, 1499], [1, 2, 50, 51, 333, 700, 1499, 1500]):
        nov = Novelty.from_dict(nov.to_dict())  # through the state file's form
        parts.append(nov.step(z[a:b]))
        assert nov.ring.shape == (200 + 2 * 5 - 2, 2)  # bounded: the ring never grows
    assert np.array_equal(np.concatenate(parts), once, equal_nan=True)
    assert np.all(once[1204:1260] == 0.0)
    full = np.concatenate([np.full((ring_rows(5, 200), 2), np.nan, np.float32), z])
    for c in range(2):  # each column is its own channel: the true nearest window of that column
        assert np.allclose(
            once[:, c], _brute(full[:, c : c + 1], ring_rows(5, 200), 5, 200), equal_nan=True, rtol=1e-6, atol=1e-6
        )


def test_a_seeded_memory_scores_from_its_first_row() -> None:
    rng = np.random.default_rng(2)
    history = rng.normal(size=(1200, 1)).astype(np.float32)
    dist = Novelty.seeded(5, 1000, history).step(history[-20:])  # rows already in the memory's window range
    assert np.isfinite(dist).all()
    empty = Novelty.empty(5, 1000, 1).step(history[-20:])
    assert np.isnan(empty).all()  # an empty memory waits for min_windows windows


def test_novelty_is_per_column_and_the_mask_round_trips() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(0, 0.1, size=(600, 3)).astype(np.float32)
    z[500:505, 2] += 5.0
    nov = Novelty.empty(5, 300, 3)
    dist = nov.distances(z)
    assert dist[504, 2] > 5 * np.nanquantile(dist[:490, 2], 0.99)  # the column that moved
    assert dist[504, :2].max() < 2 * np.nanquantile(dist[:490, :2], 0.999)  # the quiet columns stay quiet
    usable = np.ones(z.shape, bool)
    usable[500:, 2] = False
    nov.commit(z, usable)
    back = Novelty.from_dict(nov.to_dict())
    assert np.array_equal(back.usable, nov.usable) and not back.usable[-100:, 2].any() and back.usable[-100:, :2].all()
    back.accept(50, np.array([False, False, True]))
    assert back.usable[-50:].all() and not back.usable[-100:-50, 2].any()


def _range_step(r: Range, values: np.ndarray, tolerance: float, warmup: int) -> np.ndarray:
    """What the detector does outside incidents: the excess of the rows, then every row widens the range."""
    out = r.excess(values, tolerance, warmup)
    r.commit(values)
    return out


def test_range_flags_values_beyond_the_seen_range_with_tolerance() -> None:
    seen = Range.of(np.array([[0.0, 10.0], [10.0, 20.0]]))  # column 0 spans 10, column 1 spans 10
    values = np.array([[10.4, 15.0], [5.0, 20.6], [11.0, 15.0], [5.0, 15.0], [-2.0, 15.0]])
    excess = _range_step(seen, values, 0.05, 0)
    assert excess[0].tolist() == [0.0, 0.0]  # 10.4 is within 5 % of the span above 10
    assert excess[1, 1] == pytest.approx(0.06) and excess[1, 0] == 0.0  # 20.6 is 6 % of the span above 20
    assert excess[2, 0] == pytest.approx(0.6 / 10.4)  # the range grew to [0, 10.4] with row 0
    assert excess[3].max() == 0.0
    assert excess[4, 0] == pytest.approx(2.0 / 11.0)  # 2 below [0, 11]
    assert seen.high.tolist() == [11.0, 20.6] and seen.low.tolist() == [-2.0, 10.0] and seen.seen == 7


def test_range_waits_for_warmup_and_ignores_a_flat_history() -> None:
    r = Range.empty(1)
    excess = _range_step(r, np.array([[1.0], [1.0], [1.0], [5.0], [1.0], [9.0]]), 0.05, 3)[:, 0]
    assert np.isnan(excess[:3]).all()
    assert excess[3] == 0.0  # the range seen so far has no width: nothing to be beyond
    assert excess[5] == pytest.approx(1.0)  # 9 is one span (4) above 5
    back = Range.from_dict(r.to_dict())
    assert (back.low.tolist(), back.high.tolist(), back.seen) == ([1.0], [9.0], 6)


def test_range_increments_equal_one_pass() -> None:
    rng = np.random.default_rng(4)
    values = np.cumsum(rng.normal(size=(500, 2)), axis=0)
    once = _range_step(Range.empty(2), values, 0.05, 10)
    r, parts = Range.empty(2), []
    for a, b in zip([0, 3, 4, 200, 499], [3, 4, 200, 499, 500]):
        r = Range.from_dict(r.to_dict())
        parts.append(_range_step(r, values[a:b], 0.05, 10))
    assert np.array_equal(np.concatenate(parts), once, equal_nan=True)


def test_range_does_not_widen_with_values_it_may_not_learn() -> None:
    r = Range.of(np.array([[0.0, 0.0], [10.0, 10.0]]))
    values = np.array([[20.0, 20.0], [20.0, 20.0], [20.0, 20.0]])
    usable = np.array([[False, True]] * 3)  # column 0 is in an incident
    excess = r.excess(values, 0.05, 0, usable)
    assert excess[:, 0].tolist() == [1.0, 1.0, 1.0]  # a persistent fault stays beyond the range
    assert excess[1:, 1].tolist() == [0.0, 0.0]  # column 1 learned its new level at once
    r.commit(values, usable)
    assert r.high.tolist() == [10.0, 20.0] and r.seen == 5


@pytest.mark.parametrize(("window", "memory", "size"), [(5, 1000, 256), (3, 64, 128), (8, 128, 64), (1, 4, 64)])
def test_blocks_at_once_give_the_bits_of_one_call_per_block(window: int, memory: int, size: int) -> None:
    """nearest_blocks stacks the blocks' products: each block's distances are nearest_windows's, to the bit."""
    rng = np.random.default_rng(window + memory)
    ring = ring_rows(window, memory)
    z = (rng.normal(size=ring + 5 * size) * 30 + 1e4).astype(np.float32)  # far from 0: centring matters
    z[: ring // 2] = np.nan  # a memory still filling
    z[ring + size + 7] = np.nan  # a missing row
    z[ring + 3 * size :] = z[ring + size : ring + 3 * size]  # repeats
    usable = np.ones(z.size, bool)
    usable[ring + 2 * size : ring + 2 * size + 40] = False
    got = nearest_blocks(z, window, memory, usable, size)
    want = [nearest_windows(z[s : s + ring + size, None], window, memory, usable[s : s + ring + size])[0] for s in
            range(0, 5 * size, size)]  # fmt: skip
    assert np.array_equal(got, np.concatenate(want), equal_nan=True)


def test_distances_ahead_are_those_of_block_by_block_scoring() -> None:
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(3000, 2))
    nov = Novelty.seeded(5, 1000, rng.normal(size=(2000, 2)).astype(np.float32), warmup=2100)
    ahead = nov.ahead(rows, 100, 256)
    assert ahead is not None and ahead.dist.shape == ((3000 - 100) // 256 * 256, 2)
    a = 0
    for b in [100, 356, 612, 700, 868, 1124]:  # a piece off the grid of blocks is not computed ahead
        got = ahead.get(a, b)
        want = nov.distances(rows[a:b])
        assert (got is None) == (a not in (100, 356, 868)), a
        assert got is None or np.array_equal(got, want, equal_nan=True)
        nov.commit(rows[a:b])
        a = b
    nov.commit(rows[a : a + 256], np.zeros((256, 2), bool))  # rows not usable in the memory: nothing ahead counts
    assert ahead.get(a + 256, a + 512) is None


def test_horizon_errors_of_one_series_by_slices_are_those_of_the_gather() -> None:
    """One series' horizon errors come from a slice per step ahead: the bits of the general gather."""
    from tsrnn.scoring.errors import _horizon_errors

    rng = np.random.default_rng(3)
    for horizon, rows, features in [(10, 300, 1), (12, 7, 3), (3, 1, 2)]:
        x = rng.normal(size=(1, rows, features)).astype(np.float32)
        forecast = rng.normal(size=(1, rows, horizon, features)).astype(np.float32)
        pending = np.full((1, horizon, horizon, features), np.nan, np.float32)
        scale = np.float32([0.7, 1.3, 2.0][:features])
        both = np.concatenate([pending, forecast], axis=-3)
        k = np.arange(1, horizon + 1)
        made = horizon + np.arange(rows)[:, None] - k[None, :]
        err = np.abs(both[..., made, k[None, :] - 1, :] - x[..., :, None, :]) / scale
        counts = np.isfinite(err).all(axis=-1).sum(axis=-1)[..., None]
        want = np.where(counts > 0, np.nansum(err, axis=-2) / np.maximum(counts, 1), np.nan)
        got, _ = _horizon_errors(x, forecast, pending, scale)
        assert np.array_equal(got, want, equal_nan=True)
