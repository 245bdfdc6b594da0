"""Training: every kind, cell and mode learns and reloads exactly; seeds, config layers, resume."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import cycle, write_csv
from tsrnn.config import ModelConfig, TrainConfig
from tsrnn.settings import resolve
from tsrnn.training.runs import load_run
from tsrnn.training.train import train

VARIANTS = [
    pytest.param({"cell": "lstm"}, id="lstm"),
    pytest.param({"cell": "gru"}, id="gru"),
    pytest.param({"cell": "rnn"}, id="rnn-tanh"),
    pytest.param(
        {"cell": "rnn", "nonlinearity": "relu", "layers": 1}, id="rnn-relu"
    ),  # stacked ReLU states grow unbounded
    pytest.param({"horizon": 6}, id="lstm-horizon6"),
    pytest.param({"inputs": "diff", "cell": "gru", "horizon": 3}, id="gru-diff-horizon3"),
    pytest.param({"time_features": "day", "horizon": 3}, id="lstm-time-features"),
    pytest.param({"mode": "windowed", "window": 16}, id="windowed"),
    pytest.param({"kind": "autoencoder", "window": 16}, id="autoencoder"),
    pytest.param(
        {"kind": "autoencoder", "window": 16, "cell": "gru", "bidirectional": True}, id="autoencoder-gru-bidirectional"
    ),
]


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("train") / "small.csv", cycle(800, seed=11, features=2), names=["a", "b"])


@pytest.mark.parametrize("model", VARIANTS)
def test_each_variant_learns_and_reloads_to_identical_predictions(tmp_path: Path, small_csv: Path, model: dict) -> None:
    cfg = ModelConfig(hidden=16, **model)
    result = train(small_csv, model=cfg, config=TrainConfig(epochs=6, patience=6, seed=3), runs_dir=tmp_path)
    history = result.run.info["history"]
    assert len(history) == 6 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(h["grad_norm"] > 0 for h in history)  # recorded before clipping

    again = load_run(result.run.path)  # a new load, from the files alone
    decided = "day" if cfg.kind == "forecaster" and cfg.mode == "stateful" else "none"  # auto: rows 5 minutes apart
    stateful = cfg.kind == "forecaster" and cfg.mode == "stateful"
    inputs = (
        cfg.inputs if cfg.inputs != "auto" else (result.summary["choices"]["inputs"]["chosen"] if stateful else "level")
    )
    assert again.model_config == dataclasses.replace(
        cfg, time_features=cfg.time_features if cfg.time_features != "auto" else decided, inputs=inputs
    )
    assert again.scaler == result.run.scaler
    first, second = result.run.load_model(), again.load_model()
    x = torch.from_numpy(cycle(40, seed=5, features=2)[None].astype(np.float32))
    with torch.no_grad():
        if cfg.kind == "autoencoder":
            a, b = first(x[:, :16]), second(x[:, :16])
        else:
            tf = (
                torch.rand(1, 40, first.time_inputs) if first.time_inputs else None
            )  # time features, when the model reads them
            a, b = first(x, *first.zero_state(1), tf=tf)[0], second(x, *second.zero_state(1), tf=tf)[0]
    assert torch.equal(a, b)


def test_relu_rnn_starts_from_identity_recurrent_weights() -> None:
    from tsrnn.models import build_model

    net = build_model(ModelConfig(cell="rnn", nonlinearity="relu", hidden=8), ["value"])
    assert torch.equal(net.rnn.weight_hh_l0, torch.eye(8)) and torch.equal(net.rnn.weight_hh_l1, torch.eye(8))
    assert torch.count_nonzero(net.rnn.bias_hh_l0) == 0


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path, small_csv: Path) -> None:
    def weights(seed: int, where: str) -> dict:
        run = train(
            small_csv, model=ModelConfig(hidden=8), config=TrainConfig(epochs=3, seed=seed), runs_dir=tmp_path / where
        ).run
        return run.load_model().state_dict()

    a, b, c = weights(1, "a"), weights(1, "b"), weights(2, "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_scalers_fit_on_training_rows_only(tmp_path: Path) -> None:
    values = np.concatenate([np.linspace(0, 1, 400), np.linspace(100, 101, 100)])[:, None]  # validation far off
    path = write_csv(tmp_path / "shift.csv", values)
    for kind, center in (("standard", 0.5), ("minmax", 0.0), ("robust", 0.5)):
        run = train(path, config=TrainConfig(epochs=1, scaler=kind), runs_dir=tmp_path / kind).run
        assert run.scaler.kind == kind and abs(run.scaler.mean[0] - center) < 0.01


def test_settings_come_from_flags_then_env_then_file(tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text('epochs = 7\nhidden = 24\n[data]\nfill_limit = 5\n[model]\ncell = "gru"\n')
    resolved = resolve({"hidden": 48}, {"TSRNN_EPOCHS": "9", "TSRNN_UNRELATED": "x"}, str(toml))
    assert resolved.train.epochs == 9 and resolved.model.hidden == 48 and resolved.model.cell == "gru"
    assert resolved.data.fill_limit == 5
    assert resolved.sources == {
        "epochs": "env TSRNN_EPOCHS",
        "hidden": "flag",
        "fill_limit": f"file {toml}",
        "cell": f"file {toml}",
    }


def test_the_run_records_the_resolved_configuration(tmp_path: Path, small_csv: Path) -> None:
    from typer.testing import CliRunner

    from tsrnn_cli.main import app

    toml = tmp_path / "t.toml"
    toml.write_text("hidden = 12\n")
    result = CliRunner().invoke(
        app,
        ["train", str(small_csv), "--config", str(toml), "--epochs", "2", "--runs-dir", str(tmp_path), "--quiet"],
        env={"TSRNN_LAYERS": "1"},
    )
    assert result.exit_code == 0, result.stderr
    info = json.loads((tmp_path / "small" / "run.json").read_text())
    assert info["model"]["hidden"] == 12 and info["model"]["layers"] == 1 and info["train"]["epochs"] == 2
    assert info["sources"] == {"hidden": f"file {toml}", "layers": "env TSRNN_LAYERS", "epochs": "flag"}


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_other_losses_train_and_are_recorded(tmp_path: Path, small_csv: Path, loss: str) -> None:
    result = train(
        small_csv,
        model=ModelConfig(hidden=16),
        config=TrainConfig(epochs=6, patience=6, seed=3, loss=loss),
        runs_dir=tmp_path,
    )
    history = result.run.info["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"] and result.summary["loss"] == loss
    assert result.run.train_config.loss == loss
    default = train(
        small_csv, model=ModelConfig(hidden=16), config=TrainConfig(epochs=1, seed=3), runs_dir=tmp_path, name="default"
    )
    assert default.summary["loss"] == "mae"  # the default
    if loss == "mse":  # the same first epoch measured another way: |e| and e^2 differ on errors below 1
        assert abs(history[0]["val_loss"] - default.run.info["history"][0]["val_loss"]) > 1e-4


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TSRNN_EPOCHS": "many"}, "TSRNN_EPOCHS='many' is not a valid int"),
        ({"TSRNN_CELL": "transformer"}, "unknown cell 'transformer'"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path: Path, small_csv: Path, env: dict, message: str) -> None:
    from typer.testing import CliRunner

    from tsrnn_cli.main import app

    result = CliRunner().invoke(app, ["train", str(small_csv), "--runs-dir", str(tmp_path)], env=env)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_keeps_the_best_weights_and_resume_continues(tmp_path: Path, small_csv: Path) -> None:
    def stop_at_3(stats) -> None:
        if stats.epoch == 3:
            raise KeyboardInterrupt

    first = train(
        small_csv,
        model=ModelConfig(hidden=8, inputs="level"),
        config=TrainConfig(epochs=8, patience=8),
        runs_dir=tmp_path,
        on_epoch=stop_at_3,
    )
    assert first.summary["status"] == "interrupted" and first.summary["epochs_run"] == 3
    from tsrnn.export.onnx import export_onnx

    assert export_onnx(first.run, tmp_path / "early.onnx").path.exists()  # usable as it is
    best = first.summary["best_epoch"]
    resumed = train(small_csv, resume=load_run(first.run.path), config=TrainConfig(epochs=8, patience=8))
    history = resumed.run.info["history"]
    assert resumed.summary["status"] == "complete" and [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    assert history[:best] == first.run.info["history"][:best] and len(history) > best


def test_resume_refuses_other_data(tmp_path: Path, small_csv: Path) -> None:
    from tsrnn.errors import InputError

    run = train(small_csv, model=ModelConfig(hidden=8), config=TrainConfig(epochs=1), runs_dir=tmp_path).run
    other = write_csv(tmp_path / "other.csv", cycle(800, seed=12, features=2), names=["a", "b"])
    with pytest.raises(InputError, match="not the data run 'small' was trained on"):
        train(other, resume=load_run(run.path))


def test_a_killed_training_leaves_the_best_checkpoint_usable(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "long.csv", cycle(6000, seed=4))
    env = {**os.environ, "TSRNN_HIDDEN": "64"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tsrnn",
            "train",
            str(data),
            "--epochs",
            "500",
            "--patience",
            "500",
            "--runs-dir",
            str(tmp_path),
            "--quiet",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    run_file = tmp_path / "long" / "run.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (
        run_file.exists() and json.loads(run_file.read_text())["summary"]["epochs_run"] >= 2
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    info = json.loads(run_file.read_text())
    assert info["status"] == "training" and info["summary"]["epochs_run"] >= 2
    from tsrnn.export.onnx import export_onnx

    assert export_onnx(load_run(run_file.parent), tmp_path / "killed.onnx").bytes > 0


def test_forecast_continues_the_series(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tsrnn_cli.main import app

    history = write_csv(tmp_path / "h.csv", cycle(1500, seed=2, noise=0.1))
    run = train(history, model=ModelConfig(horizon=12), config=TrainConfig(epochs=30, seed=0), runs_dir=tmp_path).run
    result = CliRunner().invoke(app, ["forecast", str(run.path), str(history), "--steps", "36", "--quiet"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "timestamp,step,value" and len(lines) == 37
    assert lines[1].startswith("2024-01-06 05:00:00,1,")  # row 1500 at 5-minute steps
    predicted = np.array([float(line.split(",")[2]) for line in lines[1:]])
    actual = cycle(36, start_row=1500, seed=99, noise=0.0)[:, 0]
    assert np.abs(predicted - actual).mean() < 2.0  # the cycle's amplitude is 10


def test_forecast_refuses_an_autoencoder(tmp_path: Path, small_csv: Path) -> None:
    from tsrnn.errors import ModelError
    from tsrnn.forecasting import forecast

    run = train(
        small_csv,
        model=ModelConfig(kind="autoencoder", window=8, hidden=8),
        config=TrainConfig(epochs=1),
        runs_dir=tmp_path,
    ).run
    with pytest.raises(ModelError, match="forecasting needs a forecaster"):
        forecast(run, small_csv, 5)


def test_resume_from_the_command_line_may_raise_the_epoch_limit(tmp_path: Path, small_csv: Path) -> None:
    from typer.testing import CliRunner

    from tsrnn_cli.main import app

    runner = CliRunner()
    first = runner.invoke(
        app, ["train", str(small_csv), "--runs-dir", str(tmp_path), "--epochs", "2", "--hidden", "8", "--quiet"]
    )
    assert first.exit_code == 0, first.stderr
    again = runner.invoke(
        app,
        [
            "train",
            str(small_csv),
            "--runs-dir",
            str(tmp_path),
            "--resume",
            "small",
            "--epochs",
            "4",
            "--hidden",
            "99",
            "--json",
            "--quiet",
        ],
    )
    assert again.exit_code == 0, again.stderr
    info = json.loads((tmp_path / "small" / "run.json").read_text())
    assert json.loads(again.stdout)["epochs_run"] > 2 and info["train"]["epochs"] == 4
    assert info["model"]["hidden"] == 8  # a resumed run keeps its own shape; only the epoch limit moved
