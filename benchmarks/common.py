"""What the benchmarks share: measuring an alternative to the defaults (--set, --override)."""

from __future__ import annotations

import argparse
from typing import Any

from tsrnn.config import ModelConfig, ScoreConfig, TrainConfig
from tsrnn.settings import SETTINGS, setting_from_text

WATCH_KEYS = {
    "channels": str,
    "threshold": float,
    "cooldown": int,
    "memory": int,
    "quantile": float,
    "range_floor": float,
    "range_tolerance": float,
    "method": str,
    "smooth": int,
    "release": float,
    "hold": int,
    "accept_after": int,
    "freeze": str,
}


def parse_pairs(pairs: list[str], watch_side: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if watch_side:
            kind = WATCH_KEYS.get(key)
            if kind is None:
                raise SystemExit(f"--override {key}: use one of {', '.join(WATCH_KEYS)}")
            out[key] = (
                tuple(text.split(","))
                if key == "channels"
                else text.lower() in ("1", "true", "yes")
                if kind is bool
                else kind(text)
            )
        else:
            if key not in SETTINGS:
                raise SystemExit(f"--set {key}: not a tsrnn train setting")
            out[key] = setting_from_text(key, text, f"--set {key}")
    return out


def configs(settings: dict[str, Any], seed: int) -> tuple[ModelConfig, ScoreConfig, TrainConfig]:
    """The defaults, with the given training settings changed."""
    parts: dict[type, dict[str, Any]] = {ModelConfig: {}, ScoreConfig: {}, TrainConfig: {"seed": seed}}
    for key, value in settings.items():
        cls, name = SETTINGS[key]
        parts[cls][name] = value
    return ModelConfig(**parts[ModelConfig]), ScoreConfig(**parts[ScoreConfig]), TrainConfig(**parts[TrainConfig])


Row = tuple[str, dict[str, Any], dict[str, Any]]  # (name, training settings, watch overrides)


def parser_for(doc: str, data: str) -> argparse.ArgumentParser:
    """The options every detector benchmark takes: its data, seeds, a half of its files, and the
    alternatives to measure (the defaults run without any)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", default=data)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--files",
        choices=("all", "even", "odd"),
        default="all",
        help="all files, or every other one (to choose on one half and check on the other)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a training setting to change (measuring an alternative)",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a watch setting to change (measuring an alternative): {', '.join(WATCH_KEYS)}",
    )
    parser.add_argument("--ablation", action="store_true", help="also run the ablation rows (README)")
    parser.add_argument("--cache", help="keep the trained models here and reuse them")
    parser.add_argument("--json", action="store_true", help="print every result as JSON")
    return parser


def half(files: list[Any], which: str) -> list[Any]:
    return files if which == "all" else files[0 if which == "even" else 1 :: 2]


def rows_to_run(args: argparse.Namespace, ablation: list[tuple[str, dict[str, str], dict[str, str]]]) -> list[Row]:
    """The defaults (or this run's changes), then with --ablation each ablation row on top of them."""
    settings, overrides = parse_pairs(args.set, False), parse_pairs(args.override, True)
    rows: list[Row] = [("defaults" if not (settings or overrides) else "this run", settings, overrides)]
    if args.ablation:
        rows += [
            (
                name,
                {**settings, **parse_pairs([f"{k}={v}" for k, v in s.items()], False)},
                {**overrides, **parse_pairs([f"{k}={v}" for k, v in o.items()], True)},
            )
            for name, s, o in ablation
        ]
    return rows
