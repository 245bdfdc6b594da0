"""tsrnn evaluate on real watch output, the threshold methods and error kinds end to end, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import cycle, inject_spike, stamps, write_csv
from tsrnn.config import ModelConfig, ScoreConfig, TrainConfig
from tsrnn.export.metadata import read_metadata
from tsrnn.export.onnx import export_onnx
from tsrnn.streaming.engine import watch
from tsrnn.training.train import train
from tsrnn_cli.main import app


def _labelled(tmp_path: Path, spike_row: int) -> tuple[Path, Path]:
    data = write_csv(
        tmp_path / "m.csv", inject_spike(cycle(1200, start_row=2000, seed=21), spike_row, 9.0, 3), start_row=2000
    )
    times = stamps(1200, 2000)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"m.csv": [[times[spike_row - 5], times[spike_row + 15]]]}))
    return data, labels


def test_evaluate_finds_the_labelled_spike_and_reports_every_metric(tmp_path: Path, forecaster_onnx: Path) -> None:
    data, labels = _labelled(tmp_path, 700)
    scores_dir = tmp_path / "scores"
    watch(data, forecaster_onnx, scores_out=scores_dir / "m.csv")
    result = CliRunner().invoke(app, ["evaluate", str(scores_dir), "--labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["files"] == 1 and doc["windows"] == 1
    assert doc["nab"]["standard"]["windows_found"] == 1 and doc["nab"]["standard"]["score"] > 50
    assert set(doc["nab"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert doc["events"]["windows_found"] == 1 and doc["events"]["recall"] == 1.0
    assert 0 < doc["point_adjusted_f1"] <= 1 and doc["forecast"]["mae"] > 0 and 0 < doc["forecast"]["mase"] < 5
    assert doc["windows_in_probation"] == 0
    human = CliRunner().invoke(app, ["evaluate", str(scores_dir / "m.csv"), "--labels", str(labels)])
    assert human.exit_code == 0 and "NAB standard" in human.output
    assert "Numenta HTM 70.5" in human.output and "for context only" in human.output  # context, not a ranking


def test_windows_in_the_probationary_period_are_counted_not_dropped(tmp_path: Path, forecaster_onnx: Path) -> None:
    data, _ = _labelled(tmp_path, 700)
    times = stamps(1200, 2000)
    labels = tmp_path / "both.json"
    labels.write_text(
        json.dumps({"m.csv": [[times[40], times[60]], [times[695], times[715]]]})
    )  # 40-60: inside the first 180 rows
    watch(data, forecaster_onnx, scores_out=tmp_path / "s" / "m.csv")
    doc = json.loads(
        CliRunner().invoke(app, ["evaluate", str(tmp_path / "s"), "--labels", str(labels), "--json"]).stdout
    )
    assert doc["windows"] == 1 and doc["windows_in_probation"] == 1 and doc["per_file"][0]["windows_in_probation"] == 1
    human = CliRunner().invoke(app, ["evaluate", str(tmp_path / "s"), "--labels", str(labels)])
    assert "1 labelled window(s) start in a probationary period" in human.output


@pytest.mark.parametrize(
    ("pick", "message"),
    [
        (lambda t: [t[715], t[695]], "ends before it starts; swap its two times"),
        (lambda t: ["2019-01-01 00:00:00", "2019-01-02 00:00:00"], "lies outside the scored rows"),
        (lambda t: ["2030-01-01 00:00:00", "2030-01-02 00:00:00"], "lies outside the scored rows"),
    ],
)
def test_a_window_backwards_or_outside_the_data_is_named(
    tmp_path: Path, forecaster_onnx: Path, pick: object, message: str
) -> None:
    """Before, such a window was silently 'no labelled window' (or a miss): now evaluate says which and why."""
    data, _ = _labelled(tmp_path, 700)
    labels = tmp_path / "bad.json"
    labels.write_text(json.dumps({"m.csv": [pick(stamps(1200, 2000))]}))  # type: ignore[operator]
    watch(data, forecaster_onnx, scores_out=tmp_path / "s" / "m.csv")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "s"), "--labels", str(labels)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and "window 1" in result.stderr


def test_a_long_format_scores_file_is_scored_per_series(tmp_path: Path, forecaster_onnx: Path) -> None:
    import polars as pl

    data, _ = _labelled(tmp_path, 700)
    watch(data, forecaster_onnx, scores_out=tmp_path / "one.csv")
    one = pl.read_csv(tmp_path / "one.csv")
    clean = pl.read_csv(data).with_columns(pl.lit("b").alias("host"))
    watch(
        write_csv(tmp_path / "b.csv", cycle(1200, start_row=2000, seed=22), start_row=2000),
        forecaster_onnx,
        scores_out=tmp_path / "two.csv",
    )
    two = pl.read_csv(tmp_path / "two.csv")
    long = pl.concat([one.insert_column(1, pl.lit("a").alias("host")), two.insert_column(1, pl.lit("b").alias("host"))])
    (tmp_path / "long").mkdir()
    long.write_csv(tmp_path / "long" / "fleet.csv")
    times = stamps(1200, 2000)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"fleet.csv:a": [[times[695], times[715]]], "b": []}))
    doc = json.loads(
        CliRunner().invoke(app, ["evaluate", str(tmp_path / "long"), "--labels", str(labels), "--json"]).stdout
    )
    assert doc["files"] == 2 and doc["windows"] == 1 and doc["events"]["windows_found"] == 1
    assert [f["file"] for f in doc["per_file"]] == ["fleet.csv:a", "fleet.csv:b"] and clean.height == 1200
    assert doc["forecast"]["series"] == 2 and "mae" not in doc["forecast"]  # MAE in two series' units is not averaged


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "--labels", "{labels}"], "no such file or directory"),
        (["{scores}", "--labels", "nope.json"], "no such labels file"),
        (["{scores}", "--labels", "{bad_labels}"], "not valid JSON"),
        (["{scores}", "--labels", "{labels}", "--label-key", "other.csv"], "not a key"),
        (["{other}", "--labels", "{labels}"], "no scores file matches"),
        (["{data}", "--labels", "{labels}"], "no score, anomaly column"),
        (["{long}", "--labels", "{labels}"], "name them per series"),
    ],
)
def test_evaluate_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    data, labels = _labelled(tmp_path, 700)
    scores = tmp_path / "s" / "m.csv"
    scores.parent.mkdir()
    scores.write_text("timestamp,value,score,anomaly\n2020-01-01 00:00:00,1,0.1,0\n")
    other = tmp_path / "o" / "x.csv"
    other.parent.mkdir()
    other.write_text("timestamp,value,score,anomaly\n2020-01-01 00:00:00,1,0.1,0\n")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    long = tmp_path / "l" / "m.csv"
    long.parent.mkdir()
    long.write_text(
        "timestamp,host,value,score,anomaly\n2020-01-01 00:00:00,web1,1,0.1,0\n2020-01-01 00:00:00,web2,1,0.1,0\n"
    )
    paths = {
        "labels": labels,
        "scores": scores,
        "bad_labels": bad,
        "other": other,
        "data": tmp_path / "d" / "m.csv",
        "long": long,
    }
    paths["data"].parent.mkdir()
    paths["data"].write_text(data.read_text())
    result = CliRunner().invoke(app, ["evaluate", *[a.format(**paths) for a in args]])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


@pytest.mark.parametrize("method", ["quantile", "pot", "dynamic"])
def test_each_threshold_method_is_stored_in_the_model_and_overridable(
    tmp_path: Path, history_csv: Path, forecaster_onnx: Path, method: str
) -> None:
    run = train(
        history_csv,
        model=ModelConfig(inputs="level"),
        config=TrainConfig(epochs=3, seed=0),
        name=f"t-{method}",
        runs_dir=tmp_path / "runs",
        score=ScoreConfig(threshold_method=method, risk=1e-3),
    )
    onnx = export_onnx(run.run, tmp_path / f"{method}.onnx").path
    assert read_metadata(onnx).scorer_calibration.method == method
    data, _ = _labelled(tmp_path, 700)
    result = watch(data, onnx, scores_out=tmp_path / "s.csv")
    assert result.settings.method == method and result.summary()["threshold_method"] == method
    assert any(
        e.start == stamps(1200, 2000)[700] for e in result.events
    )  # the 9-sigma spike is found whatever the method
    fixed = watch(data, forecaster_onnx, score={"method": method})  # overridden at watch time
    assert fixed.settings.method == method and fixed.events


@pytest.mark.parametrize("kind", ["horizon", "both", "blend", "auto"])
def test_the_horizon_error_is_calibrated_and_scored_alike_in_training_and_watch(
    tmp_path: Path, history_csv: Path, kind: str
) -> None:
    run = train(
        history_csv,
        model=ModelConfig(horizon=6),
        config=TrainConfig(epochs=3, seed=0),
        name="h6",
        runs_dir=tmp_path / "runs",
        score=ScoreConfig(error=kind),
    )
    onnx = export_onnx(run.run, tmp_path / "h6.onnx").path
    cal = read_metadata(onnx).scorer_calibration
    assert cal.error == ("blend" if kind == "auto" else kind)  # auto: blend, as the rows are regular (5 minutes apart)
    assert (
        (cal.error_norms[0] > 0 and cal.error_norms != [1.0, 1.0])
        if cal.error in ("both", "blend")
        else cal.error_norms == [1.0, 1.0]
    )
    clean = watch(
        write_csv(tmp_path / "clean.csv", cycle(3000, start_row=2000, seed=30), start_row=2000),
        onnx,
        scores_out=tmp_path / "c.csv",
        channel_scores=True,
    )
    import polars as pl

    scores = pl.read_csv(tmp_path / "c.csv")["score_forecast"].to_numpy()[100:]
    # validation and watch errors come from one function: on clean data of the same kind, about 1 %
    # of rows exceed the validation 99th percentile (score 0.5)
    assert np.mean(scores >= 0.5) < 0.05 and clean.rows == 3000
    bad = CliRunner().invoke(
        app,
        ["train", str(history_csv), "--model", "autoencoder", "--error", "horizon", "--runs-dir", str(tmp_path / "r")],
    )
    assert bad.exit_code == 2 and "needs the stateful forecaster" in bad.stderr


def test_blend_carries_a_day_of_rows_across_runs(tmp_path: Path, history_csv: Path) -> None:
    """The seasonal part needs the rows of a day before: kept in the state, two runs score as one."""
    import polars as pl

    run = train(
        history_csv,
        model=ModelConfig(horizon=4),
        config=TrainConfig(epochs=2, seed=0),
        name="bl",
        runs_dir=tmp_path / "runs",
        score=ScoreConfig(error="blend"),
    )
    onnx = export_onnx(run.run, tmp_path / "bl.onnx").path
    values = inject_spike(cycle(3200, start_row=2000, seed=40), 2500, 8.0, 2)
    whole = write_csv(tmp_path / "whole.csv", values, start_row=2000)
    once = watch(whole, onnx, scores_out=tmp_path / "once.csv")
    part = tmp_path / "part.csv"
    lines = whole.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:1800]))
    watch(part, onnx, state=tmp_path / "s.state", scores_out=tmp_path / "parts.csv")
    with part.open("a") as f:
        f.write("".join(lines[1800:]))
    watch(part, onnx, state=tmp_path / "s.state", scores_out=tmp_path / "parts.csv")
    a, b = pl.read_csv(tmp_path / "once.csv"), pl.read_csv(tmp_path / "parts.csv")
    assert a.height == b.height == 3200 and np.abs(a["score"].to_numpy() - b["score"].to_numpy()).max() < 1e-5
    assert any(e.start == stamps(3200, 2000)[2500] for e in once.events)


def test_mahalanobis_error_on_the_sensor_sample_finds_its_fault(tmp_path: Path) -> None:
    from tests.conftest import SAMPLE

    run = train(
        SAMPLE / "sensors_history.csv",
        model=ModelConfig(),
        config=TrainConfig(epochs=6, seed=0),
        name="sens",
        runs_dir=tmp_path / "runs",
        score=ScoreConfig(error="mahalanobis"),
    )
    onnx = export_onnx(run.run, tmp_path / "sens.onnx").path
    cal = read_metadata(onnx).scorer_calibration
    assert cal.error == "mahalanobis" and np.asarray(cal.inverse_cov).shape == (3, 3)
    result = watch(SAMPLE / "sensors_recent.csv", onnx)
    labels = json.loads((SAMPLE / "sensors_labels.json").read_text())
    ((start, end),) = labels["sensors_recent.csv"]
    # the fault warms the room slowly (a ramp a forecaster follows); its end, when cooling returns, is
    # the sharp break: found there, within an hour of the labelled window
    assert any(start <= e.start <= "2024-03-22 14:50:00" for e in result.events) and len(result.events) <= 3


def test_numeric_series_ids_are_split_with_id_column(tmp_path: Path) -> None:
    rows = ["timestamp,host,value,expected,score,alert_score,anomaly"]
    rows += [f"{t},{host},{i},{i},0.1,0.1,0" for host in ("101", "202") for i, t in enumerate(stamps(300))]
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "fleet.csv").write_text("\n".join(rows) + "\n")
    labels = tmp_path / "l.json"
    labels.write_text(json.dumps({"fleet.csv:101": [[stamps(300)[100], stamps(300)[120]]], "202": []}))
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "s"), "--labels", str(labels), "--id-column", "host", "--json"]
    )
    doc = json.loads(result.stdout)
    assert [(f["file"], f["rows"]) for f in doc["per_file"]] == [("fleet.csv:101", 300), ("fleet.csv:202", 300)]
    assert (
        doc["forecast"]["series"] == 2 and doc["forecast"]["mase"] == 0.0
    )  # value and expected agree: the id is not a value
    missing = CliRunner().invoke(app, ["evaluate", str(tmp_path / "s"), "--labels", str(labels), "--id-column", "site"])
    assert missing.exit_code == 2 and "no column 'site'" in missing.stderr
