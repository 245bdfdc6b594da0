"""An event: one incident of one series (consecutive flagged rows, see detector.detect)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """One incident: a run of consecutive anomalous rows of one series."""

    series: str
    start: str  # timestamp text of the first anomalous row
    end: str  # timestamp text of the last anomalous row
    rows: int  # anomalous rows in the event
    peak_time: str
    peak_score: float
    observed: list[float]  # values at the peak, per feature
    expected: list[float]  # the model's values at the peak, per feature
    column: str  # the feature furthest from its expected value at the peak, in scaled units
    ongoing: bool = False  # still open at the end of the run (its cooldown has not passed)
    continued: bool = False  # began in an earlier run (reported then); not a new alert

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
