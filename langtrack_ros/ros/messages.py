"""rclpy message classes by ROS type name, for ``conversions.build``."""
from __future__ import annotations

import array
import importlib

from langtrack_ros.adapters import conversions as conv


def ros_class(typename: str):
    """``pkg/msg/T`` (or ``pkg/srv/T``) -> the rclpy class ``pkg.msg.T``."""
    package, kind, name = typename.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def rclpy_array(values, base: str):
    """rclpy takes array('B') for uint8[] without a per-element check; numpy for the rest."""
    if base in ("uint8", "byte", "char") and isinstance(values, (bytes, bytearray, memoryview)):
        return array.array("B", bytes(values))
    return conv.numpy_array(values, base)
