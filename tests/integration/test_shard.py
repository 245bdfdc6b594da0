"""`watch --shard I/N`: N jobs, one state each, score together what one run scores, each row once."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from tests.integration.test_fleet import HOSTS, fleet_model, fleet_rows  # noqa: F401 (fleet_model: a fixture)
from tsrnn.errors import StateError, TsrnnError
from tsrnn.streaming.engine import watch
from tsrnn.streaming.shard import shard_of
from tsrnn_cli.main import app

KEY = ["host", "timestamp"]
N = 3


@pytest.fixture(scope="module")
def fleet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 series, 80 rows each, in time order (hosts interleaved), a spike on web007."""
    path = tmp_path_factory.mktemp("shard") / "fleet.csv"
    rows = sorted(fleet_rows(600, 80, spike=("web007", 650), hosts=HOSTS[:20]))
    path.write_text("timestamp,host,value\n" + "\n".join(rows) + "\n")
    return path


def read_scores(*paths: Path) -> pl.DataFrame:
    return pl.concat([pl.read_csv(p, infer_schema=False) for p in paths])  # every cell as written


def assert_same_rows(shards: pl.DataFrame, once: pl.DataFrame) -> None:
    assert shards.select(KEY).is_duplicated().sum() == 0  # no row twice
    assert_frame_equal(shards.sort(KEY), once.sort(KEY))  # row for row, cell for cell


def test_n_shards_score_exactly_the_rows_of_one_run(tmp_path: Path, fleet_model: Path, fleet_file: Path) -> None:  # noqa: F811
    once = watch(fleet_file, fleet_model, scores_out=tmp_path / "once.csv", channel_scores=True)
    assert once.rows == 1600 and once.to_dict()["shard"] is None
    results = [
        watch(fleet_file, fleet_model, scores_out=tmp_path / f"s{i}.csv", channel_scores=True, shard=f"{i}/{N}")
        for i in range(N)
    ]
    assert sum(r.rows for r in results) == once.rows
    for i, r in enumerate(results):
        assert r.rows and r.other_shards == once.rows - r.rows and r.to_dict()["rows_other_shards"] == r.other_shards
        assert r.tally.series == {h for h in HOSTS[:20] if shard_of(h, N) == i}
    assert [e.series for r in results for e in r.events] == [e.series for e in once.events] == ["web007"]
    assert_same_rows(read_scores(*(tmp_path / f"s{i}.csv" for i in range(N))), read_scores(tmp_path / "once.csv"))


def test_n_shards_with_states_over_two_increments(tmp_path: Path, fleet_model: Path, fleet_file: Path) -> None:  # noqa: F811
    watch(fleet_file, fleet_model, scores_out=tmp_path / "once.csv")
    lines = fleet_file.read_text().splitlines(keepends=True)
    growing = tmp_path / "growing.csv"
    growing.write_text("".join(lines[:900]))  # the header and 899 rows: the second part starts mid-timestamp
    runner = CliRunner()
    for part in (1, 2):
        if part == 2:
            growing.write_text("".join(lines))
        for i in range(N):
            args = ["watch", str(growing), "--model", str(fleet_model), "--shard", f"{i}/{N}", "--exit-zero"]
            args += ["--state", str(tmp_path / f"{i}.state"), "--scores-out", str(tmp_path / f"s{i}.csv"), "--json"]
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.stderr
            doc = json.loads(result.stdout)
            assert doc["shard"] == f"{i}/{N}" and doc["rows_scored"] + doc["rows_other_shards"] == (
                899 if part == 1 else 1600 - 899
            )
    for i in range(N):
        state = json.loads((tmp_path / f"{i}.state").read_text())
        assert state["shard"] == f"{i}/{N}" and all(shard_of(h, N) == i for h in state["series"])
    assert_same_rows(read_scores(*(tmp_path / f"s{i}.csv" for i in range(N))), read_scores(tmp_path / "once.csv"))


def test_the_report_counts_the_rows_of_other_shards(fleet_model: Path, fleet_file: Path) -> None:  # noqa: F811
    result = CliRunner().invoke(app, ["watch", str(fleet_file), "--model", str(fleet_model), "--shard", "2/3"])
    assert result.exit_code in (0, 1), result.stderr
    mine = sum(80 for h in HOSTS[:20] if shard_of(h, N) == 2)
    assert f"rows of other shards  {1600 - mine:,} (not scored: this is shard 2/3)" in result.output


def one_line_error(args: list[str], *fragments: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsrnn: error: "), result.stderr
    assert all(f in lines[0] for f in fragments), lines[0]


@pytest.mark.parametrize("bad", ["1/1", "-1/2", "a/b", "2", "3/2", "0/0"])
def test_a_bad_shard_is_one_line(bad: str, fleet_model: Path, fleet_file: Path) -> None:  # noqa: F811
    one_line_error(["watch", str(fleet_file), "--model", str(fleet_model), "--shard", bad], f"--shard {bad}:", "I/N")


def test_a_model_without_an_id_column_has_no_shards(tmp_path: Path, forecaster_onnx: Path, history_csv: Path) -> None:
    args = ["watch", str(history_csv), "--model", str(forecaster_onnx), "--quiet", "--exit-zero"]
    one_line_error([*args, "--shard", "1/2"], "--shard 1/2", "no id column")
    assert watch(history_csv, forecaster_onnx, shard="0/1").rows == 2000  # one shard: every row


def test_a_state_belongs_to_one_shard(tmp_path: Path, fleet_model: Path, fleet_file: Path) -> None:  # noqa: F811
    state = tmp_path / "s.state"
    watch(fleet_file, fleet_model, state=state, shard=(0, 2))
    args = ["watch", str(fleet_file), "--model", str(fleet_model), "--state", str(state)]
    one_line_error([*args, "--shard", "1/2"], "written with --shard 0/2, not with --shard 1/2")
    one_line_error(args, "written with --shard 0/2, not without --shard")
    watch(fleet_file, fleet_model, state=tmp_path / "plain.state")
    with pytest.raises(StateError, match="written without --shard, not with --shard 0/2"):
        watch(fleet_file, fleet_model, state=tmp_path / "plain.state", shard="0/2")
    with pytest.raises(TsrnnError, match="--shard 2/2"):
        watch(fleet_file, fleet_model, shard=(2, 2))


def test_follow_scores_one_shard(tmp_path: Path, fleet_model: Path, fleet_file: Path) -> None:  # noqa: F811
    from tsrnn.streaming.follow import follow

    state = tmp_path / "f.state"
    result = follow(fleet_file, fleet_model, state=state, seconds=0, shard="1/3")
    mine = sum(80 for h in HOSTS[:20] if shard_of(h, N) == 1)
    assert (result.rows, result.other_shards, result.to_dict()["rows_other_shards"]) == (mine, 1600 - mine, 1600 - mine)
    assert json.loads(state.read_text())["shard"] == "1/3"
