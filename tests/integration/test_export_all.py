"""Every model kind, cell and mode exports, and runs in a process where torch cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from tests.helpers import cycle, write_csv
from tests.integration.test_training import VARIANTS
from tsrnn.config import ModelConfig, TrainConfig
from tsrnn.export.onnx import (
    _example_inputs,
    _streaming_module,
    export_onnx,
    graph_spec,
)
from tsrnn.training.train import train

NO_TORCH = r"""
import json, sys
sys.modules["torch"] = None  # any import of torch now fails
sys.modules["onnx"] = None
import numpy as np, onnxruntime as ort
from tsrnn.export.metadata import read_metadata
path, feeds_path = sys.argv[1], sys.argv[2]
feeds = np.load(feeds_path)
names = json.loads(sys.argv[3])
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
outputs = session.run(names["outputs"], {n: feeds[n] for n in names["inputs"]})
np.savez(feeds_path.replace(".npz", "-ort.npz"), **dict(zip(names["outputs"], outputs)))
print(read_metadata(path).kind, "torch" in sys.modules and sys.modules["torch"] is not None)
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("exp") / "two.csv", cycle(600, seed=21, features=2), names=["a", "b"])


@pytest.mark.parametrize("model", VARIANTS)
def test_export_runs_without_torch_and_matches_pytorch(tmp_path: Path, data: Path, model: dict) -> None:
    run = train(data, model=ModelConfig(hidden=8, **model), config=TrainConfig(epochs=2), runs_dir=tmp_path).run
    path = export_onnx(run, tmp_path / "m.onnx").path
    inputs, outputs, _ = graph_spec(run.model_config)
    example = _example_inputs(run, 3, 41, seed=7)
    feeds = {n: t.numpy() for n, t in zip(inputs, example)}
    np.savez(tmp_path / "feeds.npz", **feeds)
    with torch.no_grad():
        out = _streaming_module(run)(*example)
    want = out if isinstance(out, (list, tuple)) else [out]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_TORCH,
            str(path),
            str(tmp_path / "feeds.npz"),
            json.dumps({"inputs": inputs, "outputs": outputs}),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [run.model_config.kind, "False"]  # loaded, and torch never imported
    got = np.load(tmp_path / "feeds-ort.npz")
    scale = np.asarray(run.scaler.scale)
    for name, w in zip(outputs, want):
        diff = np.abs(got[name] - w.numpy())
        if name in ("expected", "forecast", "reconstruction", "next_out", "prev_out"):
            diff = diff / scale
        assert np.nanmax(diff) < 1e-4, (name, np.nanmax(diff))


def test_fp16_and_int8_copies(tmp_path: Path, workdir: Path, forecaster_onnx: Path) -> None:
    from tsrnn.export.metadata import read_metadata
    from tsrnn.streaming.engine import watch
    from tsrnn.training.runs import load_run

    result = export_onnx(load_run(workdir / "runs" / "fc"), tmp_path / "fc.onnx", fp16=True, int8=True, timed=True)
    files = {v.precision: v for v in result.variants}
    assert [v.precision for v in result.variants] == ["fp32", "fp16", "int8"]
    assert files["fp16"].path.name == "fc.fp16.onnx" and files["int8"].path.name == "fc.int8.onnx"
    assert files["fp16"].bytes < files["fp32"].bytes  # (static int8 keeps the LSTM in float32: not smaller)
    assert max(files["fp16"].parity.values()) < 0.05 and max(files["int8"].parity.values()) < 0.1
    assert set(files["int8"].microseconds) == {"1 row", "1000 rows"}
    base = read_metadata(files["fp32"].path)
    new = write_csv(tmp_path / "new.csv", cycle(300, start_row=2000, seed=5), start_row=2000)
    reference = watch(new, files["fp32"].path, scores_out=tmp_path / "fp32.csv")
    for precision in ("fp16", "int8"):
        assert read_metadata(files[precision].path) == base  # same contract, so watch reads them alike
        scored = watch(new, files[precision].path, scores_out=tmp_path / f"{precision}.csv")
        diff = np.abs(
            pl.read_csv(tmp_path / f"{precision}.csv")["score"].to_numpy()
            - pl.read_csv(tmp_path / "fp32.csv")["score"].to_numpy()
        )
        assert scored.rows == reference.rows == 300 and diff.max() < 0.05


def test_a_failed_check_writes_nothing(
    tmp_path: Path, workdir: Path, forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tsrnn.export.onnx as exporter
    from tsrnn.errors import ModelError
    from tsrnn.training.runs import load_run

    monkeypatch.setattr(exporter, "PARITY_TOLERANCE", 0.0)
    with pytest.raises(ModelError, match="differs from PyTorch"):
        exporter.export_onnx(load_run(workdir / "runs" / "fc"), tmp_path / "never.onnx")
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind


def test_info_shows_the_metadata(forecaster_onnx: Path) -> None:
    from typer.testing import CliRunner

    from tsrnn_cli.main import app

    result = CliRunner().invoke(app, ["info", str(forecaster_onnx)])
    assert result.exit_code == 0
    for text in (
        "run_name",
        "fc",
        "value_columns",
        "calibration",
        "error_scale",
        "training_data",
        "sha256",
        "next_out",
        "['batch', 'time', 1]",
    ):
        assert text in result.stdout, text
