"""Long format (`--id-column`): one model across series, one state per series in watch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.helpers import cycle, stamps
from tsrnn.streaming.engine import watch

HOSTS = [f"web{i:03d}" for i in range(100)]  # watch scores 100 series; the model trains on the first 12


def fleet_rows(start: int, rows: int, spike: tuple[str, int] | None = None, hosts: list[str] = HOSTS) -> list[str]:
    out = []
    for k, host in enumerate(hosts):
        values = cycle(rows, start_row=start, seed=100 + k)[:, 0] + k % 12  # each host its own level
        if spike and spike[0] == host:
            values[spike[1] - start] += 8.0
        out += [f"{ts},{host},{v:.4f}" for ts, v in zip(stamps(rows, start), values)]
    return out


@pytest.fixture(scope="module")
def fleet_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tsrnn.config import DataConfig, TrainConfig
    from tsrnn.export.onnx import export_onnx
    from tsrnn.training.train import train

    d = tmp_path_factory.mktemp("fleet")
    (d / "history.csv").write_text("timestamp,host,value\n" + "\n".join(fleet_rows(0, 600, hosts=HOSTS[:12])) + "\n")
    result = train(
        d / "history.csv", config=TrainConfig(epochs=20), data_config=DataConfig(id_column="host"), runs_dir=d / "runs"
    )
    assert result.summary["series"] == 12
    return export_onnx(result.run, d / "fleet.onnx").path


def test_fleet_in_increments_matches_one_run_and_names_the_series(tmp_path: Path, fleet_model: Path) -> None:
    rows = fleet_rows(600, 100, spike=("web007", 660))
    by_time = sorted(rows)  # the file grows in time order, all hosts interleaved
    whole = tmp_path / "whole.csv"
    whole.write_text("timestamp,host,value\n" + "\n".join(by_time) + "\n")
    once = watch(whole, fleet_model, scores_out=tmp_path / "once.csv")
    assert once.rows == 10_000 and {e.series for e in once.events} == {"web007"}

    growing = tmp_path / "growing.csv"
    growing.write_text("timestamp,host,value\n")
    frames = []
    for i, (a, b) in enumerate([(0, 4000), (4000, 4100), (4100, 10_000)]):  # 4100 - 4000: one new row per host
        with growing.open("a") as f:
            f.write("\n".join(by_time[a:b]) + "\n")
        result = watch(growing, fleet_model, state=tmp_path / "s", scores_out=tmp_path / f"p{i}.csv")
        assert result.rows == b - a
        frames.append(pl.read_csv(tmp_path / f"p{i}.csv", schema_overrides={"expected": pl.Float64}))
    state = json.loads((tmp_path / "s").read_text())
    assert sorted(state["series"]) == HOSTS and all(s["rows_seen"] == 100 for s in state["series"].values())

    key = ["host", "timestamp"]
    joined = pl.concat(frames).sort(key)
    expected = pl.read_csv(tmp_path / "once.csv").sort(key)
    assert joined["timestamp"].to_list() == expected["timestamp"].to_list()
    assert np.allclose(joined["score"].to_numpy(), expected["score"].to_numpy(), atol=1e-5)
    assert joined["anomaly"].to_list() == expected["anomaly"].to_list()


def test_one_new_row_per_series_is_one_batched_call(tmp_path: Path, fleet_model: Path) -> None:
    from tsrnn.export.metadata import read_metadata
    from tsrnn.runtime.inferencer import ForecasterRunner
    from tsrnn.runtime.session import open_session

    meta = read_metadata(fleet_model)
    runner = ForecasterRunner(open_session(fleet_model), meta)
    calls = []
    real_run = runner.session.run

    class Counting:
        def run(self, *args, **kwargs):
            calls.append(args[1]["x"].shape)
            return real_run(*args, **kwargs)

    runner.session = Counting()
    jobs = [(np.array([[float(k)]]), runner.initial()) for k in range(len(HOSTS))]
    times = [np.array(["2024-01-03T00:00"], "datetime64[us]")] * len(jobs)  # the model reads the time of day
    outputs = runner.run_many(jobs, times)
    assert calls == [(100, 1, 1)] and len(outputs) == 100
    alone = ForecasterRunner(open_session(fleet_model), meta).run_many([jobs[5]], times[:1])[0]
    assert np.allclose(alone[2]["h"], outputs[5][2]["h"], atol=1e-6)


def test_watch_warns_when_data_arrives_at_another_interval(tmp_path: Path, fleet_model: Path) -> None:
    rows = [f"2024-02-01 {h:02d}:00:00,web001,{50 + h % 3}" for h in range(24)]  # hourly, model saw 5 minutes
    path = tmp_path / "hourly.csv"
    path.write_text("timestamp,host,value\n" + "\n".join(rows) + "\n")
    result = watch(path, fleet_model)
    assert any("every 3600 s" in n and "every 300 s" in n for n in result.notes)
