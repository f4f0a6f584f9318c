"""Replay a rosbag into the tracker and (optionally) record its outputs.

    ros2 launch langtrack_ros replay.launch.py bag:=run1 image_topic:=/camera/image_raw record:=run1_tracked

For offline, frame-exact evaluation without ROS use ``langtrack replay --bag B --out DIR``; this
launch file checks the live node end to end (QoS, timing, dropped frames) on a ROS machine.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, OpaqueFunction, TimerAction,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from langtrack_ros.adapters import topics


def _processes(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    # playback waits for the tracker to load its model: frames (and the bag's query) sent before the
    # node is active would be lost
    play = ExecuteProcess(cmd=["ros2", "bag", "play", arg("bag"), "--rate", arg("rate")], output="screen")
    actions = [TimerAction(period=float(arg("start_delay")), actions=[play])]
    if arg("record"):
        names = [topics.resolve(t, arg("namespace")) for t in topics.OUTPUTS]
        actions.append(ExecuteProcess(cmd=["ros2", "bag", "record", "-o", arg("record"), *names], output="screen"))
    return actions


def generate_launch_description():
    share = get_package_share_directory("langtrack_ros")
    tracker = os.path.join(share, "launch", "tracker.launch.py")
    forwarded = ["image_topic", "query_topic", "query", "config", "namespace", "backend", "model"]
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="bag folder to play (required)"),
        DeclareLaunchArgument("rate", default_value="1.0"),
        DeclareLaunchArgument("start_delay", default_value="5.0", description="seconds before playback starts"),
        DeclareLaunchArgument("record", default_value="", description="output bag of the tracker topics; empty: none"),
        DeclareLaunchArgument("image_topic", default_value=topics.CAMERA),
        # absolute: a bag holds absolute names, and a namespaced node would miss it under `query`
        DeclareLaunchArgument("query_topic", default_value=topics.resolve(topics.QUERY)),
        DeclareLaunchArgument("query", default_value=""),
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "tracker.yaml")),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument("backend", default_value=""),
        DeclareLaunchArgument("model", default_value=""),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(tracker),
            launch_arguments={name: LaunchConfiguration(name) for name in forwarded}.items(),
        ),
        OpaqueFunction(function=_processes),
    ])
