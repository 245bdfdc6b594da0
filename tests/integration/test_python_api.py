"""The Python API as the README and the package docstring show it, and the library's own checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import tsrnn
from tsrnn.errors import TsrnnError

ROOT = Path(__file__).resolve().parents[2]


def _in_sample_dir(tmp_path: Path) -> Path:
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    return tmp_path


def test_the_readme_python_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=_in_sample_dir(tmp_path), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\d .* (forecast|novelty|range) 0\.\d+$", lines[0]), lines  # the demo's incident
    assert "'mase'" in lines[1]  # the forecast's errors (the sample's window lies in NAB's probation period)
    assert "['value']" in lines[-1]


def test_the_package_docstring_example_runs(tmp_path: Path) -> None:
    """It failed before (load_run with a str, a `tsrnn.streaming` that is a module, not a function)."""
    example = "\n".join(line[4:] for line in tsrnn.__doc__.splitlines() if line.startswith("    "))
    (tmp_path / "history.csv").symlink_to(ROOT / "sample_data" / "cpu_history.csv")
    (tmp_path / "new.csv").symlink_to(ROOT / "sample_data" / "cpu_recent.csv")
    code = "import tsrnn.config, dataclasses\n" + example.replace(
        'tsrnn.train("history.csv"', 'tsrnn.train("history.csv", config=tsrnn.TrainConfig(epochs=3)'
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "exports" / "history.onnx").is_file()


def test_the_package_lists_its_api_without_loading_torch() -> None:
    code = (
        "import sys, tsrnn; names = dir(tsrnn); [getattr(tsrnn, n) for n in tsrnn.__all__];"
        " print('torch' in sys.modules, len(names))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split()[0] == "False", result.stdout + result.stderr
    assert {
        "train",
        "watch",
        "follow",
        "evaluate",
        "forecast",
        "load_run",
        "WatchResult",
        "Event",
        "Evaluation",
    } <= set(dir(tsrnn))
    assert callable(tsrnn.forecast) and callable(tsrnn.evaluate)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"cooldown": -5}, "--cooldown at least 0"),
        ({"min_duration": 0}, "--min-duration must be at least 1"),
        ({"score": {"method": "bogus"}}, "unknown threshold method 'bogus'"),
        ({"score": {"threshold": 1.5}}, "--threshold is a score in (0, 1)"),
        ({"score": {"channels": ("forecast", "bogus")}}, "--channels"),
        ({"score": {"nonsense": 1}}, "unknown detector setting 'nonsense'"),
    ],
)
def test_watch_checks_its_settings_in_the_library(
    forecaster_onnx: Path, history_csv: Path, settings: dict, fragment: str
) -> None:
    """The Python watch ran with these and reported method "bogus": the checks lived in the CLI only."""
    with pytest.raises(TsrnnError) as caught:
        tsrnn.watch(history_csv, forecaster_onnx, **settings)
    assert fragment in str(caught.value)
    with pytest.raises(TsrnnError):
        tsrnn.follow(history_csv, forecaster_onnx, seconds=0.1, **settings)


def test_typed_results_have_to_dict(forecaster_onnx: Path, history_csv: Path) -> None:
    info = tsrnn.model_info(forecaster_onnx)
    assert info.metadata.value_columns == ["value"] and info.to_dict()["metadata"]["value_columns"] == ["value"]
    found = tsrnn.watch(history_csv, forecaster_onnx)
    assert found.to_dict()["rows_scored"] == found.rows == 2000


def test_all_names_the_lazy_api() -> None:
    assert set(tsrnn.__all__) == {"__version__", *tsrnn._API}
