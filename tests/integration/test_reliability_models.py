"""Damaged runs, killed trainings, degenerate trainings and hostile ONNX files: one line, exit 2.

A run directory whose weights.pt or run.json is damaged, or whose weights.pt would run code when
unpickled; a training killed with SIGKILL (it reads as interrupted, not as training forever); a
training whose loss is not a number, or exactly 0 on values that vary; an ONNX file that reads
other files, runs operators of an unknown domain, or whose graph is not the one its metadata names.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import cycle, write_csv
from tsrnn_cli.main import app

runner = CliRunner()


def one_line_error(args: list[str], *fragments: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsrnn: error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained run (2 epochs of a small forecaster), copied by each test that damages it."""
    from tsrnn.config import ModelConfig, TrainConfig
    from tsrnn.training.train import train

    tmp = tmp_path_factory.mktemp("runs")
    data = write_csv(tmp / "small.csv", cycle(400, seed=3))
    cfg = ModelConfig(hidden=8, inputs="level")
    return train(data, model=cfg, config=TrainConfig(epochs=2, seed=0), name="small", runs_dir=tmp / "runs").run.path


def damaged_copy(small_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "small"
    shutil.copytree(small_run, run)
    shutil.copy(small_run.parent.parent / "small.csv", tmp_path / "small.csv")
    return run


class Marker:
    """Unpickling it would create a file: proof that loading ran code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.path}",))


def _torch_bytes(obj: object) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _damage(kind: str, weights: Path, marker: Path) -> str:
    """Damage weights.pt one way; the fragment tsrnn's line must hold."""
    import torch

    good = weights.read_bytes()
    if kind == "missing":
        weights.unlink()
        return "is missing"
    if kind == "empty":
        weights.write_bytes(b"")
        return "is damaged"
    if kind == "truncated":
        weights.write_bytes(good[: len(good) // 2])
        return "is damaged"
    if kind == "random":
        weights.write_bytes(np.random.default_rng(0).bytes(4096))
        return "is damaged"
    if kind == "tensor":
        weights.write_bytes(_torch_bytes(torch.zeros(3)))
        return "not a state dict"
    if kind == "list":
        weights.write_bytes(_torch_bytes([torch.zeros(3)]))
        return "not a state dict"
    if kind == "wrong keys":
        weights.write_bytes(_torch_bytes({"w": torch.zeros(3)}))
        return "does not fit the model"
    if kind == "wrong shapes":
        state = torch.load(weights, weights_only=True)
        weights.write_bytes(_torch_bytes({k: torch.zeros(*(s + 1 for s in v.shape)) for k, v in state.items()}))
        return "does not fit the model"
    assert kind in ("code", "pickle")
    weights.write_bytes(
        _torch_bytes({"w": Marker(marker)}) if kind == "code" else pickle.dumps(Marker(marker), protocol=2)
    )
    return "refused without running"


DAMAGES = ["missing", "empty", "truncated", "random", "tensor", "list", "wrong keys", "wrong shapes", "code", "pickle"]


@pytest.mark.parametrize("command", ["export", "forecast", "resume"])
@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_weights_are_one_line_naming_the_run(small_run: Path, tmp_path: Path, kind: str, command: str) -> None:
    run = damaged_copy(small_run, tmp_path)
    marker = tmp_path / "ran"
    fragment = _damage(kind, run / "weights.pt", marker)
    runs = ["--runs-dir", str(tmp_path / "runs")]
    args = {
        "export": ["export", "small", *runs, "--out", str(tmp_path / "m.onnx")],
        "forecast": ["forecast", "small", str(tmp_path / "small.csv"), *runs],
        "resume": ["train", str(tmp_path / "small.csv"), "--resume", "small", *runs, "--epochs", "3"],
    }[command]
    line = one_line_error(args, fragment, "'small'", "weights.pt")
    assert not marker.exists(), line  # the pickle's code never ran
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    "text, fragment",
    [
        (None, "no run.json"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not an object"),
        ('{"format": 2, "name": "small"}', "no 'model'"),
    ],
)
def test_a_damaged_run_json_is_one_line(small_run: Path, tmp_path: Path, text: str | None, fragment: str) -> None:
    run = damaged_copy(small_run, tmp_path)
    if text is None:
        (run / "run.json").unlink()
    else:
        (run / "run.json").write_text(text)
    one_line_error(["export", str(run), "--out", str(tmp_path / "m.onnx")], fragment)


def _wait_for_training(proc: subprocess.Popen, run_json: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            info = json.loads(run_json.read_text())
            if info.get("status") == "training":
                return info
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.05)
    raise AssertionError("the training never saved a checkpoint")


def test_a_killed_training_reads_as_interrupted_not_training(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "long.csv", cycle(1500, seed=5))
    args = [sys.executable, "-m", "tsrnn", "train", str(data), "--runs-dir", str(tmp_path / "runs"), "--quiet"]
    proc = subprocess.Popen(
        [*args, "--epochs", "1000", "--patience", "1000", "--hidden", "8", "--inputs", "level"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_training(proc, tmp_path / "runs" / "long" / "run.json")
        from tsrnn.training.runs import load_run

        assert load_run(tmp_path / "runs" / "long").info["status"] == "training"  # alive: still training
        refused = runner.invoke(app, ["train", str(data), "--runs-dir", str(tmp_path / "runs"), "--epochs", "1"])
        assert refused.exit_code == 2 and "being trained by another process" in refused.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert json.loads((tmp_path / "runs" / "long" / "run.json").read_text())["status"] == "training"  # as left
    run = load_run(tmp_path / "runs" / "long")
    assert run.info["status"] == "interrupted" and "killed" in " ".join(run.info["summary"]["notes"])
    exported = runner.invoke(app, ["export", "long", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path)])
    assert exported.exit_code == 0, exported.stderr
    said = " ".join(exported.stderr.split())  # the human report goes to stderr
    assert "training is interrupted: this is its best checkpoint, epoch" in said, said
    resumed = runner.invoke(
        app, [*args[3:], "--resume", "long", "--epochs", str(run.info["summary"]["epochs_run"] + 1), "--json"]
    )
    assert resumed.exit_code == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["status"] == "complete"
    assert any("interrupted" in n and "best checkpoint, epoch" in n for n in doc["notes"]), doc["notes"]


def _fail_epoch(monkeypatch: pytest.MonkeyPatch, at: int, losses: tuple[float, float]) -> None:
    import tsrnn.training.loop as loop

    real, count = loop._epoch, [0]

    def epoch(*args):  # type: ignore[no-untyped-def]
        count[0] += 1
        out = real(*args)
        return (*losses, out[2]) if count[0] >= at else out

    monkeypatch.setattr(loop, "_epoch", epoch)


def test_a_loss_that_is_not_a_number_from_the_start_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_csv(tmp_path / "d.csv", cycle(400, seed=3))
    _fail_epoch(monkeypatch, 1, (float("nan"), float("nan")))
    one_line_error(["train", str(data), "--runs-dir", str(tmp_path / "runs"), "--epochs", "3"], "diverged", "--lr")
    assert not (tmp_path / "runs" / "d").exists()  # nothing half-written


def test_a_loss_that_diverges_later_stops_there_and_keeps_the_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_csv(tmp_path / "d.csv", cycle(400, seed=3))
    _fail_epoch(monkeypatch, 3, (float("inf"), float("nan")))
    result = runner.invoke(
        app, ["train", str(data), "--runs-dir", str(tmp_path / "runs"), "--epochs", "8", "--json", "--inputs", "level"]
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["epochs_run"] == 2 and doc["best_epoch"] <= 2  # stopped at the first bad epoch, not after patience
    assert any("diverged at epoch 3" in n for n in doc["notes"]), doc["notes"]


def test_a_zero_validation_loss_on_varying_values_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_csv(tmp_path / "d.csv", cycle(400, seed=3))
    _fail_epoch(monkeypatch, 1, (0.5, 0.0))
    one_line_error(["train", str(data), "--runs-dir", str(tmp_path / "runs"), "--epochs", "2"], "exactly 0", "'value'")
    assert not (tmp_path / "runs" / "d").exists()


def test_a_series_cut_by_gaps_into_pieces_shorter_than_the_warm_up_names_the_gaps(tmp_path: Path) -> None:
    """No validation row has a forecast (every piece is warm-up): the message points at the gaps, not only the scale."""
    rows, t = [], np.datetime64("2024-01-01T00:00")
    for i in range(600):
        if i and i % 20 == 0:
            t += np.timedelta64(60, "m")  # an hour missing every 20 rows of 5 minutes: longer than --fill-limit
        rows.append(f"{str(t).replace('T', ' ')},{np.sin(i / 10):.4f}")
        t += np.timedelta64(5, "m")
    data = tmp_path / "gappy.csv"
    data.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    one_line_error(
        ["train", str(data), "--runs-dir", str(tmp_path / "runs"), "--epochs", "2"], "exactly 0", "--resample"
    )


@pytest.mark.parametrize("scaler", ["standard", "minmax", "robust"])
def test_values_too_large_to_scale_are_refused_by_name(tmp_path: Path, scaler: str) -> None:
    from tsrnn.data.scaling import Scaler

    values = np.column_stack([np.arange(100.0), np.where(np.arange(100) % 2, 1e300, -1e300)])
    with pytest.raises(Exception, match="column 'big': its values are too large to scale"):
        Scaler.fit(values, scaler, ["small", "big"])
    assert Scaler.fit(values[:, :1], scaler, ["small"]).scale[0] > 0  # the other column alone is fine


def test_a_constant_series_still_trains_with_a_zero_loss(tmp_path: Path) -> None:
    path = tmp_path / "flat.csv"
    path.write_text("timestamp,value\n" + "".join(f"2024-01-01 00:{m:02d}:00,5\n" for m in range(60)))
    result = runner.invoke(app, ["train", str(path), "--runs-dir", str(tmp_path), "--epochs", "2", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["best_val_loss"] == 0.0  # legitimate: any change will be news


# Hostile ONNX files: built from the forecaster fixture with the onnx package, refused by tsrnn's own
# check before onnxruntime opens them (so the file they name is never opened).


def _external(name: str, location: str):  # type: ignore[no-untyped-def]
    from onnx import TensorProto, numpy_helper

    tensor = numpy_helper.from_array(np.zeros(4, np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    if location:
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", location
    return tensor


def _hostile(forecaster_onnx: Path, where: str, location: str):  # type: ignore[no-untyped-def]
    """The forecaster with one tensor stored in `location`: the scaler's mean, or an initializer, a
    Constant node, a subgraph or a function that the graph's outputs do not use."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(forecaster_onnx))
    tensor = _external("smuggled", location)
    if where == "used":  # the scaler's mean, which every output depends on
        mean = next(t for t in model.graph.initializer if t.name == "mean")
        mean.ClearField("raw_data")
        mean.MergeFrom(_external("mean", location))
        del mean.dims[:]
        mean.dims.append(1)
    elif where == "initializer":
        model.graph.initializer.append(tensor)
    elif where == "constant":
        model.graph.node.append(helper.make_node("Constant", [], ["smuggled_out"], value=tensor))
    elif where == "subgraph":
        branch = helper.make_graph(
            [], "branch", [], [helper.make_tensor_value_info("smuggled", TensorProto.FLOAT, [4])], [tensor]
        )
        cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
        model.graph.initializer.append(cond)
        model.graph.node.append(helper.make_node("If", ["cond"], ["if_out"], then_branch=branch, else_branch=branch))
    else:
        assert where == "function"
        body = helper.make_node("Constant", [], ["y"], value=tensor)
        function = helper.make_function("local.fn", "Smuggle", [], ["y"], [body], [helper.make_opsetid("", 17)])
        model.functions.append(function)
    return model


@pytest.mark.parametrize("where", ["used", "initializer", "constant", "subgraph", "function"])
@pytest.mark.parametrize("location", ["/etc/passwd", "../outside.bin", "link.bin", "absent.bin", "data.bin", ""])
def test_a_model_with_external_data_is_refused_by_tsrnn(
    tmp_path: Path, forecaster_onnx: Path, where: str, location: str
) -> None:
    import onnx

    (tmp_path / "link.bin").symlink_to("/etc/passwd")
    (tmp_path / "data.bin").write_bytes(np.ones(4, np.float32).tobytes())  # beside the model: onnxruntime reads it
    path = tmp_path / "m.onnx"
    onnx.save(_hostile(forecaster_onnx, where, location), str(path))
    for command in (["info", str(path)], ["watch", str(tmp_path / "none.csv"), "--model", str(path)]):
        one_line_error(command, "keeps its data in another file", repr(location or "no location given"))


def test_a_model_naming_a_fifo_never_opens_it(tmp_path: Path, forecaster_onnx: Path) -> None:
    """onnxruntime would block opening the fifo; tsrnn refuses the file before."""
    import onnx

    os.mkfifo(tmp_path / "fifo")
    path = tmp_path / "m.onnx"
    onnx.save(_hostile(forecaster_onnx, "initializer", "fifo"), str(path))
    done = subprocess.run(
        [sys.executable, "-m", "tsrnn", "info", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "keeps its data in another file ('fifo')" in done.stderr, done.stderr


def _with_domain(forecaster_onnx: Path, where: str):  # type: ignore[no-untyped-def]
    import onnx
    from onnx import helper

    model = onnx.load(str(forecaster_onnx))
    if where == "node":
        model.graph.node.append(helper.make_node("Evil", ["x"], ["evil_out"], domain="evil.ops", name="evil"))
    elif where == "opset":
        model.opset_import.append(helper.make_opsetid("evil.ops", 1))
    else:
        body = helper.make_node("Identity", ["a"], ["b"])
        model.functions.append(helper.make_function("evil.ops", "F", ["a"], ["b"], [body], []))
    return model


@pytest.mark.parametrize("where", ["node", "opset", "function"])
def test_a_model_with_a_custom_operator_domain_is_refused(tmp_path: Path, forecaster_onnx: Path, where: str) -> None:
    import onnx

    path = tmp_path / "m.onnx"
    onnx.save(_with_domain(forecaster_onnx, where), str(path))
    one_line_error(["info", str(path)], "domain 'evil.ops'", "tsrnn does not run")


def test_a_graph_that_is_not_the_one_its_metadata_names_is_refused(tmp_path: Path, forecaster_onnx: Path) -> None:
    import onnx

    model = onnx.load(str(forecaster_onnx))
    model.graph.input[0].name = "y"
    for node in model.graph.node:
        node.input[:] = ["y" if i == "x" else i for i in node.input]
    onnx.save(model, str(tmp_path / "renamed.onnx"))
    one_line_error(["info", str(tmp_path / "renamed.onnx")], "the graph's inputs (y,", "(x,")
    model = onnx.load(str(forecaster_onnx))
    kept = [o for o in model.graph.output if o.name != "forecast"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    onnx.save(model, str(tmp_path / "dropped.onnx"))
    one_line_error(["watch", str(tmp_path / "x.csv"), "--model", str(tmp_path / "dropped.onnx")], "graph's outputs")


def test_the_check_is_cheap_and_passes_tsrnns_own_files(forecaster_onnx: Path) -> None:
    from tsrnn.runtime.modelcheck import check_model_bytes

    data = forecaster_onnx.read_bytes()
    started = time.perf_counter()
    for _ in range(20):
        check_model_bytes(data, str(forecaster_onnx))
    assert (time.perf_counter() - started) / 20 < 0.05  # measured: about 1 ms for an 80 KB model


def test_a_file_that_is_not_protobuf_is_refused_as_not_onnx(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,1\n")
    one_line_error(["info", str(path)], "not an ONNX model")
