"""What the host offers a plugin (its log), the plugin's config, and its errors."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from enum import IntEnum
from typing import Any, Optional, Type, TypeVar, Union

from . import _wire

T = TypeVar("T")


class PluginError(Exception):
    """Raise it from a filter's constructor or `process` to refuse with exactly this
    message: at start (the config is bad) or for this batch (logcatch retries it, then
    dead-letters the events that keep failing). Any other exception does the same, with
    its type and where it was raised added to the message."""


class Level(IntEnum):
    """Severity of a message a plugin writes to logcatch's log with `log`."""

    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


def log(level: Level, message: str) -> None:
    """Writes `message` to logcatch's log at `level`, tagged with the plugin's name.

    For rare events (a note at start, a surprising input), not per event: each call
    crosses into the host. Outside a component (unit tests) it prints to stderr."""
    _wire.host_log(int(level), message)


def config(text: Optional[str], schema: Optional[Type[T]] = None) -> Any:
    """Parses the plugin's config (the pipeline's `config:` block, which logcatch passes to
    the constructor as JSON). Empty or `null` reads as `{}`.

    With a dataclass `schema`, returns an instance of it: fields with defaults may be left
    out, unknown keys are refused, and values are checked against the annotations (`bool`,
    `int`, `float`, `str`, `list[T]`, `dict[str, T]`, `Optional[T]`, `Any`, nested
    dataclasses). Without one, returns the JSON object as a dict. Errors are `PluginError`s
    that read `invalid config: ...`, ready to refuse the plugin with.
    """
    stripped = (text or "").strip()
    if not stripped or stripped == "null":
        stripped = "{}"
    try:
        value = json.loads(stripped, object_pairs_hook=_no_duplicates)
    except ValueError as e:
        raise PluginError(f"invalid config: {e}") from None
    if schema is None:
        if not isinstance(value, dict):
            raise PluginError(f"invalid config: expected a JSON object, got {_show(value)}")
        return value
    return _convert(schema, value, "")


def _no_duplicates(pairs: list) -> dict:
    """A JSON object, refusing a key given twice (the Rust SDK refuses it too)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate field `{key}`")
        out[key] = value
    return out


def _convert(hint: Any, value: Any, path: str) -> Any:
    where = f"{path}: " if path else ""
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass(hint, value, path)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union or _is_union_type(origin):
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _convert(rest[0], value, path)
        for a in rest:
            try:
                return _convert(a, value, path)
            except PluginError:
                pass
        raise PluginError(f"invalid config: {where}unexpected {_show(value)}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise PluginError(f"invalid config: {where}expected a boolean, got {_show(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise PluginError(f"invalid config: {where}expected an integer, got {_show(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise PluginError(f"invalid config: {where}expected a number, got {_show(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise PluginError(f"invalid config: {where}expected a string, got {_show(value)}")
    if hint is list or origin is list:
        if not isinstance(value, list):
            raise PluginError(f"invalid config: {where}expected a list, got {_show(value)}")
        item = args[0] if args else Any
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise PluginError(f"invalid config: {where}expected an object, got {_show(value)}")
        item = args[1] if len(args) == 2 else Any
        return {k: _convert(item, v, f"{path}.{k}" if path else k) for k, v in value.items()}
    raise TypeError(f"logcatch_plugin.config: unsupported field type {hint!r} at {path or 'top'}")


def _dataclass(cls: type, value: Any, path: str) -> Any:
    where = f"{path}: " if path else ""
    if not isinstance(value, dict):
        raise PluginError(f"invalid config: {where}expected an object, got {_show(value)}")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    for key in value:
        if key not in names:
            expected = ", ".join(f"`{n}`" for n in names)
            raise PluginError(
                f"invalid config: {where}unknown field `{key}`, expected one of {expected}"
            )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields:
        sub = f"{path}.{f.name}" if path else f.name
        if f.name in value:
            kwargs[f.name] = _convert(hints.get(f.name, Any), value[f.name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise PluginError(f"invalid config: {where}missing field `{f.name}`")
    return cls(**kwargs)


def _is_union_type(origin: Any) -> bool:
    # `int | None` (Python 3.10 and later) is a types.UnionType, not a typing.Union.
    union_type = getattr(types, "UnionType", None)
    return union_type is not None and origin is union_type


def _show(value: Any) -> str:
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "object",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    text = json.dumps(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}"
