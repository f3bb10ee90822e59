"""Typed generator configs: presets, split plans and ``--set key=value`` overrides.

A generator's config is a frozen dataclass whose fields carry type hints
(``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``tuple[...]``).
Every field can be overridden from the command line; values are parsed by
the field's type, and the config's own ``validate()`` checks ranges. A
:class:`Preset` pairs a config with the paper's split plan (sizes and
per-split overrides such as "exactly 7 objects in test-7").
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from .errors import ConfigError


@dataclass(frozen=True)
class Split:
    """One split of a preset: its default size and config overrides.

    ``track="split"`` says the split's samples are the consecutive frames of
    one track (an enumerated sweep such as ``multi_texture/cis-grid``):
    ``evaluate`` then scores identity switches over the whole split as one
    sequence. It is recorded in the dataset's identity (only when set).
    """

    num_samples: int
    overrides: Mapping[str, Any] = field(default_factory=dict)
    track: Literal["", "split"] = ""

    def __post_init__(self):
        if self.track not in ("", "split"):
            raise ValueError(f"Split.track must be '' or 'split', got {self.track!r}")


@dataclass(frozen=True)
class Preset:
    """A named set of defaults: the config and the split plan."""

    config: Any
    splits: Mapping[str, Split]
    doc: str = ""


def config_fields(cls) -> dict[str, Any]:
    """Field name -> resolved type hint of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def parse_value(key: str, text: str, hint) -> Any:
    """Parse a command-line string into a value of type ``hint``."""
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
        if hint is str:
            return text
        if origin is Literal:
            choices = typing.get_args(hint)
            for c in choices:
                if str(c) == text:
                    return c
            raise ConfigError(f"{key}={text!r}: expected one of {', '.join(map(str, choices))}")
        if origin is tuple:
            items = _parse_list(text)
            args = typing.get_args(hint)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(parse_value(key, str(v), args[0]) for v in items)
            if len(items) != len(args):
                raise ConfigError(f"{key}={text!r}: expected {len(args)} comma-separated values")
            return tuple(parse_value(key, str(v), a) for v, a in zip(items, args))
    except ConfigError:
        raise
    except (ValueError, TypeError):
        raise ConfigError(f"{key}={text!r}: expected a value of type {_type_name(hint)}") from None
    raise ConfigError(f"{key}: cannot be set from the command line (type {_type_name(hint)})")


def _parse_list(text: str) -> list:
    text = text.strip()
    if text.startswith("["):
        value = json.loads(text)
        if not isinstance(value, list):
            raise ValueError
        return value
    return [t.strip() for t in text.split(",") if t.strip()]


def _type_name(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + "|".join(map(str, typing.get_args(hint)))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"comma-separated list of {_type_name(args[0])}"
        return "(" + ", ".join(_type_name(a) for a in args) + ")"
    return getattr(hint, "__name__", str(hint))


def check_value(key: str, value: Any, hint) -> Any:
    """Type-check a Python value (from JSON or a preset) against ``hint``."""
    if isinstance(value, str):
        return parse_value(key, value, hint)
    origin = typing.get_origin(hint)
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if origin is Literal and value in typing.get_args(hint):
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        return parse_value(key, json.dumps(list(value)), hint)
    raise ConfigError(f"{key}={value!r}: expected a value of type {_type_name(hint)}")


def apply_overrides(config, overrides: Mapping[str, Any]):
    """Return ``config`` with ``overrides`` applied (strings are parsed) and validated."""
    if not overrides:
        return config
    hints = config_fields(type(config))
    values = {}
    for key, value in overrides.items():
        if key not in hints:
            raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(sorted(hints))}")
        values[key] = check_value(key, value, hints[key])
    return dataclasses.replace(config, **values)


def config_dict(config) -> dict:
    return {k: _jsonable(v) for k, v in dataclasses.asdict(config).items()}


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def validate(config) -> None:
    """Run the config's ``validate()``; turn ValueError into a ConfigError."""
    check = getattr(config, "validate", None)
    if check is None:
        return
    try:
        check()
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
