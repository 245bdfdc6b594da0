"""Real files: every NAB development file and ETTh1 load; a fleet of 1,000 series loads per series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tsrnn.config import DataConfig
from tsrnn.data.clean import read_dataset

SHARED = ROOT.parent / "shared" / "data"
NAB = SHARED / "nab_dev"
NAB_FILES = sorted(NAB.glob("*/*.csv")) if NAB.is_dir() else []
needs_shared = pytest.mark.skipif(not NAB_FILES, reason="../shared/data is not beside this checkout")


@needs_shared
def test_every_nab_dev_file_loads_completely() -> None:
    labels = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    assert len(NAB_FILES) == len(labels) > 40
    for path in NAB_FILES:
        ds = read_dataset(str(path))
        lines = path.read_text().count("\n") + (0 if path.read_text().endswith("\n") else 1) - 1
        assert ds.rows == lines - sum(ds.dropped.values()), (path, ds.dropped)
        assert ds.value_columns == ["value"] and ds.interval_seconds and ds.interval_seconds > 0
        assert all(np.isfinite(s.values).all() for s in ds.segments)


@needs_shared
def test_etth1_loads_with_its_seven_columns() -> None:
    ds = read_dataset(str(SHARED / "etth1" / "ETTh1.csv"))
    assert ds.time_column == "date" and ds.value_columns == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert ds.rows == 17420 and ds.interval_seconds == 3600.0 and len(ds.segments) == 1


def test_a_fleet_of_1000_series_loads_per_series(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    hosts = [f"host{i:04d}" for i in range(1000)]
    minutes = np.arange(30)
    stamps = [f"2024-01-01 00:{m:02d}:00" for m in minutes]
    rows = [f"{stamps[m]},{h},{rng.normal(i, 1):.3f}" for m in minutes for i, h in enumerate(hosts)]
    order = rng.permutation(len(rows))  # a fleet export is rarely sorted
    path = tmp_path / "fleet.csv"
    path.write_text("timestamp,host,cpu\n" + "\n".join(rows[i] for i in order))
    ds = read_dataset(str(path), DataConfig(id_column="host"))
    series = ds.series()
    assert len(series) == 1000 and sorted(series) == hosts
    assert all(len(segs) == 1 and segs[0].rows == 30 for segs in series.values())
    assert abs(series["host0500"][0].values.mean() - 500) < 1.0  # each series keeps its own rows
    assert series["host0007"][0].text == stamps
