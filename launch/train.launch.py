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

PARAMETERS = ("config", "run_dir", "model", "stage", "resume", "export", "progress_period")


def generate_launch_description():
    trainer = Node(
        package="langtrack_ros",
        executable="trainer_node",
        name="langtrack_trainer",
        namespace=LaunchConfiguration("namespace"),
        parameters=[{name: LaunchConfiguration(name) for name in PARAMETERS}],
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
