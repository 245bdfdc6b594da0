"""A JSON document checked against a dataclass's field types, before anything is built from it.

Model metadata and watch states come from files anyone can edit: a value of the wrong type
(a string where a number belongs, null in a histogram, NaN) must be refused where it is read,
with the key that is wrong, not fail later inside numpy. `conforms` raises ValueError naming the
first bad key; callers turn it into their own error (ModelError, StateError).
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any


def conforms(cls: type, doc: Any, where: str) -> None:
    """Every key of `doc` that is a field of dataclass `cls` holds a value of the field's type.

    Keys that are not fields are left to the caller (readers ignore them); numbers must be finite.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected an object, got {_name(doc)}")
    hints = _hints(cls)
    for key, value in doc.items():
        if key in hints:
            check(hints[key], value, f"{where}.{key}")


def check(hint: Any, value: Any, where: str) -> None:
    """`value` (as JSON loads it) is of type `hint`: int, float, str, bool, Any, list/tuple/dict of them, X | None."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                check(option, value, where)
                return
            except ValueError:
                continue
        raise ValueError(f"{where}: expected {_label(hint)}, got {_name(value)}")
    if hint is type(None):
        if value is not None:
            raise ValueError(f"{where}: expected null, got {_name(value)}")
    elif hint is bool:
        _expect(isinstance(value, bool), hint, value, where)
    elif hint is int:
        _expect(isinstance(value, int) and not isinstance(value, bool), hint, value, where)
    elif hint is float:
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool), hint, value, where)
        if not math.isfinite(value):
            raise ValueError(f"{where}: expected a finite number, got {value}")
    elif hint is str:
        _expect(isinstance(value, str), hint, value, where)
    elif origin in (list, tuple):
        _expect(isinstance(value, list), hint, value, where)
        item = args[0] if args else Any
        for i, v in enumerate(value):
            check(item, v, f"{where}[{i}]")
    elif origin is dict:
        _expect(isinstance(value, dict), hint, value, where)
        for k, v in value.items():
            check(args[1] if len(args) == 2 else Any, v, f"{where}.{k}")
    elif isinstance(hint, type) and is_dataclass(hint):
        conforms(hint, value, where)


def _expect(ok: bool, hint: Any, value: Any, where: str) -> None:
    if not ok:
        raise ValueError(f"{where}: expected {_label(hint)}, got {_name(value)}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def _label(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "text", bool: "true or false", type(None): "null"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "an object"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_label(a) for a in typing.get_args(hint))
    return str(hint)


def _name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return f"text {value[:20]!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__
