"""The reader: what it accepts, how it orders and counts, and what it refuses with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsrnn.data.reader import read_table
from tsrnn.errors import InputError


def read(tmp_path: Path, text: str | bytes, **kw: object):
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return read_table(path, **kw)


def test_reads_and_sorts_by_time_keeping_original_text(tmp_path: Path) -> None:
    t = read(tmp_path, "timestamp,value\n2024-01-01 00:10:00,3\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2")
    assert t.time_text == ["2024-01-01 00:00:00", "2024-01-01 00:05:00", "2024-01-01 00:10:00"]
    assert t.values[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert t.interval_seconds() == 300.0


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-01T00:00:00", "2024-01-01T00:05:00"],
        ["2024-01-01T01:00:00+01:00", "2024-01-01T00:05:00Z"],
        ["1704067200", "1704067500"],
        ["1704067200000", "1704067500000"],
    ],
    ids=["iso-T", "offsets", "epoch-s", "epoch-ms"],
)
def test_timestamp_forms(tmp_path: Path, stamps: list[str]) -> None:
    t = read(tmp_path, "time,value\n" + "\n".join(f"{s},{i}" for i, s in enumerate(stamps)) + "\n")
    assert t.times.astype("datetime64[s]").astype(str).tolist() == ["2024-01-01T00:00:00", "2024-01-01T00:05:00"]


def test_semicolon_and_tab_delimiters(tmp_path: Path) -> None:
    for sep in (";", "\t"):
        t = read(tmp_path, f"timestamp{sep}a{sep}b\n2024-01-01 00:00:00{sep}1{sep}2\n2024-01-01 00:01:00{sep}3{sep}4\n")
        assert t.value_columns == ["a", "b"] and t.values.tolist() == [[1, 2], [3, 4]]


def test_duplicates_and_missing_values_are_counted_not_hidden(tmp_path: Path) -> None:
    t = read(tmp_path, "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:00,5\n2024-01-01 00:01:00,\n2024-01-01 00:02:00,2\n")
    assert t.values[:, 0].tolist() == [5.0, 2.0]  # the later duplicate wins
    assert t.dropped == {"missing value": 1, "duplicate timestamp (kept the last)": 1}


def test_text_column_is_noted_not_used(tmp_path: Path) -> None:
    t = read(tmp_path, "timestamp,host,value\n2024-01-01 00:00:00,web1,1\n2024-01-01 00:01:00,web1,2\n")
    assert t.value_columns == ["value"]
    assert any("host" in n for n in t.notes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("timestamp,value\n", "no rows"),
        ("when,value\n2024-01-01,1\n", "no time column"),
        ("timestamp,value\n2024-01-01 00:00:00,1\nyesterday,2\n", "line 3: cannot parse timestamp 'yesterday'"),
        ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,abc\n", "line 3, column 'value': 'abc' is not a number"),
        ("timestamp,value\n2024-01-01 00:00:00,inf\n", "infinite"),
        ("timestamp,name\n2024-01-01 00:00:00,x\n", "no numeric value column"),
        ("timestamp,value\n2024-01-01 00:00:00,\n", "every row has a missing value"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"timestamp,value\n2024-01-01 00:00:00,1\xff\n", "not UTF-8"),
    ],
)
def test_bad_input_gets_a_precise_message(tmp_path: Path, content: str | bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        read(tmp_path, content)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_requested_column(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="column\\(s\\) cpu not found; the file has timestamp, value"):
        read(tmp_path, "timestamp,value\n2024-01-01 00:00:00,1\n", columns=["cpu"])


def test_missing_file() -> None:
    with pytest.raises(InputError, match="no such file"):
        read_table("/nonexistent/data.csv")


def test_constant_series_reads(tmp_path: Path) -> None:
    t = read(tmp_path, "timestamp,value\n" + "\n".join(f"2024-01-01 00:{m:02d}:00,7" for m in range(10)))
    assert np.all(t.values == 7.0) and t.rows == 10
