"""docs/benchmarks.md from benchmarks/results.json: the machine, every target met or not, then
each part's figures (median, min, max over its runs)."""

from __future__ import annotations

from typing import Any


def number(value: float | str | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):  # "inf": never reached
        return "never" if value == "inf" else value
    a = abs(value)
    text = (
        f"{value:,.0f}"
        if a >= 1000
        else f"{value:.3g}"
        if a >= 1 or a == 0
        else f"{value:.3f}"
        if a >= 0.01
        else f"{value:.2e}"
    )
    return f"{text} {unit}".strip() if unit not in ("", "x") else f"{text}x" if unit == "x" else text


def target_text(f: dict[str, Any]) -> str:
    t = f.get("target")
    if not t:
        return ""
    verdict = {True: "met", False: "**not met**", None: "not judged" if f["median"] is not None else "n/a"}[f["met"]]
    return f"{t['op']} {number(t['value'], f['unit'])} ({t['source']}): {verdict}"


def row(f: dict[str, Any]) -> str:
    if "skipped" in f:
        return f"| {f['name']} | skipped: {f['skipped']} | | | | |"
    if "note" in f:
        return f"| {f['name']} | {f['note']} | | | | |"
    runs = f"{f['runs']}" + (f" of {f['of_runs']}" if f["of_runs"] != f["runs"] else "")
    return (
        f"| {f['name']} | {number(f['median'], f['unit'])} | {number(f['min'], f['unit'])} | "
        f"{number(f['max'], f['unit'])} | {runs} | {target_text(f)} |"
    )


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); regenerate it rather than edit it."
        + (" **A quick run: small inputs, not the product's figures.**" if doc["quick"] else ""),
        "Every figure is the median of its runs (repeats, or seeds for accuracy) with the min and max;",
        "a ratio is computed within each run, then summarised. Targets are checked on the median.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {m['cpu']}, {m['cores']} logical cores ({m['cores_usable']} usable) |",
        f"| memory | {number(m['memory_gib'])} GiB |",
        f"| system | {m['os']}, Python {m['python']} |",
        f"| libraries | {', '.join(f'{k} {v}' for k, v in m['libraries'].items())} |",
        f"| written | {m['date']} |",
        "",
        "## Targets",
        "",
        "| part | figure | median | target |",
        "|---|---|---|---|",
    ]
    for part in doc["parts"]:
        for f in part["figures"]:
            if f.get("target"):
                lines.append(f"| {part['name']} | {f['name']} | {number(f['median'], f['unit'])} | {target_text(f)} |")
    for part in doc["parts"]:
        lines += ["", f"## {part['title']}", ""]
        when = f"commit {part['commit']}, {part['date']}"
        if part["status"] != "ok":
            lines.append(f"`{part['command']}`: **{part['status']}**: {part['reason']} ({when})")
            continue
        load = f"load average {part['load_before'][0]:.2f} before, {part['load_after'][0]:.2f} after"
        then = part.get("machine", {}).get("libraries")
        if then and then != m["libraries"]:
            load += f"; libraries then: {', '.join(f'{k} {v}' for k, v in then.items())}"
        lines += [
            f"`{part['command']}`: {part['seconds']:.0f} s, {when}, {load}.",
            "",
            "| figure | median | min | max | runs | target |",
            "|---|---|---|---|---|---|",
        ]
        lines += [row(f) for f in part["figures"]]
    return "\n".join(lines) + "\n"
