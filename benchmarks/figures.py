"""benchmarks/run.py's figures: each part's raw samples → named figures (median, min, max, runs),
same-run ratios, and the targets they are held to.

A figure's samples are one value per run (a repeat, or a seed); a ratio's samples are computed
within each run and then summarised, so a slow moment of the machine falls on both sides of it.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

Figure = dict[str, Any]

# The targets, with the issue that set them. Watch figures: issue 16 holds them at the README's
# figures before it; the rest are the benchmarks' own issues (3, 4, 11, 12, 14).
WATCH_RATE, WATCH_FLOOR_RATIO = 621_814, 2.0
WATCH_FLEET_MS, WATCH_COLD_S, WATCH_HELP_S, WATCH_PEAK_MIB = 3.0, 0.28, 0.13, 151


WATCH_BASELINES = {  # benchmarks/watch.py's model-only rates, one sample per backfill run
    "eager_windows_rows_per_s": "eager PyTorch, 32-row windows in batches of 1,024",
    "eager_backlog_rows_per_s": "eager PyTorch over the 3,000-row history in one call, state carried",
    "eager_one_window_rows_per_s": "eager PyTorch, one 32-row window per new row",
    "eager_stepped_rows_per_s": "eager PyTorch, one new row per call, state carried",
    "onnx_stepped_rows_per_s": "the exported graph through tsrnn's runner, one new row per call, state carried",
}


def fig(
    name: str,
    unit: str,
    samples: list[float],
    target: tuple[str, float] | None = None,
    source: str = "",
    gate: bool = False,
) -> Figure:
    """One figure: `target` is (">=" | "<=" | "<" | ">", value), checked on the median. A `gate`
    is a correctness limit that holds at any size: judged in a quick run too, and a run that
    misses it fails."""
    values = [float(v) for v in samples if v is not None and not math.isnan(float(v))]
    out: Figure = {"name": name, "unit": unit, "runs": len(values), "of_runs": len(samples)}
    if values:
        out.update(median=statistics.median(values), min=min(values), max=max(values))
    else:
        out.update(median=None, min=None, max=None)
    if target is not None:
        op, value = target
        out["target"] = {"op": op, "value": value, "source": source, **({"gate": True} if gate else {})}
        m = out["median"]
        out["met"] = None if m is None else {">=": m >= value, "<=": m <= value, "<": m < value, ">": m > value}[op]
    return out


def note(name: str, text: str) -> Figure:
    return {"name": name, "note": text}


def skipped(name: str, reason: str) -> Figure:
    return {"name": name, "skipped": reason}


def reader(raw: dict[str, Any]) -> list[Figure]:
    runs, rows, mib = raw["runs"], raw["rows"], raw["file_mib"]
    s = {what: [r["seconds"] for r in rr] for what, rr in runs.items()}
    out = [fig(f"{what}: rows per second", "rows/s", [rows / x for x in s[what]]) for what in s]
    out.append(
        fig(
            "tsrnn's read_frame time / bare polars.read_csv time",
            "x",
            [f / p for f, p in zip(s["frame"], s["polars"])],
            ("<=", 2.0),
            "issue 3",
        )
    )
    out.append(
        fig("read_dataset (train's whole read) time / polars", "x", [d / p for d, p in zip(s["dataset"], s["polars"])])
    )
    for what in ("frame", "dataset"):
        peaks = [r["peak_kb"] / 1024 / mib for r in runs[what]]
        out.append(fig(f"{what}: peak RSS / file size", "x", peaks, ("<", 3.0), "issue 3"))
    return out


def training(raw: dict[str, Any]) -> list[Figure]:
    seeds = raw["seeds"]
    col = lambda key: [s[key] for s in seeds]
    return [
        fig("stateful: seconds per epoch", "s", col("epoch_s_stateful")),
        fig("windowed (96-row windows): seconds per epoch", "s", col("epoch_s_windowed")),
        fig(
            "windowed / stateful seconds per epoch",
            "x",
            [w / s for w, s in zip(col("epoch_s_windowed"), col("epoch_s_stateful"))],
            (">=", 50.0),
            "issue 4",
        ),
        fig("stateful: best validation loss", "", col("best_val_stateful")),
        fig("windowed: best validation loss", "", col("best_val_windowed")),
        fig("windowed: seconds to its best validation loss", "s", col("seconds_windowed_to_its_best")),
        fig("stateful: seconds to the windowed model's best loss", "s", col("seconds_stateful_to_windowed_best")),
        fig(
            "stateful / windowed time to the windowed best (never reached: infinite)",
            "x",
            [
                math.inf if a is None or math.isnan(a) else a / b
                for a, b in zip(col("seconds_stateful_to_windowed_best"), col("seconds_windowed_to_its_best"))
            ],
            ("<", 1.0),
            "issue 4",
        ),
    ]


def watch(raw: dict[str, Any]) -> list[Figure]:
    rows = raw["rows"]
    rate = [rows / s for s in raw["seconds"]]
    big = str(rows) if rows >= 1_000_000 else None
    out = [
        fig(f"backfill of {rows:,} rows, end to end, one core", "rows/s", rate, (">=", WATCH_RATE), "issue 16"),
        fig("the same, forecast channel alone", "rows/s", [rows / s for s in raw["forecast_only_seconds"]]),
        fig("the bare onnxruntime calls on the same rows (the floor)", "rows/s", raw["bare_rows_per_s"]),
        fig(
            "tsrnn end to end / the bare onnxruntime calls (cost)",
            "x",
            [b / r for b, r in zip(raw["bare_rows_per_s"], rate)],
            ("<=", WATCH_FLOOR_RATIO),
            "issue 16",
        ),
    ]
    base = {key: raw[key] for key in WATCH_BASELINES}
    for key, label in WATCH_BASELINES.items():
        out.append(fig(f"{label}: model only", "rows/s", base[key]))
    # a backlog against a backlog, a stream row by row against a stream row by row; within each run
    for ours, theirs, name in (
        (rate, base["eager_windows_rows_per_s"], "tsrnn backfill end to end / eager 32-row windows in batches"),
        (rate, base["eager_backlog_rows_per_s"], "tsrnn backfill end to end / eager over the backlog, state carried"),
        (raw["bare_rows_per_s"], base["eager_backlog_rows_per_s"], "a backlog, model only: onnxruntime / eager"),
        (
            base["onnx_stepped_rows_per_s"],
            base["eager_stepped_rows_per_s"],
            "one row per call: tsrnn's runner / eager, state carried",
        ),
        (
            base["onnx_stepped_rows_per_s"],
            base["eager_one_window_rows_per_s"],
            "one row per call: tsrnn's runner / eager, one 32-row window per new row",
        ),
    ):
        out.append(fig(name, "x", [a / b for a, b in zip(ours, theirs)]))
    out += [
        fig("1,000 series, one new row each: the bare onnxruntime call", "ms", raw["bare_call_ms_1000_series"]),
        fig(
            "1,000 series, one new row each: the runner (stack, one onnxruntime call, unstack, errors)",
            "ms",
            raw["call_ms_1000_series"],
            ("<=", WATCH_FLEET_MS),
            "issue 16",
        ),
        fig("1,000 series, a whole `tsrnn watch` run", "s", raw["fleet_run_s"]),
        fig("state per series", "KB", [raw["state_kb_per_series"]]),
        fig(
            "cold start: `tsrnn watch --state`, one new row", "s", raw["cold_start_s"], ("<=", WATCH_COLD_S), "issue 16"
        ),
        fig("`tsrnn --help`", "s", raw["help_s"], ("<=", WATCH_HELP_S), "issue 16"),
    ]
    for size, mib in raw["peak_mib"].items():
        target = ("<=", float(WATCH_PEAK_MIB)) if size == big else None
        samples = mib if isinstance(mib, list) else [mib]
        out.append(fig(f"peak RSS, backfill of {int(size):,} rows", "MiB", samples, target, "issue 16"))
    return out


def plots(raw: dict[str, Any]) -> list[Figure]:
    target = ("<", 10.0) if raw["rows"] >= 1_000_000 else None
    return [fig(f"`tsrnn report` of a {raw['rows']:,}-row scores file to PNG", "s", raw["seconds"], target, "issue 14")]


def nab(raw: dict[str, Any]) -> list[Figure]:
    docs = raw["defaults"]
    score = lambda profile: [d["nab"][profile]["score"] for d in docs]
    out = [
        fig("NAB standard score (per seed), the defaults", "", score("standard")),
        fig("NAB standard score, lowest seed", "", [min(score("standard"))], (">=", 67.0), "issue 11"),
        fig("NAB reward low FP", "", score("reward_low_FP_rate")),
        fig("NAB reward low FN", "", score("reward_low_FN_rate")),
        fig("labelled windows found", "", [d["nab"]["standard"]["windows_found"] for d in docs]),
        fig("event F1 at the detector's threshold", "", [d["events"]["f1"] for d in docs]),
        fig("training, all files", "s", [d["seconds"]["train"] for d in docs]),
        fig("watch, all files", "s", [d["seconds"]["watch"] for d in docs]),
    ]
    return out


DARTS = ("Darts RNNModel", "Darts BlockRNNModel")


def _per_seed(results: list[dict[str, Any]], part: str, a: str, b: str, key: str = "MAE") -> list[float]:
    """a's error / b's error within each seed that has both."""
    return [r[part][a][key] / r[part][b][key] for r in results if a in r[part] and b in r[part]]


def forecast(raw: dict[str, Any], darts_reason: str | None) -> list[Figure]:
    out: list[Figure] = []
    for part, title in (("etth1", "ETTh1 OT"), ("etth1-ms", "ETTh1, 7 columns in, OT out")):
        results = raw.get(part)
        if not results:
            continue
        for label in results[0]["one step"]:
            out.append(fig(f"{title}, one step: {label}, MAE", "", [r["one step"][label]["MAE"] for r in results]))
        out.append(
            fig(
                f"{title}, one step: tsrnn defaults / persistence, MAE",
                "x",
                _per_seed(results, "one step", "tsrnn defaults", "persistence"),
                ("<", 1.0),
                "issue 12",
            )
        )
        for label in results[0]["24 steps"]:
            out.append(fig(f"{title}, 24 steps: {label}, MAE", "", [r["24 steps"][label]["MAE"] for r in results]))
        out.append(
            fig(
                f"{title}, 24 steps: tsrnn --horizon 24 / seasonal naive, MAE",
                "x",
                _per_seed(results, "24 steps", "tsrnn --horizon 24", "seasonal naive"),
                ("<=", 1.0),
                "issue 12",
            )
        )
        for peer in DARTS:
            if darts_reason or peer not in results[0]["one step"]:
                out.append(skipped(f"{title}: {peer}", darts_reason or "did not run (see benchmarks/forecast.py)"))
                continue
            out.append(
                fig(
                    f"{title}, one step: tsrnn defaults / {peer}, MAE",
                    "x",
                    _per_seed(results, "one step", "tsrnn defaults", peer),
                    ("<=", 1.0) if peer == DARTS[0] else None,
                    "issue 12",
                )
            )
            out.append(
                fig(
                    f"{title}, 24 steps: tsrnn --horizon 24 / {peer}, MAE",
                    "x",
                    _per_seed(results, "24 steps", "tsrnn --horizon 24", peer),
                    ("<=", 1.0),
                    "issue 12",
                )
            )
            out.append(
                fig(
                    f"{title}: {peer} training time / tsrnn defaults'",
                    "x",
                    [r["seconds"][peer] / r["seconds"]["tsrnn defaults"] for r in results if peer in r["seconds"]],
                    (">=", 10.0) if peer == DARTS[0] else None,
                    "issue 12",
                )
            )
    for r in raw.get("nab", [])[:1]:
        for peer in DARTS:
            if darts_reason or peer not in r["median_ratio"]:
                why = darts_reason or "did not run (see benchmarks/forecast.py)"
                out.append(skipped(f"nab_dev, one step: {peer}", why))
        for label in r["median_ratio"]:
            if label in DARTS and darts_reason:
                continue
            ratios = [s["median_ratio"][label] for s in raw["nab"] if label in s["median_ratio"]]
            target = ("<", 1.0) if label == "tsrnn defaults" else None
            out.append(
                fig(f"nab_dev, one step: {label} / persistence, median over files", "x", ratios, target, "issue 12")
            )
        if not darts_reason and DARTS[0] in r["median_ratio"]:
            out.append(
                fig(
                    f"nab_dev, one step: tsrnn defaults / {DARTS[0]} (median ratios, first seed)",
                    "x",
                    [r["median_ratio"]["tsrnn defaults"] / r["median_ratio"][DARTS[0]]],
                    ("<", 1.0),
                    "issue 12",
                )
            )
    return out


def providers(raw: dict[str, Any]) -> list[Figure]:
    """`tsrnn bench` per provider and precision; the runs are fresh processes."""
    out: list[Figure] = []
    keys = sorted({(m["provider"], m["precision"]) for r in raw["runs"] for m in r["measurements"]})
    for provider, precision in keys:
        ms = [
            m
            for r in raw["runs"]
            for m in r["measurements"]
            if (m["provider"], m["precision"]) == (provider, precision)
        ]
        name = f"{provider} {precision}"
        out += [
            fig(f"{name}: one new row, p50 per call", "ms", [m["step_p50_ms"] for m in ms]),
            fig(f"{name}: one new row, p99 per call", "ms", [m["step_p99_ms"] for m in ms]),
            fig(f"{name}: backlog of {raw['rows']:,} rows", "rows/s", [m["backlog_rows_per_s"] for m in ms]),
            fig(f"{name}: {raw['series']:,} series in one call, p50", "ms", [m["series_p50_ms"] for m in ms]),
            fig(f"{name}: parity against cpu fp32 (scaled units)", "", [m["parity"] for m in ms]),
        ]
    reasons = {(s["provider"], s["precision"]): s["reason"] for r in raw["runs"] for s in r["skipped"]}
    out += [skipped(f"{p} {q or ''}".strip(), reason) for (p, q), reason in sorted(reasons.items(), key=str)]
    out += [skipped("export refused a copy", line) for line in raw["export_refused"]]
    return out


def quantize(raw: dict[str, Any]) -> list[Figure]:
    """Each int8 method against fp32, per model: parity (the export's check and new rows) and speed,
    the speed ratios taken within each timing round."""
    out: list[Figure] = []
    limit = raw["limit"]
    for name, model in raw["models"].items():
        methods = model["methods"]
        base = methods["fp32"]["rounds"]
        out.append(note(f"model {name}", f"{model['model']}; calibrated on {model['calibration']}"))
        for method, m in methods.items():
            label = f"{name}, {method}"
            target = ("<=", limit) if method != "fp32" else None
            # the default copy (static int8) must stay within the limit export holds it to: a gate
            out.append(
                fig(
                    f"{label}: parity, the export's check (scaled units)",
                    "",
                    [m["parity"]],
                    target,
                    "export limit",
                    gate=method == "int8",
                )
            )
            out.append(fig(f"{label}: parity on new rows (scaled units)", "", [m["parity_real"]]))
            for feed in ("1 row", "1000 rows"):
                out.append(fig(f"{label}: one call of {feed}", "µs", [r[feed] for r in m["rounds"]]))
                if method != "fp32":
                    ratio = [r[feed] / b[feed] for r, b in zip(m["rounds"], base)]
                    out.append(fig(f"{label}: one call of {feed} / fp32's", "x", ratio))
    return out


def skab(raw: dict[str, Any]) -> list[Figure]:
    totals = [d["total"] for d in raw["defaults"]]
    return [
        fig("SKAB valve1 pointwise F1 (per seed), the defaults", "", [t["f1"] for t in totals]),
        fig("SKAB pointwise F1, lowest seed", "", [min(t["f1"] for t in totals)], (">=", 0.78), "issue 18"),
        fig("false alarm rate (FAR)", "%", [t["far"] for t in totals]),
        fig("missing alarm rate (MAR)", "%", [t["mar"] for t in totals]),
        fig("training, all files", "s", [d["seconds"]["train"] for d in raw["defaults"]]),
        fig("watch, all files", "s", [d["seconds"]["watch"] for d in raw["defaults"]]),
    ]
