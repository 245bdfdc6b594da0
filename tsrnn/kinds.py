"""The one registry of model kinds: everything that differs between them, without torch.

A kind is what `--model` and `--mode` choose together: the stateful forecaster (trained with
truncated BPTT, exported with its recurrent state as graph input and output), the windowed
forecaster and the autoencoder (both re-run a window of raw rows for each new row). Training,
export, the runtime and forecasting look a kind up here and key their own tables (task classes,
export wrappers, runners) by its name: a new kind is one entry here and one per table, plus
whatever its flags (stateful, forecasts, own_novelty) do not already describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tsrnn.scoring import ERROR_KINDS  # names only: no numpy

CELL_STATES: dict[str, tuple[str, ...]] = {
    "lstm": ("h", "c"),
    "gru": ("h",),
    "rnn": ("h",),
}  # the graph's state inputs per cell
Axes = dict[str, dict[int, str]]


class Shape(Protocol):
    """What a kind reads from a model configuration (ModelConfig, or an exported model's metadata)."""

    # read-only: ModelConfig and ModelMetadata are frozen dataclasses
    @property
    def cell(self) -> str: ...

    @property
    def window(self) -> int: ...

    @property
    def inputs(self) -> str: ...

    @property
    def time_features(self) -> str: ...


@dataclass(frozen=True)
class Kind:
    name: str  # registry key: stateful | windowed | autoencoder
    model: str  # --model
    stateful: bool  # carries its recurrent state between calls: a new row costs one step
    forecasts: bool  # predicts rows ahead (forecast error channel, `tsrnn forecast`)
    own_novelty: bool  # its error is the novelty channel (an autoencoder's reconstruction error)
    error_kinds: tuple[
        str, ...
    ]  # forecast-error kinds (tsrnn.scoring.ERROR_KINDS) that apply; () : no forecast channel
    warmup_offset: int  # rows from a fresh start before its errors mean anything: window + offset

    def warmup_rows(self, window: int) -> int:
        """An autoencoder's first full window ends at row window - 1; forecasters need `window`
        rows of state or of history."""
        return window + self.warmup_offset

    def state_names(self, cell: str) -> tuple[str, ...]:
        return CELL_STATES[cell] if self.stateful else ()

    def carried_rows(self, inputs: str) -> tuple[str, ...]:
        """Rows the stateful graph carries between calls: the pending forecast, and with diff
        inputs the last row read."""
        if not self.stateful:
            return ()
        return ("next", "prev") if inputs == "diff" else ("next",)

    def graph(self, cfg: Shape) -> tuple[list[str], list[str], Axes]:
        """(input names, output names, dynamic axes) of the exported graph."""
        if self.own_novelty:
            return (
                ["x"],
                ["reconstruction", "error"],
                {"x": {0: "batch"}, "reconstruction": {0: "batch"}, "error": {0: "batch"}},
            )
        if not self.stateful:
            return ["x"], ["forecast"], {"x": {0: "batch"}, "forecast": {0: "batch"}}
        states, rows = list(self.state_names(cfg.cell)), list(self.carried_rows(cfg.inputs))
        axes: Axes = {name: {0: "batch", 1: "time"} for name in ("x", "expected", "error", "forecast")}
        for name in states:
            axes[name] = axes[f"{name}_out"] = {1: "batch"}
        for name in rows:
            axes[name] = axes[f"{name}_out"] = {0: "batch"}
        tf = ["tf"] if cfg.time_features != "none" else []  # (batch, time, k): time features of each row
        if tf:
            axes["tf"] = {0: "batch", 1: "time"}
        outputs = ["expected", "error", "forecast", *(f"{n}_out" for n in states + rows)]
        return ["x", *tf, *states, *rows], outputs, axes


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "stateful",
            "forecaster",
            stateful=True,
            forecasts=True,
            own_novelty=False,
            error_kinds=ERROR_KINDS,
            warmup_offset=0,
        ),
        Kind(
            "windowed",
            "forecaster",
            stateful=False,
            forecasts=True,
            own_novelty=False,
            error_kinds=("abs",),
            warmup_offset=0,
        ),
        Kind(
            "autoencoder",
            "autoencoder",
            stateful=False,
            forecasts=False,
            own_novelty=True,
            error_kinds=(),
            warmup_offset=-1,
        ),
    )
}
MODEL_KINDS = ("forecaster", "autoencoder")  # --model
MODES = ("stateful", "windowed")  # --mode (forecasters)


def kind_of(model: str, mode: str) -> Kind:
    """The kind of a model from its --model and --mode (an autoencoder ignores the mode)."""
    if model == "autoencoder":
        return KINDS["autoencoder"]
    if model != "forecaster" or mode not in MODES:
        from tsrnn.errors import ModelError

        raise ModelError(f"unknown model kind {model!r} with mode {mode!r}; this tsrnn knows {', '.join(KINDS)}")
    return KINDS[mode]
