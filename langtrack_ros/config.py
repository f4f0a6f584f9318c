"""Typed configs loaded from YAML: dataclasses, validated, unknown keys rejected.

The YAML files in ``config/`` are the single source of truth for defaults: the dataclasses that
hold settings have no defaults of their own, so a key missing from a mapping is an error, and a
user's (partial) file is merged once over the packaged file by :func:`load_merged` before any
dataclass is built. Files meant for ROS nodes use the ``<node>: {ros__parameters: {...}}`` form;
:func:`load_section` accepts both that form and a plain mapping, so the CLI and the nodes read the
very same file.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from langtrack_ros.paths import config_file

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or mapping does not match the dataclass it should fill."""


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def ros_parameters(data: Mapping, node: str | None = None) -> dict:
    """Unwrap ``{node: {ros__parameters: {...}}}`` (or ``/**``); a plain mapping passes through."""
    for key in ([node] if node else []) + ["/**"] + list(data):
        section = data.get(key)
        if isinstance(section, Mapping) and "ros__parameters" in section:
            return dict(section["ros__parameters"])
    return dict(data)


def load_section(path: str | Path, node: str | None = None) -> dict:
    return ros_parameters(read_yaml(path), node)


def merge(base: Mapping, user: Mapping, where: str, prefix: str = "") -> dict:
    """``user`` deep-merged over ``base``; a key ``base`` does not have raises, naming it and ``where``.

    Non-empty mappings merge key by key; anything else (values, lists, the free-form empty mapping
    such as ``model.overrides: {}``) is replaced whole by the user's value.
    """
    out = dict(base)
    for key, value in user.items():
        if key not in base:
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'; allowed: {sorted(base)}")
        if isinstance(base[key], Mapping) and base[key] and isinstance(value, Mapping):
            value = merge(base[key], value, where, f"{prefix}{key}.")
        out[key] = value
    return out


def load_merged(name: str, path: str | Path | None = None, node: str | None = None) -> dict:
    """``config/<name>.yaml`` with the user's file ``path`` (if any) merged over it, once."""
    packaged = load_section(config_file(name), node)
    if path is None or Path(path).resolve() == config_file(name).resolve():
        return packaged
    return merge(packaged, load_section(path, node), str(path))


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "", *, _root: str | None = None,
              _keys: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; nested dataclasses recurse; unknown keys raise; every
    value is checked against its field's type (one line: file, key, expected type, value)."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expects a mapping of settings, got {data!r} "
                          f"({type(data).__name__})")
    data = dict(data or {})
    root = _root if _root is not None else (where or cls.__name__)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{where or cls.__name__}: missing key(s) {missing} (defaults live in config/*.yaml)")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            value = from_dict(hint, value, f"{where or cls.__name__}.{name}", _root=root, _keys=f"{_keys}{name}.")
        else:
            check_type(value, hint, f"{_keys}{name}", root)
            if hint in (float,) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif hint in (tuple, typing.Tuple) or typing.get_origin(hint) is tuple:
                value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _matches(value, hint) -> bool:
    """Does a YAML value fit a field type? int is no float's enemy (YAML writes 1 for 1.0), but a
    bool is no number and a float is no int."""
    if hint is Any or hint is object:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is not None:
        hint = origin
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # nan/inf are never a setting: they would train or track silently wrong
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if hint is dict or hint is Mapping:
        return isinstance(value, Mapping)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, (Mapping, hint))
    if isinstance(hint, type):
        return isinstance(value, hint) or (hint is Path and isinstance(value, str))
    return True


def check_type(value, hint, key: str, where: str) -> None:
    """ConfigError in one line when ``value`` does not fit the field type ``hint``."""
    if not _matches(value, hint):
        finite = " (finite)" if isinstance(value, float) and not math.isfinite(value) else ""
        raise ConfigError(f"{where}: {key} expects {_type_name(hint)}{finite}, got {value!r} "
                          f"({type(value).__name__})")


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> dotted names (``{"gate": {"tau": 1}}`` -> ``{"gate.tau": 1}``), as ROS
    parameters name nested YAML keys."""
    out = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def nest(flat: Mapping[str, Any]) -> dict:
    """Dotted names -> nested mapping (the inverse of :func:`flatten`)."""
    out: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


def diff_keys(expected: Mapping, actual: Mapping, prefix: str = "") -> list[str]:
    """Keys whose values differ between two nested mappings (used to explain config mismatches)."""
    out = []
    for key in sorted(set(expected) | set(actual)):
        a, b = expected.get(key, "<missing>"), actual.get(key, "<missing>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += diff_keys(a, b, f"{prefix}{key}.")
        elif a != b and not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b)):
            out.append(f"{prefix}{key}: {a!r} != {b!r}")
    return out
