"""watch over growing files: each run scores only new rows, and the pieces add up to one run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from tests.conftest import SAMPLE
from tests.helpers import cycle, inject_spike, stamps, write_csv
from tsrnn.streaming.engine import watch
from tsrnn_cli.main import app


def lines_of(values: np.ndarray, start_row: int) -> list[str]:
    return [f"{ts},{v:.4f}" for ts, v in zip(stamps(len(values), start_row), values[:, 0])]


@pytest.mark.parametrize(
    "model", ["forecaster_onnx", "autoencoder_onnx", "diff_onnx", "windowed_onnx", "timefeat_onnx"]
)
def test_ten_increments_score_like_one_run(tmp_path: Path, model: str, request: pytest.FixtureRequest) -> None:
    onnx = request.getfixturevalue(model)
    values = inject_spike(cycle(600, start_row=2000, seed=7), 300, 8.0, length=3)
    rows = lines_of(values, 2000)
    whole = tmp_path / "whole.csv"
    whole.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    once = watch(whole, onnx, scores_out=tmp_path / "once.csv")

    growing = tmp_path / "growing.csv"
    growing.write_text("timestamp,value\n")
    parts = []
    cuts = [0, 1, 7, 31, 32, 33, 150, 299, 301, 450, 600]  # includes warm-up borders and the spike
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        with growing.open("a") as f:
            f.write("\n".join(rows[a:b]) + "\n")
        result = watch(growing, onnx, state=tmp_path / "w.state", scores_out=tmp_path / f"part{i}.csv")
        assert result.rows == b - a
        parts.append(pl.read_csv(tmp_path / f"part{i}.csv", schema_overrides={"expected": pl.Float64}))
    again = watch(growing, onnx, state=tmp_path / "w.state")
    assert again.rows == 0 and again.events == []  # nothing new: nothing scored twice

    joined = pl.concat(parts)
    expected = pl.read_csv(tmp_path / "once.csv")
    assert joined["timestamp"].to_list() == expected["timestamp"].to_list()
    assert np.allclose(joined["score"].to_numpy(), expected["score"].to_numpy(), atol=1e-5)
    assert np.allclose(joined["alert_score"].to_numpy(), expected["alert_score"].to_numpy(), atol=1e-5)
    assert joined["anomaly"].to_list() == expected["anomaly"].to_list()
    assert int(expected["anomaly"].sum()) >= 1  # the spike is found either way
    assert once.tally.warmup == 0  # the novelty and range channels start from the history: every row has a score


def test_file_without_final_newline_then_appended(tmp_path: Path, forecaster_onnx: Path) -> None:
    values = cycle(100, start_row=2000, seed=8)
    rows = lines_of(values, 2000)
    f = tmp_path / "m.csv"
    f.write_text("timestamp,value\n" + "\n".join(rows[:60]))  # no final newline
    assert watch(f, forecaster_onnx).rows == 60  # without a state: a finished file, its last line counts
    first = watch(f, forecaster_onnx, state=tmp_path / "s")
    assert first.rows == 59  # with a state: the last line may still be being written, it waits
    assert any("no newline yet" in n for n in first.notes)
    with f.open("a") as out:
        out.write("\n" + "\n".join(rows[60:]) + "\n")
    second = watch(f, forecaster_onnx, state=tmp_path / "s")
    assert second.rows == 41 and second.dropped == {} and not second.notes
    assert second.tally.first_time == rows[59].split(",")[0]


def test_a_half_written_last_line_is_not_scored_until_it_ends(tmp_path: Path, forecaster_onnx: Path) -> None:
    """A writer in the middle of a line: "...,9" of "...,97.5" must not be scored as 9 (a false alert)."""
    values = cycle(100, start_row=2000, seed=8)
    rows = lines_of(values, 2000)
    whole = rows[80].split(",")[0] + ",97.489756"
    f = tmp_path / "m.csv"
    f.write_text("timestamp,value\n" + "\n".join(rows[:80]) + "\n" + whole[:-8])  # the row cut after "9"
    args = {"state": tmp_path / "s", "scores_out": tmp_path / "scores.csv"}
    first = watch(f, forecaster_onnx, **args)
    assert first.rows == 80
    assert pl.read_csv(tmp_path / "scores.csv")["timestamp"].to_list()[-1] == rows[79].split(",")[0]
    with f.open("a") as out:
        out.write(whole[-8:] + "\n")
    second = watch(f, forecaster_onnx, **args)
    assert second.rows == 1 and second.dropped == {}
    scores = pl.read_csv(tmp_path / "scores.csv")
    assert scores.height == 81 and scores["value"].to_list()[-1] == 97.489756


def test_stdin_with_state_skips_rows_already_scored(tmp_path: Path, forecaster_onnx: Path) -> None:
    runner = CliRunner()
    rows = lines_of(cycle(80, start_row=2000, seed=9), 2000)
    args = ["watch", "-", "--model", str(forecaster_onnx), "--state", str(tmp_path / "s"), "--json", "--exit-zero"]
    first = runner.invoke(app, args, input="timestamp,value\n" + "\n".join(rows[:50]) + "\n")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["rows_scored"] == 50
    second = runner.invoke(app, args, input="timestamp,value\n" + "\n".join(rows) + "\n")  # the whole file again
    doc = json.loads(second.stdout)
    assert doc["rows_scored"] == 30
    assert doc["rows_dropped"] == {"timestamp not after the last scored row": 50}


def test_multivariate_sample_scores_every_column(tmp_path: Path) -> None:
    from tsrnn.config import ModelConfig, TrainConfig
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.train import train

    run = train(
        SAMPLE / "sensors_history.csv", model=ModelConfig(hidden=16), config=TrainConfig(epochs=4), runs_dir=tmp_path
    ).run
    onnx = export_onnx(run, tmp_path / "sensors.onnx").path
    result = watch(SAMPLE / "sensors_recent.csv", onnx, scores_out=tmp_path / "scores.csv")
    frame = pl.read_csv(tmp_path / "scores.csv")
    assert frame.columns == [
        "timestamp",
        "temperature_c",
        "humidity_pct",
        "power_kw",
        "expected_temperature_c",
        "expected_humidity_pct",
        "expected_power_kw",
        "score",
        "alert_score",
        "anomaly",
        "alert",
    ]
    assert frame.height == result.rows == 1008
    assert frame["score"].min() >= 0.0 and frame["score"].max() < 1.0


def test_overlapping_run_is_refused_while_the_state_is_locked(tmp_path: Path, forecaster_onnx: Path) -> None:
    from tsrnn.errors import StateError
    from tsrnn.streaming.state import StateLock

    f = write_csv(tmp_path / "m.csv", cycle(50, start_row=2000))
    with StateLock(tmp_path / "s"):
        with pytest.raises(StateError, match="another tsrnn watch"):
            watch(f, forecaster_onnx, state=tmp_path / "s")
    assert watch(f, forecaster_onnx, state=tmp_path / "s").rows == 50


@pytest.mark.parametrize("level", [7.0, 0.0])
def test_a_constant_history_flags_any_change(tmp_path: Path, level: float) -> None:
    from tsrnn.config import TrainConfig
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.train import train

    run = train(
        write_csv(tmp_path / "flat.csv", np.full((500, 1), level)), config=TrainConfig(epochs=10), runs_dir=tmp_path
    ).run
    onnx = export_onnx(run, tmp_path / "flat.onnx").path
    new = np.full((300, 1), level)
    assert watch(write_csv(tmp_path / "same.csv", new, start_row=500), onnx).events == []
    new[200] += 0.01
    events = watch(write_csv(tmp_path / "step.csv", new, start_row=500), onnx).events
    assert len(events) == 1 and events[0].start == stamps(1, 700)[0]


def test_a_missing_gpu_provider_falls_back_and_says_so(tmp_path: Path, forecaster_onnx: Path) -> None:
    runner = CliRunner()
    f = write_csv(tmp_path / "m.csv", cycle(60, start_row=2000))
    result = runner.invoke(
        app, ["watch", str(f), "--model", str(forecaster_onnx), "--provider", "cuda", "--json", "--exit-zero"]
    )
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["provider"] == "CPUExecutionProvider" and doc["requested_provider"] == "cuda"
    assert "asked for cuda" in result.stderr  # the report says the provider is not the one asked for
    auto = json.loads(
        runner.invoke(
            app, ["watch", str(f), "--model", str(forecaster_onnx), "--provider", "auto", "--json", "--exit-zero"]
        ).stdout
    )
    assert auto["provider"] == "CPUExecutionProvider"


def test_min_duration_keeps_one_row_blips_from_alerting(tmp_path: Path, forecaster_onnx: Path) -> None:
    runner = CliRunner()
    f = write_csv(tmp_path / "m.csv", inject_spike(cycle(300, start_row=2000, seed=3), 150, 8.0, 1), start_row=2000)
    base = ["watch", str(f), "--model", str(forecaster_onnx), "--json", "--cooldown", "0"]
    loud = runner.invoke(app, base)
    assert loud.exit_code == 1 and all(e["flagged"] < 3 for e in json.loads(loud.stdout)["events"])
    quiet = runner.invoke(app, [*base, "--min-duration", "3", "--scores-out", str(tmp_path / "s.csv")])
    assert quiet.exit_code == 0 and json.loads(quiet.stdout)["events"] == []
    # the rows are still marked in the scores file (an incident, from the flagged row until it is quiet again); no alert
    # is raised
    assert pl.read_csv(tmp_path / "s.csv")["anomaly"].sum() == json.loads(loud.stdout)["anomalous_rows"] > 0


def test_wait_takes_the_lock_when_the_other_run_ends(tmp_path: Path, forecaster_onnx: Path) -> None:
    import threading
    import time

    from tsrnn.streaming.state import StateLock

    f = write_csv(tmp_path / "m.csv", cycle(50, start_row=2000))
    holder = StateLock(tmp_path / "s").__enter__()
    threading.Timer(1.0, holder.__exit__, args=(None, None, None)).start()
    started = time.perf_counter()
    result = watch(f, forecaster_onnx, state=tmp_path / "s", wait=True)
    assert result.rows == 50 and time.perf_counter() - started >= 0.9


def test_a_directory_of_daily_files_is_one_stream(tmp_path: Path, forecaster_onnx: Path) -> None:
    d = tmp_path / "daily"
    d.mkdir()
    values = inject_spike(cycle(400, start_row=2000, seed=9), 350, 8.0, 3)
    write_csv(d / "day1.csv", values[:200], start_row=2000)
    first = watch(d, forecaster_onnx, state=tmp_path / "s", scores_out=tmp_path / "scores.csv")
    assert first.rows == 200 and first.events == []
    write_csv(d / "day2.csv", values[200:], start_row=2200)  # a new file the next day
    second = watch(d, forecaster_onnx, state=tmp_path / "s", scores_out=tmp_path / "scores.csv")
    assert second.rows == 200 and second.tally.warmup == 0  # the state carries over from day1
    assert [e.start for e in second.events] == [stamps(1, 2350)[0]]
    assert watch(str(d / "*.csv"), forecaster_onnx, scores_out=tmp_path / "all.csv").rows == 400
    once = pl.read_csv(tmp_path / "all.csv")
    both = pl.read_csv(tmp_path / "scores.csv", schema_overrides={"expected": pl.Float64})
    assert both["timestamp"].to_list() == once["timestamp"].to_list()
    assert np.allclose(both["score"].to_numpy(), once["score"].to_numpy(), atol=1e-5)


def test_onnxruntime_accepts_the_gpu_option_form_and_falls_back(forecaster_onnx: Path) -> None:
    from tsrnn.runtime.providers import GpuOptions
    from tsrnn.runtime.session import open_session

    session = open_session(
        forecaster_onnx, provider="auto", gpu=GpuOptions(device=1, trt_cache="/nonexistent", fp16=True)
    )
    assert session.get_providers() == ["CPUExecutionProvider"]  # no GPU here: auto ends on CPU, options and all


def test_small_slices_score_like_one_slice(
    tmp_path: Path, forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tsrnn.streaming.engine as engine

    f = write_csv(tmp_path / "m.csv", inject_spike(cycle(900, start_row=2000, seed=4), 500, 8.0, 2), start_row=2000)
    whole = watch(f, forecaster_onnx, scores_out=tmp_path / "whole.csv")
    monkeypatch.setattr(engine, "SLICE_BYTES", 700)  # about 25 rows per slice
    sliced = watch(f, forecaster_onnx, scores_out=tmp_path / "sliced.csv")
    a, b = pl.read_csv(tmp_path / "whole.csv"), pl.read_csv(tmp_path / "sliced.csv")
    assert a.height == b.height == 900 and a["timestamp"].to_list() == b["timestamp"].to_list()
    assert np.abs(a["score"].to_numpy() - b["score"].to_numpy()).max() < 1e-5
    assert [e.start for e in whole.events] == [e.start for e in sliced.events] and whole.events
    assert sliced.alerts == sliced.events  # an incident crossing a slice border is still new in this run
    assert sliced.summary()["rows_scored"] == 900 and sliced.summary()["warmup_rows"] == whole.summary()["warmup_rows"]


def test_an_incident_spanning_two_cron_runs_alerts_once(tmp_path: Path, forecaster_onnx: Path) -> None:
    """A spike near the end of one run is reported as ongoing (exit 1); the next run continues the
    same event and, with no new incident, exits 0; the run after the cooldown reports it ended."""
    runner = CliRunner()
    values = inject_spike(cycle(400, start_row=2000, seed=12), 297, 8.0, 1)
    rows = lines_of(values, 2000)
    f = tmp_path / "m.csv"
    state = tmp_path / "s.state"
    args = ["watch", str(f), "--model", str(forecaster_onnx), "--state", str(state), "--cooldown", "10", "--ndjson"]
    f.write_text("timestamp,value\n" + "\n".join(rows[:300]) + "\n")
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output
    events = [json.loads(line) for line in first.stdout.splitlines()]
    assert (
        events
        and events[-1]["start"] == rows[297].split(",")[0]
        and events[-1]["ongoing"]
        and not events[-1]["continued"]
    )
    with f.open("a") as out:
        out.write("\n".join(rows[300:305]) + "\n")  # inside the cooldown: the incident may go on
    second = runner.invoke(app, [*args[:-1], "--json"])
    assert second.exit_code == 0, second.output
    doc = json.loads(second.stdout)
    assert doc["alerts"] == 0 and [(e["start"], e["continued"], e["ongoing"]) for e in doc["events"]] == [
        (rows[297].split(",")[0], True, True)
    ]
    with f.open("a") as out:
        out.write("\n".join(rows[305:]) + "\n")
    third = runner.invoke(app, args)
    assert third.exit_code == 0, third.output
    closed = [json.loads(line) for line in third.stdout.splitlines()]
    assert [(e["start"], e["continued"], e["ongoing"]) for e in closed] == [(rows[297].split(",")[0], True, False)]


def test_the_reported_time_range_follows_time_not_text(tmp_path: Path, forecaster_onnx: Path) -> None:
    """Epoch seconds crossing 99,999 → 100,000 sort wrongly as text; the summary's range must not."""
    values = cycle(300, start_row=2000, seed=13)[:, 0]
    f = tmp_path / "epoch.csv"
    f.write_text("timestamp,value\n" + "".join(f"{99_000 + 60 * i},{v:.4f}\n" for i, v in enumerate(values)))
    summary = watch(f, forecaster_onnx).summary()
    assert summary["first_time"] == "99000" and summary["last_time"] == str(99_000 + 60 * 299)


def test_the_detector_goes_on_across_a_gap_within_one_read(tmp_path: Path, forecaster_onnx: Path) -> None:
    """A gap too long to fill splits the series into two segments: the model's state restarts after
    it, the detector's running statistics, memory and open incident do not, whether both segments
    arrive in one read or in two runs."""
    values = inject_spike(cycle(900, start_row=2000, seed=12), 440, 9.0, length=2)  # an incident just before the gap
    values = inject_spike(values, 470, 9.0, length=2)  # and again just after it, within the cooldown
    rows = lines_of(values, 2000)
    kept = rows[:450] + rows[460:]  # rows 450-459 missing: longer than --fill-limit 3
    whole = tmp_path / "whole.csv"
    whole.write_text("timestamp,value\n" + "\n".join(kept) + "\n")
    once = watch(whole, forecaster_onnx, scores_out=tmp_path / "once.csv")
    assert once.rows == 890 and once.events[0].start == stamps(1, 2440)[0]
    assert once.events[0].end >= stamps(1, 2470)[0] and all(
        e.start > once.events[0].end for e in once.events[1:]
    )  # one incident across the gap

    growing = tmp_path / "growing.csv"
    growing.write_text("timestamp,value\n" + "\n".join(kept[:450]) + "\n")
    first = watch(growing, forecaster_onnx, state=tmp_path / "s", scores_out=tmp_path / "a.csv")
    with growing.open("a") as f:
        f.write("\n".join(kept[450:]) + "\n")
    second = watch(growing, forecaster_onnx, state=tmp_path / "s", scores_out=tmp_path / "b.csv")
    assert first.rows + second.rows == 890 and all(
        e.start > stamps(1, 2480)[0] for e in second.alerts
    )  # the second run continues the incident
    joined = pl.concat([pl.read_csv(tmp_path / "a.csv"), pl.read_csv(tmp_path / "b.csv")])
    expected = pl.read_csv(tmp_path / "once.csv")
    assert np.array_equal(joined["score"].to_numpy(), expected["score"].to_numpy())
    assert np.array_equal(joined["alert_score"].to_numpy(), expected["alert_score"].to_numpy())
    state = json.loads((tmp_path / "s").read_text())["series"][""]
    assert (
        state["detector"]["rows"] == 890 and state["rows_seen"] == 440
    )  # the model restarted at the gap; the detector did not


def test_watch_overrides_apply_to_a_series_with_a_saved_state(tmp_path: Path, forecaster_onnx: Path) -> None:
    """--threshold, --threshold-method and --channels given to a later run apply to it, not the
    settings the state was saved under; a channel turned on later starts as for a new series."""
    rows = lines_of(cycle(600, start_row=2000, seed=14), 2000)
    data = tmp_path / "d.csv"
    state = tmp_path / "s"
    level = lambda: json.loads(state.read_text())["series"][""]["detector"]["threshold"]  # noqa: E731
    data.write_text("timestamp,value\n" + "\n".join(rows[:200]) + "\n")
    watch(data, forecaster_onnx, state=state, score={"channels": ("forecast",)})
    assert abs(level()["level"] - 0.7 / 0.3) < 1e-9
    with data.open("a") as f:
        f.write("\n".join(rows[200:400]) + "\n")
    second = watch(data, forecaster_onnx, state=state, score={"threshold": 0.99})  # and every channel again
    assert (
        second.rows == 200
        and abs(level()["level"] - 99.0) < 1e-6
        and second.settings.channels == ("forecast", "novelty", "range")
    )
    detector = json.loads(state.read_text())["series"][""]["detector"]
    assert set(detector["scales"]) == {"forecast", "novelty"} and detector["novelty"] is not None
    with data.open("a") as f:
        f.write("\n".join(rows[400:]) + "\n")
    third = watch(data, forecaster_onnx, state=state, score={"method": "pot"})
    assert third.rows == 200 and level()["method"] == "pot"


def test_json_output_has_no_nan(tmp_path: Path) -> None:
    from tsrnn_cli.options import to_json

    assert (
        to_json({"expected": [float("nan")], "ratio": float("inf"), "ok": 1.5})
        == '{"expected": [null], "ratio": null, "ok": 1.5}'
    )


def test_increments_of_a_resampled_model_score_like_one_run(tmp_path: Path, history_csv: Path) -> None:
    """The last scored row is carried into the next run by an explicit mark, not by a marker in the
    timestamp text, which --resample replaced (each run then restarted the model and wrote that row again)."""
    from tsrnn.config import DataConfig, ModelConfig, TrainConfig
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.train import train

    run = train(history_csv, model=ModelConfig(inputs="level"), config=TrainConfig(epochs=3), name="rs",
                data_config=DataConfig(resample="10m"), runs_dir=tmp_path / "runs")  # fmt: skip
    onnx = export_onnx(run.run, tmp_path / "rs.onnx").path
    rows = lines_of(cycle(400, start_row=2000, seed=9), 2000)  # 5-minute rows: two per 10-minute bucket
    whole = tmp_path / "whole.csv"
    whole.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    watch(whole, onnx, scores_out=tmp_path / "once.csv")
    once = pl.read_csv(tmp_path / "once.csv")
    growing = tmp_path / "growing.csv"
    growing.write_text("timestamp,value\n")
    parts = []
    for i, (a, b) in enumerate(zip([0, 2, 40, 100, 250], [2, 40, 100, 250, 400])):  # whole buckets per run
        with growing.open("a") as f:
            f.write("\n".join(rows[a:b]) + "\n")
        watch(growing, onnx, state=tmp_path / "s.state", scores_out=tmp_path / f"p{i}.csv")
        parts.append(pl.read_csv(tmp_path / f"p{i}.csv", schema_overrides={"expected": pl.Float64}))
    with growing.open("a") as f:  # half a bucket: scored as it stands; its other half, when it comes, is counted
        f.write(lines_of(cycle(1, start_row=2400, seed=9), 2400)[0] + "\n")
    assert watch(growing, onnx, state=tmp_path / "s.state").rows == 1
    with growing.open("a") as f:
        f.write(lines_of(cycle(2, start_row=2400, seed=9), 2400)[1] + "\n")
    late = watch(growing, onnx, state=tmp_path / "s.state")
    assert late.rows == 0 and late.dropped == {"arrived after its --resample bucket was scored": 1}
    joined = pl.concat(parts)
    assert joined["timestamp"].to_list() == once["timestamp"].to_list()  # no bucket written twice
    assert np.allclose(joined["score"].to_numpy(), once["score"].to_numpy(), atol=1e-5)
    assert np.allclose(joined["expected"].to_numpy()[1:], once["expected"].to_numpy()[1:], atol=1e-4, equal_nan=True)
