"""Run an offline training job as a node that publishes langtrack_msgs/TrainingProgress.

    ros2 launch langtrack_ros train.launch.py config:=/path/to/train.yaml run_dir:=runs/mvlm1
    ros2 launch langtrack_ros train.launch.py model:=vlt stage:=supernet config:=config/train_vlt.yaml run_dir:=runs/vlt

The job itself is the same as ``langtrack train --config ...``; a killed job resumes from its
last checkpoint when started again with the same output folder (resume:=true). Every default
lives in config/trainer_node.yaml; an argument left empty keeps the YAML value.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from langtrack_ros.config import flatten, load_section
from langtrack_ros.paths import config_file

PACKAGE = "langtrack_ros"
NODE_NAME = "langtrack_trainer"
DEFAULTS = flatten(load_section(config_file("trainer_node"), NODE_NAME))  # name -> value (its type types the argument)
REQUIRED = ("config", "run_dir")
TRUE = ("1", "true", "yes")


def _typed(name: str, text: str):
    """A launch argument's text as the YAML default's type: `progress_period:=2` must reach the
    node as 2.0 (a float parameter), `resume:=true` as a bool."""
    kind = type(DEFAULTS[name])
    return text.lower() in TRUE if kind is bool else kind(text)


def _trainer(context):
    given = {name: LaunchConfiguration(name).perform(context) for name in DEFAULTS}
    overrides = {name: _typed(name, text) for name, text in given.items() if text != ""}
    missing = [name for name in REQUIRED if not overrides.get(name, DEFAULTS[name])]
    if missing:
        raise RuntimeError(f"train.launch.py needs {' and '.join(f'{n}:=...' for n in missing)} "
                           "(training YAML and checkpoint folder)")
    share = get_package_share_directory(PACKAGE)
    trainer = Node(
        package=PACKAGE,
        executable="trainer_node",
        name=NODE_NAME,
        namespace=LaunchConfiguration("namespace").perform(context),
        parameters=[os.path.join(share, "config", "trainer_node.yaml"), overrides],
        output="screen",
    )
    done = RegisterEventHandler(OnProcessExit(
        target_action=trainer, on_exit=[EmitEvent(event=Shutdown(reason="training finished"))],
    ))
    return [trainer, done]


def generate_launch_description():
    arguments = [DeclareLaunchArgument(name, default_value="", description=f"config/trainer_node.yaml: {value!r}")
                 for name, value in DEFAULTS.items()]
    arguments.append(DeclareLaunchArgument("namespace", default_value=""))
    return LaunchDescription(arguments + [OpaqueFunction(function=_trainer)])
