"""Start the language-described target tracker.

    ros2 launch langtrack_ros tracker.launch.py image_topic:=/camera/image_raw query:="the red cup"

Every default lives in config/tracker.yaml (tracker) and config/tracker_node.yaml (node adapter);
an argument left empty keeps the YAML value.
use_lifecycle:=true leaves the node unconfigured for a lifecycle manager to drive, false makes it
configure and activate itself at start; empty keeps ``autostart`` from the parameter files.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from langtrack_ros.adapters import topics

PACKAGE = "langtrack_ros"
NODE_NAME = "langtrack_tracker"
SHARE = get_package_share_directory(PACKAGE)


ARGUMENTS = [  # name, default ("" keeps the config value), description
    ("image_topic", topics.CAMERA, "remap of `image`: sensor_msgs/Image topic; <topic>/compressed too"),
    ("query_topic", topics.QUERY, "remap of `query`: std_msgs/String topic with the target sentence"),
    ("query", "", "initial sentence; empty keeps initial_query from the config"),
    ("namespace", "", "namespace of the node and its topics"),
    ("backend", "", "auto | tensorrt | onnxruntime | torch; empty keeps the config"),
    ("model", "", "model or engine file; empty keeps the config"),
    ("use_lifecycle", "", "true: wait for a lifecycle manager; false: autostart; empty keeps the config's autostart"),
    ("log_level", "info", "node log level"),
]


def _arguments():
    config = os.path.join(SHARE, "config", "tracker.yaml")
    declared = [DeclareLaunchArgument(n, default_value=d, description=text) for n, d, text in ARGUMENTS]
    return declared + [DeclareLaunchArgument("config", default_value=config, description="parameter file")]


def _node(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    renamed = {"initial_query": "query", "backend": "backend", "model": "model"}
    overrides = {key: arg(name) for key, name in renamed.items() if arg(name)}
    lifecycle = arg("use_lifecycle").lower()
    managed = lifecycle in ("1", "true", "yes")
    if lifecycle:  # given: it decides autostart; empty: the parameter files do
        overrides["autostart"] = not managed
    image = arg("image_topic")
    options = dict(
        package=PACKAGE,
        executable="tracker_node",
        name=NODE_NAME,
        namespace=arg("namespace"),
        parameters=[arg("config"), os.path.join(SHARE, "config", "tracker_node.yaml"),
                    overrides],
        remappings=[(topics.IMAGE, image), (topics.COMPRESSED, topics.compressed_of(image)),
                    (topics.QUERY, arg("query_topic"))],
        arguments=["--ros-args", "--log-level", arg("log_level")],
        output="screen",
    )
    return [LifecycleNode(**options) if managed else Node(**options)]


def generate_launch_description():
    return LaunchDescription(_arguments() + [OpaqueFunction(function=_node)])
