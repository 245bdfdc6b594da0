"""benchmarks/run.py's summaries: medians with min and max, targets met or not, and the Markdown."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import figures  # noqa: E402
import tables  # noqa: E402


def test_a_figure_is_the_median_min_and_max_of_its_runs_and_leaves_out_nan():
    f = figures.fig("rate", "rows/s", [3.0, 1.0, math.nan, 2.0], (">=", 2.0), "issue 16")
    assert (f["median"], f["min"], f["max"], f["runs"], f["of_runs"]) == (2.0, 1.0, 3.0, 3, 4)
    assert f["met"] is True
    assert figures.fig("cost", "x", [2.5, 2.1], ("<=", 2.0), "issue 16")["met"] is False
    assert figures.fig("never", "x", [math.nan], ("<", 1.0))["met"] is None


@pytest.mark.parametrize(
    ("op", "median", "met"), [("<", 1.0, False), ("<=", 1.0, True), (">", 1.0, False), (">=", 1.0, True)]
)
def test_targets_compare_on_the_median(op, median, met):
    assert figures.fig("x", "", [median], (op, 1.0))["met"] is met


def test_ratios_are_taken_within_each_run():
    raw = {
        "rows": 1000,
        "seconds": [1.0, 2.0],
        "forecast_only_seconds": [0.5, 1.0],
        "bare_rows_per_s": [3000.0, 1000.0],  # run 1: 3x the floor; run 2 (a slow moment): 2x
        "eager_windows_rows_per_s": [100.0, 50.0],
        "eager_one_window_rows_per_s": [10.0, 5.0],
        "eager_stepped_rows_per_s": [20.0, 10.0],
        "eager_backlog_rows_per_s": [500.0, 250.0],
        "onnx_stepped_rows_per_s": [40.0, 30.0],
        "call_ms_1000_series": [3.0],
        "bare_call_ms_1000_series": [1.0],
        "fleet_run_s": [1.0],
        "state_kb_per_series": 10.0,
        "cold_start_s": [0.3],
        "help_s": [0.1],
        "peak_mib": {"100": [120.0], "1000": [130.0, 131.0]},
    }
    cost = next(f for f in figures.watch(raw) if f["name"].startswith("tsrnn end to end / the bare"))
    assert (cost["min"], cost["max"]) == (2.0, 3.0)
    assert cost["met"] is False  # median 2.5 > 2
    stream = next(
        f for f in figures.watch(raw) if f["name"].startswith("one row per call: tsrnn's runner / eager, state")
    )
    assert (stream["min"], stream["max"]) == (2.0, 3.0)  # 40/20 and 30/10: a stream against a stream, run by run
    peaks = [f for f in figures.watch(raw) if f["name"].startswith("peak RSS")]
    assert all("target" not in f for f in peaks)  # the memory target is for a 1,000,000-row backfill


def test_the_markdown_names_skipped_parts_and_peers_and_every_verdict():
    doc = {
        "quick": False,
        "machine": {
            "cpu": "a CPU",
            "cores": 2,
            "cores_usable": 2,
            "memory_gib": 24.0,
            "os": "Linux",
            "python": "3.11",
            "libraries": {"numpy": "2"},
            "date": "today",
        },
        "parts": [
            {
                "name": "nab",
                "title": "NAB",
                "command": "benchmarks/nab.py --json",
                "commit": "abc",
                "date": "today",
                "status": "skipped",
                "reason": "data not found: ../shared/data/nab_dev",
                "figures": [],
            },
            {
                "name": "forecast",
                "title": "Forecasts",
                "command": "benchmarks/forecast.py --json",
                "commit": "abc",
                "date": "today",
                "status": "ok",
                "seconds": 3.0,
                "load_before": [1.0, 1.0, 1.0],
                "load_after": [1.0, 1.0, 1.0],
                "figures": [
                    figures.fig("tsrnn / persistence", "x", [0.9, 0.95], ("<", 1.0), "issue 12"),
                    figures.fig("tsrnn / Darts", "x", [1.2], ("<=", 1.0), "issue 12"),
                    figures.skipped("Darts BlockRNNModel", "Darts is not installed"),
                ],
            },
        ],
    }
    text = tables.render(doc)
    assert "**skipped**: data not found: ../shared/data/nab_dev" in text
    assert "| Darts BlockRNNModel | skipped: Darts is not installed |" in text
    assert "| forecast | tsrnn / persistence | 0.925x | < 1x (issue 12): met |" in text
    assert "| forecast | tsrnn / Darts | 1.2x | <= 1x (issue 12): **not met** |" in text


def test_a_seed_that_never_reaches_the_loss_counts_as_never_not_as_left_out():
    seeds = [
        {
            "epoch_s_stateful": 0.1,
            "epoch_s_windowed": 2.0,
            "best_val_stateful": 0.1,
            "best_val_windowed": 0.1,
            "seconds_windowed_to_its_best": 10.0,
            "seconds_stateful_to_windowed_best": s,
        }
        for s in (1.0, math.nan, math.nan)
    ]
    f = next(f for f in figures.training({"seeds": seeds}) if f["name"].startswith("stateful / windowed time"))
    assert f["runs"] == 3 and f["median"] == math.inf and f["met"] is False
    assert tables.number("inf") == "never"


def test_the_default_int8_copy_beyond_its_limit_fails_even_a_quick_run():
    import run

    def model(static: float) -> dict:
        rounds = [{"1 row": 10.0, "1000 rows": 100.0}]
        methods = {
            m: {"parity": p, "parity_real": p, "rounds": rounds}
            for m, p in (("fp32", 1e-6), ("int8-dynamic", 0.2), ("int8", static))
        }
        return {"model": "lstm", "calibration": "rows", "methods": methods}

    ok = figures.quantize({"limit": 0.1, "models": {"a": model(0.01)}})
    assert run.gate_failures(ok) == []  # the dynamic copy beyond the limit is expected: export refuses it
    bad = figures.quantize({"limit": 0.1, "models": {"a": model(0.15)}})
    assert run.gate_failures(bad) == ["a, int8: parity, the export's check (scaled units)"]
