"""Shared fixtures: small trained runs and their exports, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cycle, write_csv

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tsrnn")


@pytest.fixture(scope="session")
def history_csv(workdir: Path) -> Path:
    """2,000 clean rows of a noisy daily cycle."""
    return write_csv(workdir / "history.csv", cycle(2000, seed=1))


def _train_and_export(workdir: Path, data: Path, name: str, **model: object) -> Path:
    from tsrnn.config import ModelConfig, TrainConfig
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.train import train

    if model.get("kind", "forecaster") == "forecaster" and model.get("mode", "stateful") == "stateful":
        model = {
            "inputs": "level",
            **model,
        }  # the graph tests below feed `next` by hand; --inputs auto has its own tests (test_forecasting.py)
    result = train(
        data, model=ModelConfig(**model), config=TrainConfig(epochs=25, seed=0), name=name, runs_dir=workdir / "runs"
    )
    return export_onnx(result.run, workdir / "exports" / f"{name}.onnx").path


@pytest.fixture(scope="session")
def forecaster_onnx(workdir: Path, history_csv: Path) -> Path:
    return _train_and_export(workdir, history_csv, "fc")


@pytest.fixture(scope="session")
def autoencoder_onnx(workdir: Path, history_csv: Path) -> Path:
    return _train_and_export(workdir, history_csv, "ae", kind="autoencoder", window=16, hidden=16)


@pytest.fixture(scope="session")
def timefeat_onnx(workdir: Path, history_csv: Path) -> Path:
    """A forecaster that also reads the time of day (the graph's `tf` input)."""
    return _train_and_export(workdir, history_csv, "tfd", time_features="day", horizon=4)


@pytest.fixture(scope="session")
def diff_onnx(workdir: Path, history_csv: Path) -> Path:
    """A GRU forecaster reading changes: it carries `prev` as well as its state."""
    return _train_and_export(workdir, history_csv, "diff", cell="gru", inputs="diff")


@pytest.fixture(scope="session")
def windowed_onnx(workdir: Path, history_csv: Path) -> Path:
    """A windowed forecaster: watch re-runs a window of 16 rows for every row."""
    return _train_and_export(workdir, history_csv, "win", mode="windowed", window=16, hidden=16)
