"""What tsrnn checks in an ONNX file before and after onnxruntime opens it; no onnx package, no torch.

Before: the protobuf is read field by field (the wire format, the field numbers of onnx.proto)
and refused when any tensor keeps its data in another file (initializers, attributes, subgraphs,
functions, training graphs; used or not) or any operator comes from a domain tsrnn does not run.
tsrnn writes self-contained files with standard operators (and com.microsoft's, in the int8-dynamic copy),
so neither is needed, and onnxruntime would otherwise open whatever path the file names.
After: the session's inputs and outputs must be those of the model kind its metadata names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsrnn.errors import ModelError

ALLOWED_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")
MAX_DEPTH = 64  # nested subgraphs; tsrnn's graphs have none (Loop and If bodies would be one or two)

# onnx.proto field numbers
MODEL_GRAPH, MODEL_OPSET, MODEL_TRAINING, MODEL_FUNCTIONS = 7, 8, 20, 25
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_SPARSE = 1, 5, 15
NODE_NAME, NODE_OP, NODE_ATTRIBUTE, NODE_DOMAIN = 3, 4, 5, 7
ATTR_TENSORS = (5, 10)  # t, tensors
ATTR_GRAPHS = (6, 11)  # g, graphs
ATTR_SPARSE = (22, 23)  # sparse_tensor, sparse_tensors
TENSOR_NAME, TENSOR_EXTERNAL, TENSOR_LOCATION = 8, 13, 14
SPARSE_TENSORS = (1, 2)  # values, indices
OPSET_DOMAIN = 1
TRAINING_GRAPHS = (1, 2)  # initialization, algorithm
FUNCTION_NAME, FUNCTION_NODE, FUNCTION_OPSET, FUNCTION_DOMAIN, FUNCTION_ATTRIBUTE = 1, 7, 9, 10, 11
ENTRY_KEY, ENTRY_VALUE = 1, 2
EXTERNAL = 1  # TensorProto.DataLocation


class _Malformed(Exception):
    pass


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _Malformed(i)
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(buf: memoryview) -> list[tuple[int, Any]]:
    """(field number, value) of a message: an int for a varint, a memoryview for bytes and
    messages, None for fixed-width numbers; groups (deprecated) are skipped whole."""
    if not isinstance(buf, memoryview):  # a number where a message belongs
        raise _Malformed(0)
    out: list[tuple[int, Any]] = []
    i, n, groups = 0, len(buf), 0
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        value: Any = None
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        elif wire == 3:
            groups += 1
        elif wire == 4 and groups > 0:
            groups -= 1
        else:
            raise _Malformed(i)
        if i > n or number == 0:
            raise _Malformed(i)
        if groups == 0 and wire not in (3, 4):
            out.append((number, value))
    if groups:
        raise _Malformed(i)
    return out


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8", "replace") if isinstance(value, memoryview) else ""


class _Walk:
    """One model's messages, depth first; raises ModelError at the first thing refused."""

    def __init__(self, source: str) -> None:
        self.source = source

    def model(self, buf: memoryview) -> None:
        for number, value in _fields(buf):
            if number == MODEL_GRAPH:
                self.graph(value, 0)
            elif number == MODEL_OPSET:
                self.domain(_text(dict(_fields(value)).get(OPSET_DOMAIN)), "the model's operator sets")
            elif number == MODEL_FUNCTIONS:
                self.function(value)
            elif number == MODEL_TRAINING:
                for inner, graph in _fields(value):
                    if inner in TRAINING_GRAPHS:
                        self.graph(graph, 0)

    def graph(self, buf: Any, depth: int) -> None:
        if not isinstance(buf, memoryview) or depth > MAX_DEPTH:
            raise _Malformed(0)
        for number, value in _fields(buf):
            if number == GRAPH_NODE:
                self.node(value, depth)
            elif number == GRAPH_INITIALIZER:
                self.tensor(value)
            elif number == GRAPH_SPARSE:
                self.sparse(value)

    def node(self, buf: memoryview, depth: int) -> None:
        fields = _fields(buf)
        found = dict(fields)
        name = _text(found.get(NODE_NAME)) or _text(found.get(NODE_OP))
        self.domain(_text(found.get(NODE_DOMAIN)), f"node {name!r}")
        for number, value in fields:
            if number == NODE_ATTRIBUTE:
                self.attribute(value, depth)

    def attribute(self, buf: memoryview, depth: int) -> None:
        for number, value in _fields(buf):
            if number in ATTR_TENSORS:
                self.tensor(value)
            elif number in ATTR_GRAPHS:
                self.graph(value, depth + 1)
            elif number in ATTR_SPARSE:
                self.sparse(value)

    def function(self, buf: memoryview) -> None:
        fields = _fields(buf)
        name = _text(dict(fields).get(FUNCTION_NAME))
        for number, value in fields:
            if number == FUNCTION_DOMAIN:
                self.domain(_text(value), f"function {name!r}")
            elif number == FUNCTION_OPSET:
                self.domain(_text(dict(_fields(value)).get(OPSET_DOMAIN)), f"function {name!r}'s operator sets")
            elif number == FUNCTION_NODE:
                self.node(value, 1)
            elif number == FUNCTION_ATTRIBUTE:
                self.attribute(value, 1)

    def sparse(self, buf: memoryview) -> None:
        for number, value in _fields(buf):
            if number in SPARSE_TENSORS:
                self.tensor(value)

    def tensor(self, buf: memoryview) -> None:
        fields = _fields(buf)
        external = [dict(_fields(v)) for n, v in fields if n == TENSOR_EXTERNAL]
        if not external and (TENSOR_LOCATION, EXTERNAL) not in fields:
            return
        name = _text(dict(fields).get(TENSOR_NAME))
        where = [_text(e.get(ENTRY_VALUE)) for e in external if _text(e.get(ENTRY_KEY)) == "location"]
        location = where[0] if where else "no location given"
        raise ModelError(
            f"{self.source}: tensor {name!r} keeps its data in another file ({location!r}); "
            "tsrnn models are self-contained and tsrnn reads nothing outside the model file, so this model is "
            "refused: export it again with `tsrnn export RUN`"
        )

    def domain(self, domain: str, where: str) -> None:
        if domain not in ALLOWED_DOMAINS:
            raise ModelError(
                f"{self.source}: {where} uses operators of domain {domain!r}, which tsrnn does not run (only the "
                "standard ONNX domains and com.microsoft); this is not a tsrnn model: export one with "
                "`tsrnn export RUN`"
            )


def check_model_bytes(data: bytes, source: str) -> None:
    """Refuse an ONNX file that reads other files or uses operators outside the standard domains."""
    try:
        _Walk(source).model(memoryview(data))
    except (_Malformed, IndexError):
        raise ModelError(
            f"{source}: not an ONNX model (its bytes do not parse as one); export one with `tsrnn export RUN`"
        ) from None


def check_model_file(path: str | Path) -> None:
    """`check_model_bytes` on a file (read once; tsrnn's models are kilobytes to a few megabytes)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror or exc})") from None
    check_model_bytes(data, str(path))


RANKS = {"x": 3, "tf": 3, "h": 3, "c": 3, "next": 2, "prev": 2}
OUTPUT_RANKS = {"expected": 3, "error": 2, "reconstruction": 3}


def check_io(session: Any, meta: Any, source: str) -> None:
    """The open session's inputs and outputs are those its metadata's kind defines (names, float, rank)."""
    spec = meta.spec
    try:
        inputs, outputs, _ = spec.graph(meta)
    except KeyError as exc:  # a cell this tsrnn does not know
        raise ModelError(f"{source}: its metadata names an unknown {exc}; export the model again") from None
    ranks = {**RANKS, **OUTPUT_RANKS, "forecast": 4 if spec.stateful else 3}
    for side, want, have in (("inputs", inputs, session.get_inputs()), ("outputs", outputs, session.get_outputs())):
        names = [i.name for i in have]
        if sorted(names) != sorted(want):
            raise ModelError(
                f"{source}: the graph's {side} ({', '.join(names) or 'none'}) are not those of the {meta.kind} "
                f"its metadata describes ({', '.join(want)}); export the model again with `tsrnn export RUN`"
            )
        for item in have:
            rank = ranks[item.name.removesuffix("_out")]
            if item.type != "tensor(float)" or len(item.shape) != rank:
                raise ModelError(
                    f"{source}: the graph's {item.name!r} is {item.type} of rank {len(item.shape)}; its metadata "
                    f"({meta.kind}) needs tensor(float) of rank {rank}; export the model again with `tsrnn export RUN`"
                )
            _check_sizes(item, _sizes(meta).get(item.name.removesuffix("_out"), {}), source)


def _sizes(meta: Any) -> dict[str, dict[int, int]]:
    """The fixed sizes the metadata implies, by tensor and axis: features, horizon, layers and hidden."""
    out: dict[str, dict[int, int]] = {"x": {-1: meta.features}, "prev": {-1: meta.features}}
    if meta.spec.stateful or not meta.spec.own_novelty:
        out["forecast"] = {-2: meta.horizon}
    if len(meta.state_shape) == 2:
        layers, hidden = meta.state_shape
        out["h"] = out["c"] = {0: layers, 2: hidden}
    return out


def _check_sizes(item: Any, sizes: dict[int, int], source: str) -> None:
    for axis, size in sizes.items():
        have = item.shape[axis]
        if isinstance(have, int) and have != size:
            raise ModelError(
                f"{source}: the graph's {item.name!r} has {have} on axis {axis % len(item.shape)} where its metadata "
                f"says {size}; export the model again with `tsrnn export RUN`"
            )
