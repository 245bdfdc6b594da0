"""tsrnn bench: its table and JSON on the CPU, providers that cannot run (not installed, no device,
failed to start), precision copies beside the model, every model kind, and one-line errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import onnxruntime as ort
import pytest

from tests.integration.test_cli import assert_one_line_error, invoke
from tsrnn.errors import TsrnnError
from tsrnn.runtime.bench import bench, fallback_reason

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
SMALL = ["--rows", "300", "--series", "3", "--repeat", "8", "--batch", "128"]  # fast: the tests check shape, not speed
FAST = {"rows": 200, "series": 3, "repeat": 5, "batch": 64}


@pytest.fixture(scope="module")
def with_fp16(forecaster_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the forecaster with NAME.fp16.onnx beside it, as `tsrnn export --fp16` writes it."""
    from tsrnn.export.variants import fp16_copy

    folder = tmp_path_factory.mktemp("bench")
    model = Path(shutil.copy(forecaster_onnx, folder / "m.onnx"))
    (folder / "m.fp16.onnx").write_bytes(fp16_copy(model.read_bytes()))
    return model


def test_the_table_on_cpu_lists_the_missing_providers_with_the_reason(forecaster_onnx: Path) -> None:
    result = invoke("bench", forecaster_onnx, *SMALL)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for column in ("provider", "precision", "1 row p50 ms", "1 row p99 ms", "backlog rows/s", "3 series p50 ms"):
        assert column in out, out
    number = r"\s+[\d,.]+\s+│"
    assert re.search(r"│ cpu\s+│ fp32\s+│" + number * 5 + r"\s+0\s+│", out), out  # five measures, then parity 0
    for name in ("cuda", "tensorrt"):
        assert re.search(
            rf"^{name}: cannot run: not installed in this onnxruntime \(it has .*CPUExecutionProvider", out, re.M
        )
    assert "backlog: 300 rows of one series in calls of 128 rows" in out


def test_json_measures_the_cpu_and_a_fp16_copy_beside_the_model(with_fp16: Path) -> None:
    result = invoke("bench", with_fp16, *SMALL, "--provider", "cpu", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"model", "kind", "available", "settings", "parity_units", "measurements", "skipped"} <= set(doc)
    assert doc["settings"]["rows"] == 300 and doc["skipped"] == [] and "scaled units" in doc["parity_units"]
    by_precision = {m["precision"]: m for m in doc["measurements"]}
    assert set(by_precision) == {"fp32", "fp16"} and all(m["provider"] == "cpu" for m in doc["measurements"])
    for m in doc["measurements"]:
        assert 0 < m["step_p50_ms"] <= m["step_p99_ms"] and 0 < m["series_p50_ms"] <= m["series_p99_ms"]
        assert m["backlog_rows_per_s"] > 0 and m["series_per_s"] > 0 and m["session_providers"][0] == CPU
    assert by_precision["fp32"]["parity"] == 0.0 and not by_precision["fp32"]["baseline"]
    assert 0 < by_precision["fp16"]["parity"] < 0.05, by_precision["fp16"]  # half precision differs, a little
    assert by_precision["fp16"]["file"].endswith("m.fp16.onnx")


def test_a_provider_alone_that_cannot_run_is_listed_and_the_cpu_measured_as_reference(forecaster_onnx: Path) -> None:
    result = invoke("bench", forecaster_onnx, *SMALL, "--provider", "cuda", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(m["provider"], m["baseline"]) for m in doc["measurements"]] == [("cpu", True)]
    assert [(s["provider"], s["precision"]) for s in doc["skipped"]] == [("cuda", None)]
    assert doc["skipped"][0]["reason"].startswith("not installed in this onnxruntime")
    table = invoke("bench", forecaster_onnx, *SMALL, "--provider", "cuda")
    assert (
        table.exit_code == 0 and "cpu (reference)" in table.stdout and "cuda: cannot run: not installed" in table.stdout
    )
    assert "tensorrt" not in table.stdout


def test_strict_provider_fails_with_the_reason(forecaster_onnx: Path) -> None:
    result = invoke("bench", forecaster_onnx, *SMALL, "--provider", "cuda", "--strict-provider")
    assert_one_line_error(result, "provider 'cuda' cannot run: not installed in this onnxruntime")
    assert result.stdout == ""
    assert invoke("bench", forecaster_onnx, *SMALL, "--provider", "auto", "--strict-provider", "--quiet").exit_code == 0
    # no --provider: strict about what this onnxruntime has (cuda and tensorrt were not asked for)
    alone = invoke("bench", forecaster_onnx, *SMALL, "--strict-provider", "--json")
    assert alone.exit_code == 0, alone.output
    assert [m["provider"] for m in json.loads(alone.stdout)["measurements"]] == ["cpu"]


def test_an_int8_dynamic_copy_beside_the_model_is_measured(forecaster_onnx: Path, tmp_path: Path) -> None:
    from tsrnn.export.variants import int8_copy

    model = Path(shutil.copy(forecaster_onnx, tmp_path / "m.onnx"))
    (tmp_path / "m.int8-dynamic.onnx").write_bytes(int8_copy(model.read_bytes()))
    doc = json.loads(invoke("bench", model, *SMALL, "--provider", "cpu", "--json").stdout)
    found = {m["precision"]: m for m in doc["measurements"]}
    assert set(found) == {"fp32", "int8-dynamic"}
    assert 0 < found["int8-dynamic"]["parity"] < 0.1


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["{onnx}", "--rows", "0"], ["--rows 0", "from 1 to"]),
        (["{onnx}", "--series", "0"], ["--series 0"]),
        (["{onnx}", "--repeat", "-1"], ["--repeat -1"]),
        (["{onnx}", "--batch", "0"], ["--batch 0"]),
        (["{onnx}", "--series", "100000", "--repeat", "1000"], ["at most 10,000,000 rows"]),
        (["{onnx}", "--threads", "-2"], ["--threads -2"]),
        (["{onnx}", "--provider", "npu"], ["unknown provider 'npu'"]),
        (["{missing}"], ["no such model file"]),
        (["{text}"], ["not an ONNX model"]),
        (["{dir}"], ["is a directory"]),
        (["{copy}"], ["this is the int8 copy", "m.onnx), whose copies are measured too"]),
    ],
)
def test_bad_arguments_and_files_give_one_line_and_exit_2(
    tmp_path: Path, forecaster_onnx: Path, args: list[str], fragments: list[str]
) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    copy = tmp_path / "m.int8.onnx"
    copy.write_bytes(forecaster_onnx.read_bytes())  # named as a copy: refused before it is opened
    subs = {
        "{onnx}": str(forecaster_onnx),
        "{missing}": str(tmp_path / "missing.onnx"),
        "{text}": str(text),
        "{dir}": str(tmp_path),
        "{copy}": str(copy),
    }
    assert_one_line_error(invoke("bench", *[subs.get(a, a) for a in args]), *fragments)


def test_a_session_that_runs_on_another_provider_is_a_fallback() -> None:
    cpu_only = SimpleNamespace(get_providers=lambda: [CPU])
    assert fallback_reason(cpu_only, "cuda") == "no device: onnxruntime fell back to CPUExecutionProvider"
    assert fallback_reason(SimpleNamespace(get_providers=lambda: [CUDA, CPU]), "cuda") is None
    assert fallback_reason(cpu_only, "cpu") is None


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_a_provider_onnxruntime_lists_but_cannot_use_is_detected(
    forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime with CUDA but no GPU falls back to the CPU in silence: the session says so."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    result = bench(forecaster_onnx, providers=["cuda"], **FAST)
    assert [s.reason for s in result.skipped] == ["no device: onnxruntime fell back to CPUExecutionProvider"]
    with pytest.raises(TsrnnError, match="'cuda' cannot run: no device"):
        bench(forecaster_onnx, providers=["cuda"], strict_provider=True, **FAST)


def test_a_provider_that_fails_to_start_gives_onnxruntimes_first_line(
    forecaster_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ort.InferenceSession

    def session(path: str, options: object, providers: list) -> object:
        if any(p[0] == CUDA for p in providers if isinstance(p, tuple)):
            raise RuntimeError("CUDA failure 100: no CUDA-capable device is detected\n at cuda_call.cc:123")
        return real(path, options, providers=providers)

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", session)
    result = bench(forecaster_onnx, providers=["cpu", "cuda"], **FAST)
    assert [m.provider for m in result.measurements] == ["cpu"]
    assert [s.reason for s in result.skipped] == [
        "failed to start: CUDA failure 100: no CUDA-capable device is detected"
    ]


def test_a_copy_that_is_not_of_this_model_or_damaged_is_listed(
    forecaster_onnx: Path, autoencoder_onnx: Path, tmp_path: Path
) -> None:
    model = Path(shutil.copy(forecaster_onnx, tmp_path / "m.onnx"))
    shutil.copy(autoencoder_onnx, tmp_path / "m.fp16.onnx")  # a stale file from another export
    (tmp_path / "m.int8.onnx").write_text("half a download")
    result = bench(model, providers=["cpu"], **FAST)
    assert [m.precision for m in result.measurements] == ["fp32"]
    reasons = {s.precision: s.reason for s in result.skipped}
    assert "its metadata differ from the float32 file's" in reasons["fp16"]
    assert reasons["int8"].startswith("failed to start:") and "not an ONNX model" in reasons["int8"]


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("autoencoder_onnx", "autoencoder"),
        ("windowed_onnx", "windowed"),
        ("timefeat_onnx", "stateful"),
        ("diff_onnx", "stateful"),
    ],
)
def test_every_model_kind_is_measured(fixture: str, kind: str, request: pytest.FixtureRequest) -> None:
    """Windows re-run per row, time features fed from the rows' times, a carried `prev`: each through its runner."""
    result = bench(request.getfixturevalue(fixture), providers=["cpu"], **FAST)
    (m,) = result.measurements
    assert result.kind == kind and m.parity == 0.0 and result.skipped == []
    assert 0 < m.step_p50_ms <= m.step_p99_ms and 0 < m.series_p50_ms <= m.series_p99_ms and m.backlog_rows_per_s > 0


def test_the_cli_default_batch_is_watchs_backfill_slice_and_help_loads_no_runtime() -> None:
    """cli/bench.py keeps its own copy of BACKLOG_ROWS so `tsrnn --help` does not import onnxruntime."""
    import subprocess
    import sys

    from tsrnn.runtime.inferencer import BACKLOG_ROWS
    from tsrnn_cli import bench as cli_bench

    assert cli_bench.BACKLOG_ROWS == BACKLOG_ROWS
    code = "import sys, tsrnn_cli.bench; print('onnxruntime' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
