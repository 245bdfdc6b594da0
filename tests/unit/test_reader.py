"""The reader and cleaner: what they accept, how they order, fill and count, and what they refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsrnn.config import DataConfig
from tsrnn.data.clean import read_dataset
from tsrnn.errors import InputError


def read(tmp_path: Path, text: str | bytes, cfg: DataConfig | None = None, name: str = "data.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return read_dataset(str(path), cfg)


def minutes(values: list[object], start: int = 0, header: str = "timestamp,value") -> str:
    rows = [f"2024-01-01 {(start + i) // 60:02d}:{(start + i) % 60:02d}:00,{v}" for i, v in enumerate(values)]
    return header + "\n" + "\n".join(rows) + "\n"


def only(ds):
    assert len(ds.segments) == 1, [s.rows for s in ds.segments]
    return ds.segments[0]


def test_reads_and_sorts_by_time_keeping_original_text(tmp_path: Path) -> None:
    ds = read(tmp_path, "timestamp,value\n2024-01-01 00:10:00,3\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2")
    seg = only(ds)
    assert seg.text == ["2024-01-01 00:00:00", "2024-01-01 00:05:00", "2024-01-01 00:10:00"]
    assert seg.values[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert ds.interval_seconds == 300.0


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-01T00:00:00", "2024-01-01T00:05:00"],
        ["2024-01-01T01:00:00+01:00", "2024-01-01T00:05:00Z"],
        ["1704067200", "1704067500"],
        ["1704067200000", "1704067500000"],
        ["2024-01-01 00:00:00.000", "2024-01-01 00:05:00.500"],
    ],
    ids=["iso-T", "offsets", "epoch-s", "epoch-ms", "fractions"],
)
def test_timestamp_forms(tmp_path: Path, stamps: list[str]) -> None:
    seg = only(read(tmp_path, "time,value\n" + "\n".join(f"{s},{i}" for i, s in enumerate(stamps)) + "\n"))
    assert seg.times.astype("datetime64[s]").astype(str).tolist() == ["2024-01-01T00:00:00", "2024-01-01T00:05:00"]


def test_time_column_found_by_parsing_when_not_by_name(tmp_path: Path) -> None:
    ds = read(tmp_path, "reading,when\n1.5,2024-01-01 00:00:00\n2.5,2024-01-01 00:01:00\n")
    assert ds.time_column == "when" and ds.value_columns == ["reading"]


def test_semicolon_and_tab_delimiters(tmp_path: Path) -> None:
    for sep in (";", "\t"):
        ds = read(
            tmp_path, f"timestamp{sep}a{sep}b\n2024-01-01 00:00:00{sep}1{sep}2\n2024-01-01 00:01:00{sep}3{sep}4\n"
        )
        assert ds.value_columns == ["a", "b"] and only(ds).values.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("policy", "value", "reason"),
    [("last", 5.0, "duplicate timestamp (kept the last)"), ("mean", 3.0, "duplicate timestamp (averaged)")],
)
def test_duplicate_policies(tmp_path: Path, policy: str, value: float, reason: str) -> None:
    text = "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:00,5\n2024-01-01 00:01:00,2\n"
    ds = read(tmp_path, text, DataConfig(duplicates=policy))
    assert only(ds).values[:, 0].tolist() == [value, 2.0] and ds.dropped == {reason: 1}


def test_duplicates_as_errors_name_the_lines(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="lines 2 and 3 have the same timestamp"):
        read(
            tmp_path, "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:00,5\n", DataConfig(duplicates="error")
        )


def test_short_gaps_and_missing_values_are_filled_and_counted(tmp_path: Path) -> None:
    text = minutes([0, 1, "", 3, 4]) + "2024-01-01 00:07:00,7\n"  # a missing value, then two missing rows
    ds = read(tmp_path, text)
    seg = only(ds)
    assert seg.values[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert seg.observed.tolist() == [True] * 5 + [False, False, True]
    assert ds.filled == {"rows inserted into short gaps": 2, "rows with missing values filled (interpolate)": 1}


def test_forward_fill(tmp_path: Path) -> None:
    ds = read(tmp_path, minutes([0, 1, "", 3]), DataConfig(fill="ffill"))
    assert only(ds).values[:, 0].tolist() == [0, 1, 1, 3]


def test_long_gaps_split_the_series_instead_of_inventing_data(tmp_path: Path) -> None:
    text = minutes([0, 1, 2]) + minutes([10, 11, 12], start=10).split("\n", 1)[1]
    ds = read(tmp_path, text, DataConfig(fill_limit=3))
    assert [s.rows for s in ds.segments] == [3, 3] and ds.filled == {}
    runs = read(tmp_path, minutes([0, 1, "", "", "", "", 6, 7]), DataConfig(fill_limit=3))
    assert [s.values[:, 0].tolist() for s in runs.segments] == [[0, 1], [6, 7]]
    assert runs.dropped == {"missing values in a run longer than --fill-limit": 4}


def test_fill_none_drops_rows_with_missing_values(tmp_path: Path) -> None:
    ds = read(tmp_path, minutes([0, 1, "", 3]), DataConfig(fill="none"))
    assert [s.values[:, 0].tolist() for s in ds.segments] == [[0, 1], [3]]
    assert ds.dropped == {"missing value (--fill none)": 1}


def test_resample_to_a_regular_grid(tmp_path: Path) -> None:
    text = (
        "timestamp,value\n2024-01-01 00:00:10,1\n2024-01-01 00:00:50,3\n2024-01-01 00:01:20,5\n2024-01-01 00:03:05,9\n"
    )
    ds = read(tmp_path, text, DataConfig(resample="1m"))
    seg = only(ds)
    assert seg.text[:2] == ["2024-01-01 00:00:00", "2024-01-01 00:01:00"]
    assert seg.values[:, 0].tolist() == [2.0, 5.0, 7.0, 9.0]  # 00:02 was empty and is interpolated
    assert ds.interval_seconds == 60.0


def test_long_format_gives_one_series_per_id(tmp_path: Path) -> None:
    rows = [f"2024-01-01 00:0{m}:00,{host},{m + (10 if host == 'b' else 0)}" for m in range(3) for host in ("b", "a")]
    ds = read(tmp_path, "timestamp,host,value\n" + "\n".join(rows), DataConfig(id_column="host"))
    series = ds.series()
    assert sorted(series) == ["a", "b"]
    assert series["a"][0].values[:, 0].tolist() == [0, 1, 2] and series["b"][0].values[:, 0].tolist() == [10, 11, 12]


def test_a_directory_of_files_reads_as_one_source(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "1.csv").write_text(minutes([0, 1]))
    (tmp_path / "d" / "2.csv").write_text(minutes([2, 3], start=2))
    ds = read_dataset(str(tmp_path / "d"))
    assert only(ds).values[:, 0].tolist() == [0, 1, 2, 3]
    assert only(read_dataset(str(tmp_path / "d" / "*.csv"))).rows == 4


def test_text_column_is_noted_not_used(tmp_path: Path) -> None:
    ds = read(tmp_path, "timestamp,host,value\n2024-01-01 00:00:00,web1,1\n2024-01-01 00:01:00,web1,2\n")
    assert ds.value_columns == ["value"] and any("host" in n for n in ds.notes)


def test_blank_lines_and_missing_final_newline(tmp_path: Path) -> None:
    ds = read(tmp_path, "timestamp,value\n2024-01-01 00:00:00,1\n\n2024-01-01 00:01:00,2")
    assert only(ds).values[:, 0].tolist() == [1, 2] and ds.dropped == {"blank line": 1}


def test_constant_series_reads(tmp_path: Path) -> None:
    seg = only(read(tmp_path, minutes([7] * 10)))
    assert np.all(seg.values == 7.0) and seg.rows == 10


def test_a_file_of_one_cut_character_is_refused_not_a_crash(tmp_path: Path) -> None:
    """b"\\xc2" decoded to "" as a character cut by the sample's end, then the header lookup raised IndexError
    (found by the property test with the declared minimum versions)."""
    path = tmp_path / "x.csv"
    path.write_bytes(b"\xc2")
    with pytest.raises(InputError, match="not UTF-8"):
        read_dataset(str(path), DataConfig())
