"""Odd inputs through the commands: a byte-order mark and missing-value markers are read, values
beyond float32 are refused in train and watch (one line, exit 2), and --decimal, --time-format and
--timezone travel with the model so that watch reads new rows as training did."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import cycle, stamps
from tsrnn.config import DataConfig, from_dict
from tsrnn_cli.main import app

runner = CliRunner()
BOM = b"\xef\xbb\xbf"


def lines(values: np.ndarray, start_row: int = 0) -> list[str]:
    return [f"{ts},{v:.4f}" for ts, v in zip(stamps(len(values), start_row), values[:, 0])]


def one_error_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tsrnn: error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return err[0]


def test_train_reads_a_bom_padded_header_and_missing_markers(tmp_path: Path) -> None:
    rows = lines(cycle(300))
    rows[50] = rows[50].split(",")[0] + ",NA"
    rows[60] = rows[60].split(",")[0] + ",#N/A"
    path = tmp_path / "excel.csv"
    path.write_bytes(BOM + ("timestamp , value \n" + "\n".join(rows) + "\n").encode())
    result = runner.invoke(app, ["train", str(path), "--runs-dir", str(tmp_path), "--epochs", "1", "--json", "-q"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["filled"] == {"rows with missing values filled (interpolate)": 2}


@pytest.mark.parametrize("value", ["1e39", "-1e39", "1e308", "inf", "-inf"])
def test_train_refuses_a_value_beyond_float32(tmp_path: Path, value: str) -> None:
    rows = lines(cycle(300))
    rows[100] = rows[100].split(",")[0] + "," + value
    path = tmp_path / "huge.csv"
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    result = runner.invoke(app, ["train", str(path), "--runs-dir", str(tmp_path / "runs"), "--epochs", "1", "-q"])
    message = one_error_line(result)
    assert "line 102, column 'value'" in message and "beyond float32" in message
    assert not (tmp_path / "runs").exists()


def test_watch_refuses_a_value_beyond_float32_on_a_file_and_on_stdin(tmp_path: Path, forecaster_onnx: Path) -> None:
    rows = lines(cycle(200, start_row=2000), 2000)
    rows[20] = rows[20].split(",")[0] + ",1e39"
    text = "timestamp,value\n" + "\n".join(rows) + "\n"
    path = tmp_path / "new.csv"
    path.write_text(text)
    for args, given in (([str(path)], None), (["-"], text)):
        result = runner.invoke(app, ["watch", *args, "--model", str(forecaster_onnx), "-q"], input=given)
        message = one_error_line(result)
        assert "line 22, column 'value': 1e+39 is beyond float32" in message


def test_watch_reads_a_bom_on_a_file_and_on_stdin(tmp_path: Path, forecaster_onnx: Path) -> None:
    body = ("timestamp,value\n" + "\n".join(lines(cycle(200, start_row=2000), 2000)) + "\n").encode()
    path = tmp_path / "bom.csv"
    path.write_bytes(BOM + body)
    plain = runner.invoke(app, ["watch", "-", "--model", str(forecaster_onnx), "--json", "--exit-zero"], input=body)
    for args, given in (([str(path)], None), (["-"], BOM + body)):
        result = runner.invoke(
            app, ["watch", *args, "--model", str(forecaster_onnx), "--json", "--exit-zero"], input=given
        )
        assert result.exit_code == 0, result.stderr
        got, want = json.loads(result.stdout), json.loads(plain.stdout)
        assert got["rows_scored"] == want["rows_scored"] == 200 and got["max_score"] == want["max_score"]


def test_toml_of_the_wrong_type_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "tsrnn.toml"
    config.write_text('[train]\nepochs = "one"\n')
    data = tmp_path / "d.csv"
    data.write_text("timestamp,value\n" + "\n".join(lines(cycle(100))) + "\n")
    result = runner.invoke(app, ["train", str(data), "--config", str(config), "--runs-dir", str(tmp_path), "-q"])
    assert "epochs = 'one' should be a whole number" in one_error_line(result)


def local_rows(values: np.ndarray, start: datetime, zone: str) -> list[str]:
    """Rows every 5 minutes of UTC, written as local wall-clock time (day first) with decimal commas."""
    tz = ZoneInfo(zone)
    out = []
    for i, v in enumerate(values[:, 0]):
        when = (start + timedelta(minutes=5 * i)).replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
        out.append(f"{when:%d/%m/%Y %H:%M};{v:.3f}".replace(".", ","))
    return out


def test_decimal_time_format_and_timezone_travel_with_the_model(tmp_path: Path) -> None:
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.runs import resolve_run

    start = datetime(2024, 10, 25)  # the rows cross Europe/Berlin's fall-back hour (27 October)
    values = cycle(1400, seed=3)
    history = tmp_path / "history.csv"
    history.write_text("timestamp;value\n" + "\n".join(local_rows(values[:1000], start, "Europe/Berlin")) + "\n")
    flags = ["--decimal", ",", "--time-format", "%d/%m/%Y %H:%M", "--timezone", "Europe/Berlin"]
    result = runner.invoke(
        app, ["train", str(history), *flags, "--runs-dir", str(tmp_path), "--epochs", "1", "--json", "-q"]
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dropped_rows"] == {} and summary["filled"] == {}  # the repeated hour is not merged
    run = resolve_run("history", tmp_path)
    assert (run.data_config.decimal, run.data_config.time_format, run.data_config.timezone) == (
        ",",
        "%d/%m/%Y %H:%M",
        "Europe/Berlin",
    )
    model = export_onnx(run, tmp_path / "m.onnx").path
    new = tmp_path / "new.csv"
    later = start + timedelta(minutes=5 * 1000)
    new.write_text("timestamp;value\n" + "\n".join(local_rows(values[1000:], later, "Europe/Berlin")) + "\n")
    scores = tmp_path / "scores.csv"
    watched = runner.invoke(app, ["watch", str(new), "--model", str(model), "--scores-out", str(scores), "-q"])
    assert watched.exit_code in (0, 1), watched.stderr
    assert len(scores.read_text().splitlines()) == 1 + 400


def test_a_model_without_the_new_reading_settings_reads_as_before() -> None:
    old = {"duplicates": "last", "fill": "interpolate", "fill_limit": 3, "resample": None}
    cfg = from_dict(DataConfig, old)
    assert (cfg.decimal, cfg.time_format, cfg.timezone) == (".", None, None)


def test_a_day_first_format_found_at_train_is_kept_for_watch(tmp_path: Path) -> None:
    """Trained on dates a day above 12 tells apart; new rows from the 1st to the 12th read both ways: the
    model's format decides, so watch neither refuses them as ambiguous nor swaps day and month."""
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.runs import resolve_run

    values = cycle(900, seed=4)
    start = datetime(2024, 1, 10)
    stamp = [(start + timedelta(hours=i)).strftime("%d/%m/%Y %H:%M") for i in range(900)]
    history = tmp_path / "history.csv"
    history.write_text("timestamp,value\n" + "".join(f"{t},{v:.4f}\n" for t, v in zip(stamp[:700], values[:700, 0])))
    result = runner.invoke(app, ["train", str(history), "--runs-dir", str(tmp_path), "--epochs", "1", "-q"])
    assert result.exit_code == 0, result.stderr
    run = resolve_run("history", tmp_path)
    assert run.data_config.time_format == "%d/%m/%Y %H:%M"
    model = export_onnx(run, tmp_path / "m.onnx").path
    new = tmp_path / "new.csv"  # 8 Feb to 1 Mar 2024 10:00... every day of the first rows is 12 or less
    rows = [(t, v) for t, v in zip(stamp[700:], values[700:, 0]) if int(t[:2]) <= 12][:60]
    new.write_text("timestamp,value\n" + "".join(f"{t},{v:.4f}\n" for t, v in rows))
    scores = tmp_path / "scores.csv"
    watched = runner.invoke(app, ["watch", str(new), "--model", str(model), "--scores-out", str(scores), "-q"])
    assert watched.exit_code in (0, 1), watched.stderr
    assert scores.read_text().splitlines()[1].startswith(rows[0][0])
