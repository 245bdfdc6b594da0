"""Training on several processes (torchrun, or `tsrnn train --nproc N`): the world from torchrun's
environment, series sharded across ranks, the network wrapped in DistributedDataParallel, and the
reductions that give every rank the same numbers, so every rank takes the same decision at the
same epoch. A world of one process (no torchrun) initialises nothing and changes nothing; torch is
imported when used (train says which extra to install when it is missing)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tsrnn.errors import InputError, ModelError

if TYPE_CHECKING:
    from pathlib import Path

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
    try:
        return float(value) if value else float(TIMEOUT_SECONDS)
    except ValueError:
        raise InputError(f"TSRNN_DIST_TIMEOUT={value!r} is not a number of seconds") from None


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
        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=timedelta(seconds=seconds))
    _world = World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), backend)
    try:
        try:
            yield _world
            dist.barrier()  # rank 0 has written the run before any rank leaves
        except RuntimeError as exc:  # gloo/nccl: a peer closed the connection, or the timeout passed
            raise ModelError(
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

    count = torch.tensor([planned], dtype=torch.int64)
    dist.all_reduce(count, op=dist.ReduceOp.MIN)
    return int(count.item())


def sums(values: list[float]) -> list[float]:
    """Each value summed over the ranks (float64)."""
    if _world.size == 1:
        return list(values)
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return [float(v) for v in tensor]


def epoch_losses(train_loss: float, grad_norm: float, val_loss: float, val_weight: float) -> tuple[float, ...]:
    """The epoch's numbers over every rank: training loss and gradient norm averaged, the
    validation loss weighted by each rank's scored rows, as one process over all series has it.
    A loss that is not a number on one rank is not a number on all (the same divergence)."""
    if _world.size == 1:
        return train_loss, grad_norm, val_loss
    total = sums([train_loss, grad_norm, val_loss * val_weight, val_weight])
    return total[0] / _world.size, total[1] / _world.size, total[2] / max(total[3], 1e-12)


def broadcast(value: Any) -> Any:
    """Rank 0's `value` on every rank (any picklable object)."""
    if _world.size == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: nn.Module) -> nn.Module:
    """The network as each rank trains it: itself in a world of one, else DDP (its weights and
    buffers are rank 0's from here on; buffers are constants, so not synced at each forward, which
    would make every rank run as many forward passes)."""
    if _world.size == 1:
        return model
    import inspect

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


def launch(nproc: int, argv: list[str]) -> int:
    """`tsrnn train --nproc N`: run the same command as N processes on this machine (torchrun
    --standalone picks a free port), and return the job's exit code."""
    import subprocess

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    return subprocess.call([*command, "-m", "tsrnn", *argv])
