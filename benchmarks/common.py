"""What the benchmarks share: measuring an alternative to the defaults (--set, --override)."""

from __future__ import annotations

from typing import Any

from tsrnn.config import SETTINGS, ModelConfig, ScoreConfig, TrainConfig, setting_from_text

WATCH_KEYS = {"channels": str, "threshold": float, "cooldown": int, "memory": int, "quantile": float, "range_floor": float,
              "range_tolerance": float, "method": str, "smooth": int, "release": float, "hold": int, "accept_after": int, "freeze": str}


def parse_pairs(pairs: list[str], watch_side: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if watch_side:
            kind = WATCH_KEYS.get(key)
            if kind is None:
                raise SystemExit(f"--override {key}: use one of {', '.join(WATCH_KEYS)}")
            out[key] = (tuple(text.split(",")) if key == "channels" else text.lower() in ("1", "true", "yes") if kind is bool else kind(text))
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
