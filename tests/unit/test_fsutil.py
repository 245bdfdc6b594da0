"""fsutil: only regular files are written, never through a link, and a failed write is one OutputError."""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import pytest

from tsrnn import fsutil
from tsrnn.fsutil import OutputError, atomic_write_bytes, check_output


def _specials(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    sock.close()
    folder = tmp_path / "folder"
    folder.mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    device = tmp_path / "null"  # its own null device: a regression replaces it, not the machine's /dev/null
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    return {
        "device": (device, "a character device"),
        "fifo": (fifo, "a fifo"),
        "socket": (sock_path, "a socket"),
        "directory": (folder, "a directory"),
        "link": (link, f"a symbolic link to {tmp_path / 'elsewhere'}"),
    }


@pytest.mark.parametrize("kind", ["device", "fifo", "socket", "directory", "link"])
def test_check_output_refuses_anything_but_a_regular_file(tmp_path: Path, kind: str) -> None:
    path, said = _specials(tmp_path)[kind]
    with pytest.raises(OutputError) as err:
        check_output(path, "--out")
    assert str(err.value).startswith(f"--out {path} is {said}") and "\n" not in str(err.value)
    (tmp_path / "plain").write_text("x")
    check_output(tmp_path / "plain", "--out")  # a regular file, or nothing yet: fine
    check_output(tmp_path / "missing", "--out")


@pytest.mark.parametrize("kind", ["device", "fifo", "directory", "link"])
def test_atomic_write_never_replaces_a_special_file_or_a_link(tmp_path: Path, kind: str) -> None:
    path, _ = _specials(tmp_path)[kind]
    before = os.lstat(path)
    with pytest.raises(OutputError):
        atomic_write_bytes(path, b"data")
    after = os.lstat(path)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    assert not (tmp_path / "elsewhere").exists()  # the link's target was not created either


def test_atomic_write_disk_full_is_one_line_and_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "run.json"
    target.write_bytes(b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil.os, "fsync", full)
    with pytest.raises(OutputError) as err:
        atomic_write_bytes(target, b"new", "--out")
    assert (
        str(err.value) == f"--out {target}: No space left on device (the disk is full: free some space and run again)"
    )
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_atomic_write_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError) as err:
        atomic_write_bytes(tmp_path / "afile" / "sub" / "x.json", b"data")
    assert "a parent of it is a file, not a directory" in str(err.value)
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        (errno.EROFS, "the file system is read-only: choose a path on a writable one"),
        (errno.EACCES, "permission denied: choose a path you may write"),
        (errno.EISDIR, "it is a directory: name a file"),
    ],
)
def test_a_directory_that_cannot_be_written_is_one_line_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, hint: str
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(tmp_path))

    monkeypatch.setattr(fsutil.tempfile, "mkstemp", refused)  # as root, chmod cannot stop a write: simulate it
    with pytest.raises(OutputError) as err:
        atomic_write_bytes(tmp_path / "r.png", b"png", "--out")
    assert str(err.value) == f"--out {tmp_path / 'r.png'}: {os.strerror(code)} ({hint})"
    assert list(tmp_path.iterdir()) == []
