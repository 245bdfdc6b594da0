"""Hostile text on the terminal and in the CSV files tsrnn writes, byte-equal forecast output, help as written.

A model trained on a CSV whose id column, value column, series ids, file names and paths hold
escape sequences (`ESC ] 0 ; ... BEL` retitles a terminal window, `ESC [ 2 J` clears the screen),
carriage returns, backspaces, and cells a spreadsheet would run as formulas (`=1+1`, `-h...`, `@x`).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from tests.helpers import cycle, stamps
from tsrnn.safetext import formula_safe, formula_unquoted, printable
from tsrnn_cli.main import app
from tsrnn_cli.options import to_json

TITLE = "\x1b]0;pwned\x07"  # an OSC sequence: sets the terminal's window title
IDS = ["=1+1", f"-h{TITLE}", "@x\r\x08y"]
ID_COLUMN, VALUE_COLUMN = "ho\x1b[2Jst", f"=cpu{TITLE}"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what must never reach a terminal (tab and newline may)

runner = CliRunner()


def _write(path: Path, start: int, rows: int, spike_row: int | None = None, ids: list[str] = IDS) -> Path:
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["timestamp", ID_COLUMN, VALUE_COLUMN])
        for k, sid in enumerate(ids):
            values = cycle(rows, start_row=start, seed=k)[:, 0] - 100.0  # negative numbers: never quoted
            if spike_row is not None and k == 1:
                values[spike_row] += 60.0
            out.writerows([ts, sid, f"{v:.4f}"] for ts, v in zip(stamps(rows, start), values))
    return path


def _cli(args: list[str], code: int = 0) -> SimpleNamespace:
    result = runner.invoke(app, args)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    text = result.stdout + result.stderr
    return SimpleNamespace(text=text, stdout=result.stdout_bytes, stderr=result.stderr)


def _clean(text: str) -> None:
    """No control character reaches the terminal (the escapes are shown instead)."""
    found = RAW.findall(text)
    assert not found, f"raw control characters {found!r} in {text!r}"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("hostile")
    history = _write(d / f"hostile{TITLE}.csv", 0, 600)
    runs = d / f"runs{TITLE}"
    trained = _cli(["train", str(history), "--id-column", ID_COLUMN, "--epochs", "2", "--runs-dir", str(runs)])
    (run,) = runs.iterdir()
    model = d / f"m{TITLE}.onnx"
    exported = _cli(["export", str(run), "--out", str(model)])
    return SimpleNamespace(dir=d, history=history, run=run, model=model, trained=trained, exported=exported)


def test_train_and_export_summaries_show_escapes_not_control_characters(hostile: SimpleNamespace) -> None:
    for shown in (hostile.trained.text, hostile.exported.text):
        _clean(shown)
        assert "\\x1b]0;pwned\\x07" in shown  # the runs directory and the model file, as named


def test_info_shows_edited_metadata_escaped(hostile: SimpleNamespace, tmp_path: Path) -> None:
    import onnx

    proto = onnx.load(str(hostile.model))
    for prop in proto.metadata_props:
        if prop.key == "run_name":
            prop.value = f"evil{TITLE}\x1b[2J\r\x08\x9b31m"
    edited = tmp_path / "edited.onnx"
    onnx.save(proto, str(edited))
    shown = _cli(["info", str(edited)]).text
    _clean(shown)
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\r\\x08\\x9b31m" in shown
    assert "ho\\x1b[2Jst" in shown  # the id column, from the training file
    doc = json.loads(_cli(["info", str(edited), "--json"]).stdout)  # JSON keeps the value, escaped the JSON way
    assert doc["metadata"]["run_name"] == f"evil{TITLE}\x1b[2J\r\x08\x9b31m"


def test_error_messages_show_escapes(tmp_path: Path) -> None:
    result = _cli(["info", str(tmp_path / f"no{TITLE}.onnx")], code=2)
    _clean(result.text)
    assert result.stderr.startswith("tsrnn: error: ") and "no\\x1b]0;pwned\\x07.onnx" in result.stderr


def test_watch_report_and_evaluate_show_escapes(hostile: SimpleNamespace, tmp_path: Path) -> None:
    new = _write(tmp_path / "new.csv", 600, 300, spike_row=200)
    scores = tmp_path / "scores.csv"
    watched = _cli(["watch", str(new), "--model", str(hostile.model), "--scores-out", str(scores)], code=1)
    _clean(watched.text)
    assert "-h\\x1b]" in watched.text and "\\x07" in watched.text  # the events table names the series (folded)
    labels = tmp_path / "labels.json"
    start = stamps(1, 800)[0]
    labels.write_text(json.dumps({IDS[1]: [[start, stamps(1, 810)[0]]]}))
    shown = _cli(["evaluate", str(scores), "--labels", str(labels)]).text
    _clean(shown)
    assert "@x\\r\\x08y" in shown  # an unmatched series, named
    doc = json.loads(_cli(["evaluate", str(scores), "--labels", str(labels), "--json"]).stdout)
    # the scores file's quoted ids are read back as they were: the labels of IDS[1] are matched
    assert doc["windows"] == 1 and f"scores.csv:{IDS[1]}" not in doc["unmatched"]
    assert sorted(doc["unmatched"]) == sorted(f"scores.csv:{s}" for s in (IDS[0], IDS[2]))


def test_scores_file_quotes_formula_cells_not_numbers(hostile: SimpleNamespace, tmp_path: Path) -> None:
    new = _write(tmp_path / "new.csv", 600, 200)
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    _cli(["watch", str(new), "--model", str(hostile.model), "--scores-out", str(safe), "-q"])
    _cli(["watch", str(new), "--model", str(hostile.model), "--scores-out", str(raw), "--raw-csv", "-q"])
    header = safe.read_bytes().split(b"\n", 1)[0].decode()
    assert header.split(",")[:3] == ["timestamp", ID_COLUMN, "'" + VALUE_COLUMN]
    written = pl.read_csv(safe, infer_schema_length=0)
    ids = set(written[ID_COLUMN].to_list())
    assert ids == {"'=1+1", f"'-h{TITLE}", "'@x\r\x08y"}
    values = written["'" + VALUE_COLUMN].cast(pl.Float64)
    assert (values < 0).all()  # negative numbers written as numbers: -41.17, not '-41.17
    for column in written.columns:  # no cell a spreadsheet would run
        cells = written[column].drop_nulls()
        text = cells.filter(cells.cast(pl.Float64, strict=False).is_null())
        assert not text.str.contains(r"^[=+\-@\t\r\n]").any(), column
    as_read = pl.read_csv(raw, infer_schema_length=0)
    assert set(as_read[ID_COLUMN].to_list()) == set(IDS) and as_read.columns[2] == VALUE_COLUMN
    from tsrnn.safetext import formula_unquoted_frame

    assert formula_unquoted_frame(written).equals(as_read)  # the quotes are all that differs, and reversible


def test_a_resumed_watch_writes_the_same_quoted_bytes(hostile: SimpleNamespace, tmp_path: Path) -> None:
    whole = _write(tmp_path / "whole.csv", 600, 200, ids=IDS[:1])  # one series: its rows in file order
    lines = whole.read_bytes().split(b"\n")  # not splitlines: a quoted id holds a carriage return
    growing = tmp_path / "growing.csv"
    once, twice = tmp_path / "once.csv", tmp_path / "twice.csv"
    base = ["--model", str(hostile.model), "-q"]
    _cli(["watch", str(whole), *base, "--state", str(tmp_path / "a.state"), "--scores-out", str(once)])
    cut = 1 + 120  # the header and 120 rows: the rest comes later
    growing.write_bytes(b"\n".join(lines[:cut]) + b"\n")
    for _ in range(2):
        _cli(["watch", str(growing), *base, "--state", str(tmp_path / "b.state"), "--scores-out", str(twice)])
        growing.write_bytes(b"\n".join(lines))
    assert b",'=1+1," in once.read_bytes()
    assert once.read_bytes() == twice.read_bytes()


def test_forecast_writes_the_same_bytes_to_stdout_and_out(hostile: SimpleNamespace, tmp_path: Path) -> None:
    out = tmp_path / "next.csv"
    args = ["forecast", str(hostile.run), str(hostile.history), "--steps", "3"]
    to_stdout = _cli(args).stdout
    _cli([*args, "--out", str(out)])
    assert to_stdout == out.read_bytes()
    assert to_stdout.split(b"\n", 1)[0].decode() == f"timestamp,{ID_COLUMN},step,'{VALUE_COLUMN}"
    rows = pl.read_csv(out, infer_schema_length=0)
    assert set(rows[ID_COLUMN].to_list()) == {"'=1+1", f"'-h{TITLE}", "'@x\r\x08y"}
    assert (rows["'" + VALUE_COLUMN].cast(pl.Float64) < 0).all()  # numbers stay numbers
    raw = _cli([*args, "--raw-csv"]).stdout
    assert pl.read_csv(raw, infer_schema_length=0)[ID_COLUMN].unique().sort().to_list() == sorted(IDS)


HELP_COMMANDS = [None, "train", "watch", "export", "evaluate", "report", "forecast", "info"]
SURE = {
    None: {"[plot]"},
    "train": {"[train]", "[data]", "[model]", "[default: 64]"},
    "watch": {"[default: ~/.cache/tsrnn/tensorrt]"},
}


@pytest.mark.parametrize("name", HELP_COMMANDS, ids=[n or "tsrnn" for n in HELP_COMMANDS])
def test_help_shows_every_bracketed_text(name: str | None) -> None:
    group = get_command(app)
    command = group if name is None else group.commands[name]  # type: ignore[attr-defined]
    texts = [command.help, command.epilog, *(getattr(p, "help", None) for p in command.params)]
    if name is None:
        texts += [c.help for c in group.commands.values()]  # type: ignore[attr-defined]
    wanted = {" ".join(b.split()) for t in texts if t for b in re.findall(r"\[[^\[\]]*\]", t)}
    assert SURE.get(name, set()) <= wanted  # the test collects what it should
    shown = runner.invoke(app, [*([name] if name else []), "--help"], terminal_width=200).stdout
    flat = " ".join(re.sub("[│╭╮╰╯─]", " ", shown).split())
    assert [b for b in sorted(wanted) if b not in flat] == []


def test_printable_and_formula_rules() -> None:
    assert (
        printable(f"a{TITLE}\x1b[2J\r\x08\x9b\u202eb\tc\n") == "a\\x1b]0;pwned\\x07\\x1b[2J\\r\\x08\\x9b\\u202eb\tc\n"
    )
    assert printable(printable("\x1b")) == printable("\x1b")
    for cell in ["=1+1", "+1", "-x", "@x", "\tx", "\rx", "\nx", "'=x", "''-x", "'x", "x=1", "", "ok"]:
        assert formula_unquoted(formula_safe(cell)) == cell
        assert not re.match(r"[=+\-@\t\r\n]", formula_safe(cell))
    assert formula_safe("'x") == "'x" and formula_safe("x") == "x" and formula_safe("=1") == "'=1"
    assert json.loads(to_json({"a": "\x9b31m"})) == {"a": "\x9b31m"} and "\x9b" not in to_json({"a": "\x9b"})
    frame = pl.DataFrame({"-v": [-3.5, 2.0], "id": ["-3.5", "a"]})
    from tsrnn.safetext import formula_safe_frame

    quoted = formula_safe_frame(frame)
    assert quoted.columns == ["'-v", "id"] and quoted["'-v"].to_list() == [-3.5, 2.0]
    assert quoted["id"].to_list() == ["'-3.5", "a"]  # a text cell, even one that looks like a number
    assert np.array_equal(quoted["'-v"].to_numpy(), frame["-v"].to_numpy())
