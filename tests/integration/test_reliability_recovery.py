"""Disk full in the middle of a watch run, then a rerun: the scores file holds every row once, byte for byte."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tests.helpers import cycle, inject_spike, stamps
from tsrnn.errors import TsrnnError
from tsrnn.streaming import output, state
from tsrnn.streaming.engine import watch


def _lines() -> list[str]:
    values = inject_spike(cycle(300, start_row=2000, seed=41), 220, 8.0, 3)
    return [f"{ts},{v:.4f}\n" for ts, v in zip(stamps(300, 2000), values[:, 0])]


def _two_runs(folder: Path, model: Path, fail: pytest.MonkeyPatch | None = None, where: str = "") -> bytes:
    """Score 150 rows, append 150, score again (the second run hits a full disk when `fail` is given), rerun."""
    folder.mkdir()
    data, scores, saved = folder / "m.csv", folder / "scores.csv", folder / "s.state"
    rows = _lines()
    data.write_text("timestamp,value\n" + "".join(rows[:150]))
    watch(data, model, state=saved, scores_out=scores)
    with data.open("a") as out:
        out.write("".join(rows[150:]))
    if fail is not None:
        with fail.context() as patch:
            if where == "scores":

                def half_then_full(self, frame) -> None:
                    text = frame.write_csv(include_header=self.header).encode()
                    self.file.write(text[: len(text) // 2])
                    raise OSError(errno.ENOSPC, "No space left on device", str(scores))

                patch.setattr(output.ScoresWriter, "write", half_then_full)
            else:

                def full(path, data) -> None:
                    raise OSError(errno.ENOSPC, "No space left on device", str(path))

                patch.setattr(state, "atomic_write_bytes", full)
            before = saved.read_bytes()
            with pytest.raises((OSError, TsrnnError)):
                watch(data, model, state=saved, scores_out=scores)
            assert saved.read_bytes() == before  # the state still says where the last good run ended
    watch(data, model, state=saved, scores_out=scores)
    return scores.read_bytes()


@pytest.mark.parametrize("where", ["scores", "state"])
def test_disk_full_then_a_rerun_writes_every_row_once(tmp_path: Path, forecaster_onnx: Path, where: str) -> None:
    clean = _two_runs(tmp_path / "clean", forecaster_onnx)
    with pytest.MonkeyPatch.context() as mp:
        failed = _two_runs(tmp_path / "failed", forecaster_onnx, mp, where)
    assert clean.count(b"\n") == 301  # a header and every row once
    assert failed == clean
