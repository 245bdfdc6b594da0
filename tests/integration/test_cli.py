"""The command line as a user drives it (Typer's CliRunner): help, JSON, exit codes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import cycle, write_csv
from tsrnn_cli.main import app

runner = CliRunner()
COMMANDS = sorted(c.name for c in app.registered_commands)


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsrnn: error: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_the_contract_commands_exist() -> None:
    assert {"train", "export", "watch", "info"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and len(result.output) > 200


def test_root_help_and_version() -> None:
    assert invoke().exit_code == 0 and "watch" in invoke().output
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("tsrnn ")


def test_train_export_info_watch_with_json(tmp_path: Path, history_csv: Path) -> None:
    trained = invoke(
        "train", history_csv, "--name", "h", "--runs-dir", tmp_path / "runs", "--epochs", "3", "--json", "--quiet"
    )
    assert trained.exit_code == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["epochs_run"] == 3 and summary["rows_train"] == 1600 and summary["parameters"] > 0
    assert (tmp_path / "runs" / "h" / "run.json").exists() and (tmp_path / "runs" / "h" / "weights.pt").exists()

    out = tmp_path / "h.onnx"
    exported = invoke("export", "--runs-dir", tmp_path / "runs", "--out", out, "--json")  # the newest run
    assert exported.exit_code == 0, exported.stderr
    doc = json.loads(exported.stdout)
    assert doc["path"] == str(out) and out.stat().st_size == doc["bytes"] and max(doc["parity"].values()) < 1e-4

    info = invoke("info", out, "--json")
    assert info.exit_code == 0
    meta = json.loads(info.stdout)["metadata"]
    assert meta["run_name"] == "h" and meta["value_columns"] == ["value"] and meta["interval_seconds"] == "300.0"

    new = write_csv(tmp_path / "new.csv", cycle(300, start_row=2000, seed=5), start_row=2000)
    watched = invoke("watch", new, "--model", out, "--json", "--exit-zero")
    assert watched.exit_code == 0, watched.stderr
    report = json.loads(watched.stdout)
    assert report["rows_scored"] == 300 and report["provider"] == "CPUExecutionProvider"
    assert report["warmup_rows"] == 0  # the novelty and range channels start from the history: every row has a score


def test_human_report_goes_to_stderr_when_stdout_is_not_a_terminal(tmp_path: Path, forecaster_onnx: Path) -> None:
    new = write_csv(tmp_path / "new.csv", cycle(200, start_row=2000, seed=5), start_row=2000)
    result = invoke("watch", new, "--model", forecaster_onnx)
    assert result.stdout == "" and "tsrnn watch" in result.stderr and "CPUExecutionProvider" in result.stderr


def test_scores_out_to_stdout_is_pure_csv(tmp_path: Path, forecaster_onnx: Path) -> None:
    new = write_csv(tmp_path / "new.csv", cycle(100, start_row=2000, seed=5), start_row=2000)
    result = invoke("watch", new, "--model", forecaster_onnx, "--scores-out", "-", "--exit-zero")
    lines = result.stdout.splitlines()
    assert lines[0] == "timestamp,value,expected,score,alert_score,anomaly,alert" and len(lines) == 101


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "{missing}"], ["no such file"]),
        (["train", "{history}", "--model", "transformer"], ["unknown kind 'transformer' for --model"]),
        (["train", "{history}", "--epochs", "0"], ["--epochs must be at least 1"]),
        (["train", "{history}", "--bogus"], ["No such option", "tsrnn train --help"]),
        (["export", "nope", "--runs-dir", "{tmp}"], ["run 'nope' not found"]),
        (["watch", "{history}"], ["--model"]),
        (["watch", "{history}", "--model", "{missing}"], ["no such model file"]),
        (["watch", "{history}", "--model", "{history}"], ["not an ONNX model"]),
        (["watch", "{history}", "--model", "{onnx}", "--json", "--scores-out", "-"], ["both write to stdout"]),
        (["watch", "{history}", "--model", "{onnx}", "--provider", "cuda", "--strict-provider"], ["not available"]),
        (["watch", "{other}", "--model", "{onnx}"], ["column 'value' not found", "trained on time column 'timestamp'"]),
        (["info", "{history}"], ["not an ONNX model"]),
    ],
)
def test_bad_usage_and_input_give_one_line_and_exit_2(
    tmp_path: Path, history_csv: Path, forecaster_onnx: Path, args: list[str], fragments: list[str]
) -> None:
    other = tmp_path / "other.csv"
    other.write_text("timestamp,cpu\n2024-01-01 00:00:00,1\n")
    subs = {
        "{missing}": str(tmp_path / "missing.csv"),
        "{history}": str(history_csv),
        "{tmp}": str(tmp_path),
        "{onnx}": str(forecaster_onnx),
        "{other}": str(other),
    }
    assert_one_line_error(invoke(*[subs.get(a, a) for a in args]), *fragments)


def test_run_names_cannot_escape_the_runs_directory(tmp_path: Path, history_csv: Path) -> None:
    result = invoke("train", history_csv, "--name", "../evil", "--runs-dir", tmp_path / "runs")
    assert_one_line_error(result, "run name '../evil'")
    assert not (tmp_path / "evil").exists()


def test_export_out_may_be_a_directory(tmp_path: Path, history_csv: Path) -> None:
    assert (
        invoke("train", history_csv, "--name", "d", "--runs-dir", tmp_path, "--epochs", "1", "--quiet").exit_code == 0
    )
    (tmp_path / "models").mkdir()
    assert invoke("export", "d", "--runs-dir", tmp_path, "--out", tmp_path / "models", "--quiet").exit_code == 0
    assert (tmp_path / "models" / "d.onnx").is_file()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_quiet(command: str) -> None:
    assert "--quiet" in invoke(command, "--help").output


def test_a_usage_error_says_tsrnn_error_once() -> None:
    """It printed `tsrnn: error: tsrnn: No such option`."""
    result = invoke("--bogus")
    assert_one_line_error(result, "No such option")
    assert result.stderr.count("tsrnn:") == 1, result.stderr


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in invoke("--help").output


def test_info_redirected_to_a_file_writes_the_report_there(forecaster_onnx: Path, tmp_path: Path) -> None:
    """`tsrnn info m.onnx > f` left f empty: the report went to stderr whenever stdout was not a terminal."""
    import subprocess
    import sys

    out = tmp_path / "info.txt"
    with out.open("w") as stdout:
        code = subprocess.run(
            [sys.executable, "-m", "tsrnn", "info", str(forecaster_onnx)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    text = out.read_text()
    assert code.returncode == 0 and code.stderr == "" and "value" in text and "error" in text
    assert all(line == line.rstrip() for line in text.splitlines()) and "\x1b[" not in text  # no padding, no colour


def test_verbose_logs_the_file_rows_provider_and_timings(forecaster_onnx: Path, history_csv: Path) -> None:
    import subprocess
    import sys

    for args in (["--verbose", "watch", str(history_csv)], ["watch", str(history_csv), "--verbose"]):
        result = subprocess.run(
            [sys.executable, "-m", "tsrnn", *args, "--model", str(forecaster_onnx), "--quiet", "--exit-zero"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        log = result.stderr
        assert (
            "running on CPUExecutionProvider" in log
            and "reading from byte 0" in log
            and "scored 2000 rows of 1 series" in log
        ), log


def test_watch_reads_its_settings_from_tsrnn_variables(
    forecaster_onnx: Path, history_csv: Path, tmp_path: Path
) -> None:
    scores = tmp_path / "s.csv"
    env = {"TSRNN_MODEL": str(forecaster_onnx), "TSRNN_SCORES_OUT": str(scores), "TSRNN_EXIT_ZERO": "1"}
    result = runner.invoke(app, ["watch", str(history_csv), "--quiet"], env=env)
    assert result.exit_code == 0, result.stderr
    assert scores.read_text().count("\n") == 2001
    from tsrnn_cli.options import Json, Quiet

    assert Json.__metadata__[0].envvar is None and Quiet.__metadata__[0].envvar is None  # not read by other commands
    flag_wins = runner.invoke(
        app, ["watch", str(history_csv), "--quiet", "--model", str(tmp_path / "missing.onnx")], env=env
    )
    assert flag_wins.exit_code == 2 and "missing.onnx" in flag_wins.stderr
