"""Just enough of ROS 2's ``launch``, ``launch_ros`` and ``ament_index_python`` to execute our launch
files without ROS: every action records its keyword arguments, ``LaunchConfiguration.perform``
reads a plain dict context. It checks the Python of the launch files (arguments, remaps, typed
parameters, recorded topics); the real launch run is test/test_ros_launch.py on a ROS machine."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Action:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class DeclareLaunchArgument(Action):
    def __init__(self, name, default_value=None, description=""):
        super().__init__(name, default_value=default_value, description=description)
        self.name, self.default_value = name, default_value


class LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context: dict) -> str:
        return context[self.name]


def modules() -> dict[str, types.ModuleType]:
    """Fake modules by import name (put them in sys.modules with monkeypatch.setitem)."""
    names = ["ament_index_python", "ament_index_python.packages", "launch", "launch.actions",
             "launch.event_handlers", "launch.events", "launch.substitutions", "launch.launch_description_sources",
             "launch_ros", "launch_ros.actions"]
    mods = {n: types.ModuleType(n) for n in names}
    mods["ament_index_python.packages"].get_package_share_directory = lambda package: str(ROOT)
    mods["launch"].LaunchDescription = lambda entities: list(entities)
    for name in ("EmitEvent", "ExecuteProcess", "IncludeLaunchDescription", "OpaqueFunction", "RegisterEventHandler",
                 "TimerAction"):
        setattr(mods["launch.actions"], name, type(name, (Action,), {}))
    mods["launch.actions"].DeclareLaunchArgument = DeclareLaunchArgument
    mods["launch.event_handlers"].OnProcessExit = type("OnProcessExit", (Action,), {})
    mods["launch.events"].Shutdown = type("Shutdown", (Action,), {})
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    mods["launch.launch_description_sources"].PythonLaunchDescriptionSource = type("Source", (Action,), {})
    mods["launch_ros.actions"].Node = type("Node", (Action,), {})
    mods["launch_ros.actions"].LifecycleNode = type("LifecycleNode", (Action,), {})
    return mods


def load(name: str) -> types.ModuleType:
    """Execute ``launch/<name>.launch.py`` (the fake modules must be installed)."""
    path = ROOT / "launch" / f"{name}.launch.py"
    spec = importlib.util.spec_from_file_location(f"_launch_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(module, **given: str) -> tuple[list, dict]:
    """generate_launch_description(), then every OpaqueFunction with the declared defaults and
    ``given`` as the context: (all entities, context)."""
    entities = module.generate_launch_description()
    context = {e.name: e.default_value for e in entities if isinstance(e, DeclareLaunchArgument)}
    context.update(given)
    out = list(entities)
    for entity in entities:
        if type(entity).__name__ == "OpaqueFunction":
            out += entity.kwargs["function"](context)
    return out, context


def install(monkeypatch) -> None:
    for name, module in modules().items():
        monkeypatch.setitem(sys.modules, name, module)
