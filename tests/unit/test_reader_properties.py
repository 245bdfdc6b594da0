"""Property: whatever CSV text arrives, the reader returns clean segments or raises InputError.

TSRNN_HYPOTHESIS_EXAMPLES=4000 runs a longer search than the 250 examples of the normal suite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsrnn.config import DataConfig
from tsrnn.data.clean import read_dataset
from tsrnn.errors import InputError

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**13).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "nan",
            "NaN",
            "inf",
            "-",
            "abc",
            "1e400",
            "2024-01-01",
            "2024-01-01 00:00:00",
            "2024-13-45 25:61:00",
            '"1,5"',
            "2024-01-01T00:00:00+05:30",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)
names = st.sampled_from(["timestamp", "time", "value", "v", "host", "date", "x y", ""])
delims = st.sampled_from([",", ";", "\t", "|"])


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    delim = draw(delims)
    width = draw(st.integers(1, 4))
    header = [draw(names) for _ in range(width)]
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=width + 1), max_size=30))
    lines = [delim.join(header)] + [delim.join(r) for r in rows]
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data += draw(st.binary(max_size=6))
    return data


@st.composite
def timestamped(draw: st.DrawFn) -> bytes:
    """Mostly well-formed files, so the property reaches the cleaning code, not only the refusals."""
    n = draw(st.integers(1, 40))
    start = np.datetime64("2024-01-01T00:00:00")
    steps = draw(st.lists(st.sampled_from([0, 60, 60, 60, 120, 600, -60]), min_size=n, max_size=n))
    times = start + np.cumsum(steps).astype("timedelta64[s]")
    values = draw(
        st.lists(st.one_of(st.floats(-1e6, 1e6).map(lambda v: f"{v:.3f}"), st.just("")), min_size=n, max_size=n)
    )
    hosts = draw(st.lists(st.sampled_from(["a", "b"]), min_size=n, max_size=n))
    rows = [f"{str(t).replace('T', ' ')},{h},{v}" for t, h, v in zip(times, hosts, values)]
    return ("timestamp,host,value\n" + "\n".join(rows)).encode()


configs = st.builds(
    DataConfig,
    id_column=st.sampled_from([None, "host"]),
    duplicates=st.sampled_from(["last", "mean", "error"]),
    fill=st.sampled_from(["interpolate", "ffill", "none"]),
    fill_limit=st.integers(0, 4),
    resample=st.sampled_from([None, None, "1m", "5m"]),
)


def check(tmp_path: Path, data: bytes, cfg: DataConfig) -> None:
    path = tmp_path / "generated.csv"
    path.write_bytes(data)
    try:
        ds = read_dataset(str(path), cfg)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert ds.segments and ds.value_columns
    for seg in ds.segments:
        assert seg.values.shape == (seg.rows, len(ds.value_columns))
        assert np.isfinite(seg.values).all()
        assert (np.diff(seg.times.astype(np.int64)) > 0).all()  # strictly increasing in each segment
        assert seg.observed.shape == (seg.rows,) and seg.text is not None and len(seg.text) == seg.rows


@settings(
    max_examples=int(__import__("os").environ.get("TSRNN_HYPOTHESIS_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=csv_texts(), cfg=configs)
def test_any_text_gives_segments_or_an_input_error(tmp_path: Path, data: bytes, cfg: DataConfig) -> None:
    check(tmp_path, data, cfg)


@settings(
    max_examples=int(__import__("os").environ.get("TSRNN_HYPOTHESIS_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=timestamped(), cfg=configs)
def test_well_formed_files_clean_into_valid_segments(tmp_path: Path, data: bytes, cfg: DataConfig) -> None:
    check(tmp_path, data, cfg)
