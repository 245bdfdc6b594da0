"""Pictures: scores, training curves and the HTML report, checked for what a reader needs in them."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tsrnn.report.html import external_urls
from tsrnn_cli.main import app

pytest.importorskip("matplotlib")
runner = CliRunner()


def scores_csv(path: Path, rows: int = 600, events: tuple[tuple[int, int], ...] = ((200, 230), (400, 410))) -> Path:
    """A two-column scores file as `watch --scores-out` writes it, with anomalous runs at `events`."""
    t = np.arange(rows)
    stamps = np.datetime64("2024-01-01T00:00") + t.astype("timedelta64[m]") * 5
    a, b = np.sin(t / 20), np.cos(t / 30) * 10
    score = np.full(rows, 0.1)
    anomaly = np.zeros(rows, int)
    for lo, hi in events:
        score[lo:hi], anomaly[lo:hi] = 0.9, 1
    lines = ["timestamp,a,b,expected_a,expected_b,score,alert_score,anomaly,alert"]
    for i in range(rows):
        when = np.datetime_as_string(stamps[i], unit="s").replace("T", " ")
        lines.append(
            f"{when},{a[i]:.4f},{b[i]:.4f},{a[i] * 0.9:.4f},{b[i] * 0.9:.4f},{score[i]},{score[i]},{anomaly[i]},0"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def ids(svg: Path) -> list[str]:
    return re.findall(r'<g id="([^"]+)"', svg.read_text())


def test_scores_svg_has_a_panel_per_column_the_score_events_and_labels(tmp_path: Path) -> None:
    data = scores_csv(tmp_path / "s.csv")
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"s.csv": [["2024-01-01 16:00:00", "2024-01-01 20:00:00"]]}))
    result = runner.invoke(
        app, ["report", str(data), "--out", str(tmp_path / "r.svg"), "--labels", str(labels), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    found = ids(tmp_path / "r.svg")
    assert [i for i in found if i.startswith("panel-")] == [
        "panel-value-a",
        "panel-value-b",
        "panel-score",
        "panel-event-0",
        "panel-event-1",
    ]
    assert {"event-0", "event-1", "label-0"} <= set(found)
    assert json.loads(result.stdout) == {
        "kind": "scores",
        "files": [str(tmp_path / "r.svg")],
        "series": [""],
        "drawn": "s",
        "events": 2,
        "labelled_windows": 1,
    }


def test_a_quiet_series_has_no_shaded_event_and_no_label_without_labels(tmp_path: Path) -> None:
    data = scores_csv(tmp_path / "quiet.csv", events=())
    assert runner.invoke(app, ["report", str(data), "--out", str(tmp_path / "q.svg")]).exit_code == 0
    found = ids(tmp_path / "q.svg")
    assert "panel-score" in found and not [i for i in found if i.startswith(("event-", "label-", "panel-event"))]


def test_png_is_valid_and_legible_size(tmp_path: Path) -> None:
    data = scores_csv(tmp_path / "s.csv")
    assert runner.invoke(app, ["report", str(data), "--out", str(tmp_path / "r.png")]).exit_code == 0
    head = (tmp_path / "r.png").read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert width >= 1200 and height >= 600


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)


def test_html_is_one_self_contained_file(tmp_path: Path) -> None:
    data = scores_csv(tmp_path / "s.csv")
    (tmp_path / "r.html.svg").write_text("mine")  # a file the user did not name: left alone
    result = runner.invoke(app, ["report", str(data), "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "r.html").read_text()
    parser = _Collect()
    parser.feed(text)
    assert {"html", "table", "svg"} <= set(parser.tags) and "script" not in parser.tags
    assert external_urls(text) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.html.svg", "s.csv"]  # no picture left beside it
    assert (tmp_path / "r.html.svg").read_text() == "mine"
    assert (
        runner.invoke(app, ["report", str(data), "--out", str(tmp_path / "o.html")]).exit_code == 0
    )  # --out FILE.html
    assert "<svg" in (tmp_path / "o.html").read_text()


def test_training_curves_mark_the_kept_epoch(tmp_path: Path, forecaster_onnx: Path) -> None:
    run_dir = forecaster_onnx.parent.parent / "runs" / "fc"
    result = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "t.svg")])
    assert result.exit_code == 0, result.stderr
    found = ids(tmp_path / "t.svg")
    assert {"panel-loss", "panel-grad-norm", "best-epoch"} <= set(found)


def test_a_plot_without_matplotlib_names_the_extra(tmp_path: Path) -> None:
    data = scores_csv(tmp_path / "s.csv")
    code = (
        "import sys; sys.modules['matplotlib'] = None;"
        " sys.argv = ['tsrnn', 'report', sys.argv[1], '--out', sys.argv[2]];"
        " from tsrnn_cli.main import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(data), str(tmp_path / "r.png")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "pip install 'tsrnn[plot]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r.png").exists()


def test_watch_plot_and_html_draw_its_scores_file(tmp_path: Path, forecaster_onnx: Path) -> None:
    from tests.helpers import cycle, inject_spike, write_csv

    data = write_csv(
        tmp_path / "new.csv", inject_spike(cycle(500, start_row=2000, seed=4), 300, 8.0, length=3), start_row=2000
    )
    args = [
        "watch",
        str(data),
        "--model",
        str(forecaster_onnx),
        "--scores-out",
        str(tmp_path / "s.csv"),
        "--channel-scores",
    ]
    result = runner.invoke(
        app, [*args, "--plot", str(tmp_path / "w.svg"), "--html", str(tmp_path / "w.html"), "--quiet"]
    )
    assert result.exit_code == 1, result.stderr  # the spike
    found = ids(tmp_path / "w.svg")
    assert {"panel-value-value", "panel-score", "event-0", "panel-event-0"} <= set(found)
    page = (tmp_path / "w.html").read_text()
    assert "ANOMALY" in page and "<svg" in page and external_urls(page) == []  # the terminal report and the picture
    refused = runner.invoke(
        app, ["watch", str(data), "--model", str(forecaster_onnx), "--plot", str(tmp_path / "x.png")]
    )
    assert refused.exit_code == 2 and "--scores-out" in refused.stderr and not (tmp_path / "x.png").exists()


def test_evaluate_plot_draws_the_labels(tmp_path: Path) -> None:
    data = scores_csv(tmp_path / "s.csv")
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"s.csv": [["2024-01-01 16:00:00", "2024-01-01 20:00:00"]]}))
    result = runner.invoke(app, ["evaluate", str(data), "--labels", str(labels), "--plot", str(tmp_path / "e.svg")])
    assert result.exit_code == 0, result.stderr
    assert {"label-0", "event-0", "panel-score"} <= set(ids(tmp_path / "e.svg"))


def test_forecast_plot_sets_the_forecast_beside_the_rows_held_out(
    tmp_path: Path, forecaster_onnx: Path, history_csv: Path
) -> None:
    run_dir = forecaster_onnx.parent.parent / "runs" / "fc"
    args = ["forecast", str(run_dir), str(history_csv), "--steps", "10", "--holdout", "10"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "f.csv"), "--plot", str(tmp_path / "f.svg")])
    assert result.exit_code == 0, result.stderr
    svg = (tmp_path / "f.svg").read_text()
    found = set(re.findall(r'id="([^"]+)"', svg))
    assert {"panel-forecast-value", "history", "forecast", "actual"} <= found
    import polars as pl

    forecast = pl.read_csv(tmp_path / "f.csv")
    history = pl.read_csv(history_csv)
    assert forecast["timestamp"].to_list() == history["timestamp"].tail(10).to_list()  # the held-out rows' times


def test_events_carry_the_scores_around_their_peak_for_the_terminal(tmp_path: Path, forecaster_onnx: Path) -> None:
    from tests.helpers import cycle, inject_spike, write_csv
    from tsrnn.report.console import render_watch
    from tsrnn.streaming.engine import watch

    data = write_csv(
        tmp_path / "new.csv", inject_spike(cycle(500, start_row=2000, seed=4), 300, 8.0, length=3), start_row=2000
    )
    result = watch(data, forecaster_onnx)
    event = result.alerts[0]
    assert 2 <= len(event.around) <= 11 and max(event.around) == pytest.approx(event.peak_score, abs=1e-3)
    from rich.console import Console

    console = Console(record=True, width=160, file=open("/dev/null", "w"))
    render_watch(console, result.to_dict(), result.tally.trace)
    text = console.export_text()
    from tsrnn.report.console import sparkline

    assert "around" in text and sparkline(np.asarray(event.around), width=11) in text
