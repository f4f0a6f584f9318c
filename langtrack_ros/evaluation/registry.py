"""Tracker registry: a name -> ``"module:factory"`` string, imported only when asked for.

Lazy strings keep ``langtrack eval --tracker csrt`` from importing torch, and adding a tracker is
one line here. A factory takes keyword options (``--tracker-opt key=value``) and returns an
object with the :class:`~langtrack_ros.tracking.result.Tracker` interface.
"""
from __future__ import annotations

import importlib
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
    """Build tracker ``name`` with ``options`` (unknown names raise ValueError naming the known ones)."""
    if name not in TRACKERS:
        raise ValueError(f"unknown tracker {name!r}; known: {', '.join(tracker_names())}")
    module_name, _, attr = TRACKERS[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**options)


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
