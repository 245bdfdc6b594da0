"""What `tsrnn info` shows: metadata, graph inputs and outputs, file size (onnxruntime only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tsrnn.export.metadata import ModelMetadata, session_metadata


@dataclass(frozen=True)
class ModelInfo:
    """An exported model: where it is, its size, its metadata and its graph's inputs and outputs."""

    path: str
    bytes: int
    metadata: ModelMetadata
    inputs: list[dict[str, Any]]  # name, shape (numbers and axis names), type
    outputs: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The document `tsrnn info --json` prints."""
        return {
            "path": self.path,
            "bytes": self.bytes,
            "metadata": asdict(self.metadata),
            "inputs": self.inputs,
            "outputs": self.outputs,
        }


def model_info(path: str | Path) -> ModelInfo:
    """Describe an exported model (reads it with onnxruntime, without optimising the graph)."""
    from tsrnn.runtime.session import open_session

    session = open_session(path, optimize=False)
    meta = session_metadata(session, path)

    def describe(items: list[Any]) -> list[dict[str, Any]]:
        return [{"name": i.name, "shape": list(i.shape), "type": i.type} for i in items]

    return ModelInfo(
        str(path), Path(path).stat().st_size, meta, describe(session.get_inputs()), describe(session.get_outputs())
    )
