"""A run directory: `run.json` (configs, schema, scaler, calibration, history) and `weights.pt`.

No pickled objects: weights are a plain state dict loaded with `weights_only=True` (a file that
holds anything else is refused before any of it runs), and everything else is JSON. A run
directory is enough to rebuild the model in a new process. While a training writes it, it holds
a lock on `training.lock`: a run whose run.json says "training" while nobody holds the lock was
killed, and reads as "interrupted".
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsrnn.config import DataConfig, ModelConfig, TrainConfig, from_dict
from tsrnn.data.scaling import Scaler
from tsrnn.errors import InputError, ModelError
from tsrnn.fsutil import atomic_write_bytes
from tsrnn.scoring.calibration import Calibration

if TYPE_CHECKING:
    import torch

RUN_FILE = "run.json"
WEIGHTS_FILE = "weights.pt"
TRAINER_FILE = "trainer.pt"  # optimiser, schedule and RNG state at the best epoch, for --resume
LOCK_FILE = "training.lock"  # flock-ed by the process training the run
RUN_FORMAT = 2
SECTIONS = {"name": str, "model": dict, "data": dict, "train": dict, "schema": dict, "scaler": dict}
SECTIONS_SAVED = {"calibration": dict, "history": list, "summary": dict}  # what a training writes


@dataclass
class Run:
    """Everything a run directory holds, except the weights (see `load_model`)."""

    path: Path
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def checkpoint(self) -> str:
        """The checkpoint the run holds, in words: "epoch 7 of 9"."""
        summary = self.info["summary"]
        return f"its best checkpoint, epoch {summary.get('best_epoch', '?')} of {summary.get('epochs_run', '?')}"

    @property
    def data_config(self) -> DataConfig:
        return from_dict(DataConfig, self.info["data"])

    @property
    def model_config(self) -> ModelConfig:
        return from_dict(ModelConfig, self.info["model"])

    @property
    def train_config(self) -> TrainConfig:
        return from_dict(TrainConfig, self.info["train"])

    @property
    def scaler(self) -> Scaler:
        return Scaler.from_dict(self.info["scaler"])

    @property
    def calibration(self) -> Calibration:
        return Calibration.from_dict(self.info["calibration"])

    @property
    def schema(self) -> dict[str, Any]:
        return dict(self.info["schema"])

    def load_checkpoint(self, model: torch.nn.Module):  # loop.Checkpoint
        """Load the best weights into `model` and return the trainer state saved with them."""

        from tsrnn.training.loop import Checkpoint, EpochStats

        trainer = self.info.get("trainer")
        if trainer is None or not (self.path / TRAINER_FILE).exists():
            raise ModelError(f"{self.path}: no trainer checkpoint to resume from; train it again")
        self._load_weights(model)
        state = self._load(TRAINER_FILE)
        try:
            history = [EpochStats(**h) for h in self.info["history"][: trainer["best_epochs"]]]
            return Checkpoint(
                history,
                trainer["best_loss"],
                state["optimizer"],
                state["scheduler"],
                trainer["rng"],
                state["torch_rng"],
            )
        except (KeyError, TypeError) as exc:
            raise ModelError(
                f"run {self.name!r}: its trainer checkpoint is damaged (no {exc}); train the run again"
            ) from None

    def load_model(self) -> torch.nn.Module:
        """Rebuild the network from the saved config and load its weights (no pickle)."""

        from tsrnn.models import build_model

        model = build_model(self.model_config, list(self.schema["value_columns"]))
        self._load_weights(model)
        return model.eval()

    def _load(self, name: str) -> Any:
        """A file of the run read with `weights_only=True`: tensors and plain containers, nothing run."""
        import torch

        file = self.path / name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. torch's note on an unusual pickle protocol
                return torch.load(file, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ModelError(f"run {self.name!r}: {file} is missing; train the run again") from None
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for a damaged file
            detail = _unpickling_detail(exc)
            if isinstance(exc, pickle.UnpicklingError) and "global" in detail.lower():
                raise ModelError(
                    f"run {self.name!r}: {file} holds objects other than tensors ({detail}); refused without "
                    "running any of it (tsrnn writes plain state dicts): train the run again"
                ) from None
            raise ModelError(f"run {self.name!r}: {file} is damaged ({detail}); train the run again") from None

    def _load_weights(self, model: torch.nn.Module) -> None:
        """Load weights.pt into `model`: a state dict of tensors with the model's names and shapes."""
        import torch

        state = self._load(WEIGHTS_FILE)
        file = self.path / WEIGHTS_FILE
        if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
        ):
            raise ModelError(
                f"run {self.name!r}: {file} is not a state dict (names to tensors) but a {type(state).__name__}; "
                "train the run again"
            )
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:  # missing or unexpected names, or other shapes
            raise ModelError(
                f"run {self.name!r}: {file} does not fit the model run.json describes ({_first_line(exc, 1)}); "
                "train the run again"
            ) from None


def save_run(path: Path, info: dict[str, Any], model: torch.nn.Module, checkpoint: Any = None) -> Run:
    """Write weights (and the trainer state), then run.json last: a directory with run.json is complete.

    Each file is replaced atomically; a kill between two files leaves weights one improvement
    newer than run.json's calibration at worst, both from finished epochs.
    """
    import io

    import torch

    path.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(_on_cpu(model.state_dict()), buffer)  # trained on a GPU or not, export and watch load it on CPU
    atomic_write_bytes(path / WEIGHTS_FILE, buffer.getvalue())
    if checkpoint is not None:
        buffer = io.BytesIO()
        optimizer, scheduler, rng = checkpoint.optimizer, checkpoint.scheduler, checkpoint.torch_rng
        torch.save(_on_cpu({"optimizer": optimizer, "scheduler": scheduler, "torch_rng": rng}), buffer)
        atomic_write_bytes(path / TRAINER_FILE, buffer.getvalue())
        info = {
            **info,
            "trainer": {
                "best_loss": checkpoint.best_loss,
                "best_epochs": len(checkpoint.history),
                "rng": checkpoint.rng,
            },
        }
    atomic_write_bytes(path / RUN_FILE, (json.dumps({"format": RUN_FORMAT, **info}, indent=2) + "\n").encode())
    return Run(path, info)


def _on_cpu(value: Any) -> Any:
    """`value` with every tensor in it on the CPU (a CPU tensor is itself, so the bytes saved are the same)."""
    if isinstance(value, dict):
        out = type(value)((k, _on_cpu(v)) for k, v in value.items())
        if hasattr(value, "_metadata"):  # a state dict's module versions, saved with it
            out._metadata = value._metadata  # type: ignore[attr-defined]
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(v) for v in value)
    return value.cpu() if hasattr(value, "cpu") else value


def _unpickling_detail(exc: BaseException) -> str:
    """What torch's weights-only unpickler objected to, without its advice to unpickle anyway."""
    boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [x.strip() for x in str(exc).splitlines() if x.strip() and not x.strip().startswith(boilerplate)]
    return (lines[0] if lines else type(exc).__name__)[:200]


def _first_line(exc: BaseException, line: int = 0) -> str:
    lines = [x.strip() for x in str(exc).strip().splitlines() if x.strip()] or [type(exc).__name__]
    return lines[min(line, len(lines) - 1)][:200]


def load_run(path: str | Path) -> Run:
    """Read a run directory's run.json; a training that was killed reads as "interrupted"."""
    path = Path(path)
    file = path / RUN_FILE
    try:
        info = json.loads(file.read_text())
    except FileNotFoundError:
        raise ModelError(
            f"{path}: not a run directory (no {RUN_FILE}); train one with `tsrnn train DATA.csv`"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelError(f"{file}: damaged (not valid JSON); train the run again") from None
    except OSError as exc:
        raise ModelError(f"{file}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(info, dict):
        raise ModelError(f"{file}: damaged (a JSON {type(info).__name__}, not an object); train the run again")
    if info.get("format") != RUN_FORMAT:
        raise ModelError(f"{file}: run format {info.get('format')!r} is not supported by this tsrnn; retrain it")
    for key, kind in {**SECTIONS, **SECTIONS_SAVED}.items():
        if not isinstance(info.get(key), kind):
            raise ModelError(f"{file}: damaged (no {key!r} {kind.__name__}); train the run again")
    if info.get("status") == "training" and training_now(path) is False:
        info = _interrupted(info)
    return Run(path, info)


def _interrupted(info: dict[str, Any]) -> dict[str, Any]:
    """A run whose training was killed: what it holds is the best checkpoint before the kill."""
    summary = info["summary"]
    epochs = summary.get("epochs_run", len(info["history"]))
    note = (
        f"training stopped without finishing (killed?) after epoch {epochs}; the run holds its best checkpoint, "
        f"epoch {summary.get('best_epoch', '?')} (continue it with `tsrnn train DATA --resume {info['name']}`)"
    )
    return {
        **info,
        "status": "interrupted",
        "summary": {**summary, "status": "interrupted", "notes": [*summary.get("notes", []), note]},
    }


def training_now(path: Path) -> bool | None:
    """Whether a process is training the run at `path` (holds its lock); None where flock is unknown."""
    try:
        import fcntl
    except ImportError:  # Windows: the status stays as written
        return None
    try:
        fd = _open_lock(path / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here


def _open_lock(lock: Path, flags: int) -> int:
    """The lock file, never through a link planted in its place (which could make tsrnn create or open another file)."""
    try:
        return os.open(lock, flags | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise ModelError(f"{lock} is a symbolic link; tsrnn does not follow links it writes: remove it") from None


@contextlib.contextmanager
def training_lock(path: Path) -> Iterator[None]:
    """Hold the run's lock while training it; a second training of the same run is refused. The
    kernel releases the lock when the process dies, however it dies."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    fd = _open_lock(path / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ModelError(
                f"run {path.name!r} is being trained by another process ({path}); wait for it to finish, "
                "or train under another --name"
            ) from None
        yield
    finally:
        os.close(fd)
        if created and not (path / RUN_FILE).exists():  # nothing was saved: leave no half run behind
            (path / LOCK_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.rmdir()


def run_name_for(name: str | None, data: str | Path) -> str:
    """A run's name: given, or the data file's stem; safe as one directory name."""
    if name is None and str(data) != "-":  # "my data.csv" → "my_data"
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(data)).stem).lstrip("._-")
    run_name = name or ""
    if not run_name:
        raise InputError("no run name could be derived from the input; give one with --name")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_name):
        raise InputError(f"run name {run_name!r}: use letters, digits, '.', '_' and '-' only (set it with --name)")
    return run_name


def resolve_run(run: str | Path | None, runs_dir: str | Path = "runs") -> Run:
    """A run by directory path or by name under runs_dir; the newest one when run is None."""
    runs_dir = Path(runs_dir)
    if run is None:
        candidates = sorted(runs_dir.glob(f"*/{RUN_FILE}"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise ModelError(f"no runs found in {runs_dir}/; train one with `tsrnn train DATA.csv` or give a run")
        return load_run(candidates[-1].parent)
    direct = Path(run)
    if (direct / RUN_FILE).exists():
        return load_run(direct)
    named = runs_dir / run
    if named.is_dir():
        return load_run(named)
    known = sorted(p.parent.name for p in runs_dir.glob(f"*/{RUN_FILE}"))
    hint = f"known runs in {runs_dir}/: {', '.join(known)}" if known else f"no runs in {runs_dir}/ yet"
    raise ModelError(f"run {run!r} not found ({hint})")
