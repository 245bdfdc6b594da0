"""What `tsrnn info` shows: metadata, graph inputs and outputs, file size (onnxruntime only)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tsrnn.export.metadata import session_metadata


def model_info(path: str | Path) -> dict[str, Any]:
    """A JSON-ready description of an exported model."""
    from tsrnn.runtime.session import open_session

    session = open_session(path, optimize=False)
    meta = session_metadata(session, path)

    def describe(items: list[Any]) -> list[dict[str, Any]]:
        return [{"name": i.name, "shape": list(i.shape), "type": i.type} for i in items]

    return {
        "path": str(path),
        "bytes": Path(path).stat().st_size,
        "metadata": asdict(meta),
        "inputs": describe(session.get_inputs()),
        "outputs": describe(session.get_outputs()),
    }
