"""Generate sample_data/sensors_*.csv: a synthetic server-room series with one labelled fault.

Written for tsrnn (MIT licence, like the rest of the project). Deterministic: running it again
writes the same bytes. Three sensors every 10 minutes for 21 days: IT load follows a working-day
cycle, room temperature follows the load through the cooling loop, humidity moves against the
temperature. On day 18 the cooling degrades for four hours: temperature climbs while the load
stays normal, the relation between the columns breaks, and the label window covers it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
START = datetime(2024, 3, 4)  # a Monday
STEP = timedelta(minutes=10)
DAYS, HISTORY_DAYS = 21, 14
FAULT_START, FAULT_HOURS = START + timedelta(days=18, hours=10), 4


def generate() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(20240304)
    n = DAYS * 24 * 6
    t = np.arange(n)
    hour = (t % 144) / 6.0
    weekday = ((t // 144) % 7) < 5
    work = np.clip(np.sin((hour - 7.0) / 12.0 * np.pi), 0.0, None) * np.where(weekday, 1.0, 0.35)
    load = 42.0 + 30.0 * work + rng.normal(0, 1.2, n)  # kW
    noise = np.convolve(rng.normal(0, 0.15, n), np.ones(6) / 6, mode="same")  # slow drift
    temp = 21.0 + 0.06 * (load - 42.0) + noise + rng.normal(0, 0.08, n)  # °C
    humidity = 45.0 - 1.8 * (temp - 21.0) + rng.normal(0, 0.4, n)  # %
    times = [START + i * STEP for i in range(n)]
    fault = np.array([FAULT_START <= ts < FAULT_START + timedelta(hours=FAULT_HOURS) for ts in times])
    ramp = np.cumsum(fault) * 0.12 * fault  # +0.72 °C per hour while the cooling is degraded
    temp = temp + ramp
    humidity = humidity - 1.8 * ramp
    values = np.column_stack([np.round(temp, 2), np.round(humidity, 1), np.round(load, 1)])
    return [ts.strftime("%Y-%m-%d %H:%M:%S") for ts in times], values


def write(path: Path, stamps: list[str], values: np.ndarray) -> None:
    lines = ["timestamp,temperature_c,humidity_pct,power_kw"]
    lines += [f"{s},{a:.2f},{b:.1f},{c:.1f}" for s, (a, b, c) in zip(stamps, values)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    stamps, values = generate()
    cut = HISTORY_DAYS * 144
    write(HERE / "sensors_history.csv", stamps[:cut], values[:cut])
    write(HERE / "sensors_recent.csv", stamps[cut:], values[cut:])
    end = FAULT_START + timedelta(hours=FAULT_HOURS) - STEP
    window = [FAULT_START.strftime("%Y-%m-%d %H:%M:%S.000000"), end.strftime("%Y-%m-%d %H:%M:%S.000000")]
    labels = {"sensors_history.csv": [], "sensors_recent.csv": [window]}
    (HERE / "sensors_labels.json").write_text(json.dumps(labels, indent=2) + "\n")


if __name__ == "__main__":
    main()
