"""Reading only what is new, and the state file that remembers how far we got."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsrnn.errors import StateError
from tsrnn.streaming.sources import Cursor, read_new
from tsrnn.streaming.state import (
    SeriesState,
    StateLock,
    WatchState,
    load_state,
    save_state,
)

HEADER = b"timestamp,value\n"


def rows(chunk) -> list[bytes]:
    return chunk.lines()


def test_each_read_returns_only_rows_added_since(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_bytes(HEADER + b"t1,1\nt2,2\n")
    first = read_new(str(f), None)
    assert rows(first) == [b"t1,1", b"t2,2"] and first.first_line == 2
    assert rows(read_new(str(f), first.cursor)) == []
    with f.open("ab") as out:
        out.write(b"t3,3\n")
    second = read_new(str(f), first.cursor)
    assert rows(second) == [b"t3,3"] and second.first_line == 4
    assert second.header == HEADER


def test_a_last_line_without_newline_is_read_once(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_bytes(HEADER + b"t1,1\nt2,2")
    first = read_new(str(f), None)
    assert rows(first) == [b"t1,1", b"t2,2"] and first.cursor.unterminated
    with f.open("ab") as out:
        out.write(b"\nt3,3")
    second = read_new(str(f), first.cursor)
    assert rows(second) == [b"t3,3"] and not second.skipped and second.first_line == 4


def test_with_hold_an_unterminated_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_bytes(HEADER + b"t1,1\nt2,9")  # a writer in the middle of "t2,97.489756"
    first = read_new(str(f), None, hold=True)
    assert rows(first) == [b"t1,1"] and first.held == 4
    assert first.cursor is not None and not first.cursor.unterminated
    assert first.cursor.offset == len(HEADER + b"t1,1\n")
    again = read_new(str(f), first.cursor, hold=True)  # still not finished: still nothing
    assert rows(again) == [] and again.held == 4 and again.cursor == first.cursor
    with f.open("ab") as out:
        out.write(b"7.489756\nt3,3")
    second = read_new(str(f), first.cursor, hold=True)
    assert rows(second) == [b"t2,97.489756"] and second.held == 4 and second.first_line == 3
    assert not second.skipped
    assert rows(read_new(str(f), first.cursor)) == [b"t2,97.489756", b"t3,3"]  # without hold: read to the end


def test_with_hold_a_header_still_being_written_consumes_nothing(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_bytes(b"timestamp,val")
    chunk = read_new(str(f), None, hold=True)
    assert rows(chunk) == [] and chunk.held == 13 and chunk.cursor is None
    f.write_bytes(HEADER + b"t1,1\n")
    assert rows(read_new(str(f), None, hold=True)) == [b"t1,1"]


def test_with_hold_a_long_unfinished_line_is_found_across_blocks(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    tail = b"t2," + b"1" * 200_000  # longer than one backwards read
    f.write_bytes(HEADER + b"t1,1\n" + tail)
    chunk = read_new(str(f), None, hold=True)
    assert rows(chunk) == [b"t1,1"] and chunk.held == len(tail)


def test_a_scored_line_extended_later_is_reported_not_rescored(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_bytes(HEADER + b"t1,1")
    first = read_new(str(f), None)
    assert rows(first) == [b"t1,1"]
    with f.open("ab") as out:
        out.write(b"5\nt2,2\n")
    second = read_new(str(f), first.cursor)
    assert rows(second) == [b"t2,2"]
    assert second.skipped == {"tail of a line extended after it was scored": 1}


def test_truncated_or_replaced_file_is_an_error_not_a_silent_restart(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_bytes(HEADER + b"t1,1\nt2,2\n")
    chunk = read_new(str(f), None)
    rows(chunk)
    cursor = chunk.cursor
    f.write_bytes(HEADER + b"t1,1\n")
    with pytest.raises(StateError, match="truncated or replaced"):
        read_new(str(f), cursor)
    f.write_bytes(b"time,value\nx1,1\nx2,2\nx3,3\n")
    with pytest.raises(StateError, match="start of the file changed"):
        read_new(str(f), cursor)


def test_state_round_trip_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "w.state"
    state = WatchState(
        "run:abc",
        "/data/m.csv",
        {"/data/m.csv": Cursor(10, 2, "ff", False)},
        {
            "": SeriesState(
                5,
                123,
                {"h": {"shape": [1], "data": [0.1]}},
                [1.5],
                {"hist": {"3": 0.1}, "pending": {}, "scale": 0.3, "rows": 5, "event": None},
            )
        },
        {"/o.csv": 77},
    )
    save_state(path, state)
    again = load_state(path, "run:abc", "/data/m.csv")
    assert (
        again.cursors == state.cursors
        and again.series[""].to_dict() == state.series[""].to_dict()
        and again.outputs == {"/o.csv": 77}
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "damaged"),
        (b'{"hello": 1}', "not a tsrnn watch state"),
        (b'{"format": "tsrnn-watch-state", "version": 99}', "version 99"),
        (
            b'{"format": "tsrnn-watch-state", "version": 4, "model": "other:1", "source": "/data/m.csv"}',
            "another model",
        ),
        (b'{"format": "tsrnn-watch-state", "version": 4, "model": "run:abc", "source": "/x.csv"}', "belongs to source"),
        (
            b'{"format": "tsrnn-watch-state", "version": 4, "model": "run:abc", "source": "/data/m.csv"}',
            "fields missing",
        ),
    ],
)
def test_bad_state_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "w.state"
    path.write_bytes(content)
    with pytest.raises(StateError, match=message):
        load_state(path, "run:abc", "/data/m.csv")


def test_missing_state_file_starts_fresh(tmp_path: Path) -> None:
    state = load_state(tmp_path / "new.state", "run:abc", "/data/m.csv")
    assert state.cursors == {} and state.series == {}


def test_second_holder_of_the_lock_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.state"
    with StateLock(path):
        with pytest.raises(StateError, match="another tsrnn watch"):
            with StateLock(path):
                pass
    with StateLock(path):  # released after the first run ends
        pass
