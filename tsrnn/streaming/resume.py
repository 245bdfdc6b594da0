"""Resuming a series where the last run stopped: drop rows already scored, carry each series' last row.

A run's new rows are read as a frame; rows at or before their series' last scored timestamp were
scored already (or arrive late) and are dropped. Each series' last scored row is put back in
front of its new rows (named in `Frame.carried`), so gaps, fills and duplicates across the
boundary are judged as in one run; its segment is marked `carried` by `clean()`, and `continues`
takes that row off again before scoring.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import polars as pl

from tsrnn.data.clean import Segment
from tsrnn.data.reader import ID, ROW, TEXT, TIME, Frame
from tsrnn.streaming.state import SeriesState

SEEN = "timestamp not after the last scored row"
LATE = "arrived after its --resample bucket was scored"


def drop_seen(frame: Frame, states: dict[str, SeriesState], bucket_us: int = 0) -> tuple[Frame, dict[str, int]]:
    """The frame without rows at or before their series' last scored timestamp, and how many went.

    With --resample (`bucket_us`: its interval), a row inside the last scored bucket arrived after
    that bucket was scored: it is counted apart (LATE), not averaged into the row carried over."""
    last = {sid: st.last_time_us for sid, st in states.items() if st.last_time_us is not None}
    if not last:
        return frame, {}
    key = pl.col(ID) if frame.id_column else pl.lit("")
    table = pl.DataFrame(
        {"__sid": list(last), "__last": list(last.values())}, schema={"__sid": pl.String, "__last": pl.Int64}
    )
    data = frame.data.with_columns(key.alias("__sid")).join(table, on="__sid", how="left", maintain_order="left")
    t, last_time = data[TIME].cast(pl.Int64), data["__last"]
    fresh = last_time.is_null() | (t >= last_time + max(bucket_us, 1))
    late = int((~fresh & (t > last_time)).sum())
    counts = {SEEN: int((~fresh).sum()) - late, LATE: late}
    return replace(frame, data=data.filter(fresh).drop("__sid", "__last")), {k: n for k, n in counts.items() if n}


def carry_last_rows(frame: Frame, states: dict[str, SeriesState]) -> Frame:
    """The frame with each series' last scored row in front of its new rows (named in `carried`)."""
    ids = set(frame.data[ID].unique().to_list()) if frame.id_column else {""}
    rows = [
        (sid, st)
        for sid, st in states.items()
        if sid in ids and st.last_values is not None and st.last_time_us is not None
    ]
    if not rows:
        return frame
    cols: dict[str, Any] = {
        ROW: [-1] * len(rows),
        TIME: pl.Series([st.last_time_us for _, st in rows], dtype=pl.Int64).cast(pl.Datetime("us")),
    }
    if frame.id_column:
        cols[ID] = [sid for sid, _ in rows]
    if TEXT in frame.data.columns:
        cols[TEXT] = [""] * len(rows)
    for i, col in enumerate(frame.value_columns):
        cols[col] = [float(cast("list[float]", st.last_values)[i]) for _, st in rows]  # not None: filtered above
    head = pl.DataFrame(cols, schema=frame.data.schema)
    keys = [ID, TIME] if frame.id_column else [TIME]
    data = pl.concat([head, frame.data]).sort(keys, maintain_order=True)
    return replace(frame, data=data, carried=frozenset(sid for sid, _ in rows))


def continues(seg: Segment) -> Segment:
    """A carried segment without its first row (scored by the earlier run)."""
    return Segment(seg.series, seg.times[1:], seg.values[1:], seg.observed[1:], seg.text[1:] if seg.text else None)
