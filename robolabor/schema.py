"""Typed, validated configuration dataclasses.

Every config in robolabor is a frozen dataclass whose fields carry their allowed
range in ``metadata``. ``from_dict`` builds one from plain YAML data and rejects
an unknown key, a wrong type or a value out of range with a message that names
the dotted path of the offending key and the reason, so a typo in a config file
is never silently ignored (the prototype's configs had a dozen ignored keys).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from robolabor.errors import UserError


class ConfigError(UserError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


def spec(
    default: Any = dataclasses.MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    choices: tuple | None = None,
    doc: str = "",
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with a documented range: ``lo <= x <= hi`` (open ends optional)."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "choices": choices,
            "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{path}: must be one of {list(typing.get_args(tp))}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__} {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
            pairs = zip(value, args, strict=True)
            return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(pairs))
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping for {tp.__name__}, "
                              f"got {type(value).__name__} {value!r}")
        return from_dict(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {type(value).__name__} {value!r}")
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
            return int(value)  # 1.0e6 steps: YAML 1.2 reads it as a float
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {type(value).__name__} {value!r}"
                              + (" (a number in quotes is text: drop the quotes)"
                                 if isinstance(value, str) and _looks_numeric(value) else ""))
        value = float(value)
        if math.isnan(value):
            raise ConfigError(f"{path}: NaN is not a valid value")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected text, got {type(value).__name__} {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{path}: expected {tp.__name__}, got {type(value).__name__}")
    return value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_range(value: Any, meta: Mapping, path: str) -> None:
    if isinstance(value, list | tuple):  # a range on a list field applies to each item
        for i, v in enumerate(value):
            _check_range(v, meta, f"{path}[{i}]")
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{path}: must be one of {list(choices)}, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value < lo or (meta.get("lo_open") and value == lo)):
        op = ">" if meta.get("lo_open") else ">="
        raise ConfigError(f"{path}: must be {op} {lo}, got {value!r}")
    if hi is not None and (value > hi or (meta.get("hi_open") and value == hi)):
        op = "<" if meta.get("hi_open") else "<="
        raise ConfigError(f"{path}: must be {op} {hi}, got {value!r}")
    if isinstance(value, float) and math.isinf(value):
        raise ConfigError(f"{path}: must be finite, got {value!r}")


def validate(obj: Any, path: str = "") -> None:
    """Check every field of a dataclass instance against its type and range."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        p = f"{path}.{f.name}" if path else f.name
        value = getattr(obj, f.name)
        coerced = _coerce(value, hints[f.name], p)
        if coerced is not value and not dataclasses.is_dataclass(coerced):
            object.__setattr__(obj, f.name, coerced)
        if dataclasses.is_dataclass(coerced) and not isinstance(coerced, type):
            validate(coerced, p)
        else:
            _check_range(coerced, f.metadata, p)


def from_dict(cls: type, data: Mapping | None, path: str = "") -> Any:
    """Build the dataclass ``cls`` from ``data``; missing keys take their defaults."""
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = path or cls.__name__
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        p = f"{path}.{name}" if path else name
        kwargs[name] = _coerce(value, hints[name], p)
    for name, f in names.items():
        if name not in kwargs and f.default is dataclasses.MISSING and \
                f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path or cls.__name__}: missing required key {name!r}")
    try:
        obj = cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None
    validate(obj, path)
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-data view of a config (tuples become lists) for YAML/JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` that re-validates the result."""
    new = dataclasses.replace(obj, **changes)
    validate(new)
    return new
