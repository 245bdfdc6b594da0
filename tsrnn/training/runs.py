"""A run directory: `run.json` (configs, schema, scaler, calibration, history) and `weights.pt`.

No pickled objects: weights are a plain state dict loaded with `weights_only=True`, and everything
else is JSON. A run directory is enough to rebuild the model in a new process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsrnn.config import DataConfig, ModelConfig, TrainConfig, from_dict
from tsrnn.data.scaling import Scaler
from tsrnn.errors import ModelError
from tsrnn.fsutil import atomic_write_bytes
from tsrnn.scoring.calibration import Calibration

if TYPE_CHECKING:
    import torch

RUN_FILE = "run.json"
WEIGHTS_FILE = "weights.pt"
TRAINER_FILE = "trainer.pt"  # optimiser, schedule and RNG state at the best epoch, for --resume
RUN_FORMAT = 2


@dataclass
class Run:
    """Everything a run directory holds, except the weights (see `load_model`)."""

    path: Path
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.info["name"])

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
        import torch

        from tsrnn.training.loop import Checkpoint, EpochStats

        trainer = self.info.get("trainer")
        if trainer is None or not (self.path / TRAINER_FILE).exists():
            raise ModelError(f"{self.path}: no trainer checkpoint to resume from; train it again")
        model.load_state_dict(torch.load(self.path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        state = torch.load(self.path / TRAINER_FILE, map_location="cpu", weights_only=True)
        history = [EpochStats(**h) for h in self.info["history"][: trainer["best_epochs"]]]
        return Checkpoint(
            history, trainer["best_loss"], state["optimizer"], state["scheduler"], trainer["rng"], state["torch_rng"]
        )

    def load_model(self) -> torch.nn.Module:
        """Rebuild the network from the saved config and load its weights (no pickle)."""
        import torch

        from tsrnn.models import build_model

        model = build_model(self.model_config, list(self.schema["value_columns"]))
        state = torch.load(self.path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return model.eval()


def save_run(path: Path, info: dict[str, Any], model: torch.nn.Module, checkpoint: Any = None) -> Run:
    """Write weights (and the trainer state), then run.json last: a directory with run.json is complete.

    Each file is replaced atomically; a kill between two files leaves weights one improvement
    newer than run.json's calibration at worst, both from finished epochs.
    """
    import io

    import torch

    path.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(path / WEIGHTS_FILE, buffer.getvalue())
    if checkpoint is not None:
        buffer = io.BytesIO()
        torch.save(
            {"optimizer": checkpoint.optimizer, "scheduler": checkpoint.scheduler, "torch_rng": checkpoint.torch_rng},
            buffer,
        )
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


def load_run(path: str | Path) -> Run:
    """Read a run directory's run.json."""
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
    if info.get("format") != RUN_FORMAT:
        raise ModelError(f"{file}: run format {info.get('format')!r} is not supported by this tsrnn; retrain it")
    return Run(path, info)


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
