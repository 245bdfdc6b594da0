"""Open an onnxruntime session on an exported model."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import onnxruntime as ort

from tsrnn.errors import ModelError
from tsrnn.runtime.modelcheck import check_model_file
from tsrnn.runtime.providers import GpuOptions, choose_providers, provider_options

log = logging.getLogger(__name__)


def open_session(
    path: str | Path,
    *,
    provider: str = "cpu",
    strict_provider: bool = False,
    threads: int = 1,
    optimize: bool = True,
    gpu: GpuOptions | None = None,
) -> ort.InferenceSession:
    """An InferenceSession; `session.get_providers()` tells which providers actually run.

    One intra-op thread is the default: the models are small, and cron boxes and CI runners are
    shared, so more threads cost more in synchronisation than they return. The file is checked
    first (modelcheck): onnxruntime never sees a model that reads other files or runs custom operators.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{path}: is a directory; give an .onnx file written by `tsrnn export RUN`")
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; export one with `tsrnn export RUN`")
    check_model_file(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # The extended level is the highest that ran every graph here; "all" adds layout changes for
    # which small recurrent graphs gain nothing.
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    choice = choose_providers(provider, ort.get_available_providers(), strict=strict_provider)
    try:
        started = time.perf_counter()
        session = ort.InferenceSession(
            str(path), options, providers=provider_options(choice.providers, gpu or GpuOptions())
        )
        log.info(
            "%s: onnxruntime session in %.3f s; asked for %s, running on %s; %d threads",
            path,
            time.perf_counter() - started,
            provider,
            ", ".join(session.get_providers()),
            threads,
        )
        return session
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: onnxruntime cannot load this model ({first[:200]}); export it again") from None
