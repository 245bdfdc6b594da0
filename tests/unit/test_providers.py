"""Provider choice: what is asked, what onnxruntime has, CPU last, and --strict-provider."""

from __future__ import annotations

import pytest

from tsrnn.errors import TsrnnError
from tsrnn.runtime.providers import choose_providers

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


def test_auto_prefers_tensorrt_then_cuda_then_cpu() -> None:
    assert choose_providers("auto", [CPU, CUDA, TRT]).providers == [TRT, CUDA, CPU]
    assert choose_providers("auto", ["AzureExecutionProvider", CPU]).providers == [CPU]


def test_named_provider_falls_back_to_cpu_and_says_so() -> None:
    assert choose_providers("cuda", [CUDA, CPU]).providers == [CUDA, CPU]
    fallback = choose_providers("cuda", [CPU])
    assert fallback.providers == [CPU] and fallback.missing == CUDA


def test_strict_provider_refuses_a_missing_one() -> None:
    with pytest.raises(TsrnnError, match="not available.*onnxruntime-gpu"):
        choose_providers("tensorrt", [CPU], strict=True)


def test_unknown_provider() -> None:
    with pytest.raises(TsrnnError, match="unknown provider 'npu'"):
        choose_providers("npu", [CPU])


def test_tensorrt_brings_cuda_along_when_present() -> None:
    assert choose_providers("tensorrt", [CPU, CUDA, TRT]).providers == [TRT, CUDA, CPU]
    assert choose_providers("tensorrt", [CPU, TRT]).providers == [TRT, CPU]


def test_gpu_options_use_onnxruntime_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from tsrnn.runtime.providers import GpuOptions, provider_options

    monkeypatch.setenv("XDG_CACHE_HOME", "/cache")
    out = provider_options([TRT, CUDA, CPU], GpuOptions(device=1, fp16=True))
    assert out[0] == (
        TRT,
        {
            "device_id": "1",
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": "/cache/tsrnn/tensorrt",
            "trt_fp16_enable": "True",
        },
    )
    assert out[1] == (CUDA, {"device_id": "1"}) and out[2] == CPU
    assert provider_options([TRT], GpuOptions(trt_cache="/x"))[0][1]["trt_engine_cache_path"] == "/x"
