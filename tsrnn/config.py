"""Frozen configurations that travel with a run and its exported model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from tsrnn.kinds import CELL_STATES, MODEL_KINDS, MODES, Kind, kind_of
from tsrnn.scoring import THRESHOLD_METHODS

DUPLICATES = ("last", "mean", "error")
FILLS = ("interpolate", "ffill", "none")
CELLS = tuple(CELL_STATES)
TIME_FEATURES = ("none", "day", "week", "day+week")  # the periods a stateful forecaster can read (data/timefeatures.py)
INPUTS = ("auto", "level", "diff")
SCALERS = ("standard", "minmax", "robust")
LOSSES = ("mse", "mae", "huber")
DEVICES = ("cpu", "cuda")  # where training runs (cuda: cuda:LOCAL_RANK under torchrun, NCCL between processes)


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
    decimal: str = "."  # the decimal mark of the values: "." or "," (1,5)
    time_format: str | None = None  # strptime format of the time column (%d/%m/%Y %H:%M); None: detected
    timezone: str | None = None  # IANA name: naive times are local to it (converted to UTC); None: UTC

    def __post_init__(self) -> None:
        from tsrnn.errors import TsrnnError

        if self.decimal not in (".", ","):
            raise TsrnnError(f"--decimal {self.decimal!r}: use . or ,")
        if self.time_format is not None and "%" not in self.time_format:
            raise TsrnnError(f"--time-format {self.time_format!r}: give a strptime format, like '%d/%m/%Y %H:%M'")
        if self.timezone is not None:
            check_timezone(self.timezone)

        if self.duplicates not in DUPLICATES:
            raise TsrnnError(f"--duplicates {self.duplicates!r}: use one of {', '.join(DUPLICATES)}")
        if self.fill not in FILLS:
            raise TsrnnError(f"--fill {self.fill!r}: use one of {', '.join(FILLS)}")
        if self.fill_limit < 0:
            raise TsrnnError(f"--fill-limit must be 0 or more, got {self.fill_limit}")
        if self.resample is not None:
            from tsrnn.data.timeparse import parse_interval

            parse_interval(self.resample)


def check_timezone(name: str) -> None:
    """Refuse a name that is not an IANA time zone (Europe/Berlin, America/New_York, UTC)."""
    from zoneinfo import ZoneInfo

    from tsrnn.errors import TsrnnError

    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError; a bad path a ValueError
        raise TsrnnError(
            f"--timezone {name!r}: not a known IANA time zone; use a name like Europe/Berlin or UTC"
        ) from None


@dataclass(frozen=True)
class ModelConfig:
    """The shape of the network; enough to rebuild it from saved weights."""

    kind: str = "forecaster"  # one of MODEL_KINDS
    cell: str = "lstm"  # one of CELLS
    nonlinearity: str = "tanh"  # plain RNN only: tanh | relu (relu starts from identity weights)
    hidden: int = 32
    layers: int = 2
    dropout: float = 0.0
    window: int = 32  # autoencoder and windowed-forecaster window; stateful warm-up rows
    # forecaster: rows predicted ahead from each row (the forecast channel averages the H forecasts made for a row)
    horizon: int = 10
    mode: str = "stateful"  # forecaster training: stateful (TBPTT, carried state) | windowed
    # stateful forecaster: level (the values) | diff (changes: robust to drifting levels) | auto (whichever validates
    # better, train() decides)
    inputs: str = "auto"
    bidirectional: bool = False  # autoencoder encoder
    target: str | None = (
        # stateful forecaster: the one value column forecast and scored (the others are inputs only); None: every column
        None
    )
    # stateful forecaster: none | day | week | day+week (sin and cos of the phase, as inputs); auto: day for rows under
    # 12 h apart, else none
    time_features: str = "auto"

    def __post_init__(self) -> None:
        from tsrnn.errors import TsrnnError

        for name, allowed in (
            ("kind", MODEL_KINDS),
            ("cell", CELLS),
            ("mode", MODES),
            ("nonlinearity", ("tanh", "relu")),
            ("inputs", INPUTS),
        ):
            if getattr(self, name) not in allowed:
                flag = "--model" if name == "kind" else f"--{name}"
                raise TsrnnError(f"unknown {name} {getattr(self, name)!r} for {flag}: use one of {', '.join(allowed)}")
        for name in ("hidden", "layers", "window", "horizon"):
            if getattr(self, name) < 1:
                raise TsrnnError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise TsrnnError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.time_features not in ("auto", *TIME_FEATURES):
            raise TsrnnError(
                f"unknown time features {self.time_features!r} for --time-features: use one of auto, "
                f"{', '.join(TIME_FEATURES)}"
            )
        stateful_only = {
            "--time-features": self.time_features not in ("none", "auto"),
            "--target": self.target is not None,
            "--inputs diff": self.inputs == "diff",
        }
        for flag, given in stateful_only.items():
            if given and not self.spec.stateful:
                raise TsrnnError(
                    f"{flag} works with the stateful forecaster only; drop it or use --model forecaster --mode stateful"
                )

    @property
    def spec(self) -> Kind:
        """This model's kind in the registry (tsrnn.kinds)."""
        return kind_of(self.kind, self.mode)


STATEFUL_BATCH = 8  # streams of the stateful forecaster (benchmarks/forecast.py: better than 32 on ETTh1 and NAB)
WINDOW_BATCH = 32  # windows per step of the autoencoder and the windowed forecaster


@dataclass(frozen=True)
class TrainConfig:
    """How a model is fitted."""

    epochs: int = 60
    seed: int = 0
    lr: float = 3e-3
    chunk: int = 64  # truncated-BPTT length for the stateful forecaster
    batch: int | None = (
        None  # parallel contiguous streams (stateful; None: STATEFUL_BATCH) or windows per step (None: WINDOW_BATCH)
    )
    val_fraction: float = 0.2
    patience: int = 8  # epochs without a better validation loss before stopping
    clip_grad: float = 1.0  # global gradient-norm limit; 0 turns clipping off
    scaler: str = "standard"  # one of SCALERS
    # one of LOSSES: mae forecasts the median (lowest mean absolute error; benchmarks/forecast.py: best on ETTh1 and
    # NAB); huber is between
    loss: str = "mae"
    threads: int = 0  # torch intra-op threads while training; 0: auto (training.auto.auto_threads, by the model's size)
    device: str = "cpu"  # one of DEVICES: the network, batches and states live there; what is saved is on CPU

    def __post_init__(self) -> None:
        from tsrnn.errors import TsrnnError

        if self.loss not in LOSSES:
            raise TsrnnError(f"unknown loss {self.loss!r} for --loss: use one of {', '.join(LOSSES)}")
        if self.epochs < 1:
            raise TsrnnError(f"--epochs must be at least 1, got {self.epochs}")
        if not 0.0 < self.val_fraction < 0.9:
            raise TsrnnError(f"--val-fraction must be in (0, 0.9), got {self.val_fraction}")
        if self.device not in DEVICES:
            raise TsrnnError(f"unknown device {self.device!r} for --device: use one of {', '.join(DEVICES)}")
        if self.scaler not in SCALERS:
            raise TsrnnError(f"unknown scaler {self.scaler!r} for --scaler: use one of {', '.join(SCALERS)}")
        if self.threads < 0:
            raise TsrnnError(f"--threads must be 0 (auto) or more, got {self.threads}")
        for name in ("chunk", "batch", "patience"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise TsrnnError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.clip_grad < 0:
            raise TsrnnError("--lr must be positive and --clip-grad 0 (off) or positive")


def _choices() -> dict[str, tuple[str, ...]]:
    """The names that scoring settings are checked against (defined once, in tsrnn.scoring, without numpy)."""
    from tsrnn.scoring import CHANNELS, ERROR_KINDS, FREEZE_SCOPES, NOVELTY_KINDS

    return {
        "method": THRESHOLD_METHODS,
        "error": ("auto", *ERROR_KINDS, "none"),
        "novelty": ("auto", *NOVELTY_KINDS),
        "channels": CHANNELS,
        "freeze": FREEZE_SCOPES,
    }


@dataclass(frozen=True)
class ScoreConfig:
    """How the detector turns channels into scores and alerts (tsrnn.scoring); stored in the model, watch can override.

    The defaults are what benchmarks/nab.py measures best (README, "Scores and alerts")."""

    threshold_method: str = "fixed"  # thresholds.METHODS
    threshold: float = (
        0.70  # fixed: the fused score that flags a row (0.70: a channel 2.33x its running 99th percentile)
    )
    level_quantile: float = 0.999  # quantile: of the validation ratios
    risk: float = 1e-4  # pot: false-alarm probability per row
    smooth: int = 0  # span (rows) of an exponentially weighted mean of the fused ratio; 0: none
    memory: int = 10_000  # rows: time constant of the running quantiles
    # forecast channel: auto (blend with a regular interval, else horizon when --horizon > 1, else abs) | ERROR_KINDS |
    # none (no forecast channel)
    error: str = "auto"
    # novelty channel: auto (knn; an autoencoder's own error for --model autoencoder) | knn | autoencoder | none
    novelty: str = "auto"
    novelty_window: int = 5  # knn: rows in a window
    novelty_memory: int = 1000  # knn: earlier windows compared with
    range_check: bool = (
        True  # range channel: a value beyond the range seen (widened by range_tolerance) lifts the score to range_floor
    )
    range_tolerance: float = 0.1  # chosen on the even halves of NAB and SKAB (README)
    range_floor: float = 0.9
    cooldown: int | None = (
        None  # rows; None: 0.133 x a series' training rows (at least 10, at most a day of rows or 1,000)
    )
    release: float = 0.5  # incidents: a column is back to normal once its score has stayed below this for `hold` rows
    hold: int | None = None  # rows; None: twice the novelty window
    accept_after: int | None = (
        # rows after which an incident that goes on is the new normal; None: a day of rows, or novelty_memory if fewer;
        # 0: never
        None
    )
    freeze: str = (
        "column"  # what an open incident keeps from learning: column (its columns) | series (every column) | none
    )

    def __post_init__(self) -> None:
        from tsrnn.errors import TsrnnError

        check_score_settings(
            self.threshold_method, self.threshold, self.level_quantile, self.risk, self.smooth, self.memory
        )
        choices = _choices()
        for name in ("error", "novelty"):
            if getattr(self, name) not in choices[name]:
                raise TsrnnError(
                    f"unknown {name} {getattr(self, name)!r} for --{name}: use one of {', '.join(choices[name])}"
                )
        if self.novelty_window < 1 or self.novelty_memory < 2 * QUERY_MIN:
            raise TsrnnError(f"--novelty-window must be at least 1 and --novelty-memory at least {2 * QUERY_MIN}")
        if not 0.0 <= self.range_tolerance or not 0.0 < self.range_floor < 1.0:
            raise TsrnnError("--range-tolerance must be 0 or more and --range-floor a score in (0, 1)")
        if self.cooldown is not None and self.cooldown < 0:
            raise TsrnnError(f"--cooldown must be 0 or more rows, got {self.cooldown}")
        if not 0.0 < self.release < 1.0:
            raise TsrnnError(f"--release is a score in (0, 1), got {self.release}")
        if self.hold is not None and self.hold < 1:
            raise TsrnnError(f"--hold must be at least 1 row, got {self.hold}")
        if self.accept_after is not None and self.accept_after < 0:
            raise TsrnnError(f"--accept-after must be 0 (never) or more rows, got {self.accept_after}")
        if self.freeze not in choices["freeze"]:
            raise TsrnnError(f"unknown freeze {self.freeze!r} for --freeze: use one of {', '.join(choices['freeze'])}")


QUERY_MIN = 8  # the novelty memory's smallest size / 2


def check_score_settings(
    method: str | None = None,
    threshold: float | None = None,
    level_quantile: float | None = None,
    risk: float | None = None,
    smooth: int | None = None,
    memory: int | None = None,
    channels: tuple[str, ...] | None = None,
) -> None:
    """Refuse out-of-range scoring settings (None: not given) with a message naming the flag."""
    from tsrnn.errors import TsrnnError

    choices = _choices()
    if method is not None and method not in choices["method"]:
        raise TsrnnError(
            f"unknown threshold method {method!r} for --threshold-method: use one of {', '.join(choices['method'])}"
        )
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise TsrnnError(f"--threshold is a score in (0, 1), got {threshold}")
    if level_quantile is not None and not 0.5 <= level_quantile < 1.0:
        raise TsrnnError(f"--level-quantile must be in [0.5, 1), got {level_quantile}")
    if risk is not None and not 0.0 < risk < 0.01:
        raise TsrnnError(f"--risk is a false-alarm probability per row in (0, 0.01), got {risk}")
    if smooth is not None and smooth < 0:
        raise TsrnnError(f"--smooth must be 0 (off) or a span in rows, got {smooth}")
    if memory is not None and memory < 256:
        raise TsrnnError(f"--memory must be at least 256 rows, got {memory}")
    if channels is not None:
        unknown = [c for c in channels if c not in choices["channels"]]
        if unknown or not channels:
            raise TsrnnError(
                f"--channels {','.join(channels)!r}: give one or more of {', '.join(choices['channels'])}, separated "
                f"by commas"
            )


def check_watch_settings(
    threads: int, cooldown: int | None, min_duration: int, score: dict[str, Any], known: tuple[str, ...]
) -> dict[str, Any]:
    """Refuse watch settings out of range; `score` overrides detector settings (`known`: their names).
    Returns the overrides that were given (None: keep the model's)."""
    from tsrnn.errors import TsrnnError

    if threads < 0 or min_duration < 1 or (cooldown is not None and cooldown < 0):
        raise TsrnnError(
            f"--min-duration must be at least 1, --threads and --cooldown at least 0 (got {min_duration}, {threads}, "
            f"{cooldown})"
        )
    given = {k: v for k, v in score.items() if v is not None}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise TsrnnError(f"unknown detector setting {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    named = {f.name for f in fields(ScoreConfig)}
    as_score = {("threshold_method" if k == "method" else k): v for k, v in given.items()}
    ScoreConfig(**{k: v for k, v in as_score.items() if k in named})  # each value checked as the model's own would be
    if "channels" in given:
        check_score_settings(channels=tuple(given["channels"]))
    if not 0.5 <= given.get("quantile", 0.99) < 1.0:
        raise TsrnnError(f"quantile must be in [0.5, 1), got {given['quantile']}")
    return given


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass."""
    return asdict(cfg)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config, ignoring keys that a newer version added (JSON lists back to tuples)."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})
