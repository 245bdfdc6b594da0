"""Frozen configurations that travel with a run and its exported model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MODEL_KINDS = ("forecaster", "autoencoder")
DUPLICATES = ("last", "mean", "error")
FILLS = ("interpolate", "ffill", "none")
DEFAULT_COOLDOWN = 24  # watch: anomalous rows this close to an event join it (one alert per incident)
CELLS = ("lstm",)


@dataclass(frozen=True)
class DataConfig:
    """How a CSV becomes series: stored with the model, so watch reads new data the same way."""

    time_column: str | None = None
    columns: tuple[str, ...] | None = None
    id_column: str | None = None
    duplicates: str = "last"  # one of DUPLICATES
    fill: str = "interpolate"  # one of FILLS
    fill_limit: int = 3  # longest run of missing rows filled; longer gaps split the series
    resample: str | None = None  # e.g. "5m": mean per bucket on a regular grid

    def __post_init__(self) -> None:
        from tsrnn.errors import TsrnnError

        if self.duplicates not in DUPLICATES:
            raise TsrnnError(f"--duplicates {self.duplicates!r}: use one of {', '.join(DUPLICATES)}")
        if self.fill not in FILLS:
            raise TsrnnError(f"--fill {self.fill!r}: use one of {', '.join(FILLS)}")
        if self.fill_limit < 0:
            raise TsrnnError(f"--fill-limit must be 0 or more, got {self.fill_limit}")
        if self.resample is not None:
            from tsrnn.data.clean import parse_interval

            parse_interval(self.resample)


@dataclass(frozen=True)
class ModelConfig:
    """The shape of the network; enough to rebuild it from saved weights."""

    kind: str = "forecaster"  # one of MODEL_KINDS
    cell: str = "lstm"
    hidden: int = 32
    layers: int = 2
    dropout: float = 0.0
    window: int = 32  # autoencoder window; forecaster warm-up length in rows

    def __post_init__(self) -> None:
        from tsrnn.errors import TsrnnError

        if self.kind not in MODEL_KINDS:
            raise TsrnnError(f"unknown model kind {self.kind!r}: use one of {', '.join(MODEL_KINDS)}")
        if self.cell not in CELLS:
            raise TsrnnError(f"unknown cell {self.cell!r}: use one of {', '.join(CELLS)}")
        for name in ("hidden", "layers", "window"):
            if getattr(self, name) < 1:
                raise TsrnnError(f"--{name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is fitted."""

    epochs: int = 40
    seed: int = 0
    lr: float = 3e-3
    chunk: int = 64  # truncated-BPTT length for the forecaster
    batch: int = 32  # parallel contiguous streams (forecaster) or windows per step (autoencoder)
    val_fraction: float = 0.2
    patience: int = 6
    clip_grad: float = 1.0

    def __post_init__(self) -> None:
        from tsrnn.errors import TsrnnError

        if self.epochs < 1:
            raise TsrnnError(f"--epochs must be at least 1, got {self.epochs}")
        if not 0.0 < self.val_fraction < 0.9:
            raise TsrnnError(f"--val-fraction must be in (0, 0.9), got {self.val_fraction}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass."""
    return asdict(cfg)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config, ignoring keys that a newer version added (JSON lists back to tuples)."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})
