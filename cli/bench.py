"""tsrnn bench: a model's latency, throughput and parity per execution provider and precision."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tsrnn.runtime import BACKLOG_ROWS  # from the package, not the inferencer: `tsrnn --help` loads no onnxruntime

from .options import Json, Quiet, human_console, print_json

NAME = "bench"
HELP = (
    "Measure an exported model on each execution provider (cpu, cuda, tensorrt; those this onnxruntime cannot "
    "run are listed with the reason), with its NAME.fp16.onnx, NAME.int8.onnx and NAME.int8-dynamic.onnx copies: "
    "latency of one new row, backlog throughput, many series in one call, and parity against the CPU."
)
EXAMPLE = "Example (before `tsrnn watch --provider tensorrt`): tsrnn bench exports/cpu_history.onnx --provider tensorrt"


def command(
    path: Annotated[str, typer.Argument(metavar="MODEL", help="An .onnx file written by `tsrnn export`.")],
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="auto | cpu | cuda | tensorrt, repeatable [default: every one: cpu, cuda, tensorrt; auto: those "
            "onnxruntime has]. The CPU's float32 run is always measured: parity's reference.",
            show_default=False,
        ),
    ] = None,
    rows: Annotated[int, typer.Option("--rows", help="Backlog: rows of one series.")] = 10_000,
    series: Annotated[int, typer.Option("--series", help="Series in one call, one new row each.")] = 64,
    batch: Annotated[
        int, typer.Option("--batch", help=f"Backlog: rows per call (watch backfills in {BACKLOG_ROWS:,}).")
    ] = BACKLOG_ROWS,
    repeat: Annotated[int, typer.Option("--repeat", help="Timed calls per latency, after a warm-up.")] = 200,
    threads: Annotated[int, typer.Option("--threads", help="onnxruntime intra-op threads (0: its choice).")] = 1,
    strict_provider: Annotated[
        bool, typer.Option("--strict-provider", help="Fail (exit 2) when a provider asked for cannot run.")
    ] = False,
    device: Annotated[int, typer.Option("--device", help="CUDA device id (cuda, tensorrt).")] = 0,
    trt_cache: Annotated[
        str | None,
        typer.Option("--trt-cache", help="TensorRT engine cache directory [default: ~/.cache/tsrnn/tensorrt]."),
    ] = None,
    trt_fp16: Annotated[
        bool, typer.Option("--trt-fp16", help="TensorRT: allow half-precision engines (watch's --fp16).")
    ] = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from tsrnn.runtime.bench import bench
    from tsrnn.runtime.providers import GpuOptions

    doc = bench(
        path,
        providers=provider or None,
        rows=rows,
        series=series,
        batch=batch,
        repeat=repeat,
        threads=threads,
        strict_provider=strict_provider,
        gpu=GpuOptions(device, trt_cache, trt_fp16),
    ).to_dict()
    if json_out:
        print_json(doc)
    elif not quiet:
        render(human_console(False, report=True), doc)


def render(console: Any, doc: dict[str, Any]) -> None:
    """A row per provider and precision, then a line per provider or copy that could not run."""
    from rich.markup import escape
    from rich.table import Table

    s = doc["settings"]
    console.print(
        f"{escape(doc['model'])}: {doc['kind']} model, onnxruntime {doc['onnxruntime']}, {s['threads']} thread(s)"
    )
    table = Table()
    series = f"{s['series']:,} series p50 ms"
    for column in ("provider", "precision", "1 row p50 ms", "1 row p99 ms", "backlog rows/s", series, "series/s"):
        table.add_column(column, justify="left" if column in ("provider", "precision") else "right")
    table.add_column("parity", justify="right")
    for m in doc["measurements"]:
        table.add_row(
            m["provider"] + (" (reference)" if m["baseline"] else ""),
            m["precision"],
            f"{m['step_p50_ms']:.3f}",
            f"{m['step_p99_ms']:.3f}",
            f"{m['backlog_rows_per_s']:,.0f}",
            f"{m['series_p50_ms']:.3f}",
            f"{m['series_per_s']:,.0f}",
            f"{m['parity']:.2g}",
        )
    console.print(table)
    for line in _legend(doc):
        console.print(line)
    for skip in doc["skipped"]:
        what = skip["provider"] + (f" {skip['precision']}" if skip["precision"] else "")
        console.print(f"{what}: cannot run: {escape(skip['reason'])}")


def _legend(doc: dict[str, Any]) -> list[str]:
    s = doc["settings"]
    carried = "its state carried" if doc["kind"] == "stateful" else "one window's call, the last rows carried"
    return [
        f"1 row: one new row of one series ({carried}); p50 and p99 of {s['repeat']:,} calls after {s['warmup']} "
        "warm-up calls",
        f"backlog: {s['rows']:,} rows of one series in calls of {s['batch']:,} rows (the median of {s['passes']} "
        "passes)",
        f"{s['series']:,} series: one call with one new row for each series"
        if doc["kind"] == "stateful"
        else f"{s['series']:,} series: one new row for each series (a windowed model runs one call per series)",
        f"parity: {doc['parity_units']}",
    ]
