"""Benchmark: forecasting ETTh1's oil temperature (OT) with tsrnn's forecasters.

    .venv/bin/python benchmarks/etth1.py [--data ../shared/data/etth1/ETTh1.csv] [--seeds 3]

The usual split: rows 0-8639 train (12 months), 8640-11519 validation (4 months), 11520-14399 test
(4 months). Each model trains on train + validation (validation for early stopping only) and is
scored on the test rows, running over the whole series with its state carried, so every forecast
uses only rows before it.

Accuracy (test MAE, RMSE, MASE; MASE scaled by the training set's naive error at the same
lag: 1 for one step, 24 for 24 steps):
  one step ahead, against persistence (the last value);
  24 steps ahead, against seasonal naive (the value 24 h earlier), with
    a horizon-1 forecaster rolled forward 24 steps on its own predictions, and
    a forecaster trained with --horizon 24 (direct multi-step head);
  and both again with --inputs diff (the cell reads changes, not levels).
Every model here is trained with --time-features none, --inputs level and, unless said,
--horizon 1: the forecasting settings measured before the detector's defaults became --horizon
10 and the time of day. The defaults themselves, beside Darts, are measured by
benchmarks/forecast.py; this script stays for the record of these variants.
Stateful against windowed training (this script's part 2 before) is benchmarks/training.py's,
with the defaults, in `make bench`.
Targets (issue 4): one step below persistence; 24 steps at least 20% below seasonal naive;
trained in under a minute.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from tsrnn.config import DataConfig, ModelConfig, TrainConfig
from tsrnn.training.train import train

TRAIN, VAL, TEST = 8640, 2880, 2880


def errors(pred: np.ndarray, actual: np.ndarray, scale: float) -> dict[str, float]:
    e = pred - actual
    return {
        "MAE": float(np.abs(e).mean()),
        "RMSE": float(np.sqrt((e**2).mean())),
        "MASE": float(np.abs(e).mean() / scale),
    }


def fit(csv: Path, runs: Path, name: str, seed: int, loss: str = "mse", **model: object) -> tuple[object, float, list]:
    data = DataConfig(columns=("OT",))
    cfg = TrainConfig(seed=seed, val_fraction=VAL / (TRAIN + VAL), loss=loss)
    started = time.perf_counter()
    model = {
        "horizon": 1,
        "time_features": "none",
        "inputs": "level",
        **model,
    }  # the forecasting settings measured here (not the detector's defaults)
    result = train(csv, model=ModelConfig(**model), config=cfg, data_config=data, name=name, runs_dir=runs)
    return result.run, time.perf_counter() - started, result.run.info["history"]


def ridge_reference(series: np.ndarray, lead: int, lags: int = 96, ridge: float = 10.0) -> np.ndarray:
    """A strong linear reference: least squares on the last `lags` changes relative to the origin,
    fitted on train + validation; test predictions `lead` steps ahead. It shows how far below the
    naive baselines this split allows a forecaster of OT's own past to go."""

    def design(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        origin = rows - lead
        x = np.stack([series[origin - lags + 1 + j] - series[origin] for j in range(lags)], axis=1)
        return x, series[rows] - series[origin]

    x, y = design(np.arange(lags + lead, TRAIN + VAL))
    w = np.linalg.solve(x.T @ x + ridge * np.eye(lags), x.T @ y)
    test = np.arange(TRAIN + VAL, TRAIN + VAL + TEST)
    return design(test)[0] @ w + series[test - lead]


def step_states(net, scaled: np.ndarray, origins: np.ndarray):
    """Run over the series one chunk at a time; the state and forecasts at each origin row."""
    x = torch.from_numpy(scaled[None, :, None].astype(np.float32))
    with torch.no_grad():
        pred, *_ = net(x, *net.zero_state(1))  # forecasts at every row: (1, rows, horizon, 1)
        states = []
        state = net.zero_state(1)
        done = 0
        for o in origins:  # carry the state up to each origin (origins are increasing)
            _, *state = net(x[:, done : o + 1], *state)
            done = o + 1
            states.append(state)
    stacked = [torch.cat([s[i] for s in states], dim=1) for i in range(len(states[0]))]
    return pred[0, :, :, 0].numpy(), stacked


def rollout(net, last: np.ndarray, state, steps: int) -> np.ndarray:
    """Feed a horizon-1 model its own predictions: (origins,) last values → (origins, steps)."""
    out = []
    with torch.no_grad():
        pred, *state = net(torch.from_numpy(last[:, None, None].astype(np.float32)), *state)
        for _ in range(steps):
            nxt = pred[:, -1, 0]  # (origins, 1)
            out.append(nxt[:, 0].numpy())
            pred, *state = net(nxt[:, None, :], *state)
    return np.stack(out, axis=1)


def accuracy(series: np.ndarray, csv: Path, runs: Path, seed: int) -> dict[str, object]:
    test = np.arange(TRAIN + VAL, TRAIN + VAL + TEST)
    train_part = series[:TRAIN]
    scale1 = float(np.abs(np.diff(train_part)).mean())
    scale24 = float(np.abs(train_part[24:] - train_part[:-24]).mean())
    run1, t1, _ = fit(csv, runs, f"h1-{seed}", seed)
    run24, t24, _ = fit(csv, runs, f"h24-{seed}", seed, horizon=24)
    out: dict[str, object] = {"train_seconds_h1": t1, "train_seconds_h24": t24}

    net = run1.load_model()
    sc = run1.scaler
    scaled = (series - sc.mean[0]) / sc.scale[0]
    pred, states = step_states(net, scaled, test - 24)
    one = pred[test - 1, 0] * sc.scale[0] + sc.mean[0]
    out["one_step"] = errors(one, series[test], scale1)
    rolled = rollout(net, scaled[test - 24], states, 24)[:, -1] * sc.scale[0] + sc.mean[0]
    out["h1_rolled_24"] = errors(rolled, series[test], scale24)

    net24 = run24.load_model()
    sc24 = run24.scaler
    scaled24 = (series - sc24.mean[0]) / sc24.scale[0]
    pred24, _ = step_states(net24, scaled24, test[:1])
    direct = pred24[test - 24, 23] * sc24.scale[0] + sc24.mean[0]
    out["h24_direct_24"] = errors(direct, series[test], scale24)
    for label, horizon, loss in (
        ("diff_one_step", 1, "mse"),
        ("diff_h24_direct_24", 24, "mse"),
        ("diff_mae_one_step", 1, "mae"),
        ("diff_mae_h24_direct_24", 24, "mae"),
    ):
        run, _, _ = fit(csv, runs, f"diff{horizon}{loss}-{seed}", seed, loss=loss, horizon=horizon, inputs="diff")
        net, sc = run.load_model(), run.scaler
        scaled = (series - sc.mean[0]) / sc.scale[0]
        pred, _ = step_states(net, scaled, test[:1])
        out[label] = errors(
            pred[test - horizon, horizon - 1] * sc.scale[0] + sc.mean[0],
            series[test],
            scale1 if horizon == 1 else scale24,
        )
    out["persistence"] = errors(series[test - 1], series[test], scale1)
    out["ridge_1"] = errors(ridge_reference(series, 1), series[test], scale1)
    out["ridge_24"] = errors(ridge_reference(series, 24), series[test], scale24)
    out["seasonal_naive"] = errors(series[test - 24], series[test], scale24)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "etth1" / "ETTh1.csv")
    )
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    frame = pl.read_csv(args.data, try_parse_dates=True).sort("date")
    series = frame["OT"].to_numpy().astype(np.float64)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        csv = tmpdir / "etth1_trainval.csv"
        frame.head(TRAIN + VAL).select("date", "OT").write_csv(csv)
        acc = [accuracy(series, csv, tmpdir / "runs", seed) for seed in range(args.seeds)]

    def med(rows: list, *keys: str) -> float:
        values = []
        for r in rows:
            v = r
            for k in keys:
                v = v[k]
            values.append(v)
        return statistics.median(values)

    print(
        f"ETTh1 OT, test rows {TRAIN + VAL}-{TRAIN + VAL + TEST - 1}; medians over {args.seeds} seeds; torch threads 1"
    )
    print(f"{'forecast':44} {'MAE':>7} {'RMSE':>7} {'MASE':>7}")
    rows = [
        ("one step: persistence", "persistence"),
        ("one step: --horizon 1 --time-features none", "one_step"),
        ("one step: --inputs diff", "diff_one_step"),
        ("one step: --inputs diff --loss mae", "diff_mae_one_step"),
        ("one step: reference, ridge on 96 lags", "ridge_1"),
        ("24 steps: seasonal naive (24 h earlier)", "seasonal_naive"),
        ("24 steps: horizon 1, rolled on its predictions", "h1_rolled_24"),
        ("24 steps: --horizon 24 (direct)", "h24_direct_24"),
        ("24 steps: --horizon 24 --inputs diff", "diff_h24_direct_24"),
        ("24 steps: --horizon 24 --inputs diff --loss mae", "diff_mae_h24_direct_24"),
        ("24 steps: reference, ridge on 96 lags", "ridge_24"),
    ]
    for label, key in rows:
        print(f"{label:44} {med(acc, key, 'MAE'):7.3f} {med(acc, key, 'RMSE'):7.3f} {med(acc, key, 'MASE'):7.3f}")
    one, pers = med(acc, "one_step", "MAE"), med(acc, "persistence", "MAE")
    snaive = med(acc, "seasonal_naive", "MAE")
    print(
        f"one step vs persistence MAE: horizon 1 {one / pers:.3f}x, diff "
        f"{med(acc, 'diff_one_step', 'MAE') / pers:.3f}x, "
        f"diff mae {med(acc, 'diff_mae_one_step', 'MAE') / pers:.3f}x; "
        f"24 steps vs seasonal naive MAE: rolled {med(acc, 'h1_rolled_24', 'MAE') / snaive:.3f}x, "
        f"direct {med(acc, 'h24_direct_24', 'MAE') / snaive:.3f}x, direct diff "
        f"{med(acc, 'diff_h24_direct_24', 'MAE') / snaive:.3f}x, "
        f"direct diff mae {med(acc, 'diff_mae_h24_direct_24', 'MAE') / snaive:.3f}x, "
        f"ridge {med(acc, 'ridge_24', 'MAE') / snaive:.3f}x"
    )
    print(
        f"training wall time: horizon 1 {med(acc, 'train_seconds_h1'):.1f} s, --horizon 24 "
        f"{med(acc, 'train_seconds_h24'):.1f} s"
    )


if __name__ == "__main__":
    main()
