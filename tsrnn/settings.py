"""Settings from three places: flags > TSRNN_* environment > a TOML file > defaults, with where each came from.

Every setting has one name, spelled the same as a flag (--fill-limit), an environment variable
(TSRNN_FILL_LIMIT) and a TOML key (fill_limit, at top level or under [data], [model], [train],
[score]); "model" is the kind.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from tsrnn.config import DataConfig, ModelConfig, ScoreConfig, TrainConfig

SETTINGS: dict[str, tuple[type, str]] = {
    **{f.name: (DataConfig, f.name) for f in fields(DataConfig)},
    **{("model" if f.name == "kind" else f.name): (ModelConfig, f.name) for f in fields(ModelConfig)},
    **{f.name: (TrainConfig, f.name) for f in fields(TrainConfig)},
}
SETTINGS.update({f.name: (ScoreConfig, f.name) for f in fields(ScoreConfig)})


@dataclass(frozen=True)
class Resolved:
    """The three configurations, and where each setting that is not a default came from."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    sources: dict[str, str]
    score: ScoreConfig = ScoreConfig()


def resolve(flags: dict[str, Any], env: dict[str, str], toml_path: str | None = None) -> Resolved:
    """flags > TSRNN_* environment > TOML file > defaults. `flags` holds only flags that were given."""
    from tsrnn.errors import TsrnnError

    layers: list[tuple[str, dict[str, Any]]] = []
    if toml_path:
        layers.append((f"file {toml_path}", {k: _typed(k, v, toml_path) for k, v in _read_toml(toml_path).items()}))
    from_env = {k[6:].lower(): v for k, v in env.items() if k.startswith("TSRNN_") and k[6:].lower() in SETTINGS}
    layers.append(("env", {k: setting_from_text(k, v, f"TSRNN_{k.upper()}") for k, v in from_env.items()}))
    layers.append(("flag", flags))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for origin, layer in layers:
        for key, value in layer.items():
            if key not in SETTINGS:
                raise TsrnnError(f"{origin}: unknown setting {key!r}; known: {', '.join(sorted(SETTINGS))}")
            values[key] = value
            sources[key] = f"env TSRNN_{key.upper()}" if origin == "env" else origin
    built: dict[type, Any] = {}  # config class → its instance
    for cls in (DataConfig, ModelConfig, TrainConfig, ScoreConfig):
        mine = {SETTINGS[k][1]: v for k, v in values.items() if SETTINGS[k][0] is cls}
        if cls is DataConfig and isinstance(mine.get("columns"), str):
            mine["columns"] = tuple(c.strip() for c in mine["columns"].split(",") if c.strip())
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in mine.items()}
        built[cls] = cls(**kwargs)
    return Resolved(built[DataConfig], built[ModelConfig], built[TrainConfig], sources, built[ScoreConfig])


def _read_toml(path: str) -> dict[str, Any]:
    import tomllib

    from tsrnn.errors import TsrnnError

    try:
        doc = tomllib.loads(open(path, encoding="utf-8").read())
    except FileNotFoundError:
        raise TsrnnError(f"{path}: no such config file; check --config") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TsrnnError(f"{path}: not valid TOML ({exc}); fix the file") from None
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ("data", "model", "train", "score") and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


_TYPES = {"bool": (bool, "true or false"), "int": (int, "a whole number"), "float": (float, "a number")}


def _typed(key: str, value: Any, path: str) -> Any:
    """A TOML value checked against its setting's type (an int is a float too; columns: a list or "a,b")."""
    from tsrnn.errors import TsrnnError

    if key not in SETTINGS:
        return value  # refused by resolve(), which lists the known names
    cls, name = SETTINGS[key]
    declared = str(next(f.type for f in fields(cls) if f.name == name))
    optional = "None" in declared
    if value is None and optional:
        return value
    if "tuple" in declared:
        wanted, ok = (
            "a list of names or a comma-separated string",
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)),
        )
    elif declared.split(" |")[0] in _TYPES:
        kind, wanted = _TYPES[declared.split(" |")[0]]
        is_int = isinstance(value, int) and not isinstance(value, bool)
        ok = isinstance(value, bool) if kind is bool else is_int or (kind is float and isinstance(value, float))
    else:
        wanted, ok = "a string", isinstance(value, str)
    if not ok:
        raise TsrnnError(f"{path}: {key} = {value!r} should be {wanted}; fix the config file")
    return float(value) if declared.startswith("float") else value


OPTIONAL_INTS = (
    "cooldown",
    "hold",
    "accept_after",
    "batch",
)  # settings whose default (None) means "decided from the data"


def setting_from_text(key: str, text: str, origin: str) -> Any:
    """A TSRNN_* value as the type of its setting."""
    from tsrnn.errors import TsrnnError

    cls, name = SETTINGS[key]
    default = next(f.default for f in fields(cls) if f.name == name)
    if default is None and name in OPTIONAL_INTS:
        default = 0
    try:
        if isinstance(default, bool):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise TsrnnError(f"{origin}={text!r} is not a valid {type(default).__name__}") from None
    return text
