"""The foundation's promise, run as a user would: real processes for train, export and watch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cycle, inject_spike, write_csv

TSRNN = [sys.executable, "-m", "tsrnn"]


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TSRNN, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's directory after `tsrnn train history.csv` and `tsrnn export --onnx`."""
    cwd = tmp_path_factory.mktemp("user")
    write_csv(cwd / "history.csv", cycle(2000, seed=1))
    trained = run("train", "history.csv", "--seed", "0", cwd=cwd)
    assert trained.returncode == 0, trained.stderr
    exported = run("export", "--onnx", cwd=cwd)
    assert exported.returncode == 0, exported.stderr
    assert (cwd / "runs" / "history" / "run.json").exists() and (cwd / "exports" / "history.onnx").exists()
    return cwd


def test_injected_anomaly_is_reported_with_exit_1_and_the_clean_series_exits_0(project: Path) -> None:
    new = cycle(1000, start_row=2000, seed=2)
    write_csv(project / "clean.csv", new, start_row=2000)
    write_csv(project / "spiky.csv", inject_spike(new, 500, 8.0, length=3), start_row=2000)

    clean = run("watch", "clean.csv", "--model", "exports/history.onnx", "--json", cwd=project)
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["events"] == []

    spiky = run(
        "watch", "spiky.csv", "--model", "exports/history.onnx", "--json", "--scores-out", "scores.csv", cwd=project
    )
    assert spiky.returncode == 1, spiky.stderr
    events = json.loads(spiky.stdout)["events"]
    assert len(events) == 1
    injected = ["2024-01-09 16:20:00", "2024-01-09 16:25:00", "2024-01-09 16:30:00"]  # rows 2500-2502
    assert events[0]["start"] in injected and events[0]["peak_time"] in injected

    scores = (project / "scores.csv").read_text().splitlines()
    assert scores[0] == "timestamp,value,expected,score,alert_score,anomaly,alert" and len(scores) == 1001
    flagged = [line.split(",")[0] for line in scores[1:] if line.endswith(",1")]
    # the return to normal surprises the forecaster too, and the novelty windows of 5 rows hold the spike for 4 rows
    # after it
    after = ["2024-01-09 16:35:00", "2024-01-09 16:40:00", "2024-01-09 16:45:00", "2024-01-09 16:50:00"]
    assert flagged and set(flagged) <= {*injected, *after}


def test_exit_zero_keeps_a_report_only_job_green(project: Path) -> None:
    write_csv(
        project / "spiky2.csv", inject_spike(cycle(300, start_row=2000, seed=3), 200, 8.0, length=3), start_row=2000
    )
    result = run("watch", "spiky2.csv", "--model", "exports/history.onnx", "--exit-zero", cwd=project)
    assert result.returncode == 0 and "ANOMALY" in result.stderr


def test_installed_console_script_runs(project: Path) -> None:
    script = Path(sys.executable).with_name("tsrnn")
    result = subprocess.run(
        [script, "info", "exports/history.onnx"], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert (
        result.returncode == 0 and "value_columns" in result.stdout
    )  # the report is the product: stdout, even to a pipe
