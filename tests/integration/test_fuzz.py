"""Property: a damaged or crafted state file, or crafted model metadata, gives watch's normal result or
tsrnn's own one-line error (TsrnnError), never another exception; a refused state file is left as it was.

The normal suite runs a short search; TSRNN_HYPOTHESIS_EXAMPLES=N runs N examples of each by hand.
(The CSV reader's property is in tests/unit/test_reader_properties.py.)
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers import cycle, stamps
from tsrnn.errors import TsrnnError
from tsrnn.streaming.engine import watch

EXAMPLES = int(os.environ.get("TSRNN_HYPOTHESIS_EXAMPLES", "0")) or None
SETTINGS = {
    "deadline": None,
    "derandomize": EXAMPLES is None,  # the normal suite: the same examples every run
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.just([]),
    st.just({}),
    st.lists(st.floats(-1e40, 1e40), min_size=1, max_size=300),
    st.dictionaries(st.text(max_size=6), st.integers(-5, 5), max_size=3),
    st.just("AAAA"),  # base64 of a few bytes: an array of the wrong size
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document that a value can be put."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:4]):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, doc: Any, keep: tuple[str, ...] = ()) -> Any:
    """`doc` with one to three values replaced, deleted, or a key added (never the top-level `keep` keys)."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p in _paths(doc) if p and p[0] not in keep]
        if not places:
            break
        where = draw(st.sampled_from(places))
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(junk)
        else:
            parent[where[-1]] = draw(junk)
    return doc


def _data(path: Path, start: int, rows: int) -> Path:
    values = cycle(rows, start_row=start, seed=5)
    path.write_text("timestamp,value\n" + "".join(f"{t},{v:.4f}\n" for t, v in zip(stamps(rows, start), values[:, 0])))
    return path


@pytest.fixture(scope="module")
def saved_state(tmp_path_factory: pytest.TempPathFactory, forecaster_onnx: Path) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("fuzz_state")
    data = _data(folder / "m.csv", 2000, 80)
    watch(data, forecaster_onnx, state=folder / "s.state")
    return data, json.loads((folder / "s.state").read_bytes())


def test_a_crafted_state_file_works_or_is_refused_unchanged(
    tmp_path: Path, forecaster_onnx: Path, saved_state: tuple[Path, dict]
) -> None:
    data, doc = saved_state

    @settings(max_examples=EXAMPLES or 40, **SETTINGS)
    @given(crafted=mutated(doc, keep=("format",)))
    def check(crafted: Any) -> None:
        state = tmp_path / "s.state"
        text = json.dumps(crafted, allow_nan=True).encode()
        state.write_bytes(text)
        try:
            watch(data, forecaster_onnx, state=state)
        except TsrnnError as exc:
            assert "\n" not in str(exc).strip()
            assert state.read_bytes() == text  # refused: left as it was

    check()


@pytest.fixture(scope="module")
def model_props(forecaster_onnx: Path) -> dict[str, Any]:
    import onnx

    model = onnx.load(str(forecaster_onnx))
    props = {p.key: p.value for p in model.metadata_props}
    return {k: (json.loads(v) if v.startswith(("[", "{")) else v) for k, v in props.items()}


def test_crafted_model_metadata_works_or_is_refused(
    tmp_path: Path, forecaster_onnx: Path, model_props: dict[str, Any]
) -> None:
    import onnx

    data = _data(tmp_path / "m.csv", 2000, 60)
    model = onnx.load(str(forecaster_onnx))

    @settings(max_examples=EXAMPLES or 40, **SETTINGS)
    @given(crafted=mutated(model_props))
    def check(crafted: dict[str, Any]) -> None:
        del model.metadata_props[:]
        for key, value in crafted.items():
            text = value if isinstance(value, str) else json.dumps(value, allow_nan=True)
            model.metadata_props.add(key=str(key), value=text)
        path = tmp_path / "crafted.onnx"
        path.write_bytes(model.SerializeToString())
        try:
            watch(data, path, scores_out=tmp_path / "scores.csv")
        except TsrnnError as exc:
            assert str(exc).strip()  # the message may quote a crafted value; the CLI prints it on one line

    check()


@given(blob=st.binary(max_size=2000))
@example(blob=b"@\x00")  # found by the long search: a number where the operator-set message belongs
@settings(max_examples=EXAMPLES or 60, **SETTINGS)
def test_any_bytes_as_a_model_are_refused_by_tsrnn(tmp_path: Path, blob: bytes) -> None:
    from tsrnn.export.metadata import read_metadata

    path = tmp_path / "junk.onnx"
    path.write_bytes(blob)
    with pytest.raises(TsrnnError):
        read_metadata(path)


@pytest.mark.parametrize(
    ("key", "path", "value", "said"),
    [
        ("calibration", ("error",), "AAAA", "calibration.error"),
        ("calibration", ("error_norms",), [], "calibration.error_norms"),
        ("calibration", ("error_hist", "97"), None, "calibration.error_hist.97"),
        ("calibration", ("range_seed", "low"), [1.0, 2.0], "calibration.range_seed"),
        ("calibration", ("threshold",), float("nan"), "finite"),
        ("interval_seconds", (), "null", "interval_seconds"),
        ("scaler", ("scale",), [0.0], "scaler.scale"),
        ("state_shape", (), [2, "32"], "state_shape"),
        ("time_features", (), "null", "time_features"),
        ("state_shape", (), [1, 32], "'h' has 2 on axis 0 where its metadata says 1"),  # found by the long search
        ("calibration", ("novelty_memory",), 10**12, "calibration.novelty_memory"),  # ... it took 24 GB
        ("calibration", ("history_rows",), 10**30, "calibration.history_rows"),  # OverflowError in scoring
        ("calibration", ("range_seed", "rows"), float("inf"), "metadata is damaged"),  # OverflowError at start
    ],
)
def test_damaged_metadata_found_by_the_fuzz_is_one_line(
    tmp_path: Path, forecaster_onnx: Path, model_props: dict[str, Any], key: str, path: tuple, value: Any, said: str
) -> None:
    """The cases the property above found (each crashed inside numpy before), as a user meets them."""
    import onnx
    from typer.testing import CliRunner

    from tsrnn_cli.main import app

    props = copy.deepcopy(model_props)
    if path:
        target = props[key]
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    else:
        props[key] = value
    model = onnx.load(str(forecaster_onnx))
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v if isinstance(v, str) else json.dumps(v, allow_nan=True))
    crafted = tmp_path / "crafted.onnx"
    crafted.write_bytes(model.SerializeToString())
    data = _data(tmp_path / "m.csv", 2000, 40)
    result = CliRunner().invoke(app, ["watch", str(data), "--model", str(crafted)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and said in result.stderr and "export the model again" in result.stderr
