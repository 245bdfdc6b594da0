"""Small filesystem helpers shared by runs, exports, watch state and outputs.

Every file tsrnn writes goes through `check_output` first: only a regular file (or nothing yet)
is written, never a device, fifo, socket or directory, and never through a symbolic link. A
failure to write is one line naming the file (`OutputError`), not a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from tsrnn.errors import TsrnnError

_HINTS = {
    errno.ENOSPC: "the disk is full: free some space and run again",
    errno.EDQUOT: "the disk quota is used up: free some space and run again",
    errno.EROFS: "the file system is read-only: choose a path on a writable one",
    errno.EACCES: "permission denied: choose a path you may write",
    errno.EPERM: "not permitted: choose a path you may write",
    errno.ENOTDIR: "a parent of it is a file, not a directory: choose another path",
    errno.EISDIR: "it is a directory: name a file",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter path",
}


class OutputError(TsrnnError):
    """An output path tsrnn must not or cannot write (exit code 2, one line)."""


def os_error_line(exc: OSError, path: str | Path | None = None) -> str:
    """`PATH: what the OS said (how to fix it)`, for an OSError while writing `path`."""
    name = path if path is not None else (exc.filename if exc.filename is not None else "(unknown file)")
    said = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.EEXIST:  # mkdir(exist_ok=True) met a file where a directory belongs
        said = "Not a directory"
    hint = _HINTS.get(
        errno.ENOTDIR if exc.errno == errno.EEXIST else exc.errno or 0, "check the path and its permissions"
    )
    return f"{name}: {said} ({hint})"


def check_output(path: str | Path, what: str) -> None:
    """Refuse `path` as an output unless it is a regular file or does not exist yet.

    A device (`/dev/null`), fifo, socket or directory would be replaced by a regular file or
    crash the writer; a symbolic link may point anywhere (a planted link to /etc/passwd).
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # nothing there yet (a bad parent fails when written)
        return
    except OSError as exc:
        raise OutputError(f"{what} {os_error_line(exc, path)}") from None
    if stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(
            f"{what} {path} is a symbolic link to {os.path.realpath(path)}; tsrnn does not write through links: "
            "give the real path"
        )
    kind = _kind(st.st_mode)
    raise OutputError(f"{what} {path} is {kind}, not a regular file; tsrnn writes only regular files: name a file")


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a fifo (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def atomic_write_bytes(path: Path, data: bytes, what: str = "output") -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`.

    A reader (or a process killed halfway) sees either the old file or the new one, never a part.
    `what` names the output in messages (e.g. "--out"); a failure is an `OutputError`.
    """
    path = Path(path)
    check_output(path, what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{what} {os_error_line(exc, path)}") from None
    try:
        os.fchmod(fd, 0o666 & ~umask())  # the permissions a plain open() would give, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check_output(path, what)  # a link or device planted meanwhile is not replaced either
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise OutputError(f"{what} {os_error_line(exc, path)}") from None
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def umask() -> int:
    """The process's file-creation mask (read without changing it for long)."""
    current = os.umask(0)
    os.umask(current)
    return current


def check_not_input(out: str | Path | None, data: str | Path, what: str = "--out") -> None:
    """Refuse an output that is the data file the command reads: writing it would replace the data."""
    if out is None or str(out) in ("-", "") or str(data) == "-":
        return
    if os.path.realpath(out) == os.path.realpath(data) or (
        os.path.exists(out) and os.path.exists(data) and os.path.samefile(out, data)
    ):
        raise OutputError(f"{what} {out} is the data file the command reads: it would be replaced; name another file")
