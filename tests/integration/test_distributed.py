"""Training on two processes (torchrun, gloo, CPU): it converges as one process does, writes one
ordinary run, repeats itself with the same seed, and a rank that dies ends the job, not a hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import cycle, stamps

SERIES, ROWS = 16, 600
TRAIN = ["--id-column", "host", "--epochs", "6", "--threads", "1", "--seed", "0", "--quiet"]


def _long_csv(path: Path, series: int = SERIES, rows: int = ROWS) -> Path:
    """Long format: timestamp, host, value; each host its own phase of noise and level."""
    lines = ["timestamp,host,value"]
    for k in range(series):
        values = cycle(rows, seed=k)[:, 0] * (1.0 + 0.05 * k)
        lines += [f"{ts},h{k:02d},{v:.4f}" for ts, v in zip(stamps(rows), values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", **extra}


def _torchrun(nproc: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"] + [
        "-m",
        "tsrnn",
        *args,
    ]


def _tsrnn(
    *args: str, cwd: Path, timeout: float = 90, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tsrnn", *args],
        cwd=cwd,
        env=_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())["summary"]


def test_two_processes_train_like_one_and_write_one_ordinary_run(tmp_path: Path) -> None:
    data = _long_csv(tmp_path / "hosts.csv")
    one = _tsrnn("train", str(data), *TRAIN, "--runs-dir", "one", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        _torchrun(2, "train", str(data), *TRAIN, "--runs-dir", "two"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert two.returncode == 0, two.stderr
    alone, shared = _summary(tmp_path / "one" / "hosts"), _summary(tmp_path / "two" / "hosts")
    assert alone["world_size"] == 1 and shared["world_size"] == 2
    assert alone["device"] == shared["device"] == "cpu"
    assert shared["series"] == SERIES and shared["rows_train"] == alone["rows_train"]  # every series, counted once
    assert abs(shared["best_val_loss"] - alone["best_val_loss"]) <= 0.10 * alone["best_val_loss"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["hosts"]  # rank 0 alone wrote
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts.csv", "one", "two"]
    exported = _tsrnn("export", str(tmp_path / "two" / "hosts"), "--out", "hosts.onnx", "--quiet", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    watched = _tsrnn("watch", str(data), "--model", "hosts.onnx", "--json", "--exit-zero", cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout)["rows_scored"] == SERIES * ROWS


def test_nproc_launches_the_same_job_and_the_seed_repeats_it(tmp_path: Path) -> None:
    data = _long_csv(tmp_path / "hosts.csv", series=6, rows=400)
    runs = []
    for name, command in (
        ("a", _torchrun(2, "train", str(data), *TRAIN, "--runs-dir", "a")),
        ("b", [sys.executable, "-m", "tsrnn", "train", str(data), *TRAIN, "--runs-dir", "b", "--nproc", "2"]),
    ):
        done = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        runs.append(torch.load(tmp_path / name / "hosts" / "weights.pt", weights_only=True))
        assert _summary(tmp_path / name / "hosts")["world_size"] == 2
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def _rank_pid(parent: int, rank: int) -> int | None:
    """The pid of the worker with RANK=rank among parent's descendants (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if ppid == parent and f"RANK={rank}".encode() in environ and b"TSRNN_TEST_JOB=1" in environ:
            return int(entry.name)
    return None


def test_a_users_error_on_a_rank_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    data = _long_csv(tmp_path / "hosts.csv", series=4, rows=100)
    done = _tsrnn("train", str(data), "--nproc", "2", "--columns", "nosuch", "--id-column", "host", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()  # rank 0's line; rank 1 stops in silence, torchrun's report is left out
    assert len(lines) == 1 and lines[0].startswith("tsrnn: error: ") and "column 'nosuch' not found" in lines[0], lines


@pytest.mark.parametrize("value", ["0", "-3"])
def test_nproc_below_one_is_one_line_and_exit_code_2(tmp_path: Path, value: str) -> None:
    data = _long_csv(tmp_path / "hosts.csv", series=2, rows=100)
    done = _tsrnn("train", str(data), "--id-column", "host", "--nproc", value, cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"--nproc {value}: use 1 or more processes" in done.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("value", ["abc", "0", "nan"])
def test_a_bad_timeout_is_said_once_before_any_rank_starts(tmp_path: Path, value: str) -> None:
    data = _long_csv(tmp_path / "hosts.csv", series=2, rows=100)
    done = _tsrnn(
        "train", str(data), "--id-column", "host", "--nproc", "2", cwd=tmp_path, env={"TSRNN_DIST_TIMEOUT": value}
    )
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"tsrnn: error: TSRNN_DIST_TIMEOUT='{value}' is not a number of seconds above 0 (default 300)"
    ], done.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("nproc", [[], ["--nproc", "2"]], ids=["alone", "nproc"])
def test_device_cuda_without_cuda_is_one_line_and_exit_code_2(tmp_path: Path, nproc: list[str]) -> None:
    data = _long_csv(tmp_path / "hosts.csv", series=2, rows=100)
    done = _tsrnn("train", str(data), "--id-column", "host", "--device", "cuda", *nproc, cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--device cuda: torch" in done.stderr and "install a CUDA build of torch" in done.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through /proc")
@pytest.mark.parametrize("launcher", ["torchrun", "nproc"])
def test_a_rank_that_dies_ends_the_job_with_an_error_not_a_hang(tmp_path: Path, launcher: str) -> None:
    data = _long_csv(tmp_path / "hosts.csv", series=8, rows=2000)
    args = ["train", str(data), *TRAIN, "--epochs", "500", "--patience", "500"]
    job = subprocess.Popen(
        _torchrun(2, *args) if launcher == "torchrun" else [sys.executable, "-m", "tsrnn", *args, "--nproc", "2"],
        cwd=tmp_path,
        env=_env(TSRNN_DIST_TIMEOUT="20", TSRNN_TEST_JOB="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "runs" / "hosts" / "run.json").exists():  # an epoch ended: both ranks train
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()[1][-2000:]
            time.sleep(0.2)
        pid = _rank_pid(job.pid, 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        _, err = job.communicate(timeout=60)
        assert time.monotonic() - started < 60
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode == 1 if launcher == "nproc" else job.returncode != 0  # a lost rank: not the user's error
    assert "tsrnn: error: distributed training failed on rank 0 of 2" in err, err[-2000:]  # the survivor says why
    assert "SIGKILL" in err  # and torchrun names the rank that died
    if launcher == "nproc":  # in one line of its own, without torchrun's report
        assert "rank 1 of 2 was killed by SIGKILL" in err and "Traceback" not in err, err[-2000:]


def test_series_are_dealt_by_rows_and_a_rank_reads_only_its_own(tmp_path: Path) -> None:
    from tsrnn.config import DataConfig
    from tsrnn.data.clean import read_dataset
    from tsrnn.errors import InputError
    from tsrnn.training.distributed import shares

    data = _long_csv(tmp_path / "hosts.csv", series=5, rows=50)
    rows = {"a": 10, "b": 9, "c": 5, "d": 4, "e": 1}  # dealt longest first to the rank with the fewest rows
    assert shares(rows, 2, "f.csv") == [["a", "d", "e"], ["b", "c"]]
    assert shares({f"h{k:02d}": 50 for k in range(5)}, 2, "f.csv") == [["h00", "h02", "h04"], ["h01", "h03"]]
    with pytest.raises(InputError, match="2 series cannot be shared by 3 processes"):
        shares({"a": 1, "b": 1}, 3, "f.csv")
    whole = read_dataset(str(data), DataConfig(id_column="host"), keep_text=False)
    mine = read_dataset(str(data), DataConfig(id_column="host"), keep_text=False, series=frozenset(["h01", "h03"]))
    assert sorted(mine.series()) == ["h01", "h03"] and mine.rows == 100
    for sid in ("h01", "h03"):
        assert (mine.series()[sid][0].values == whole.series()[sid][0].values).all()


def _gone(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through /proc")
def test_a_rank_that_hangs_ends_the_job_after_the_timeout(tmp_path: Path) -> None:
    data = _long_csv(tmp_path / "hosts.csv", series=8, rows=2000)
    job = subprocess.Popen(
        _torchrun(2, "train", str(data), *TRAIN, "--epochs", "500", "--patience", "500"),
        cwd=tmp_path,
        env=_env(TSRNN_DIST_TIMEOUT="5", TSRNN_TEST_JOB="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stopped = None
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "runs" / "hosts" / "run.json").exists():
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()[1][-2000:]
            time.sleep(0.2)
        first, stopped = _rank_pid(job.pid, 0), _rank_pid(job.pid, 1)
        assert first is not None and stopped is not None
        os.kill(stopped, signal.SIGSTOP)  # alive, silent: only the timeout can tell
        started = time.monotonic()
        while not _gone(first):
            assert time.monotonic() - started < 30, "rank 0 still waits for the stopped rank"
            time.sleep(0.2)
        assert time.monotonic() - started >= 4  # it waited for the timeout, no less
        os.kill(stopped, signal.SIGCONT)  # so torchrun's SIGTERM ends it now, not after its 30 s grace
        _, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode != 0
    assert "distributed training failed on rank 0 of 2" in err and "within 5 s (TSRNN_DIST_TIMEOUT)" in err, err[-2000:]


def test_nproc_ends_with_130_when_terminated_and_keeps_the_last_improvement(tmp_path: Path) -> None:
    data = _long_csv(tmp_path / "hosts.csv", series=8, rows=2000)
    args = ["train", str(data), *TRAIN, "--epochs", "500", "--patience", "500", "--nproc", "2"]
    job = subprocess.Popen(
        [sys.executable, "-m", "tsrnn", *args], cwd=tmp_path, env=_env(), stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "runs" / "hosts" / "run.json").exists():
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()[1][-2000:]
            time.sleep(0.2)
        job.send_signal(signal.SIGTERM)
        _, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode == 130, err[-2000:]
    assert "Traceback" not in err and _summary(tmp_path / "runs" / "hosts")["world_size"] == 2
