"""Execution provider choice: the request, intersected with what onnxruntime has, CPU last."""

from __future__ import annotations

from dataclasses import dataclass

from tsrnn.errors import TsrnnError

# name on the command line → onnxruntime provider, in the order `auto` prefers them
PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


@dataclass(frozen=True)
class ProviderChoice:
    """The providers handed to onnxruntime, and what was asked for."""

    requested: str
    providers: list[str]
    missing: str | None  # the requested provider when onnxruntime does not have it


def choose_providers(requested: str, available: list[str], *, strict: bool = False) -> ProviderChoice:
    """`auto` → every available provider of PROVIDERS in order; a named one → it, then CPU.

    TensorRT also brings CUDA along when onnxruntime has it, for the nodes TensorRT leaves out.
    """
    if requested != "auto" and requested not in PROVIDERS:
        raise TsrnnError(f"unknown provider {requested!r}: use auto, {', '.join(PROVIDERS)}")
    if requested == "auto":
        return ProviderChoice(requested, [p for p in PROVIDERS.values() if p in available], None)
    wanted = PROVIDERS[requested]
    if wanted in available:
        chain = [
            p
            for p in PROVIDERS.values()
            if p == wanted or p == PROVIDERS["cpu"] or (requested == "tensorrt" and p in available)
        ]
        return ProviderChoice(requested, chain, None)
    if strict:
        raise TsrnnError(
            f"provider {requested!r} is not available in this onnxruntime (it has {', '.join(available)}); "
            "install onnxruntime-gpu for cuda/tensorrt, or drop --strict-provider to fall back to cpu"
        )
    return ProviderChoice(requested, [PROVIDERS["cpu"]], wanted)


@dataclass(frozen=True)
class GpuOptions:
    """What GPU providers are told, by onnxruntime's documented option names."""

    device: int = 0  # CUDA device id, for CUDA and TensorRT
    trt_cache: str | None = None  # TensorRT engine cache directory (None: the user's cache directory)
    fp16: bool = False  # let TensorRT build half-precision engines


def provider_options(providers: list[str], gpu: GpuOptions) -> list[str | tuple[str, dict[str, str]]]:
    """The `providers` argument of onnxruntime.InferenceSession, with options for CUDA and TensorRT.

    TensorRT builds an engine the first time it sees a graph (seconds to minutes); the cache,
    on by default, keeps it for the next run of a cron job.
    """
    import os

    out: list[str | tuple[str, dict[str, str]]] = []
    for name in providers:
        if name == PROVIDERS["tensorrt"]:
            cache = gpu.trt_cache or os.path.join(
                os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "tsrnn", "tensorrt"
            )
            out.append(
                (
                    name,
                    {
                        "device_id": str(gpu.device),
                        "trt_engine_cache_enable": "True",
                        "trt_engine_cache_path": cache,
                        "trt_fp16_enable": "True" if gpu.fp16 else "False",
                    },
                )
            )
        elif name == PROVIDERS["cuda"]:
            out.append((name, {"device_id": str(gpu.device)}))
        else:
            out.append(name)
    return out
