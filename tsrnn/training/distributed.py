"""Training on several processes (torchrun, or `tsrnn train --nproc N`): the world from torchrun's
environment, series sharded across ranks, the network wrapped in DistributedDataParallel, and the
reductions that give every rank the same numbers, so every rank takes the same decision at the
same epoch. A world of one process (no torchrun) initialises nothing and changes nothing; torch is
imported when used (train says which extra to install when it is missing)."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tsrnn.errors import InputError, TsrnnError

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from tsrnn.data.clean import Dataset
    from tsrnn.training.runs import Run

TIMEOUT_SECONDS = 300  # a collective that waits longer for another rank fails (TSRNN_DIST_TIMEOUT)


@dataclass(frozen=True)
class World:
    """This process's place in the job: rank `rank` of `size` (0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def main(self) -> bool:
        """Rank 0: the only one that writes the run directory and prints."""
        return self.rank == 0


_world = World()


def current() -> World:
    return _world


def timeout_seconds() -> float:
    value = os.environ.get("TSRNN_DIST_TIMEOUT", "")
    if not value:
        return float(TIMEOUT_SECONDS)
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(f"TSRNN_DIST_TIMEOUT={value!r} is not a number of seconds above 0 (default {TIMEOUT_SECONDS})")
    return seconds


class PeerLost(TsrnnError):
    """Another rank ended or did not answer: not the user's error (exit code 1)."""

    exit_code = 1


class Stopped(TsrnnError):
    """Rank 0 failed with an error of the user's and says it: another rank ends with its exit code, silently."""


@dataclass(frozen=True)
class _Failed:
    """What rank 0 sends instead of its results when it failed (broadcast raises Stopped on the others)."""

    exit_code: int


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def select_device(name: str) -> torch.device:
    """The device this process trains on: the CPU, or for "cuda" the GPU cuda:LOCAL_RANK (cuda:0
    without torchrun). Refused when this torch has no CUDA or sees too few GPUs."""
    import torch

    if name != "cuda":
        return torch.device("cpu")
    index = local_rank()
    if not torch.cuda.is_available():
        why = "is a CPU-only build" if torch.version.cuda is None else "finds no usable GPU"
        raise TsrnnError(
            f"--device cuda: torch {torch.__version__} {why}; install a CUDA build of torch "
            "(https://pytorch.org/get-started/locally/) on a machine with an NVIDIA GPU, or train with --device cpu"
        )
    if index >= torch.cuda.device_count():
        raise TsrnnError(
            f"--device cuda: local rank {index} needs GPU cuda:{index}, but torch sees {torch.cuda.device_count()}; "
            "start at most one process per GPU (--nproc-per-node)"
        )
    return torch.device("cuda", index)


def env_rank() -> int:
    """The rank torchrun gave this process (0 without torchrun): known before the job is joined."""
    return int(os.environ.get("RANK", "0") or 0)


@contextlib.contextmanager
def session(device: str = "cpu") -> Iterator[World]:
    """Join the job torchrun started (WORLD_SIZE > 1): gloo on CPU, nccl on GPUs, with a timeout on
    every collective; leave it at the end. A lost rank becomes one clear error, not a hang."""
    global _world
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        yield World()
        return
    import torch
    import torch.distributed as dist

    backend = "nccl" if device == "cuda" else "gloo"
    seconds = timeout_seconds()
    if not dist.is_initialized():
        bind: dict[str, Any] = {}
        if device == "cuda":  # one GPU per process: collectives and broadcast_object_list use the current one
            torch.cuda.set_device(select_device(device))
            if "device_id" in inspect.signature(dist.init_process_group).parameters:  # torch >= 2.3
                bind["device_id"] = torch.device("cuda", local_rank())
        dist.init_process_group(backend, timeout=timedelta(seconds=seconds), **bind)
    _world = World(dist.get_rank(), dist.get_world_size(), local_rank(), backend)
    try:
        try:
            yield _world
            dist.barrier()  # rank 0 has written the run before any rank leaves
        except RuntimeError as exc:  # gloo/nccl: a peer closed the connection, or the timeout passed
            raise PeerLost(
                f"distributed training failed on rank {_world.rank} of {_world.size}: {_first_line(exc)}; "
                f"another rank ended or did not answer within {seconds:g} s (TSRNN_DIST_TIMEOUT): see its error"
            ) from exc
    finally:
        _world = World()
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def _first_line(exc: BaseException) -> str:
    """The error's first line, without gloo's source location ("[.../pair.cc:537] ") and advice."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    if line.startswith("[") and "] " in line:
        line = line.split("] ", 1)[1]
    return line.split(". This is typically", 1)[0][:300]


def shares(rows: dict[str, int], size: int, source: str) -> list[list[str]]:
    """The series of each rank, dealt by rows (`rows`: every series' rows): the longest first, each to
    the rank with the fewest rows so far, ties to the lower rank. The same on every run, and ranks
    end with about as many rows each, so few steps are lost to the slowest (agree_steps)."""
    if len(rows) < size:
        raise InputError(
            f"{source}: {len(rows)} series cannot be shared by {size} processes: each trains "
            "whole series (--id-column); use at most as many processes as series"
        )
    loads, out = [0] * size, [list[str]() for _ in range(size)]
    for sid in sorted(rows, key=lambda k: (-rows[k], k)):
        rank = min(range(size), key=lambda i: (loads[i], i))
        out[rank].append(sid)
        loads[rank] += rows[sid]
    return [sorted(share) for share in out]


def shard(dataset: Dataset, mine: frozenset[str]) -> Dataset:
    """The dataset with only the series in `mine`."""
    return dataclasses.replace(dataset, segments=[s for s in dataset.segments if s.series in mine])


def agree_steps(planned: int) -> int:
    """The optimiser steps every rank takes this epoch: the fewest any rank planned. DDP averages
    gradients in every backward pass, so a rank with one step more would wait forever; the
    steps a longer shard loses are its last in a random order, other ones each epoch."""
    if _world.size == 1:
        return planned
    import torch
    import torch.distributed as dist

    count = torch.tensor([planned], dtype=torch.int64, device=_comm_device())
    dist.all_reduce(count, op=dist.ReduceOp.MIN)
    return int(count.item())


def sums(values: list[float]) -> list[float]:
    """Each value summed over the ranks (float64)."""
    if _world.size == 1:
        return list(values)
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(tensor)
    return [float(v) for v in tensor.cpu()]


def _comm_device() -> str:
    """Where a collective's tensors live: NCCL reduces GPU tensors only, gloo CPU ones."""
    return f"cuda:{_world.local_rank}" if _world.backend == "nccl" else "cpu"


def epoch_losses(train_loss: float, grad_norm: float, val_loss: float, val_weight: float) -> tuple[float, ...]:
    """The epoch's numbers over every rank: training loss and gradient norm averaged, the
    validation loss weighted by each rank's scored rows, as one process over all series has it.
    A loss that is not a number on one rank is not a number on all (the same divergence)."""
    if _world.size == 1:
        return train_loss, grad_norm, val_loss
    total = sums([train_loss, grad_norm, val_loss * val_weight, val_weight])
    return total[0] / _world.size, total[1] / _world.size, total[2] / max(total[3], 1e-12)


def broadcast(value: Any) -> Any:
    """Rank 0's `value` on every rank (any picklable object); Stopped when rank 0 failed (told_on_failure)."""
    if _world.size == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    if isinstance(box[0], _Failed) and not _world.main:
        stopped = Stopped(f"rank 0 failed (exit code {box[0].exit_code})")
        stopped.exit_code = box[0].exit_code
        raise stopped
    return box[0]


@contextlib.contextmanager
def told_on_failure() -> Iterator[None]:
    """Rank 0's work whose result the others wait for (broadcast): an error of the user's in it is
    sent to them instead, so they stop at once and in silence, and the job says it in one line."""
    try:
        yield
    except TsrnnError as exc:
        if _world.size > 1 and _world.main:
            broadcast(_Failed(exc.exit_code))
        raise


def wrap(model: nn.Module) -> nn.Module:
    """The network as each rank trains it: itself in a world of one, else DDP (its weights and
    buffers are rank 0's from here on; buffers are constants, so not synced at each forward, which
    would make every rank run as many forward passes)."""
    if _world.size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    class Parallel(DistributedDataParallel):
        """DDP that also answers for the wrapped network's own methods (zero_state, ...)."""

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(super().__getattr__("module"), name)

    devices = [_world.local_rank] if _world.backend == "nccl" else None
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    sync: dict[str, Any] = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    return Parallel(model, device_ids=devices, **sync)


def unwrap(model: nn.Module) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def rank_run(path: Path, name: str, result: Any, seconds: float) -> Run:
    """What a rank other than 0 returns (its loop.FitResult described): the run that rank 0 writes."""
    from tsrnn.training.runs import Run

    best = min(result.history, key=lambda s: s.val_loss) if result.history else None
    summary = {
        "name": name,
        "run_dir": str(path),
        "status": "interrupted" if result.interrupted else "complete",
        "rank": _world.rank,
        "world_size": _world.size,
        "epochs_run": len(result.history),
        "best_val_loss": best.val_loss if best else None,
        "train_seconds": round(seconds, 3),
    }
    return Run(path, {"name": name, "status": summary["status"], "summary": summary})


def check_nproc(nproc: int) -> None:
    """--nproc N: one or more processes (checked here, not by the option, whose "<int range>" hint
    would narrow every other option's help in `tsrnn train --help`)."""
    if nproc < 1:
        raise TsrnnError(f"--nproc {nproc}: use 1 or more processes (1 trains in this process)")


def launch(nproc: int, argv: list[str]) -> int:
    """`tsrnn train --nproc N`: run the same command as N processes on this machine, as `torchrun
    --standalone` does (a free port), in this process; return the job's exit code: 2 when a rank
    failed with an error of the user's (it printed the line), 130 when interrupted, else 1 with a
    line naming the rank that failed first (torchrun's report and log lines are left out)."""
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    check_nproc(nproc)
    timeout_seconds()  # a bad TSRNN_DIST_TIMEOUT: said once, here, not by every rank
    logging.disable(logging.ERROR)  # the launcher's own log lines; the ranks print theirs
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={nproc}", "-m", "tsrnn", *argv]))
    except SignalException:  # Ctrl-C or SIGTERM: passed on to the ranks, which keep the best weights
        return 130
    except ChildFailedError as exc:
        codes = {failure.exitcode for failure in exc.failures.values()}
        if TsrnnError.exit_code in codes or 130 in codes:
            return TsrnnError.exit_code if TsrnnError.exit_code in codes else 130
        rank, failure = min(exc.failures.items(), key=_cause)
        how = f"was killed by {failure.signal_name()}" if failure.exitcode < 0 else f"exited with {failure.exitcode}"
        print(f"tsrnn: error: distributed training failed: rank {rank} of {nproc} {how}", file=sys.stderr)
        return 1
    return 0


def _cause(item: tuple[int, Any]) -> tuple[bool, bool, float, int]:
    """The failure that explains the others, first: a rank killed by a signal that the launcher did not
    send (it ends the others with SIGTERM), then one that did not merely lose its peer (PeerLost)."""
    rank, failure = item
    killed = failure.exitcode < 0 and failure.signal_name() != "SIGTERM"
    return not killed, failure.exitcode == PeerLost.exit_code, failure.timestamp, rank
