"""Benchmark: tsrnn's default forecaster beside naive, linear and Darts forecasters, on the same rows.

    .venv/bin/python benchmarks/forecast.py [--seeds 0 1 2] [--parts etth1 etth1-ms nab] [--no-darts]
                                            [--darts-epochs 10] [--files all|even|odd] [--set NAME=VALUE ...] [--json]

Parts (every method is scored on the same test rows, in one run):
  etth1     ETTh1's oil temperature (OT) alone; the usual split: rows 0-8639 train (12 months),
            8640-11519 validation (4 months), 11520-14399 test (4 months). Every model fits on
            train + validation (tsrnn validates on the validation months); each test origin's
            forecast uses only rows up to it (tsrnn carries its state over the whole series).
  etth1-ms  the same, all seven columns in, OT out (ETT's "MS" setting; tsrnn --target OT).
  nab       the 44 files of ../shared/data/nab_dev: each trains on its first 60 % of rows, and is
            scored one step ahead on the rest; the figure is the median over files of the ratio
            of its MAE to persistence's.
Horizons: one step, and for ETTh1 the next 24 rows (the mean error over the 24 leads). MASE
divides by the training rows' naive error: one step for one step, a day (24 rows) for 24.

Methods: persistence (the last value); seasonal naive (the value a day earlier); a ridge
regression on the last 96 rows of every input column (one per lead: the linear reference for
what the split allows); tsrnn with its defaults (and with --horizon 24 for 24 steps: beyond its
default horizon a model of every column feeds its forecasts back, and a --target model cannot);
Darts' RNNModel (LSTM, autoregressive) and BlockRNNModel (LSTM, direct) with their documented
defaults at tsrnn's size (hidden units and layers) and 24 rows of input, trained --darts-epochs
epochs (Darts' default is 100; 10 took 70 s on ETTh1), from the optional `bench` extra (skipped,
with a line saying so, when it is not installed). On nab, Darts runs for the first seed only.
Every torch model trains on one thread (torch.set_num_threads(1)), as tsrnn does by default.

`--set` changes a tsrnn training setting (measuring an alternative to the defaults).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from common import configs, half, parse_pairs

from tsrnn.config import DataConfig
from tsrnn.forecasting import rolling_forecasts
from tsrnn.training.train import train

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TRAIN, VAL, TEST = 8640, 2880, 2880
LEADS, LAGS, DAY = 24, 96, 24
COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


def metrics(pred: np.ndarray, actual: np.ndarray, scale: float) -> dict[str, float]:
    e = pred - actual
    return {
        "MAE": float(np.abs(e).mean()),
        "RMSE": float(np.sqrt((e**2).mean())),
        "MASE": float(np.abs(e).mean() / scale),
    }


def leads_of(series: np.ndarray, origins: np.ndarray, leads: int) -> np.ndarray:
    """(origins, leads): the rows 1..leads after each origin."""
    return series[origins[:, None] + np.arange(1, leads + 1)[None, :]]


def ridge(
    inputs: np.ndarray, target: np.ndarray, fit_rows: np.ndarray, origins: np.ndarray, leads: int, lam: float = 10.0
) -> np.ndarray:
    """Least squares (ridge) on the last LAGS rows of every input column, each relative to its
    value at the origin, one weight vector per lead, fitted on origins in `fit_rows`; predicts
    (origins, leads). Inputs are standardised by the fitting rows' spread."""
    sd = inputs[: fit_rows.max() + 1].std(axis=0) + 1e-9
    z = inputs / sd

    def design(o: np.ndarray) -> np.ndarray:
        lagged = z[o[:, None] - np.arange(LAGS)[None, :]]  # (origins, LAGS, columns)
        return np.concatenate([(lagged - z[o][:, None]).reshape(len(o), -1), np.ones((len(o), 1))], axis=1)

    fit = fit_rows[(fit_rows >= LAGS) & (fit_rows + leads <= fit_rows.max())]
    x, y = design(fit), leads_of(target, fit, leads) - target[fit][:, None]
    w = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)
    return design(origins) @ w + target[origins][:, None]


def tsrnn_fit(
    frame: pl.DataFrame,
    rows: int,
    work: Path,
    name: str,
    seed: int,
    settings: dict[str, Any],
    val_fraction: float | None,
    **extra: Any,
) -> tuple[Any, float]:
    csv = work / f"{name}.csv"
    frame.head(rows).write_csv(csv)
    model, score, config = configs({**settings, **extra}, seed)
    if val_fraction is not None:  # ETTh1: its usual validation months, not the default last 20 %
        config = dataclasses.replace(config, val_fraction=val_fraction)
    started = time.perf_counter()
    result = train(
        csv, model=model, config=config, data_config=DataConfig(), name=name, runs_dir=work / "runs", score=score
    )
    return result.run, time.perf_counter() - started


class Darts:
    """Darts' RNNModel and BlockRNNModel, or None when the `bench` extra is not installed."""

    def __init__(self, epochs: int, hidden: int, layers: int) -> None:
        warnings.filterwarnings("ignore")
        logging.disable(logging.WARNING)
        from darts import TimeSeries
        from darts.models import BlockRNNModel, RNNModel

        self.TimeSeries, self.RNNModel, self.BlockRNNModel = TimeSeries, RNNModel, BlockRNNModel
        self.epochs, self.hidden, self.layers = epochs, hidden, layers
        self.trainer = {
            "enable_progress_bar": False,
            "logger": False,
            "enable_model_summary": False,
            "accelerator": "cpu",
            "enable_checkpointing": False,
        }

    def _series(self, values: np.ndarray):
        return self.TimeSeries.from_values(values.astype(np.float32))

    def forecasts(
        self,
        kind: str,
        target: np.ndarray,
        covariates: np.ndarray | None,
        fit_rows: int,
        origins: np.ndarray,
        leads: int,
        seed: int,
    ) -> tuple[np.ndarray, float]:
        """(origins, leads) forecasts of `target` (standardised inside), and the training seconds.
        rnn: RNNModel on target and covariates together (all in, all out; target read back);
        block: BlockRNNModel on the target with the covariates as past covariates."""
        cols = target[:, None] if covariates is None else np.concatenate([covariates, target[:, None]], axis=1)
        mu, sd = cols[:fit_rows].mean(axis=0), cols[:fit_rows].std(axis=0) + 1e-9
        z = (cols - mu) / sd
        end = origins.max() + leads + 1
        common = {
            "input_chunk_length": DAY,
            "model": "LSTM",
            "hidden_dim": self.hidden,
            "n_rnn_layers": self.layers,
            "n_epochs": self.epochs,
            "random_state": seed,
            "pl_trainer_kwargs": self.trainer,
        }
        if kind == "rnn":
            model, series, past = self.RNNModel(**common), self._series(z[:end]), None
        else:
            model = self.BlockRNNModel(output_chunk_length=leads, **common)
            series, past = self._series(z[:end, -1:]), (self._series(z[:end, :-1]) if covariates is not None else None)
        started = time.perf_counter()
        model.fit(series[:fit_rows], past_covariates=past[:fit_rows] if past is not None else None)
        seconds = time.perf_counter() - started
        made = model.historical_forecasts(
            series,
            past_covariates=past,
            start=int(origins[0]) + 1,
            forecast_horizon=leads,
            stride=1,
            retrain=False,
            last_points_only=False,
            verbose=False,
        )
        by_start = {int(f.time_index[0]): f.values()[:, -1] for f in made}
        out = np.stack([by_start[int(o) + 1] for o in origins])
        return out * sd[-1] + mu[-1], seconds


def etth1(
    args: argparse.Namespace, work: Path, darts: Darts | None, settings: dict[str, Any], multivariate: bool
) -> list[dict[str, Any]]:
    frame = pl.read_csv(args.etth1, try_parse_dates=True).sort("date")
    frame = frame.select("date", *(COLUMNS if multivariate else ["OT"]))
    values = frame.select(COLUMNS if multivariate else ["OT"]).to_numpy().astype(np.float64)
    times = frame["date"].to_numpy()
    ot = values[:, -1]
    end = TRAIN + VAL + TEST
    origins = np.arange(TRAIN + VAL - 1, end - LEADS)  # forecasts for rows TRAIN+VAL .. end-1
    actual = leads_of(ot, origins, LEADS)
    scale1 = float(np.abs(np.diff(ot[:TRAIN])).mean())
    scale24 = float(np.abs(ot[DAY:TRAIN] - ot[: TRAIN - DAY]).mean())
    target = {"target": "OT"} if multivariate else {}
    results = []
    for seed in args.seeds:
        preds: dict[str, np.ndarray] = {"persistence": np.repeat(ot[origins][:, None], LEADS, axis=1)}
        preds["seasonal naive"] = ot[origins[:, None] + np.arange(1, LEADS + 1)[None, :] - DAY]
        preds["ridge on 96 lags"] = ridge(values, ot, np.arange(TRAIN + VAL), origins, LEADS)
        seconds: dict[str, float] = {}
        run, seconds["tsrnn defaults"] = tsrnn_fit(
            frame, TRAIN + VAL, work, f"ett{int(multivariate)}-{seed}", seed, settings, VAL / (TRAIN + VAL), **target
        )
        steps = LEADS if not multivariate else run.model_config.horizon
        made = rolling_forecasts(run, values[:end], times[:end], origins, steps)[:, :, -1]
        preds["tsrnn defaults"] = np.pad(made, ((0, 0), (0, LEADS - steps)), constant_values=np.nan)
        run24, seconds["tsrnn --horizon 24"] = tsrnn_fit(
            frame,
            TRAIN + VAL,
            work,
            f"ett{int(multivariate)}h24-{seed}",
            seed,
            settings,
            VAL / (TRAIN + VAL),
            horizon=LEADS,
            **target,
        )
        preds["tsrnn --horizon 24"] = rolling_forecasts(run24, values[:end], times[:end], origins, LEADS)[:, :, -1]
        if darts is not None:
            covariates = values[:, :-1] if multivariate else None
            for label, kind in (("Darts RNNModel", "rnn"), ("Darts BlockRNNModel", "block")):
                preds[label], seconds[label] = darts.forecasts(kind, ot, covariates, TRAIN + VAL, origins, LEADS, seed)
        out: dict[str, Any] = {"seed": seed, "one step": {}, "24 steps": {}, "seconds": seconds}
        for label, p in preds.items():
            out["one step"][label] = metrics(p[:, 0], actual[:, 0], scale1)
            if not np.isnan(p).any():
                out["24 steps"][label] = metrics(p, actual, scale24)
        results.append(out)
    return results


def nab(args: argparse.Namespace, work: Path, darts: Darts | None, settings: dict[str, Any]) -> list[dict[str, Any]]:
    data = Path(args.nab)
    files = half(sorted(json.loads((data / "labels" / "combined_windows.json").read_text())), args.files)
    results = []
    for seed in args.seeds:
        ratios: dict[str, list[float]] = {"tsrnn defaults": [], "ridge on 96 lags": []}
        seconds: dict[str, float] = {"tsrnn defaults": 0.0}
        use_darts = darts is not None and seed == args.seeds[0]
        if use_darts:
            for label in ("Darts RNNModel", "Darts BlockRNNModel"):
                ratios[label], seconds[label] = [], 0.0
        skipped = 0
        for name in files:
            frame = pl.read_csv(data / name, try_parse_dates=True).sort("timestamp")
            values = frame["value"].to_numpy().astype(np.float64)
            cut = int(round(0.6 * len(values)))
            origins = np.arange(cut - 1, len(values) - 1)
            actual = values[origins + 1]
            naive = float(np.abs(values[origins] - actual).mean())
            if naive == 0.0:
                skipped += 1
                continue
            run, took = tsrnn_fit(frame, cut, work, f"nab-{seed}-{Path(name).stem}", seed, settings, None)
            seconds["tsrnn defaults"] += took
            made = rolling_forecasts(run, values[:, None], frame["timestamp"].to_numpy(), origins, 1)[:, 0, 0]
            ratios["tsrnn defaults"].append(float(np.abs(made - actual).mean()) / naive)
            if cut > 2 * LAGS:
                ratios["ridge on 96 lags"].append(
                    float(np.abs(ridge(values[:, None], values, np.arange(cut), origins, 1)[:, 0] - actual).mean())
                    / naive
                )
            if use_darts:
                for label, kind in (("Darts RNNModel", "rnn"), ("Darts BlockRNNModel", "block")):
                    pred, took = darts.forecasts(kind, values, None, cut, origins, 1, seed)
                    seconds[label] += took
                    ratios[label].append(float(np.abs(pred[:, 0] - actual).mean()) / naive)
        results.append(
            {
                "seed": seed,
                "files": len(files) - skipped,
                "skipped_constant": skipped,
                "seconds": seconds,
                "median_ratio": {k: statistics.median(v) for k, v in ratios.items() if v},
                "files_below_persistence": {k: int(sum(r < 1 for r in v)) for k, v in ratios.items() if v},
            }
        )
    return results


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report_etth1(title: str, results: list[dict[str, Any]]) -> None:
    seeds = len(results)
    print(f"\n{title}: test rows {TRAIN + VAL}-{TRAIN + VAL + TEST - LEADS}, medians over {seeds} seed(s)")
    print(
        f"  {'method':24} {'1 step MAE':>10} {'RMSE':>7} {'MASE':>6} {'x pers.':>8}   {'24 steps MAE':>12} "
        f"{'RMSE':>7} {'MASE':>6} {'x s.naive':>9}   {'train s':>8}"
    )
    labels = list(results[0]["one step"])
    pers = med([r["one step"]["persistence"]["MAE"] for r in results])
    snaive = med([r["24 steps"]["seasonal naive"]["MAE"] for r in results])
    for label in labels:
        one = {k: med([r["one step"][label][k] for r in results]) for k in ("MAE", "RMSE", "MASE")}
        many = {
            k: med([r["24 steps"][label][k] for r in results if label in r["24 steps"]])
            for k in ("MAE", "RMSE", "MASE")
        }
        secs = [r["seconds"][label] for r in results if label in r["seconds"]]
        far = (
            f"{many['MAE']:12.3f} {many['RMSE']:7.3f} {many['MASE']:6.3f} {many['MAE'] / snaive:9.3f}"
            if not np.isnan(many["MAE"])
            else f"{'(horizon < 24)':>37}"
        )
        print(
            f"  {label:24} {one['MAE']:10.3f} {one['RMSE']:7.3f} {one['MASE']:6.3f} {one['MAE'] / pers:8.3f}   {far}   "
            f"{(f'{med(secs):8.1f}' if secs else '       -')}"
        )


def report_nab(results: list[dict[str, Any]], files: str) -> None:
    r0 = results[0]
    print(
        f"\nnab_dev ({files} files): {r0['files']} files ({r0['skipped_constant']} with a constant test part left "
        f"out), "
        "one step; median over files of MAE / persistence's MAE (per seed)"
    )
    for label in r0["median_ratio"]:
        cells = [r["median_ratio"][label] for r in results if label in r["median_ratio"]]
        below = [r["files_below_persistence"][label] for r in results if label in r["files_below_persistence"]]
        secs = [r["seconds"][label] for r in results if label in r["seconds"]]
        print(
            f"  {label:24} {' / '.join(f'{c:.3f}' for c in cells):>23}  median {med(cells):.3f}; below persistence on "
            f"{' / '.join(map(str, below))} files; training {med(secs):.0f} s in all"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--etth1", default=str(SHARED / "etth1" / "ETTh1.csv"))
    parser.add_argument("--nab", default=str(SHARED / "nab_dev"))
    parser.add_argument(
        "--parts", nargs="+", choices=("etth1", "etth1-ms", "nab"), default=["etth1", "etth1-ms", "nab"]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--files", choices=("all", "even", "odd"), default="all", help="nab: all files, or every other one"
    )
    parser.add_argument("--no-darts", action="store_true", help="leave Darts out even when it is installed")
    parser.add_argument("--darts-epochs", type=int, default=10)
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a tsrnn training setting to change"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = parse_pairs(args.set, False)
    model = configs(settings, 0)[0]
    darts = None
    if not args.no_darts:
        try:
            darts = Darts(args.darts_epochs, model.hidden, model.layers)
        except ImportError:
            print("Darts is not installed: its rows are skipped (pip install -c constraints.txt -e '.[bench]')")
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "etth1" in args.parts:
            results["etth1"] = etth1(args, work, darts, settings, multivariate=False)
        if "etth1-ms" in args.parts:
            results["etth1-ms"] = etth1(args, work, darts, settings, multivariate=True)
        if "nab" in args.parts:
            results["nab"] = nab(args, work, darts, settings)
    if args.json:
        print(json.dumps(results))
        return
    print(
        f"forecast benchmark: seeds {', '.join(map(str, args.seeds))}; torch threads 1; "
        f"{time.perf_counter() - started:.0f} s in all"
        + (f"; Darts {args.darts_epochs} epochs" if darts else "; Darts skipped")
    )
    if settings:
        print(f"changed from the defaults: {json.dumps(settings, default=str)}")
    if "etth1" in results:
        report_etth1("ETTh1, OT alone", results["etth1"])
    if "etth1-ms" in results:
        report_etth1("ETTh1, seven columns in, OT out (tsrnn --target OT)", results["etth1-ms"])
    if "nab" in results:
        report_nab(results["nab"], args.files)


if __name__ == "__main__":
    main()
