"""Rich renderings of what train, export, watch and info produced.

Text from files (names, ids, notes) is escaped as Rich markup here; the CLI's console
(`tsrnn_cli.options.TextConsole`) also shows its control characters as escapes."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

SPARK = "▁▂▃▄▅▆▇█"
_LOSS_NAMES = {"mse": "mean squared error", "mae": "mean absolute error", "huber": "Huber loss"}


def sparkline(values: np.ndarray, width: int = 60) -> str:
    """The maximum of each of `width` buckets of values in [0, 1], as block characters."""
    if values.size == 0:
        return ""
    buckets = np.array_split(values, min(width, values.size))
    return "".join(SPARK[min(len(SPARK) - 1, int(float(b.max()) * len(SPARK)))] for b in buckets)


def key_values(console: Console, title: str, rows: dict[str, Any]) -> None:
    """A two-column table of labels and values."""
    table = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, _fmt(value))
    console.print(table)


def render_train(console: Console, summary: dict[str, Any]) -> None:
    series = f" in {summary['series']:,} series" if summary["series"] > 1 else ""
    key_values(
        console,
        f"trained {escape(summary['name'])}",
        {
            "model": f"{summary['model']} ({summary['cell']}, {summary['parameters']:,} parameters)"
            + (f", forecasts {summary['target']!r} from {summary['columns']} columns" if summary.get("target") else ""),
            "rows": f"{summary['rows_train']:,} train, {summary['rows_val']:,} validation{series}"
            + (
                f", {summary['segments']:,} segments (gaps longer than --fill-limit split them)"
                if summary["segments"] > summary["series"]
                else ""
            ),
            "interval": f"{summary['interval_seconds']:g} s" if summary["interval_seconds"] else "unknown",
            "epochs": f"{summary['epochs_run']} run, best {summary['best_epoch']}",
            **({"inputs": _choice(summary)} if summary.get("inputs") and _stateful(summary) else {}),
            "best validation loss": f"{summary['best_val_loss']:.4f} "
            f"({_LOSS_NAMES.get(summary.get('loss', 'mse'), summary.get('loss'))}, scaled units)",
            "time": f"{summary['train_seconds']:.1f} s"
            + (
                f" on {summary['threads']} torch thread{'s' if summary['threads'] > 1 else ''}"
                if summary.get("threads")
                else ""
            ),
            "rows dropped": _dropped(summary["dropped_rows"]),
            "filled": _dropped(summary["filled"]),
            "run directory": summary["run_dir"],
            **({"note": "; ".join(summary["notes"])} if summary["notes"] else {}),
        },
    )


def _stateful(summary: dict[str, Any]) -> bool:
    """A run summary of a stateful forecaster (the one kind that reads changes or levels by choice)."""
    from tsrnn.kinds import kind_of

    return kind_of(summary.get("model", "forecaster"), summary.get("mode", "stateful")).stateful


def _choice(summary: dict[str, Any]) -> str:
    """The stateful forecaster's inputs, and how --inputs auto chose them."""
    choice = summary.get("choices", {}).get("inputs")
    if not choice:
        return summary["inputs"]
    losses = ", ".join(f"{k} {v:.4f}" for k, v in choice["validation_loss"].items())
    return f"{summary['inputs']} (chosen by --inputs auto: {choice['by']}: {losses})"


def render_export(console: Console, doc: dict[str, Any]) -> None:
    parity = ", ".join(f"{shape}: {diff:.1e}" for shape, diff in doc["parity"].items())
    rows = {
        "file": f"{doc['path']} ({doc['bytes'] / 1024:.1f} KiB)",
        "parity with PyTorch": f"max |diff| {parity} (scaled units, batch x time); {doc['parity_raw']:.1e} in data "
        f"units",
        "checks": "onnx.checker passed; batch and time axes symbolic",
    }
    if doc["status"] != "complete":
        which = doc.get("checkpoint") or "its best checkpoint"
        rows["note"] = f"the run's training is {doc['status']}: this is {which}"
    key_values(console, f"exported {escape(doc['run'])}", rows)
    if len(doc["files"]) > 1 or doc["files"][0]["microseconds"]:
        table = Table(title="files", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("precision", "file", "KiB", "max |diff| vs PyTorch", "µs per call: 1 row", "1000 rows"):
            table.add_column(col, justify="left" if col in ("precision", "file") else "right")
        for f in doc["files"]:
            us = f["microseconds"]
            table.add_row(
                f["precision"],
                escape(f["path"]),
                f"{f['bytes'] / 1024:.1f}",
                f"{max(f['parity'].values()):.1e}",
                f"{us['1 row']:.0f}" if us else "-",
                f"{us['1000 rows']:.0f}" if us else "-",
            )
        console.print(table)
        for f in doc["files"]:
            if f.get("calibration"):
                console.print(f"{f['precision']} calibrated on {escape(f['calibration'])}")


def render_watch(console: Console, summary: dict[str, Any], trace: np.ndarray) -> None:
    """trace: scores in the order they were scored (series after series), as bucket maxima."""
    status = (
        "[bold red]ANOMALY[/]"
        if summary["alerts"]
        else "[bold yellow]ongoing[/]"
        if summary["events"]
        else "[bold green]ok[/]"
    )
    key_values(console, f"tsrnn watch: {escape(summary['source'])}  {status}", _watch_fields(summary, trace))
    if summary["events"]:
        console.print(_events_table(summary))


def _watch_fields(summary: dict[str, Any], trace: np.ndarray) -> dict[str, str]:
    provider, asked = summary["provider"], summary["requested_provider"]
    rows = f"{summary['rows_scored']:,} scored" + (f" in {summary['series']:,} series" if summary["series"] > 1 else "")
    if summary["warmup_rows"]:
        rows += f" ({summary['warmup_rows']:,} warm-up rows with score 0: no channel had a value yet)"
    top = summary["max_score"]
    scores = f"{sparkline(trace)}  max {top:.3f}, threshold {summary['threshold']:.3f}" if top is not None else "-"
    anomalous = (
        f"{summary['anomalous_rows']:,}; {len(summary['events'])} event(s), {summary['alerts']} new"
        f" (flagged rows within {summary['cooldown']} rows join an event);"
        f" channels {', '.join(summary.get('channels', []))}"
    )
    return {
        "model": f"{summary['model']} ({summary['kind']}, run {summary['run']})",
        "provider": provider + ("" if provider.lower().startswith(asked) else f" (asked for {asked})"),
        "rows": rows,
        "time range": f"{summary['first_time']} → {summary['last_time']}" if summary["first_time"] else "no new rows",
        "rows dropped": _dropped(summary["rows_dropped"]),
        **(
            {"rows of other shards": f"{summary['rows_other_shards']:,} (not scored: this is shard {summary['shard']})"}
            if summary.get("shard")
            else {}
        ),
        **({"filled": _dropped(summary["filled"])} if summary["filled"] else {}),
        "scores": scores,
        "anomalous rows": anomalous,
        **({"state": summary["state"]} if summary["state"] else {}),
        **({"note": "; ".join(summary["notes"])} if summary["notes"] else {}),
    }


def _events_table(summary: dict[str, Any]) -> Table:
    table = Table(
        title="events (why: the channel that fired at the peak, and by how much)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    many = summary["series"] > 1
    heads = ("start", "end", "rows", "peak", "around", "why", "value (exp.)", "status")
    for col in (("series",) if many else ()) + heads:
        table.add_column(
            col,
            justify="right" if col in ("rows", "peak") else "left",
            no_wrap=col in ("start", "end", "why", "around"),
            overflow="fold",  # a long series id or value is folded onto more lines, never cut off
        )
    columns = summary["columns"]
    for e in summary["events"]:
        i = columns.index(e["column"]) if e["column"] in columns else 0
        where = f"{escape(e['column'])} " if len(columns) > 1 else ""
        off = f"{where}{e['observed'][i]:.4g} ({e['expected'][i]:.4g})"
        status = ("began earlier, " if e["continued"] else "new, ") + ("ongoing" if e["ongoing"] else "ended")
        around = sparkline(np.asarray(e.get("around") or [], np.float64), width=11) or "-"
        cells = [
            escape(e["start"]),
            escape(e["end"]),
            str(e["rows"]),
            f"{e['peak_score']:.3f}",
            around,
            _why(e),
            off,
            status,
        ]
        table.add_row(*([escape(e["series"])] if many else []), *cells)
    return table


SCOREBOARD = (
    ("ARTime", 74.9),
    ("Numenta HTM", 70.5),
    ("CAD OSE", 69.9),
    ("KNN CAD", 58.0),
    ("Windowed Gaussian", 39.6),
    ("Random", 11.0),
)
SCOREBOARD_CAVEAT = (
    "published NAB standard scores, for context only: they are for NAB's whole 58-file corpus with one threshold swept "
    "over it; a score over a few files, swept on their own labels, is not comparable"
)


def render_evaluation(console: Console, doc: dict[str, Any]) -> None:
    ev, probation = doc["events"], doc.get("windows_in_probation", 0)
    skipped = {}
    if probation:
        skipped["not scored"] = (
            f"{probation} labelled window(s) start in a probationary period (the first 15 % of a series' rows,"
            " at most 750), which NAB does not score"
        )
    forecast = {"forecast": _forecast(doc["forecast"])} if doc["forecast"] else {}
    if doc["windows"] == 0:
        note = (
            "NAB does not score the first 15% of each file's rows (at most 750); score a file whose windows come later"
        )
        alerts = f"{ev['alerts']} alert(s), all false positives"
        fields = {**skipped, "note": note, "events (the detector's alerts)": alerts, **forecast}
        key_values(
            console, f"evaluated {doc['files']} series: no labelled window after the probationary period", fields
        )
        return
    title = f"evaluated {doc['files']} series, {doc['windows']} labelled window(s)"
    key_values(
        console, title, {**_nab_fields(doc), **skipped, **forecast, **_unmatched(doc), "published": _published()}
    )
    if len(doc["per_file"]) > 1:
        console.print(_per_file_table(doc))


def _nab_fields(doc: dict[str, Any]) -> dict[str, str]:
    nab, ev = doc["nab"], doc["events"]
    std, low_fp, low_fn = nab["standard"], nab["reward_low_FP_rate"], nab["reward_low_FN_rate"]
    pa = doc["point_adjusted_f1"]
    return {
        "NAB standard": f"{std['score']:.1f} (threshold {std['threshold']:.4g}: {std['windows_found']} windows found,"
        f" {std['false_positive_rows']} false-positive rows)",
        "NAB reward low FP": f"{low_fp['score']:.1f} (threshold {low_fp['threshold']:.4g})",
        "NAB reward low FN": f"{low_fn['score']:.1f} (threshold {low_fn['threshold']:.4g})",
        "events (the detector's alerts)": f"precision {ev['precision']:.3f}, recall {ev['recall']:.3f},"
        f" F1 {ev['f1']:.3f} ({ev['alerts']} alerts, {ev['windows_found']} of {doc['windows']} windows found)",
        "point-adjusted F1": "-" if pa is None else f"{pa:.3f} (mean over series with windows)",
    }


def _unmatched(doc: dict[str, Any]) -> dict[str, str]:
    if not doc["unmatched"]:
        return {}
    return {"unmatched": f"{len(doc['unmatched'])} series with no labels: {', '.join(doc['unmatched'][:5])}"}


def _published() -> str:
    return f"{', '.join(f'{n} {v:.1f}' for n, v in SCOREBOARD)} ({SCOREBOARD_CAVEAT})"


def _per_file_table(doc: dict[str, Any]) -> Table:
    table = Table(title="per series", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("series", "rows", "windows", "found", "alerts", "false alerts", "PA-F1", "MASE"):
        table.add_column(col, justify="left" if col == "series" else "right")
    for f in doc["per_file"]:
        mase = f.get("forecast", {}).get("mase")
        windows = str(f["windows"]) + (
            f" (+{f['windows_in_probation']} in probation)" if f.get("windows_in_probation") else ""
        )
        pa = f"{f['point_adjusted_f1']:.2f}" if f["windows"] else "-"
        cells = [f"{f['rows']:,}", windows, str(f["windows_found"]), str(f["alerts"]), str(f["false_alerts"]), pa]
        table.add_row(escape(f["file"]), *cells, f"{mase:.3f}" if mase is not None else "-")
    return table


def _forecast(summary: dict[str, Any]) -> str:
    if summary.get("series", 1) == 1:
        return (
            f"MAE {summary['mae']:.4g}, RMSE {summary['rmse']:.4g}, MASE {summary['mase']:.3f}"
            " (MASE below 1: better than the last value)"
        )
    return (
        f"median MASE {summary['mase']:.3f} over {summary['series']} series"
        " (each series' MAE and RMSE, in its own units, in --json)"
    )


def render_info(console: Console, doc: dict[str, Any]) -> None:
    meta = dict(doc["metadata"])
    calibration = meta.get("calibration")
    if isinstance(calibration, dict):  # histograms and stored rows say little to a reader; --json has them
        short = dict(calibration)
        for key, what in (
            ("error_hist", "validation errors"),
            ("novelty_hist", "novelty values"),
            ("ratio_hist", "validation ratios"),
        ):
            if isinstance(short.get(key), dict):
                short[key] = f"{sum(short[key].values()):.0f} {what} in {len(short[key])} log bins"
        for key, what in (("novelty_seed", "values"), ("novelty_seed_times", "times")):
            if isinstance(short.get(key), str):
                short[key] = f"the history's last {what} ({len(short[key]) * 3 // 4:,} bytes)"
        meta["calibration"] = short
    key_values(console, f"{escape(doc['path'])} ({doc['bytes'] / 1024:.1f} KiB)", meta)
    table = Table(title="graph", title_justify="left")
    for col in ("", "name", "shape", "type"):
        table.add_column(col)
    for kind in ("inputs", "outputs"):
        for item in doc[kind]:
            table.add_row(kind[:-1], escape(item["name"]), escape(str(item["shape"])), escape(item["type"]))
    console.print(table)


def _why(event: dict[str, Any]) -> str:
    """The channel that set the peak's score, and by how much."""
    channel, ratio = event.get("channel", "forecast"), event.get("ratio", 0.0)
    return f"range +{ratio:.0%}" if channel == "range" else f"{channel} {ratio:.1f}x"


def _dropped(dropped: dict[str, int]) -> str:
    return ", ".join(f"{n:,} ({why})" for why, n in dropped.items()) if dropped else "none"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        import json

        return escape(json.dumps(value))
    return escape(str(value))
