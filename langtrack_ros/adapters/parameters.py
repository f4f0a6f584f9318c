"""ROS parameters <-> the tracker's YAML, without rclpy.

The node declares exactly the parameters found in config/tracker.yaml and config/tracker_node.yaml
(nested mappings become dotted names: ``gate.tau``), so the YAML stays the one source of truth.
To build the tracker it writes its current values back in the same ``ros__parameters`` form and
hands that file to the core loader, which validates it like any config file.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

import yaml

from langtrack_ros.config import load_section
from langtrack_ros.paths import config_file
from langtrack_ros.tracking.gate import GateConfig
from langtrack_ros.tracking.tracker import NODE
RUNTIME_PREFIX = "gate."  # only the MVLM gate may change while tracking


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def nest(flat: Mapping[str, Any]) -> dict:
    out: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def declared_defaults(names: tuple[str, ...] = ("tracker", "tracker_node")) -> dict[str, Any]:
    """Dotted parameter name -> value, from the packaged YAML files (later files win)."""
    out = {}
    for name in names:
        out.update(flatten(load_section(config_file(name), NODE)))
    return out


def tracker_keys() -> set[str]:
    """The dotted names that belong to config/tracker.yaml (the rest are adapter parameters)."""
    return set(flatten(load_section(config_file("tracker"), NODE)))


def write_tracker_yaml(values: Mapping[str, Any], folder: str | Path | None = None) -> Path:
    """Current tracker parameters as a ``ros__parameters`` file the core loader reads."""
    keys = tracker_keys()
    data = {NODE: {"ros__parameters": nest({k: v for k, v in values.items() if k in keys})}}
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="langtrack_tracker_", dir=folder, delete=False)
    with handle:
        yaml.safe_dump(data, handle)
    return Path(handle.name)


def gate_from(values: Mapping[str, Any]) -> GateConfig:
    """GateConfig from dotted parameters (raises ConfigError naming a bad value)."""
    gate = {k[len(RUNTIME_PREFIX):]: v for k, v in values.items() if k.startswith(RUNTIME_PREFIX)}
    return GateConfig.from_params(gate, "gate parameters")


def gate_changes(current: Mapping[str, Any], changes: Mapping[str, Any]) -> GateConfig | None:
    """The new GateConfig if ``changes`` touch the gate, else None; raises on invalid values."""
    if not any(k.startswith(RUNTIME_PREFIX) for k in changes):
        return None
    return gate_from({**current, **changes})
