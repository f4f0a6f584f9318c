"""Tracker registry: a name -> ``"module:factory"`` string, imported only when asked for.

Lazy strings keep ``langtrack eval --tracker csrt`` from importing torch, and adding a tracker is
one line here. A factory takes keyword options (``--tracker-opt key=value``) and returns an
object with the :class:`~langtrack_ros.tracking.result.Tracker` interface. Anywhere a tracker
name is taken (``eval``, ``dds``, ``replay``), ``module:function`` or ``file.py:function`` names
a user's own factory instead.
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from langtrack_ros.tracking.result import Tracker

TRACKERS: dict[str, str] = {
    "oracle": "langtrack_ros.evaluation.baselines:OracleTracker",
    "csrt": "langtrack_ros.evaluation.baselines:make_csrt",
    "kcf": "langtrack_ros.evaluation.baselines:make_kcf",
    "mvlm": "langtrack_ros.builder:load_tracker",
    "vlt": "langtrack_ros.vlt.tracker:load_vlt_tracker",  # template + language; first box given (GT in eval)
    "vlt-text": "langtrack_ros.vlt.tracker:load_vlt_text_tracker",  # first box from MVLM's grounding
}


def tracker_names() -> list[str]:
    return sorted(TRACKERS)


def make_tracker(name: str, **options: Any) -> Tracker:
    """Build tracker ``name`` (a registry name or a factory spec) with ``options``; unknown names
    raise ValueError naming the known ones."""
    if ":" in name:
        return load_factory(name)(**options)
    if name not in TRACKERS:
        raise ValueError(f"unknown tracker {name!r}; known: {', '.join(tracker_names())}")
    module_name, _, attr = TRACKERS[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**options)


def load_factory(spec: str):
    """``package.module:function`` or ``path/to/file.py:function`` -> the callable."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"tracker factory {spec!r} must look like 'module:function' or 'file.py:function'")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"tracker factory file not found: {path}")
        module_spec = importlib.util.spec_from_file_location(f"_langtrack_factory_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"tracker factory {spec!r}: {target} has no attribute {attr!r}") from None


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict; values are parsed as YAML scalars (numbers, booleans, strings)."""
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"tracker option must be key=value, got {pair!r}")
        options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return options
