"""Optional dependencies: a clear message, not an ImportError, when an extra is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from tsrnn.errors import TsrnnError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import `module`, or tell the user which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TsrnnError(
            f"{purpose} needs {module}, which is not installed here; run: pip install 'tsrnn[{extra}]'"
        ) from None
