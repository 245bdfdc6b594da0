"""Every kind of bad input the reader knows: exit code 2, one line on stderr naming the file, no traceback.

Driven through the command line, as a user meets them: `tsrnn train FILE` (and `watch` for a file
whose columns differ from the model's).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tsrnn_cli.main import app

runner = CliRunner()
OK_ROWS = "".join(f"2024-01-01 00:{m:02d}:00,{m % 7}\n" for m in range(60))

CASES = [
    # (id, file bytes, extra options, fragments the one line must hold)
    ("empty file", b"", [], ["the file is empty"]),
    ("header only", b"timestamp,value\n", [], ["header but no rows"]),
    ("no time column", b"a,b\n1,2\n3,4\n", [], ["no time column found", "--time-column"]),
    (
        "unparseable timestamp",
        ("timestamp,value\n" + OK_ROWS + "yesterday,2\n").encode(),
        [],
        ["line 62", "'yesterday'"],
    ),
    ("empty timestamp", ("timestamp,value\n" + OK_ROWS + ",2\n").encode(), [], ["line 62", "empty timestamp"]),
    (
        "no numeric column",
        b"timestamp,name\n2024-01-01 00:00:00,x\n2024-01-01 00:01:00,y\n",
        [],
        ["no numeric value column"],
    ),
    (
        "requested column missing",
        ("timestamp,value\n" + OK_ROWS).encode(),
        ["--columns", "cpu"],
        ["column 'cpu' not found", "the file has timestamp, value"],
    ),
    (
        "requested time column missing",
        ("timestamp,value\n" + OK_ROWS).encode(),
        ["--time-column", "when"],
        ["time column 'when' not found"],
    ),
    (
        "id column missing",
        ("timestamp,value\n" + OK_ROWS).encode(),
        ["--id-column", "host"],
        ["id column 'host' not found"],
    ),
    (
        "all values missing",
        ("timestamp,value\n" + "".join(f"2024-01-01 00:{m:02d}:00,\n" for m in range(60))).encode(),
        [],
        ["every value is missing"],
    ),
    ("inf value", ("timestamp,value\n" + OK_ROWS + "2024-01-01 01:00:00,inf\n").encode(), [], ["line 62", "infinite"]),
    (
        "text in a numeric column",
        ("timestamp,value\n" + OK_ROWS + "2024-01-01 01:00:00,12a\n").encode(),
        [],
        ["line 62", "'12a' is not a number"],
    ),
    (
        "wrong delimiter",
        ("timestamp|value\n" + OK_ROWS.replace(",", "|")).encode(),
        [],
        ["single column", "tried delimiters"],
    ),
    (
        "non-UTF-8 bytes",
        ("timestamp,value\n" + OK_ROWS).encode() + b"2024-01-01 01:00:00,1\xe9\n",
        [],
        ["line 62", "not UTF-8"],
    ),
    ("binary file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), [], ["binary file"]),
    (
        "repeated column name",
        ("timestamp,value,value\n" + OK_ROWS.replace("\n", ",1\n")).encode(),
        [],
        ["names 'value' more than once"],
    ),
    (
        "ragged rows",
        ("timestamp,value\n" + OK_ROWS + "2024-01-01 01:00:00,1,9\n").encode(),
        [],
        ["could not read as CSV", "2 columns"],
    ),
    (
        "duplicates as errors",
        ("timestamp,value\n" + OK_ROWS + OK_ROWS[:22]).encode(),
        ["--duplicates", "error"],
        ["same timestamp", "--duplicates last"],
    ),
    ("bad fill policy", ("timestamp,value\n" + OK_ROWS).encode(), ["--fill", "guess"], ["--fill 'guess'"]),
    ("bad resample", ("timestamp,value\n" + OK_ROWS).encode(), ["--resample", "5 parsecs"], ["--resample '5 parsecs'"]),
    ("too few rows", b"timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,2\n", [], ["too few to train"]),
    ("missing file", None, [], ["no such file"]),
    ("empty directory", "dir", [], ["holds no .csv files"]),
    ("glob without matches", "glob", [], ["matches no file"]),
]


@pytest.mark.parametrize(("content", "options", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_to_train(
    tmp_path: Path, content: bytes | str | None, options: list[str], fragments: list[str]
) -> None:
    path = tmp_path / "data.csv"
    if content == "dir":
        path = tmp_path / "empty"
        path.mkdir()
    elif content == "glob":
        path = tmp_path / "nothing-*.csv"
    elif content is not None:
        path.write_bytes(content)
    result = runner.invoke(
        app, ["train", str(path), "--runs-dir", str(tmp_path / "runs"), "--epochs", "1", "--quiet", *options]
    )
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsrnn: error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    if not fragments[0].startswith("--"):  # a problem with the data (not an option) names the file
        assert str(path).replace("nothing-*.csv", "") in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_a_constant_series_is_handled_and_the_summary_says_so(tmp_path: Path) -> None:
    path = tmp_path / "flat.csv"
    path.write_text("timestamp,value\n" + "".join(f"2024-01-01 00:{m:02d}:00,5\n" for m in range(60)))
    result = runner.invoke(app, ["train", str(path), "--runs-dir", str(tmp_path), "--epochs", "2", "--json", "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert any("constant" in n and "any change" in n for n in json.loads(result.stdout)["notes"])


def test_unusable_rows_are_counted_and_the_command_goes_on(tmp_path: Path) -> None:
    rows = OK_ROWS + "\n" + "2024-01-01 00:30:00,3\n" + "2024-01-01 01:00:00,\n" + "2024-01-01 01:01:00,1\n"
    path = tmp_path / "messy.csv"
    path.write_text("timestamp,value\n" + rows)
    result = runner.invoke(app, ["train", str(path), "--runs-dir", str(tmp_path), "--epochs", "1", "--json", "--quiet"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dropped_rows"] == {"blank line": 1, "duplicate timestamp (kept the last)": 1}
    assert summary["filled"] == {"rows with missing values filled (interpolate)": 1}


def test_a_failing_train_prints_its_error_line_alone(tmp_path: Path) -> None:
    """The progress bar starts with the first epoch: before, a failure printed an empty line first."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "tsrnn", "train", str(tmp_path / "missing.csv"), "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("tsrnn: error: ") and result.stderr.count("\n") == 1, repr(result.stderr)
