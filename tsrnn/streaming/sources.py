"""Where watch's rows come from: the unread part of a growing file, or stdin."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tsrnn.errors import InputError, StateError

HEAD_BYTES = 1024  # the start of the file that identifies it across runs


class SourceChanged(StateError):
    """The file is shorter than what was read, or begins differently: truncated or rotated."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def source_files(source: str) -> list[str]:
    """The files a watch source names: one file, the *.csv of a directory, or a glob's matches, sorted."""
    if source == "-":
        return ["-"]
    from tsrnn.data.reader import expand_files

    return [os.path.abspath(p) for p in expand_files(source)]


@dataclass(frozen=True)
class Cursor:
    """How far a file has been read: committed to the state only after its rows are scored."""

    offset: int = 0  # bytes consumed
    lines: int = 0  # lines consumed, header included (for messages that name a line)
    head_sha256: str = ""  # of the first min(offset, HEAD_BYTES) bytes: detects a replaced file
    unterminated: bool = False  # the last consumed line had no newline yet

    def to_dict(self) -> dict[str, object]:
        return {
            "offset": self.offset,
            "lines": self.lines,
            "head_sha256": self.head_sha256,
            "unterminated": self.unterminated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cursor:
        return cls(int(data["offset"]), int(data["lines"]), str(data["head_sha256"]), bool(data["unterminated"]))


class Chunk:
    """The rows of one input not read before, handed out in slices of whole lines.

    Nothing is held beyond one slice: a backlog of any size costs the memory of a slice. The
    cursor (where the next run starts once this one is committed) is known after the last slice.
    """

    def __init__(
        self,
        source: str,
        header: bytes,
        first_line: int,
        pieces: Callable[[int], Iterator[bytes]],
        finish: Callable[[int, int], Cursor | None],
        skipped: dict[str, int] | None = None,
        held: int = 0,
    ) -> None:
        self.source, self.header, self.first_line = source, header, first_line
        self.skipped = skipped or {}
        self.held = held  # bytes of an unterminated last line left for a later run (read with `hold`)
        self._pieces, self._finish = pieces, finish
        self._cursor: Cursor | None = None
        self._done = False

    @property
    def cursor(self) -> Cursor | None:
        """Where the next run starts once this one is committed; known once every slice was read.

        None when nothing of the file may be consumed yet (its header line is still being written).
        """
        if not self._done:
            raise RuntimeError("the chunk's cursor is known only after all its slices were read")
        return self._cursor

    def slices(self, size: int) -> Iterator[tuple[bytes, int]]:
        """(header + about `size` bytes of whole lines, file line of the first) until the input ends."""
        line, newlines = self.first_line, 0
        if self.header and not self.header.endswith(b"\n"):  # a header alone, not even a newline
            yield self.header, line
        for piece in self._pieces(size):
            if piece.strip():
                yield self.header + piece, line
            line += piece.count(b"\n")
            newlines += piece.count(b"\n")
        self._cursor, self._done = self._finish(newlines, line), True

    def lines(self, size: int = 1 << 20) -> list[bytes]:
        """Every new row (for tests and small inputs)."""
        return [row for data, _ in self.slices(size) for row in data.splitlines()[1:]]


def _check_unchanged(source: str, cursor: Cursor, head: bytes, end: int) -> None:
    """Refuse a file that is shorter than at the cursor, or whose start changed: it was replaced."""
    if end < cursor.offset:
        raise SourceChanged(
            f"{source}: the file is shorter ({end} bytes) than when it was last read ({cursor.offset}): "
            "it was truncated or replaced; delete the --state file to score it from the start",
            source,
        )
    if hashlib.sha256(head[: min(cursor.offset, HEAD_BYTES)]).hexdigest() != cursor.head_sha256:
        raise SourceChanged(
            f"{source}: the start of the file changed since it was last read: it was replaced; "
            "delete the --state file to score the new file from the start",
            source,
        )


def read_new(source: str, cursor: Cursor | None, *, hold: bool = False) -> Chunk:
    """The rows of `source` after `cursor` (everything when cursor is None); stdin has no cursor.

    With `hold` (watch with a state: cron runs and --follow), only whole lines are read: a last
    line without its newline may still be being written, so it is left, unconsumed, for a later
    run (`Chunk.held` says how many bytes). Without it the last line is read if present, newline
    or not: a one-off run over a finished file (stdin is always read to its end).
    """
    if source == "-":
        stdin = sys.stdin.buffer
        return Chunk("-", stdin.readline(), 2, lambda size: _stream_pieces(stdin, size), lambda n, line: Cursor())
    path = Path(source)
    if not path.is_file():
        raise InputError(
            f"{source}: no such file; check the path"
            if not path.exists()
            else f"{source}: not a regular file; give a CSV file"
        )
    f = path.open("rb")
    try:
        head = f.read(HEAD_BYTES)
        end = os.fstat(f.fileno()).st_size  # rows appended while this run reads wait for the next run
        skipped: dict[str, int]
        if cursor is None:
            f.seek(0)
            header = f.readline()
            start, lines, skipped = len(header), header.count(b"\n"), {}
            if hold and not header.endswith(b"\n"):  # the header itself is still being written
                f.close()
                return Chunk(source, b"", 2, lambda size: iter(()), lambda n, line: None, held=len(header))
        else:
            _check_unchanged(source, cursor, head, end)
            header = head.split(b"\n", 1)[0] + b"\n"
            start, lines, skipped = _finish_scored_line(f, cursor, end)
        whole = _last_newline_end(f, start, end) if hold else end
    except BaseException:
        f.close()
        raise
    held, end = end - whole, whole
    first_line = lines + 1 if cursor is not None else 2
    consumed = {"end": start}

    def pieces(size: int) -> Iterator[bytes]:
        return _file_pieces(f, start, end, size, consumed)

    def finish(newlines: int, line: int) -> Cursor:
        stop = consumed["end"]
        return Cursor(stop, lines + newlines, _head_hash(head, stop), stop > 0 and not _ends_with_newline(path, stop))

    return Chunk(source, header, first_line, pieces, finish, skipped, held)


def _file_pieces(f: BinaryIO, start: int, end: int, size: int, consumed: dict[str, int]) -> Iterator[bytes]:
    """Blocks of about `size` bytes of whole lines in [start, end); where they stopped goes in `consumed`."""
    with f:
        f.seek(start)
        pos = start
        while pos < end:
            block = f.read(min(size, end - pos))
            if not block:  # the file shrank while it was read: stop where it ends now
                break
            if pos + len(block) < end and not block.endswith(b"\n"):
                block += f.readline(end - pos - len(block))
            pos += len(block)
            yield block
        consumed["end"] = pos


def _last_newline_end(f: BinaryIO, start: int, end: int, block: int = 1 << 16) -> int:
    """The offset just after the last newline in [start, end): `end` if the file ends with one,
    `start` if no newline follows it (the one line there is not finished)."""
    pos = end
    while pos > start:
        size = min(block, pos - start)
        f.seek(pos - size)
        data = f.read(size)
        found = data.rfind(b"\n")
        if found >= 0:
            return pos - size + found + 1
        pos -= size
    return start


def _finish_scored_line(f: BinaryIO, cursor: Cursor, end: int) -> tuple[int, int, dict[str, int]]:
    """Where the new rows start: after the cursor, and past the rest of a line scored without its newline.

    The last line scored had no newline. Its newline may follow now; anything else means the
    writer extended a line that was already scored: say so rather than score half a row.
    """
    offset, lines = cursor.offset, cursor.lines
    if not cursor.unterminated or offset >= end:
        return offset, lines, {}
    f.seek(offset)
    rest = f.readline(end - offset)
    skipped = {} if rest == b"\n" else {"tail of a line extended after it was scored": 1}
    return offset + len(rest), lines + rest.count(b"\n"), skipped


def _stream_pieces(stream: BinaryIO, size: int) -> Iterator[bytes]:
    while True:
        block = stream.read(size)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += stream.readline()
        yield block


def _ends_with_newline(path: Path, offset: int) -> bool:
    with path.open("rb") as f:
        f.seek(offset - 1)
        return f.read(1) == b"\n"


def _head_hash(head: bytes, offset: int) -> str:
    return hashlib.sha256(head[: min(offset, HEAD_BYTES)]).hexdigest()
