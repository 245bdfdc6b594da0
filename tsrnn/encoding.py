"""Arrays in JSON documents (watch's state, model metadata): exact, and about 4/3 byte per byte.

An array is written as base64 of its little-endian bytes (float32 for values, float64 for
statistics, int64 for times); a histogram as its stretch of non-zero bins.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np


def pack(array: np.ndarray, dtype: str = "<f8") -> str:
    """An array as base64 of its little-endian bytes: compact and exact in a JSON state."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def unpack(text: str, dtype: str = "<f8", shape: tuple[int, ...] | None = None) -> np.ndarray:
    out = np.frombuffer(base64.b64decode(text), dtype=dtype).astype(np.dtype(dtype).newbyteorder("="))
    return out.reshape(shape) if shape is not None else out


def pack_sparse(counts: np.ndarray) -> dict[str, Any]:
    """A histogram as its non-zero stretch of bins: {"from": first bin, "data": base64 float64}."""
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        return {"from": 0, "data": ""}
    return {"from": int(nz[0]), "data": pack(counts[nz[0] : nz[-1] + 1])}


def unpack_sparse(data: dict[str, Any] | None, size: int) -> np.ndarray:
    out = np.zeros(size)
    if data and data.get("data"):
        part = unpack(data["data"])
        start = int(data["from"])
        out[start : start + part.size] = part
    return out
