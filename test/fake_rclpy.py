"""A minimal stand-in for rclpy (no ROS here) that keeps the rules the real one enforces and that
broke our nodes: a logger call site may not change severity between calls, ``declare_parameter``
writes the parameter's name and type into the descriptor it is given, and a parameter override of
another type than the default is refused unless the descriptor allows dynamic typing.

``install()`` puts the fake modules in ``sys.modules`` and returns a function that removes them.
"""
from __future__ import annotations

import enum
import inspect
import sys
import types


OVERRIDES: dict = {}  # what a launch file would pass: parameter name -> value, for every node made


class RCLError(RuntimeError):
    pass


class InvalidParameterTypeException(RuntimeError):
    pass


class Logger:
    def __init__(self):
        self.severity_at: dict = {}
        self.lines: list[tuple[str, str]] = []

    def _log(self, severity: str, message: str, **_kwargs) -> None:
        caller = inspect.stack()[2]  # who called info()/warning()/...: rclpy keys on this call site
        site = (caller.filename, caller.lineno, caller.function)
        if self.severity_at.setdefault(site, severity) != severity:
            raise ValueError("Logger severity cannot be changed between calls.")
        self.lines.append((severity, message))

    def debug(self, message, **kw): self._log("debug", message, **kw)
    def info(self, message, **kw): self._log("info", message, **kw)
    def warning(self, message, **kw): self._log("warning", message, **kw)
    def error(self, message, **kw): self._log("error", message, **kw)


class Parameter:
    def __init__(self, value):
        self.value = value


class Node:
    def __init__(self, name: str, parameter_overrides: dict | None = None, **_kwargs):
        self.name = name
        self.overrides = dict(parameter_overrides or OVERRIDES)
        self.params: dict = {}
        self.descriptors: dict = {}
        self.logger = Logger()

    def declare_parameter(self, name, value=None, descriptor=None):
        descriptor = descriptor if descriptor is not None else ParameterDescriptor()
        descriptor.name, descriptor.type = name, type(value).__name__  # what rclpy does
        override = self.overrides.get(name, value)
        if not descriptor.dynamic_typing and type(override) is not type(value):
            raise InvalidParameterTypeException(f"{name}: {type(override).__name__} given, {type(value).__name__} declared")
        self.params[name], self.descriptors[name] = override, descriptor
        return Parameter(value)

    def get_parameter(self, name):
        return Parameter(self.params[name])

    def get_name(self):
        return self.name

    def get_logger(self):
        return self.logger

    def add_on_set_parameters_callback(self, callback): pass
    def create_timer(self, period, callback): return (period, callback)
    def create_publisher(self, *args): return types.SimpleNamespace(published=[], publish=lambda m: None)
    def destroy_node(self): pass


class ParameterDescriptor:
    def __init__(self, description: str = "", dynamic_typing: bool = False):
        self.description, self.dynamic_typing = description, dynamic_typing
        self.name, self.type = "", ""


class TransitionCallbackReturn(enum.Enum):
    SUCCESS = 1
    FAILURE = 2


def install() -> callable:
    """Put the fake rclpy / rcl_interfaces modules in place; returns the undo function."""
    names = ["rclpy", "rclpy.executors", "rclpy.lifecycle", "rclpy.qos", "rclpy.node", "rclpy.event_handler", "rcl_interfaces",
             "rcl_interfaces.msg"]
    saved = {n: sys.modules.get(n) for n in names + ["langtrack_ros.ros.tracker_node", "langtrack_ros.ros.trainer_node"]}
    mods = {n: types.ModuleType(n) for n in names}
    mods["rclpy.executors"].ExternalShutdownException = RuntimeError
    mods["rclpy.lifecycle"].LifecycleNode = Node
    mods["rclpy.lifecycle"].LifecycleState = object
    mods["rclpy.lifecycle"].TransitionCallbackReturn = TransitionCallbackReturn
    mods["rclpy.node"].Node = Node
    qos = mods["rclpy.qos"]
    qos.QoSProfile = lambda **kw: kw
    qos.DurabilityPolicy = types.SimpleNamespace(VOLATILE=0, TRANSIENT_LOCAL=1)
    mods["rclpy.event_handler"].SubscriptionEventCallbacks = lambda **kw: kw
    qos.HistoryPolicy = types.SimpleNamespace(KEEP_LAST=0)
    qos.ReliabilityPolicy = types.SimpleNamespace(BEST_EFFORT=0, RELIABLE=1)
    mods["rcl_interfaces.msg"].ParameterDescriptor = ParameterDescriptor
    mods["rcl_interfaces.msg"].SetParametersResult = lambda **kw: types.SimpleNamespace(**kw)
    for name in ("executors", "lifecycle", "qos", "node", "event_handler"):
        setattr(mods["rclpy"], name, mods[f"rclpy.{name}"])
    sys.modules.update(mods)
    for name in ("langtrack_ros.ros.tracker_node", "langtrack_ros.ros.trainer_node"):
        sys.modules.pop(name, None)

    def undo():
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return undo
