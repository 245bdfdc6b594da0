"""SIGKILL at any moment, then a rerun: the scores file holds exactly the rows of one uninterrupted run.

TSRNN_KILL_TRIALS sets the number of trials (20 by default, as CI runs them).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from tests.helpers import cycle, inject_spike, stamps

TRIALS = int(os.environ.get("TSRNN_KILL_TRIALS", "20"))
INCREMENTS = [0, 700, 1400, 2000]


def watch(data: Path, model: Path, state: Path, out: Path, failpoint: str = "") -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "tsrnn",
        "watch",
        str(data),
        "--model",
        str(model),
        "--state",
        str(state),
        "--scores-out",
        str(out),
        "--exit-zero",
        "--quiet",
    ]
    return subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "TSRNN_FAILPOINT": failpoint}
    )


def rows_text() -> list[str]:
    values = inject_spike(inject_spike(cycle(2000, start_row=2000, seed=31), 500, 8.0, 3), 1500, -8.0, 2)
    return [f"{ts},{v:.4f}" for ts, v in zip(stamps(2000, 2000), values[:, 0])]


def test_killed_runs_then_reruns_score_every_row_exactly_once(tmp_path: Path, forecaster_onnx: Path) -> None:
    rows = rows_text()
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    (ref_dir / "m.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    done = watch(ref_dir / "m.csv", forecaster_onnx, ref_dir / "s", ref_dir / "scores.csv")
    assert done.wait(timeout=120) == 0, done.stderr.read()
    reference = pl.read_csv(ref_dir / "scores.csv")
    assert reference.height == 2000 and reference["anomaly"].sum() >= 2

    rng = random.Random(0)
    kills = 0
    for trial in range(TRIALS):
        d = tmp_path / f"t{trial}"
        d.mkdir()
        data = d / "m.csv"
        data.write_text("timestamp,value\n")
        for a, b in zip(INCREMENTS, INCREMENTS[1:]):
            with data.open("a") as f:
                f.write("\n".join(rows[a:b]) + "\n")
            if rng.random() < 0.3:  # killed between writing its scores and committing its state
                victim = watch(data, forecaster_onnx, d / "s", d / "scores.csv", failpoint="before-state-commit")
                assert victim.wait(timeout=120) == -signal.SIGKILL
                kills += 1
            else:  # killed at a random moment: start-up, reading, scoring, writing scores, writing state
                victim = watch(data, forecaster_onnx, d / "s", d / "scores.csv")
                time.sleep(rng.uniform(0.0, 1.2))
                if victim.poll() is None:
                    victim.send_signal(signal.SIGKILL)
                    kills += 1
                victim.wait()
            rerun = watch(data, forecaster_onnx, d / "s", d / "scores.csv")
            assert rerun.wait(timeout=120) == 0, rerun.stderr.read()
        got = pl.read_csv(d / "scores.csv", schema_overrides={"expected": pl.Float64})
        assert got["timestamp"].to_list() == reference["timestamp"].to_list(), f"trial {trial}: rows lost or doubled"
        assert got["anomaly"].to_list() == reference["anomaly"].to_list(), f"trial {trial}"
        assert np.allclose(got["score"].to_numpy(), reference["score"].to_numpy(), atol=1e-5), f"trial {trial}"
    assert kills >= TRIALS // 2  # many runs were really killed (a third of them at the failpoint)
