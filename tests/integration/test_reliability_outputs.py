"""Outputs: nothing the user has is overwritten by accident, and what cannot be written is one line.

Devices, fifos, directories and links named as outputs; the source named as the scores file; a
new --state with a scores file it did not write; full disks and impossible paths in every command
that writes; crafted --state files (each refused with one line, the file left as it was).
"""

from __future__ import annotations

import base64
import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import cycle, write_csv
from tsrnn import fsutil
from tsrnn.streaming import engine, state
from tsrnn_cli.main import app

runner = CliRunner()


def run(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def one_line(result: Any, *fragments: str) -> str:
    """The run failed with exit 2 and one `tsrnn: error:` line holding every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsrnn: error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "new.csv", cycle(200, start_row=2000, seed=5))


def watch(data: Path, model: Path, *options: Any) -> Any:
    return run("watch", data, "--model", model, "--exit-zero", "--quiet", *options)


# 1. only regular files ----------------------------------------------------------------------------


def _special(tmp_path: Path, kind: str) -> tuple[Path, str]:
    path = tmp_path / kind
    if kind == "device":  # a null device of its own: a regression replaces it, not the machine's /dev/null
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("creating a device node needs root")
        return path, "a character device"
    if kind == "fifo":
        os.mkfifo(path)
        return path, "a fifo (named pipe)"
    path.mkdir()
    return path, "a directory"


@pytest.mark.parametrize("option", ["--scores-out", "--state"])
@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_a_device_fifo_or_directory_as_output_is_refused_and_left_alone(
    tmp_path: Path, data: Path, forecaster_onnx: Path, option: str, kind: str
) -> None:
    path, said = _special(tmp_path, kind)
    before = os.lstat(path)
    one_line(watch(data, forecaster_onnx, option, path), f"{option} {path} is {said}, not a regular file")
    after = os.lstat(path)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    assert not Path(f"{path}.lock").exists()


def test_scores_to_stdout_still_works(data: Path, forecaster_onnx: Path) -> None:
    result = watch(data, forecaster_onnx, "--scores-out", "-")
    assert result.exit_code == 0 and result.stdout.startswith("timestamp,value,expected,score")


# 2. the source is not the scores file -----------------------------------------------------------


def test_the_source_file_as_scores_out_is_refused(tmp_path: Path, data: Path, forecaster_onnx: Path) -> None:
    before = data.read_bytes()
    one_line(watch(data, forecaster_onnx, "--scores-out", data), "is the source file")
    (tmp_path / "again.csv").symlink_to(data)  # the same file by another name: refused as a link
    one_line(watch(tmp_path / "again.csv", forecaster_onnx, "--scores-out", data), "is the source file")
    hard = tmp_path / "hard.csv"
    os.link(data, hard)  # the same inode
    one_line(watch(data, forecaster_onnx, "--scores-out", hard), "is the source file")
    assert data.read_bytes() == before


def test_a_file_of_a_directory_or_glob_source_as_scores_out_is_refused(
    tmp_path: Path, data: Path, forecaster_onnx: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_csv(folder / "a.csv", cycle(100, start_row=2000, seed=6))
    before = (folder / "a.csv").read_bytes()
    one_line(watch(folder, forecaster_onnx, "--scores-out", folder / "a.csv"), "is the source file")
    one_line(watch(f"{folder}/*.csv", forecaster_onnx, "--scores-out", folder / "a.csv"), "is the source file")
    one_line(watch(folder, forecaster_onnx, "--scores-out", folder / "scores.csv"), "would be read as input")
    assert (folder / "a.csv").read_bytes() == before and not (folder / "scores.csv").exists()
    assert watch(folder, forecaster_onnx, "--scores-out", tmp_path / "scores.csv").exit_code == 0


# 3. links ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--scores-out", "--state"])
def test_a_link_planted_as_output_is_refused_and_its_target_untouched(
    tmp_path: Path, data: Path, forecaster_onnx: Path, option: str
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "out"
    link.symlink_to(victim)
    one_line(watch(data, forecaster_onnx, option, link), f"{link} is a symbolic link to {victim}")
    assert victim.read_text() == "precious\n" and link.is_symlink()


def test_a_link_planted_at_the_old_predictable_temporary_name_is_not_followed(
    tmp_path: Path, data: Path, forecaster_onnx: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / f".scores.csv.{os.getpid()}.tmp").symlink_to(victim)  # CliRunner runs in this process
    assert watch(data, forecaster_onnx, "--scores-out", tmp_path / "scores.csv").exit_code == 0
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "scores.csv").read_text().startswith("timestamp,")


# 4. a new state does not cut a scores file it did not write --------------------------------------


def test_a_new_state_refuses_a_scores_file_that_already_holds_rows(
    tmp_path: Path, data: Path, forecaster_onnx: Path
) -> None:
    scores, saved = tmp_path / "scores.csv", tmp_path / "s.json"
    scores.write_text("timestamp,value\n2024-01-01,1\n")
    one_line(
        watch(data, forecaster_onnx, "--state", saved, "--scores-out", scores),
        f"{scores} already holds 29 bytes of scores and --state {saved} is new",
        "give the --state that wrote it",
    )
    assert scores.read_text() == "timestamp,value\n2024-01-01,1\n" and not saved.exists()
    assert watch(data, forecaster_onnx, "--state", saved).exit_code == 0  # a state without scores ...
    one_line(watch(data, forecaster_onnx, "--state", saved, "--scores-out", scores), "has no record of it")  # ...
    assert scores.read_text() == "timestamp,value\n2024-01-01,1\n"


def test_a_first_run_that_fails_before_its_commit_is_cut_back_by_the_next(
    tmp_path: Path, data: Path, forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new state claims the scores file before writing rows: a rerun is not refused and writes each row once."""
    assert watch(data, forecaster_onnx, "--scores-out", tmp_path / "ref.csv").exit_code == 0
    scores, saved = tmp_path / "scores.csv", tmp_path / "s.json"
    with monkeypatch.context() as mp:

        def fail(path: Path, st: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        mp.setattr(engine, "save_state", fail)  # the commit after the rows fails
        one_line(watch(data, forecaster_onnx, "--state", saved, "--scores-out", scores), "the disk is full")
    assert scores.stat().st_size > 0 and saved.exists()
    assert watch(data, forecaster_onnx, "--state", saved, "--scores-out", scores).exit_code == 0
    assert scores.read_bytes() == (tmp_path / "ref.csv").read_bytes()


# 5. what cannot be written: one line, every command ----------------------------------------------


@pytest.fixture
def afile(tmp_path: Path) -> Path:
    path = tmp_path / "afile"
    path.write_text("not a directory\n")
    return path


def test_train_with_runs_dir_a_file(afile: Path, history_csv: Path) -> None:
    one_line(run("train", history_csv, "--runs-dir", afile, "--epochs", "1", "--quiet"), str(afile))
    assert afile.read_text() == "not a directory\n"


def test_export_forecast_report_out_under_a_file(afile: Path, workdir: Path, forecaster_onnx: Path) -> None:
    runs = workdir / "runs"
    one_line(run("export", "fc", "--runs-dir", runs, "--out", afile / "m.onnx", "--quiet"), f"{afile}/m.onnx")
    one_line(run("export", "fc", "--runs-dir", runs, "--out", "/proc/m.onnx", "--quiet"), "/proc/m.onnx")
    history = workdir / "history.csv"
    one_line(
        run("forecast", "fc", history, "--runs-dir", runs, "--out", afile / "f.csv", "--quiet"),
        f"{afile}/f.csv",
        "a parent of it is a file",
    )
    one_line(run("report", "fc", "--runs-dir", runs, "--out", afile / "r.svg", "--quiet"), f"{afile}/r.svg")
    (afile.parent / "r.svg").mkdir()
    one_line(run("report", "fc", "--runs-dir", runs, "--out", afile.parent / "r.svg", "--quiet"), "is a directory")


@pytest.mark.parametrize("option", ["--scores-out", "--state"])
def test_watch_output_under_a_file(afile: Path, data: Path, forecaster_onnx: Path, option: str) -> None:
    one_line(watch(data, forecaster_onnx, option, afile / "x"), f"{afile}/x", "a parent of it is a file")


@pytest.mark.parametrize("where", ["scores", "state"])
def test_watch_disk_full_is_one_line_and_loses_nothing(
    tmp_path: Path, data: Path, forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    scores, saved = tmp_path / "scores.csv", tmp_path / "s.json"
    assert watch(data, forecaster_onnx, "--state", saved, "--scores-out", scores).exit_code == 0
    with data.open("a") as f:
        f.write("2024-01-08 00:00:00,50.0\n")
    before = {p.name: p.read_bytes() for p in (scores, saved)}
    real_fsync = os.fsync

    def full(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if (where == "scores" and name == str(scores)) or (where == "state" and ".s.json." in name):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(fsutil.os, "fsync", full)
    shown = scores if where == "scores" else saved
    one_line(watch(data, forecaster_onnx, "--state", saved, "--scores-out", scores), f"{shown}: No space left")
    assert saved.read_bytes() == before["s.json"]  # the state still says where the last good run ended
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "s.json", "s.json.lock", "scores.csv"]


def test_watch_without_state_disk_full_keeps_the_old_scores(
    tmp_path: Path, data: Path, forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores = tmp_path / "scores.csv"
    scores.write_text("old\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil.os, "fsync", full)
    one_line(watch(data, forecaster_onnx, "--scores-out", scores), f"--scores-out {scores}: No space left")
    assert scores.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "scores.csv"]


def test_an_os_error_nobody_expected_is_still_one_line(
    tmp_path: Path, data: Path, forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EIO, "Input/output error", "/somewhere/file")

    monkeypatch.setattr(engine, "watch", broken)
    monkeypatch.setattr("tsrnn.streaming.engine.open_job", broken)
    one_line(watch(data, forecaster_onnx), "/somewhere/file: Input/output error")


# 6. crafted state files -------------------------------------------------------------------------


def _b64(values: bytes) -> str:
    return base64.b64encode(values).decode()


def _series(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["series"][""]


def _shape(doc: dict[str, Any]) -> None:
    h = _series(doc)["arrays"]["h"]
    layers, _, hidden = h["shape"]
    h["shape"] = [layers, 2, hidden // 2]  # as many values, another shape


CRAFTED = {
    # id: (change to a real state, fragment of the message)
    "h of another shape": (_shape, "arrays.h: shape [2, 2, "),
    "an array missing": (lambda d: _series(d)["arrays"].pop("c"), "the model carries"),
    "an array too short": (lambda d: _series(d)["arrays"]["h"].update(f4=_b64(b"\0" * 8)), "arrays.h: 8 bytes"),
    "not base64": (lambda d: _series(d)["arrays"]["h"].update(f4="@@@@"), "not base64"),
    "text for a count": (lambda d: _series(d).update(rows_seen="12"), "rows_seen: '12' is not a whole number"),
    "a negative offset": (
        lambda d: next(iter(d["cursors"].values())).update(offset=-5),
        "offset: -5 is not a whole number",
    ),
    "NaN level": (lambda d: _series(d)["detector"]["threshold"].update(level=float("nan")), "level: nan"),
    "infinite scale": (
        lambda d: _series(d)["detector"]["scales"]["forecast"][0].update(scale=float("inf")),
        "scale: inf is not a finite number",
    ),
    "unknown method": (lambda d: _series(d)["detector"]["threshold"].update(method="x"), "'x' is not one of"),
    "a list for the method": (  # found by the long property search: a TypeError before
        lambda d: _series(d)["detector"]["threshold"].update(method=[]),
        "[] is not one of",
    ),
    "unknown top key": (lambda d: d.update(extra=1), "unknown key 'extra'"),
    "unknown series key": (lambda d: _series(d).update(evil=[0] * 100), "unknown key 'evil'"),
    "last values of 3 columns": (lambda d: _series(d).update(last_values=[1.0, 2.0, 3.0]), "last_values"),
    "two series for a one-series model": (
        lambda d: d["series"].update(other=d["series"][""]),
        "2 series (a model without an id column has one)",
    ),
    "novelty memory of another size": (
        lambda d: _series(d)["detector"]["novelty"].update(memory=10**6),
        "novelty.ring:",
    ),
    "incident of other columns": (
        lambda d: _series(d)["detector"].update(
            incident={"active": [5], "quiet": [0], "rows": 1, "held": [0], "low": "", "high": ""}
        ),
        "incident.active",
    ),
}


@pytest.fixture
def real_state(tmp_path: Path, data: Path, forecaster_onnx: Path) -> Path:
    saved = tmp_path / "s.json"
    assert watch(data, forecaster_onnx, "--state", saved).exit_code == 0
    doc = json.loads(saved.read_text())
    assert list(doc["series"]) == [""] and _series(doc)["detector"]["novelty"] is not None
    return saved


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_state_is_refused_in_one_line_and_left_unchanged(
    real_state: Path, data: Path, forecaster_onnx: Path, case: str
) -> None:
    change, fragment = CRAFTED[case]
    doc = json.loads(real_state.read_text())
    change(doc)
    real_state.write_text(json.dumps(doc))
    before = real_state.read_bytes()
    line = one_line(watch(data, forecaster_onnx, "--state", real_state), str(real_state), fragment)
    assert "delete it to start over" in line
    assert real_state.read_bytes() == before


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "tsrnn-watch-state", "series": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"format": "tsrnn-watch-state", "version": ' + "9" * 5000 + "}",
    ],
    ids=["nested 100,000 deep", "an integer of 5,000 digits"],
)
def test_a_state_the_json_parser_chokes_on_is_one_line(
    tmp_path: Path, data: Path, forecaster_onnx: Path, text: str
) -> None:
    saved = tmp_path / "s.json"
    saved.write_text(text)
    one_line(watch(data, forecaster_onnx, "--state", saved), f"{saved}: the state file is damaged")
    assert saved.read_text() == text


def test_a_state_over_the_size_limit_is_refused_before_it_is_parsed(
    real_state: Path, data: Path, forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "MAX_STATE_BYTES", real_state.stat().st_size - 1)
    before = real_state.read_bytes()
    one_line(watch(data, forecaster_onnx, "--state", real_state), str(real_state), "larger than")
    assert real_state.read_bytes() == before
    monkeypatch.setattr(state, "MAX_STATE_BYTES", real_state.stat().st_size)
    assert watch(data, forecaster_onnx, "--state", real_state).exit_code == 0  # exactly the limit: read


def test_many_series_are_refused_by_count_before_their_content() -> None:
    from tsrnn.streaming.statecheck import MAX_SERIES, Invalid, StateModel, check_document

    doc = {"format": "", "version": 5, "model": "", "source": "", "cursors": {}, "outputs": {}}
    model = StateModel({"h": (1, 1, 4)}, 1, many=True)
    doc["series"] = {str(i): {} for i in range(MAX_SERIES + 1)}
    with pytest.raises(Invalid, match=f"{MAX_SERIES + 1:,} series"):
        check_document(doc, model)


def test_a_link_planted_as_a_runs_training_lock_is_refused(tmp_path: Path, history_csv: Path) -> None:
    """train opens RUN/training.lock with O_CREAT: through a planted link it would create any file."""
    run_dir = tmp_path / "runs" / "history"
    run_dir.mkdir(parents=True)
    target = tmp_path / "elsewhere" / "made-by-tsrnn"
    target.parent.mkdir()
    (run_dir / "training.lock").symlink_to(target)
    one_line(run("train", history_csv, "--runs-dir", tmp_path / "runs", "--epochs", "1", "--quiet"), "symbolic link")
    assert not target.exists()


@pytest.mark.parametrize(
    ("state", "scores"), [("same.x", "same.x"), (None, "MODEL"), ("MODEL", None)], ids=["state", "model", "model-state"]
)
def test_an_output_that_is_also_the_model_or_the_state_is_refused(
    tmp_path: Path, data: Path, forecaster_onnx: Path, state: str | None, scores: str | None
) -> None:
    """Found trying the CLI as a user: a state written over the scores file lost every row; scores over the model."""
    model = tmp_path / "m.onnx"
    model.write_bytes(forecaster_onnx.read_bytes())
    args: list[Any] = []
    for flag, name in (("--state", state), ("--scores-out", scores)):
        if name is not None:
            args += [flag, model if name == "MODEL" else tmp_path / name]
    one_line(watch(data, model, *args), "is also the", "name another file")
    assert model.read_bytes() == forecaster_onnx.read_bytes() and not (tmp_path / "same.x").exists()


def test_forecast_refuses_to_write_over_its_own_data(tmp_path: Path, workdir: Path, forecaster_onnx: Path) -> None:
    """Found trying the CLI as a user: `forecast RUN data.csv --out data.csv` replaced the data with the forecast."""
    data = tmp_path / "data.csv"
    data.write_bytes((workdir / "history.csv").read_bytes())
    before = data.read_bytes()
    one_line(run("forecast", "fc", data, "--runs-dir", workdir / "runs", "--out", data), "is the data file")
    assert data.read_bytes() == before
