"""The exported graph: symbolic axes, parity with PyTorch, streaming with carried state, metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.helpers import cycle
from tsrnn.errors import ModelError
from tsrnn.export.metadata import read_metadata
from tsrnn.training.runs import load_run


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def zero_state(meta, batch: int) -> dict[str, np.ndarray]:
    layers, hidden = meta.state_shape
    return {
        "h": np.zeros((layers, batch, hidden), np.float32),
        "c": np.zeros((layers, batch, hidden), np.float32),
        "next": np.full((batch, meta.features), np.nan, np.float32),
    }


def with_tf(meta, x: np.ndarray, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph's inputs for rows x (batch, time, features): the default model also reads the time
    of day (`tf`, sin and cos of the phase), here of rows 5 minutes apart."""
    from tsrnn.data.timefeatures import time_features

    feed = {"x": x, **state}
    if meta.time_features != "none":
        times = np.datetime64("2024-01-01T00:00", "us") + np.arange(x.shape[1]) * np.timedelta64(300, "s")
        feed["tf"] = np.repeat(time_features(times, meta.time_features)[None], x.shape[0], axis=0)
    return feed


def test_batch_and_time_axes_are_symbolic(forecaster_onnx: Path, autoencoder_onnx: Path) -> None:
    fc = {i.name: i.shape for i in session(forecaster_onnx).get_inputs() + session(forecaster_onnx).get_outputs()}
    assert (
        fc["x"] == ["batch", "time", 1] and fc["expected"] == ["batch", "time", 1] and fc["error"] == ["batch", "time"]
    )
    assert fc["h"][1] == fc["c"][1] == fc["h_out"][1] == "batch" and fc["next"] == ["batch", 1]
    ae = {i.name: i.shape for i in session(autoencoder_onnx).get_inputs() + session(autoencoder_onnx).get_outputs()}
    assert ae["x"] == ["batch", 16, 1] and ae["error"] == ["batch", 16]


def test_a_later_export_in_the_same_process_stays_dynamic(workdir: Path, forecaster_onnx: Path) -> None:
    from tsrnn.export.onnx import export_onnx

    again = export_onnx(load_run(workdir / "runs" / "fc"), workdir / "again.onnx")
    shapes = {i.name: i.shape for i in session(again.path).get_inputs()}
    assert shapes["x"] == ["batch", "time", 1]


def test_onnxruntime_matches_pytorch_at_new_shapes(workdir: Path, forecaster_onnx: Path) -> None:
    import torch

    from tsrnn.models.forecaster import StreamingForecaster

    run = load_run(workdir / "runs" / "fc")
    module = StreamingForecaster(run.load_model(), list(run.scaler.mean), list(run.scaler.scale)).eval()
    meta = read_metadata(forecaster_onnx)
    for batch, time in ((4, 33), (2, 500)):
        x = np.stack([cycle(time, start_row=100 * b, seed=b) for b in range(batch)]).astype(np.float32)
        state = zero_state(meta, batch)
        state["next"] = x[:, 0].copy()
        feed = with_tf(meta, x, state)
        got = session(forecaster_onnx).run(None, feed)
        with torch.no_grad():
            tf = [torch.from_numpy(feed["tf"])] if "tf" in feed else []
            want = module(torch.from_numpy(x), *tf, *(torch.from_numpy(state[k]) for k in ("h", "c", "next")))
        for g, w in zip(got, want):
            assert np.max(np.abs(g - w.numpy())) < 1e-4 * max(1.0, float(np.max(np.abs(w.numpy()))))


def test_one_point_at_a_time_with_carried_state_equals_one_call(forecaster_onnx: Path) -> None:
    meta = read_metadata(forecaster_onnx)
    s = session(forecaster_onnx)
    x = cycle(120, seed=3).astype(np.float32)[None]  # (1, 120, 1)
    full = with_tf(meta, x, zero_state(meta, 1))
    expected_all, error_all, *_ = s.run(None, full)
    state = zero_state(meta, 1)
    errors, expected = [], []
    for t in range(x.shape[1]):
        step = {"x": x[:, t : t + 1], **state, **({"tf": full["tf"][:, t : t + 1]} if "tf" in full else {})}
        e, err, _forecast, h, c, nxt = s.run(None, step)
        state = {"h": h, "c": c, "next": nxt}
        expected.append(e[0, 0])
        errors.append(err[0, 0])
    assert np.isnan(errors[0]) and np.isnan(error_all[0, 0])  # no prediction before the first row
    assert np.allclose(np.array(errors[1:]), error_all[0, 1:], atol=1e-6)
    assert np.allclose(np.array(expected[1:]), expected_all[0, 1:], atol=1e-4)


def test_series_batched_together_score_as_if_alone(forecaster_onnx: Path) -> None:
    meta = read_metadata(forecaster_onnx)
    s = session(forecaster_onnx)
    x = np.stack([cycle(64, seed=k) for k in range(3)]).astype(np.float32)
    _, together, *_ = s.run(None, with_tf(meta, x, zero_state(meta, 3)))
    for k in range(3):
        _, alone, *_ = s.run(None, with_tf(meta, x[k : k + 1], zero_state(meta, 1)))
        assert np.allclose(alone[0, 1:], together[k, 1:], atol=1e-6)


def test_metadata_round_trip(workdir: Path, forecaster_onnx: Path) -> None:
    run = load_run(workdir / "runs" / "fc")
    meta = read_metadata(forecaster_onnx)
    assert meta.kind == "forecaster" and meta.cell == "lstm" and meta.run_name == "fc"
    assert meta.value_columns == run.schema["value_columns"] and meta.time_column == "timestamp"
    assert meta.calibration == run.calibration.to_dict() and meta.scaler == run.scaler.to_dict()
    assert meta.training_data["sha256"] == run.schema["sha256"] and meta.training_data["rows"] == 2000
    assert meta.state_shape == [run.model_config.layers, run.model_config.hidden]


def test_a_fixed_axis_fails_the_export_check(forecaster_onnx: Path) -> None:
    import onnx

    from tsrnn.config import ModelConfig
    from tsrnn.export.onnx import _check_axes, graph_spec

    proto = onnx.load(str(forecaster_onnx))
    _check_axes(proto, graph_spec(ModelConfig())[2])  # the real file passes
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 17  # what the dynamo exporter did
    with pytest.raises(ModelError, match="axis 1 of 'x' is not symbolic"):
        _check_axes(proto, graph_spec(ModelConfig())[2])


def test_non_tsrnn_onnx_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["a"], ["b"])],
        "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    with pytest.raises(ModelError, match="not a tsrnn model"):
        read_metadata(path)
