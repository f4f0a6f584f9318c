"""Run an offline training job as a node that publishes langtrack_msgs/TrainingProgress.

    ros2 launch langtrack_ros train.launch.py config:=/path/to/train.yaml run_dir:=runs/mvlm1
    ros2 launch langtrack_ros train.launch.py model:=vlt stage:=supernet config:=config/train_vlt.yaml run_dir:=runs/vlt

The job itself is the same as ``langtrack train --config ...``; a killed job resumes from its
last checkpoint when started again with the same output folder.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

TYPES = {"config": str, "run_dir": str, "model": str, "stage": str, "resume": bool, "export": str,
         "progress_period": float}
PARAMETERS = tuple(TYPES)


def generate_launch_description():
    trainer = Node(
        package="langtrack_ros",
        executable="trainer_node",
        name="langtrack_trainer",
        namespace=LaunchConfiguration("namespace"),
        # typed: `progress_period:=2` must reach the node as 2.0 (a float parameter), not the int 2
        parameters=[{name: ParameterValue(LaunchConfiguration(name), value_type=TYPES[name]) for name in PARAMETERS}],
        output="screen",
    )
    return LaunchDescription([
        DeclareLaunchArgument("config", description="training YAML config (required)"),
        DeclareLaunchArgument("run_dir", description="checkpoint and log folder (required)"),
        DeclareLaunchArgument("model", default_value="mvlm", description="mvlm | vlt"),
        DeclareLaunchArgument("stage", default_value="", description="vlt: supernet | search | retrain"),
        DeclareLaunchArgument("resume", default_value="false", description="continue from the newest checkpoint"),
        DeclareLaunchArgument("export", default_value="", description="also write the final model here"),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument("progress_period", default_value="1.0", description="seconds between progress messages"),
        trainer,
        RegisterEventHandler(OnProcessExit(
            target_action=trainer, on_exit=[EmitEvent(event=Shutdown(reason="training finished"))],
        )),
    ])
