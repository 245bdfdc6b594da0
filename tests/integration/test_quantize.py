"""`tsrnn export --quantize`: int8 calibrated on the training rows (static QDQ) by default, onnxruntime's
dynamic int8 on request, each refused beyond its limit with the figure in the one-line error."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from tests.helpers import cycle, write_csv
from tsrnn_cli.main import app

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsrnn: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's model: two smooth columns, an LSTM reading changes, trained for 2 epochs."""
    from tsrnn.config import ModelConfig, TrainConfig
    from tsrnn.training.train import train

    where = tmp_path_factory.mktemp("quantize")
    data = write_csv(where / "two.csv", cycle(1000, seed=5, features=2, noise=0.02), names=["a", "b"])
    train(data, model=ModelConfig(inputs="diff"), config=TrainConfig(epochs=2, threads=1), runs_dir=where / "runs")
    return where


def export_args(where: Path, *more: object) -> list[object]:
    return ["export", "two", "--runs-dir", where / "runs", "--out", where / "two.onnx", *more]


def test_the_two_column_lstm_exports_int8_with_its_figure(two: Path) -> None:
    import onnx

    doc = json.loads(invoke(*export_args(two, "--quantize", "int8", "--json")).stdout)
    files = {f["precision"]: f for f in doc["files"]}
    assert list(files) == ["fp32", "int8"] and files["int8"]["path"] == str(two / "two.int8.onnx")
    worst = max(files["int8"]["parity"].values())
    assert 1e-5 < worst < 0.1  # quantized (not a float copy), and within the limit
    assert files["int8"]["calibration"] == f"1,000 rows of the training file {two / 'two.csv'}"
    assert set(files["int8"]["microseconds"]) == {"1 row", "1000 rows"}
    ops = {n.op_type for n in onnx.load(str(two / "two.int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "LSTM"} <= ops  # the head in int8, the cell float (see quantize.py)
    shown = invoke(*export_args(two, "--quantize", "int8"))
    assert shown.exit_code == 0, shown.stderr
    row = next(line for line in shown.stderr.splitlines() if line.strip().startswith("int8 "))  # stderr off a tty
    assert f"{worst:.1e}" in row
    # where the calibration rows came from is said, not only in --json (a moved source file falls back)
    assert "int8 calibrated on 1,000 rows of the training file" in " ".join(shown.stderr.split())


def test_the_int8_file_scores_like_float32_in_watch(two: Path) -> None:
    result = invoke(*export_args(two, "--quantize", "int8", "--quiet"))
    assert result.exit_code == 0, result.stderr
    new = write_csv(
        two / "new.csv", cycle(400, start_row=1000, seed=55, features=2, noise=0.02), start_row=1000, names=["a", "b"]
    )
    scores = {}
    for name in ("two.onnx", "two.int8.onnx"):
        out = two / f"{name}.scores.csv"
        watched = invoke("watch", new, "--model", two / name, "--scores-out", out, "--exit-zero", "--quiet")
        assert watched.exit_code == 0, watched.stderr
        scores[name] = pl.read_csv(out)["score"].to_numpy()
    assert len(scores["two.onnx"]) == len(scores["two.int8.onnx"]) == 400
    assert np.abs(scores["two.onnx"] - scores["two.int8.onnx"]).max() < 0.01


def test_beyond_the_limit_the_copy_is_refused_with_the_figure(two: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tsrnn.export.variants import TOLERANCE

    for name in ("two.onnx", "two.int8.onnx"):
        (two / name).unlink(missing_ok=True)
    monkeypatch.setitem(TOLERANCE, "int8", 1e-5)
    line = one_line_error(invoke(*export_args(two, "--quantize", "int8")))
    figure = re.search(r"the int8 copy differs from PyTorch by (\S+) scaled units \(limit 1e-05\)", line)
    assert figure and float(figure[1]) > 1e-5, line
    assert "drop --quantize" in line
    assert not (two / "two.onnx").exists() and not (two / "two.int8.onnx").exists()  # nothing written


def test_the_dynamic_copy_of_this_model_is_the_one_refused(two: Path) -> None:
    """What the issue reported: onnxruntime's dynamic int8 strays 0.13 scaled units here (its LSTM's
    inputs quantized per call, on the check's random rows); it stays reachable, and refused."""
    line = one_line_error(invoke(*export_args(two, "--quantize", "int8-dynamic")))
    figure = re.search(r"the int8-dynamic copy differs from PyTorch by (\S+) scaled units \(limit 0\.1\)", line)
    assert figure and float(figure[1]) > 0.1, line
    assert "use --quantize int8" in line
    line = one_line_error(invoke(*export_args(two, "--quantize", "int4")))
    assert "int8, int8-dynamic" in line


def test_calibration_rows_are_the_training_data(two: Path) -> None:
    from tsrnn.export.quantize import training_rows
    from tsrnn.training.runs import Run, load_run

    run = load_run(two / "runs" / "two")
    csv = pl.read_csv(two / "two.csv")[["a", "b"]].to_numpy()
    found = training_rows(run)
    assert found is not None and found[1] == f"1,000 rows of the training file {two / 'two.csv'}"
    assert len(found[0]) == 1 and np.abs(found[0][0][0] - csv).max() < 1e-9  # every row, as read for training
    info = copy.deepcopy(run.info)
    info["schema"]["source"] = str(two / "gone.csv")  # the file is gone: the last rows run.json keeps
    found = training_rows(Run(run.path, info))
    assert (
        found is not None
        and found[1].startswith("the last ")
        and found[1].endswith(" rows run.json keeps (its source file is not found)")
    )
    values = found[0][0][0]
    assert 500 < len(values) <= 1000 and np.abs(values - csv[-len(values) :]).max() < 1e-4  # unscaled again
    info["calibration"]["novelty_seed"] = None  # several series keep none: random rows, and the export says so
    assert training_rows(Run(run.path, info)) is None
    from tsrnn.export.onnx import export_onnx

    int8 = export_onnx(Run(run.path, info), two / "random.onnx", quantize="int8").variants[-1]
    assert int8.calibration == "random rows around the training mean (no training rows)"
    assert max(int8.parity.values()) < 0.1
