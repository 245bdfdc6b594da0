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
    """`auto` → every available provider of PROVIDERS in order; a named one → it, then CPU."""
    if requested != "auto" and requested not in PROVIDERS:
        raise TsrnnError(f"unknown provider {requested!r}: use auto, {', '.join(PROVIDERS)}")
    if requested == "auto":
        return ProviderChoice(requested, [p for p in PROVIDERS.values() if p in available], None)
    wanted = PROVIDERS[requested]
    if wanted in available:
        chain = [wanted] if wanted == PROVIDERS["cpu"] else [wanted, PROVIDERS["cpu"]]
        return ProviderChoice(requested, chain, None)
    if strict:
        raise TsrnnError(
            f"provider {requested!r} is not available in this onnxruntime (it has {', '.join(available)}); "
            "install onnxruntime-gpu for cuda/tensorrt, or drop --strict-provider to fall back to cpu"
        )
    return ProviderChoice(requested, [PROVIDERS["cpu"]], wanted)
