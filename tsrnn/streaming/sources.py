"""Where watch's rows come from: the unread part of a growing file, or stdin."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
        return {"offset": self.offset, "lines": self.lines, "head_sha256": self.head_sha256, "unterminated": self.unterminated}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Cursor:
        return cls(int(data["offset"]), int(data["lines"]), str(data["head_sha256"]), bool(data["unterminated"]))  # type: ignore[arg-type]


@dataclass
class Chunk:
    """New CSV text to parse: the header plus the rows not read before."""

    source: str
    data: bytes  # header line + new rows; empty when nothing is new
    first_line: int  # file line number of the first new row
    cursor: Cursor  # where the next run starts once this chunk is committed
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def has_rows(self) -> bool:
        return bool(self.data)

    def slices(self, size: int) -> Iterator[tuple[bytes, int]]:
        """(header + about `size` bytes of whole lines, file line of the first) pieces of the chunk."""
        if not self.data:
            return
        cut = self.data.find(b"\n") + 1
        if cut == 0:  # a header alone
            yield self.data, self.first_line
            return
        header, line, pos = self.data[:cut], self.first_line, cut
        while pos < len(self.data):
            end = self.data.find(b"\n", pos + size)
            end = len(self.data) if end < 0 else end + 1
            yield header + self.data[pos:end], line
            line += self.data.count(b"\n", pos, end)
            pos = end


def read_new(source: str, cursor: Cursor | None) -> Chunk:
    """The rows of `source` after `cursor` (everything when cursor is None); stdin has no cursor."""
    if source == "-":
        return Chunk("-", sys.stdin.buffer.read(), 2, Cursor())
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{source}: no such file; check the path" if not path.exists() else f"{source}: not a regular file; give a CSV file")
    with path.open("rb") as f:
        whole = f.read() if cursor is None else None
        if whole is not None:
            return _first_read(source, whole)
        assert cursor is not None
        head = f.read(HEAD_BYTES)
        size = path.stat().st_size
        if size < cursor.offset:
            raise SourceChanged(
                f"{source}: the file is shorter ({size} bytes) than when it was last read ({cursor.offset}): "
                "it was truncated or replaced; delete the --state file to score it from the start",
                source,
            )
        if hashlib.sha256(head[: min(cursor.offset, HEAD_BYTES)]).hexdigest() != cursor.head_sha256:
            raise SourceChanged(
                f"{source}: the start of the file changed since it was last read: it was replaced; "
                "delete the --state file to score the new file from the start",
                source,
            )
        f.seek(cursor.offset)
        rest = f.read()
    return _next_read(source, head, rest, cursor)


def _first_read(source: str, whole: bytes) -> Chunk:
    return Chunk(source, whole, 2, _cursor(whole, len(whole), whole.count(b"\n")))


def _next_read(source: str, head: bytes, rest: bytes, cursor: Cursor) -> Chunk:
    skipped: dict[str, int] = {}
    offset, lines, unterminated = cursor.offset, cursor.lines, cursor.unterminated
    if unterminated and rest:
        # The last line scored had no newline. Its newline may follow now; anything else means the
        # writer extended a line that was already scored: say so rather than score half a row.
        cut = rest.find(b"\n")
        if cut != 0:
            skipped["tail of a line extended after it was scored"] = 1
        if cut < 0:
            offset, rest = offset + len(rest), b""
        else:
            offset, lines, unterminated, rest = offset + cut + 1, lines + 1, False, rest[cut + 1 :]
    header = head.split(b"\n", 1)[0] + b"\n"
    end = offset + len(rest)
    new_cursor = Cursor(
        offset=end,
        lines=lines + rest.count(b"\n"),
        head_sha256=_head_hash(head, end),
        unterminated=(not rest.endswith(b"\n")) if rest else unterminated,
    )
    data = header + rest if rest.strip() else b""
    return Chunk(source, data, lines + 1, new_cursor, skipped)


def _cursor(data: bytes, offset: int, lines: int) -> Cursor:
    return Cursor(offset, lines, _head_hash(data, offset), bool(data) and not data.endswith(b"\n"))


def _head_hash(head: bytes, offset: int) -> str:
    return hashlib.sha256(head[: min(offset, HEAD_BYTES)]).hexdigest()
