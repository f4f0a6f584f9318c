"""ROS parameters <-> the tracker's settings, without rclpy.

The node declares exactly the parameters found in config/tracker.yaml and config/tracker_node.yaml
(nested mappings become dotted names: ``gate.tau``), so the YAML stays the one source of truth.
To build the tracker it nests its current values back into the YAML's shape and hands that
mapping to the same typed loader the files go through (no temporary file).
"""
from __future__ import annotations

from typing import Any, Mapping

from langtrack_ros.config import flatten, load_section, nest
from langtrack_ros.paths import config_file
from langtrack_ros.tracking.gate import GateConfig
from langtrack_ros.tracking.tracker import NODE, TrackerSettings, settings_from

RUNTIME_PREFIX = "gate."  # only the MVLM gate may change while tracking


def declared_defaults(names: tuple[str, ...] = ("tracker", "tracker_node"), node: str = NODE) -> dict[str, Any]:
    """Dotted parameter name -> value, from the packaged YAML files (later files win)."""
    out = {}
    for name in names:
        out.update(flatten(load_section(config_file(name), node)))
    return out


def tracker_keys() -> set[str]:
    """The dotted names that belong to config/tracker.yaml (the rest are adapter parameters)."""
    return set(flatten(load_section(config_file("tracker"), NODE)))


def tracker_settings(values: Mapping[str, Any], where: str = "ROS parameters") -> TrackerSettings:
    """The node's current (dotted) parameters as TrackerSettings; adapter-only keys are left out."""
    keys = tracker_keys()
    return settings_from(nest({k: v for k, v in values.items() if k in keys}), where)


def gate_from(values: Mapping[str, Any]) -> GateConfig:
    """GateConfig from dotted parameters (raises ConfigError naming a bad value)."""
    gate = {k[len(RUNTIME_PREFIX):]: v for k, v in values.items() if k.startswith(RUNTIME_PREFIX)}
    return GateConfig.from_params(gate, "gate parameters")


def gate_changes(current: Mapping[str, Any], changes: Mapping[str, Any]) -> GateConfig | None:
    """The new GateConfig if ``changes`` touch the gate, else None; raises on invalid values."""
    if not any(k.startswith(RUNTIME_PREFIX) for k in changes):
        return None
    return gate_from({**current, **changes})
