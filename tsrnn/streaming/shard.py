"""`watch --shard I/N`: the series whose id hashes to shard I of N, so N jobs split a fleet with no coordination.

A series' shard is the CRC-32 of its id's UTF-8 bytes, modulo N: the same on every machine, Python
and polars version and process (Python's `hash()` of a string is salted per process, and polars'
`hash` may change between versions). Going from N to another number of shards moves most series to
another shard, so each shard's state then starts fresh.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import replace

import polars as pl

from tsrnn.data.reader import ID, Frame
from tsrnn.errors import InputError

Shard = tuple[int, int]  # (i, n): this job's shard, of n
_FORM = re.compile(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*")


def parse_shard(value: str | tuple[int, int] | None) -> Shard | None:
    """`"i/n"` (or `(i, n)`) as (i, n), checked: 0 <= i < n; None stays None (every series)."""
    if value is None:
        return None
    parsed: Shard | None = None
    if isinstance(value, str):
        match = _FORM.fullmatch(value)
        parsed = (int(match[1]), int(match[2])) if match else None
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(type(v) is int for v in value):
        parsed = (value[0], value[1])
    if parsed is None or not 0 <= parsed[0] < parsed[1]:
        shown = "/".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)
        raise InputError(f"--shard {shown}: use I/N with 0 <= I < N, e.g. 0/4 (the first of four shards)")
    return parsed


def shard_text(shard: Shard | None) -> str | None:
    """How a shard is written in a state file and a report: "i/n"."""
    return None if shard is None else f"{shard[0]}/{shard[1]}"


def shard_of(series_id: str, n: int) -> int:
    """The shard (0 .. n-1) of a series id: CRC-32 of its UTF-8 bytes, modulo n."""
    return zlib.crc32(series_id.encode("utf-8")) % n


def keep_shard(frame: Frame, shard: Shard, cache: dict[str, bool]) -> tuple[Frame, int]:
    """The frame's rows of series in `shard`, and how many rows of other shards went.

    `cache` remembers each id's answer across slices (a fleet has far fewer ids than rows)."""
    if frame.id_column is None or shard[1] == 1:
        return frame, 0
    ids = frame.data[ID].unique().to_list()
    for sid in ids:
        if sid not in cache:
            cache[sid] = shard_of(sid, shard[1]) == shard[0]
    mine = [sid for sid in ids if cache[sid]]
    if len(mine) == len(ids):
        return frame, 0
    kept = frame.data.filter(pl.col(ID).is_in(mine))
    return replace(frame, data=kept), frame.data.height - kept.height
