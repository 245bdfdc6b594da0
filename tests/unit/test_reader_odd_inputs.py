"""Odd inputs the reader meets in real exports: missing-value markers, a byte-order mark, padded
header names, huge cells, values beyond float32, mixed epoch units, decimal commas, day-first
dates, local times around DST, irregular timestamps, and TOML settings of the wrong type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsrnn.config import DataConfig
from tsrnn.data.clean import read_dataset
from tsrnn.data.values import NA_VALUES
from tsrnn.errors import InputError, TsrnnError
from tsrnn.settings import resolve


def read(tmp_path: Path, text: str | bytes, cfg: DataConfig | None = None):
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return read_dataset(str(path), cfg)


def minutes(values: list[object], header: str = "timestamp,value", sep: str = ",") -> str:
    rows = [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00{sep}{v}" for i, v in enumerate(values)]
    return header + "\n" + "\n".join(rows) + "\n"


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("marker", [m for m in NA_VALUES if m])
def test_missing_value_markers_are_missing_and_filled(tmp_path: Path, marker: str) -> None:
    ds = read(tmp_path, minutes([1, 2, marker, 4, 5]))
    assert ds.segments[0].values[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert ds.filled == {"rows with missing values filled (interpolate)": 1}


def test_missing_markers_in_a_large_file_take_the_fast_path_too(tmp_path: Path) -> None:
    values: list[object] = [float(i % 7) for i in range(30_000)]
    values[100], values[20_000] = "NA", "#N/A"
    text = "time,value\n" + "".join(f"{1704067200 + 60 * i},{v}\n" for i, v in enumerate(values))
    assert len(text) > 256 * 1024  # beyond the sample: read by the typed scan
    ds = read(tmp_path, text)
    assert ds.rows == 30_000 and ds.filled == {"rows with missing values filled (interpolate)": 2}


def test_an_id_named_na_is_a_series_not_a_missing_value(tmp_path: Path) -> None:
    rows = [f"2024-01-01 00:{m:02d}:00,{host},{m}" for m in range(10) for host in ("NA", "EU")]
    ds = read(tmp_path, "timestamp,host,value\n" + "\n".join(rows) + "\n", DataConfig(id_column="host"))
    assert sorted(ds.series()) == ["EU", "NA"]


def test_a_byte_order_mark_and_padded_header_names(tmp_path: Path) -> None:
    ds = read(tmp_path, b"\xef\xbb\xbf" + minutes([1, 2, 3], header=" timestamp , value ").encode())
    assert ds.time_column == "timestamp" and ds.value_columns == ["value"]
    assert ds.segments[0].values[:, 0].tolist() == [1.0, 2.0, 3.0]


def test_header_names_equal_once_stripped_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        read(tmp_path, minutes(["1,2", "3,4"], header="timestamp,value, value"))
    assert "'value' more than once" in one_line(exc)


def test_a_cell_over_128_kib_is_read_or_named(tmp_path: Path) -> None:
    note = "x" * 200_000
    ds = read(tmp_path, minutes([f"1,{note}", "2,y", "3,z"], header="timestamp,value,note"))
    assert ds.value_columns == ["value"] and any("'note' is not numeric" in n for n in ds.notes)
    with pytest.raises(InputError) as exc:
        read(tmp_path, minutes([1, 2, note, 4]))
    message = one_line(exc)
    assert "line 4, column 'value'" in message and "(200,000 characters) is not a number" in message
    assert len(message) < 400


@pytest.mark.parametrize("value", ["1e39", "1e308", "-1e39", "inf", "-inf"])
def test_values_beyond_float32_are_refused_with_line_and_column(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError) as exc:
        read(tmp_path, minutes([1, 2, value, 4]))
    message = one_line(exc)
    assert "line 4, column 'value'" in message and "beyond float32" in message and "3.403e+38" in message


def test_the_largest_float32_value_is_read(tmp_path: Path) -> None:
    ds = read(tmp_path, minutes([1, 2, "3.4e38", 4]))
    assert ds.segments[0].values[2, 0] == 3.4e38


def test_epoch_seconds_mixed_with_milliseconds_are_refused(tmp_path: Path) -> None:
    rows = [f"{1704067200 + 60 * i}{'000' if i >= 3 else ''},{i}" for i in range(6)]
    with pytest.raises(InputError) as exc:
        read(tmp_path, "time,value\n" + "\n".join(rows) + "\n")
    message = one_line(exc)
    assert "line 5" in message and "'1704067380000' is in milliseconds" in message and "in seconds" in message


def test_decimal_comma_is_named_and_read_with_the_option(tmp_path: Path) -> None:
    text = minutes(["1,5", "2,5", "3,25"], header="timestamp;value", sep=";")
    with pytest.raises(InputError) as exc:
        read(tmp_path, text)
    assert "decimal comma: use --decimal ," in one_line(exc)
    ds = read(tmp_path, text, DataConfig(decimal=","))
    assert ds.segments[0].values[:, 0].tolist() == [1.5, 2.5, 3.25]


def test_a_decimal_comma_cell_among_numbers_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        read(tmp_path, minutes([1, 2, 3, '"4,5"']))
    assert "line 5" in one_line(exc) and "--decimal ," in str(exc.value)


def test_thousands_separators_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        read(tmp_path, minutes(["1.234,5", "2.345,5"], header="timestamp;value", sep=";"), DataConfig(decimal=","))
    assert "thousands separators" in one_line(exc)


def test_day_first_dates_are_found_from_a_day_above_12(tmp_path: Path) -> None:
    rows = [f"{d:02d}/01/2024 10:00,{d}" for d in range(1, 20)]
    ds = read(tmp_path, "timestamp,value\n" + "\n".join(rows) + "\n")
    assert str(ds.segments[0].times[12].astype("datetime64[D]")) == "2024-01-13"
    assert any("'%d/%m/%Y %H:%M'" in n and "model trained on it keeps" in n for n in ds.notes)
    assert ds.time_format == "%d/%m/%Y %H:%M"


def test_ambiguous_day_month_dates_are_refused_naming_time_format(tmp_path: Path) -> None:
    text = "timestamp,value\n" + "\n".join(f"{d:02d}/02/2024 10:00,{d}" for d in range(1, 10)) + "\n"
    with pytest.raises(InputError) as exc:
        read(tmp_path, text)
    assert "--time-format '%d/%m/%Y %H:%M' or '%m/%d/%Y %H:%M'" in one_line(exc)
    ds = read(tmp_path, text, DataConfig(time_format="%m/%d/%Y %H:%M"))
    assert str(ds.segments[0].times[0].astype("datetime64[D]")) == "2024-01-02"


def test_a_time_format_that_does_not_match_names_the_line(tmp_path: Path) -> None:
    text = "timestamp,value\n12/01/2024 10:00,1\n13/01/2024 10:00,2\n"
    with pytest.raises(InputError) as exc:
        read(tmp_path, text, DataConfig(time_format="%m/%d/%Y %H:%M"))
    assert "line 3" in one_line(exc) and "'13/01/2024 10:00'" in str(exc.value)
    assert "--time-format '%m/%d/%Y %H:%M'" in str(exc.value)


def test_timezone_keeps_the_dst_fall_back_hour_apart(tmp_path: Path) -> None:
    local = ["01:30", "02:00", "02:30", "02:00", "02:30", "03:00"]  # Europe/Berlin leaves summer time at 03:00
    text = "timestamp,value\n" + "\n".join(f"2024-10-27 {t}:00,{i}" for i, t in enumerate(local)) + "\n"
    ds = read(tmp_path, text, DataConfig(timezone="Europe/Berlin"))
    assert ds.dropped == {} and ds.rows == 6
    utc = [str(t)[11:16] for t in ds.segments[0].times]
    assert utc == ["23:30", "00:00", "00:30", "01:00", "01:30", "02:00"]
    assert ds.segments[0].values[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    merged = read(tmp_path, text)  # without a zone, the repeated hour is read as duplicates
    assert merged.dropped == {"duplicate timestamp (kept the last)": 2}


def test_a_time_skipped_by_spring_forward_is_named(tmp_path: Path) -> None:
    text = "timestamp,value\n2024-03-31 01:30:00,1\n2024-03-31 02:30:00,2\n2024-03-31 03:30:00,3\n"
    with pytest.raises(InputError) as exc:
        read(tmp_path, text, DataConfig(timezone="Europe/Berlin"))
    assert "line 3" in one_line(exc) and "does not exist in Europe/Berlin" in str(exc.value)


def test_an_unknown_timezone_is_refused() -> None:
    with pytest.raises(TsrnnError, match="--timezone 'Mars/Olympus'"):
        DataConfig(timezone="Mars/Olympus")


def test_irregular_timestamps_get_a_note_with_the_measured_spacing(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    steps = rng.choice([300, 300, 300, 300, 600, 3600], size=400).astype("timedelta64[s]")
    t = np.datetime64("2024-01-01T00:00:00") + np.cumsum(steps)
    text = "timestamp,value\n" + "\n".join(f"{str(s).replace('T', ' ')},{i % 9}" for i, s in enumerate(t)) + "\n"
    ds = read(tmp_path, text)
    note = next(n for n in ds.notes if "irregular" in n)
    assert "--resample 5m" in note and "inserted to fill gaps" in note
    assert not any("irregular" in n for n in read(tmp_path, text, DataConfig(resample="5m")).notes)
    assert not any("irregular" in n for n in read(tmp_path, minutes(list(range(50)))).notes)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('epochs = "one"', "epochs = 'one' should be a whole number"),
        ("hidden = 1.5", "hidden = 1.5 should be a whole number"),
        ("columns = 3", "columns = 3 should be a list of names"),
        ("[data]\nfill_limit = true", "fill_limit = True should be a whole number"),
        ("bidirectional = 1", "bidirectional = 1 should be true or false"),
        ("timezone = 2", "timezone = 2 should be a string"),
    ],
)
def test_toml_values_of_the_wrong_type_name_key_file_and_type(tmp_path: Path, line: str, fragment: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(line + "\n")
    with pytest.raises(TsrnnError) as exc:
        resolve({}, {}, str(path))
    assert str(exc.value).startswith(f"{path}: ") and fragment in one_line(exc)


def test_toml_values_of_the_right_type_are_read(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('lr = 1\ncolumns = ["a", "b"]\n[data]\ntime_format = "%d/%m/%Y"\ndecimal = ","\n')
    resolved = resolve({}, {}, str(path))
    assert resolved.train.lr == 1.0 and resolved.data.columns == ("a", "b")
    assert (resolved.data.time_format, resolved.data.decimal) == ("%d/%m/%Y", ",")
