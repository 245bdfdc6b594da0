"""Forecasting settings chosen from the data (--inputs auto), training threads, and --target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.helpers import cycle, write_csv
from tsrnn.config import ModelConfig, TrainConfig
from tsrnn.errors import InputError, TsrnnError
from tsrnn.settings import resolve
from tsrnn.training.auto import auto_threads
from tsrnn.training.train import train
from tsrnn_cli.main import app

pytestmark = pytest.mark.slow


def _random_walk(path: Path) -> Path:
    rng = np.random.default_rng(5)
    return write_csv(path, np.cumsum(rng.normal(0.0, 1.0, 1500))[:, None])


def _noisy_cycle(path: Path) -> Path:
    """Stationary: a cycle of 24 rows under white noise larger than itself."""
    rng = np.random.default_rng(5)
    return write_csv(path, (5.0 * np.sin(2 * np.pi * np.arange(1500) / 24) + rng.normal(0.0, 3.0, 1500))[:, None])


@pytest.mark.parametrize(("make", "expected"), [(_random_walk, "diff"), (_noisy_cycle, "level")])
def test_inputs_auto_picks_by_validation_and_records_the_choice(tmp_path: Path, make, expected: str) -> None:
    data = make(tmp_path / "series.csv")
    result = runner_json(["train", str(data), "--runs-dir", str(tmp_path), "--epochs", "12", "--json", "--quiet"])
    choice = result["choices"]["inputs"]
    assert result["inputs"] == choice["chosen"] == expected
    losses = choice["validation_loss"]
    assert set(losses) == {"level", "diff"} and losses[expected] < losses["diff" if expected == "level" else "level"]
    info = json.loads((tmp_path / "series" / "run.json").read_text())
    assert info["model"]["inputs"] == expected  # the run (and its export) holds the choice, not "auto"
    assert info["summary"]["choices"] == result["choices"]
    text = CliRunner().invoke(
        app, ["train", str(data), "--runs-dir", str(tmp_path), "--name", "shown", "--epochs", "12"]
    )
    shown = text.stdout + text.stderr  # the human summary goes to stderr when stdout is not a terminal
    assert "chosen by --inputs auto" in shown and "validation loss" in shown


def test_an_explicit_inputs_setting_is_not_second_guessed(tmp_path: Path) -> None:
    data = _noisy_cycle(tmp_path / "series.csv")
    summary = train(data, model=ModelConfig(inputs="diff"), config=TrainConfig(epochs=2), runs_dir=tmp_path).summary
    assert summary["inputs"] == "diff" and summary["choices"] == {}


def runner_json(args: list[str]) -> dict:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_threads_are_set_for_training_recorded_and_given_back(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "h.csv", cycle(600, seed=1))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        summary = train(
            data, model=ModelConfig(inputs="level"), config=TrainConfig(epochs=1, threads=1), runs_dir=tmp_path
        ).summary
        assert summary["threads"] == 1 and torch.get_num_threads() == 2  # the caller's setting is given back
    finally:
        torch.set_num_threads(before)
    assert auto_threads(ModelConfig()) == 1 and auto_threads(ModelConfig(hidden=64), cores=8, load=0.0) == 1
    assert (
        auto_threads(ModelConfig(hidden=512), cores=4, load=0.2) == 4
        and auto_threads(ModelConfig(hidden=512), cores=2, load=1.9) == 1
    )
    resolved = resolve({}, {"TSRNN_THREADS": "2"})
    assert resolved.train.threads == 2 and resolved.sources["threads"] == "env TSRNN_THREADS"
    summary = runner_json(
        [
            "train",
            str(data),
            "--runs-dir",
            str(tmp_path),
            "--name",
            "t2",
            "--epochs",
            "1",
            "--inputs",
            "level",
            "--threads",
            "2",
            "--json",
            "--quiet",
        ]
    )
    assert summary["threads"] == 2
    shown = CliRunner().invoke(
        app, ["train", str(data), "--runs-dir", str(tmp_path), "--name", "t3", "--epochs", "1", "--inputs", "level"]
    )
    assert "on 1 torch thread" in shown.stdout + shown.stderr
    with pytest.raises(TsrnnError, match="--threads"):
        TrainConfig(threads=-1)


def _driven(rows: int = 1200) -> np.ndarray:
    """v1 follows v0 three rows later: only a model that reads v0 can forecast v1's jumps."""
    rng = np.random.default_rng(0)
    driver = np.repeat(rng.normal(0.0, 5.0, rows // 20), 20)[:rows] + rng.normal(0.0, 0.1, rows)
    follower = np.concatenate([np.zeros(3), driver[:-3]]) + rng.normal(0.0, 0.1, rows)
    return np.column_stack([driver, follower])


def test_target_forecasts_one_column_from_all_of_them(tmp_path: Path) -> None:
    from tsrnn.forecasting import forecast, rolling_forecasts

    values = _driven()
    data = write_csv(tmp_path / "pair.csv", values)
    run = train(
        data,
        model=ModelConfig(target="v1", horizon=3, inputs="level"),
        config=TrainConfig(epochs=40, seed=0),
        runs_dir=tmp_path,
    ).run
    alone = train(
        data,
        model=ModelConfig(horizon=3, inputs="level"),
        data_config=None,
        config=TrainConfig(epochs=40, seed=0),
        runs_dir=tmp_path,
        name="both",
    ).run
    assert run.info["model"]["target"] == "v1" and run.info["summary"]["target"] == "v1"
    net = run.load_model()
    assert net.targets == [1] and net.head.out_features == 3  # one column, three rows ahead
    frame = forecast(run, data, 3).frame
    assert frame.columns == ["timestamp", "step", "v1"] and frame.height == 3
    origins = np.arange(900, 1190)
    times = np.array([np.datetime64("2024-01-01T00:00:00") + np.timedelta64(5 * i, "m") for i in range(len(values))])
    made = rolling_forecasts(run, values, times, origins, 3)
    assert made.shape == (len(origins), 3, 1)
    both = rolling_forecasts(alone, values, times, origins, 3)
    assert both.shape == (len(origins), 3, 2)
    target_error = np.abs(made[:, 2, 0] - values[origins + 3, 1]).mean()
    persistence = np.abs(values[origins, 1] - values[origins + 3, 1]).mean()
    assert target_error < 0.5 * persistence  # it reads v0 to see v1's jumps coming
    with pytest.raises(InputError, match="at most its --horizon"):
        forecast(run, data, 4)


def test_an_unknown_target_names_the_columns(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "pair.csv", _driven(300))
    with pytest.raises(InputError, match="v0, v1"):
        train(data, model=ModelConfig(target="OT"), config=TrainConfig(epochs=1), runs_dir=tmp_path)
    result = CliRunner().invoke(app, ["train", str(data), "--runs-dir", str(tmp_path), "--target", "OT"])
    assert result.exit_code == 2 and "--target 'OT' is not a value column" in result.stderr
    with pytest.raises(TsrnnError, match="--target works with the stateful forecaster"):
        ModelConfig(kind="autoencoder", target="v1")


def test_a_target_model_exports_and_watch_scores_that_column(tmp_path: Path) -> None:
    import polars as pl

    from tsrnn.export.onnx import export_onnx
    from tsrnn.streaming.engine import watch

    values = _driven(1400)
    history = write_csv(tmp_path / "pair.csv", values[:1000])
    run = train(
        history, model=ModelConfig(target="v1", horizon=3), config=TrainConfig(epochs=20, seed=0), runs_dir=tmp_path
    ).run
    exported = export_onnx(run, tmp_path / "pair.onnx")
    assert exported.metadata.target == "v1" and exported.metadata.scored_columns == ["v1"]
    assert max(exported.parity.values()) < 1e-3
    recent = values[1000:].copy()
    recent[200, 1] += 80.0  # v1 jumps where v0 said nothing
    data = write_csv(tmp_path / "recent.csv", recent, start_row=1000)
    result = watch(data, exported.path, scores_out=tmp_path / "scores.csv")
    scores = pl.read_csv(tmp_path / "scores.csv")
    assert (
        scores.columns[:3] == ["timestamp", "v1", "expected"] and "v0" not in scores.columns
    )  # the scored column alone
    assert scores.height == 400 and result.rows == 400
    flagged = scores.filter(pl.col("alert") == 1)["timestamp"].to_list()
    assert any(t == scores["timestamp"][200] for t in flagged)
    assert all(e.columns == ["v1"] for e in result.events)


@pytest.mark.parametrize("inputs", ["level", "diff"])
def test_rolling_forecasts_at_the_last_row_are_what_tsrnn_forecast_says(tmp_path: Path, inputs: str) -> None:
    """Beyond the horizon (rolled on its own predictions, with time features and changes fed back)
    the batched rolling path must give exactly `tsrnn forecast`'s rows."""
    from tsrnn.forecasting import forecast, rolling_forecasts

    values = cycle(900, seed=4)
    data = write_csv(tmp_path / "c.csv", values)
    run = train(
        data, model=ModelConfig(horizon=4, inputs=inputs), config=TrainConfig(epochs=3, seed=0), runs_dir=tmp_path
    ).run
    assert run.model_config.time_features == "day"
    said = forecast(run, data, 11).frame["value"].to_numpy()
    times = np.array([np.datetime64("2024-01-01T00:00:00") + np.timedelta64(5 * i, "m") for i in range(len(values))])
    rolled = rolling_forecasts(run, values, times, np.array([700, len(values) - 1]), 11)
    assert rolled.shape == (2, 11, 1)
    np.testing.assert_allclose(rolled[1, :, 0], said, rtol=1e-5, atol=1e-4)
    with pytest.raises(InputError, match="increasing"):
        rolling_forecasts(run, values, times, np.array([5, 5]), 3)
