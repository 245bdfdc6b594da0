"""A series' shard is the same on every machine, Python version and process: fixed ids, fixed shards."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from tsrnn.data.reader import ID, TIME, Frame
from tsrnn.errors import InputError
from tsrnn.streaming.shard import keep_shard, parse_shard, shard_of


@pytest.mark.parametrize(
    ("series", "shards"),  # shard of 2, 3, 4 and 10: CRC-32 of the UTF-8 bytes, modulo N (never Python's hash())
    [
        ("web000", [0, 1, 0, 6]),
        ("web001", [0, 0, 2, 0]),
        ("web007", [1, 1, 3, 5]),
        ("host-a", [1, 1, 3, 3]),
        ("é", [0, 2, 2, 6]),
        ("", [0, 0, 0, 0]),
    ],
)
def test_fixed_ids_have_fixed_shards(series: str, shards: list[int]) -> None:
    assert [shard_of(series, n) for n in (2, 3, 4, 10)] == shards
    assert all(shard_of(series, 1) == 0 for _ in range(3))


def test_the_shard_does_not_depend_on_the_process() -> None:
    ids = [f"web{i:03d}" for i in range(20)]
    want = [1, 0, 1, 1, 0, 0, 2, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 2, 0, 1]
    assert [shard_of(i, 3) for i in ids] == want
    code = "from tsrnn.streaming.shard import shard_of; print([shard_of(f'web{i:03d}', 3) for i in range(20)])"
    for seed in ("1", "2"):  # another process, with another string hash salt
        env = {"PYTHONHASHSEED": seed, "PYTHONDONTWRITEBYTECODE": "1"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        assert out.stdout.strip() == str(want)


@pytest.mark.parametrize(("given", "parsed"), [("0/1", (0, 1)), ("2/3", (2, 3)), (" 1 / 4 ", (1, 4)), ((3, 8), (3, 8))])
def test_parse_shard(given: str | tuple[int, int], parsed: tuple[int, int]) -> None:
    assert parse_shard(given) == parsed
    assert parse_shard(None) is None


@pytest.mark.parametrize("bad", ["1/1", "-1/2", "a/b", "2", "3/2", "0/0", "1/2/3", "", (2, 2), (0, 1.0)])
def test_a_bad_shard_names_the_form(bad: str | tuple) -> None:
    with pytest.raises(InputError, match=r"^--shard .*: use I/N with 0 <= I < N, e.g. 0/4"):
        parse_shard(bad)


def test_keep_shard_counts_the_rows_it_leaves() -> None:
    ids = ["web000", "web001", "web007", "web007", "host-a"]  # shards of 3: 1, 0, 1, 1, 1
    data = pl.DataFrame({ID: ids, TIME: list(range(5)), "value": [1.0] * 5})
    frame = Frame("f.csv", "timestamp", ["value"], "host", data, {}, [])
    cache: dict[str, bool] = {}
    kept, other = keep_shard(frame, (1, 3), cache)
    assert kept.data[ID].to_list() == ["web000", "web007", "web007", "host-a"] and other == 1
    assert cache == {"web000": True, "web001": False, "web007": True, "host-a": True}
    kept, other = keep_shard(frame, (0, 3), {})
    assert kept.data[ID].to_list() == ["web001"] and other == 4
