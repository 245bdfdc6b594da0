"""watch and info in a real environment made by `pip install .` alone: no torch, no onnx."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import cycle, inject_spike, write_csv


@pytest.fixture(scope="module")
def runtime_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with only the runtime install (about 20 s with a warm pip cache)."""
    env = tmp_path_factory.mktemp("runtime") / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    install = subprocess.run(
        [env / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return env / "bin"


def test_the_runtime_install_has_no_torch(runtime_bin: Path) -> None:
    probe = subprocess.run([runtime_bin / "python", "-c", "import torch"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr
    probe = subprocess.run([runtime_bin / "python", "-c", "import onnx"], capture_output=True, text=True)
    assert probe.returncode != 0


def test_watch_and_info_run_without_torch(runtime_bin: Path, forecaster_onnx: Path, tmp_path: Path) -> None:
    data = write_csv(
        tmp_path / "new.csv", inject_spike(cycle(400, start_row=2000, seed=4), 200, 8.0, length=3), start_row=2000
    )
    result = subprocess.run(
        [runtime_bin / "tsrnn", "watch", data, "--model", forecaster_onnx, "--state", tmp_path / "s", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["rows_scored"] == 400 and len(doc["events"]) == 1
    info = subprocess.run(
        [runtime_bin / "tsrnn", "info", forecaster_onnx, "--json"], capture_output=True, text=True, timeout=60
    )
    assert info.returncode == 0 and json.loads(info.stdout)["metadata"]["kind"] == "forecaster"
    module = subprocess.run(
        [runtime_bin / "python", "-m", "tsrnn", "--version"], capture_output=True, text=True, timeout=60
    )
    assert module.returncode == 0 and module.stdout.startswith("tsrnn ")


def test_training_without_the_extra_says_what_to_install(runtime_bin: Path, history_csv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [runtime_bin / "tsrnn", "train", history_csv, "--runs-dir", tmp_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pip install 'tsrnn[train]'" in result.stderr


def test_export_without_the_extra_says_what_to_install(
    runtime_bin: Path, forecaster_onnx: Path, tmp_path: Path
) -> None:
    """The exporter imports torch when it runs, not when its module loads (it crashed with a traceback)."""
    run_dir = forecaster_onnx.parent.parent / "runs" / "fc"
    result = subprocess.run(
        [runtime_bin / "tsrnn", "export", run_dir, "--out", tmp_path / "m.onnx"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "pip install 'tsrnn[train]'" in result.stderr and not (tmp_path / "m.onnx").exists()


def test_the_cli_and_watch_modules_do_not_import_heavy_frameworks() -> None:
    code = (
        "import sys, tsrnn_cli.main, tsrnn.streaming.engine, tsrnn.streaming.follow, tsrnn.export.info, "
        "tsrnn.export.onnx,"
        " tsrnn.kinds, tsrnn.settings, tsrnn.runtime.inferencer, tsrnn.training.runs, tsrnn.forecasting;"
        "print(sorted(m for m in ('torch', 'onnx', 'onnxscript', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
