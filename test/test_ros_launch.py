"""End-to-end checks on a ROS 2 machine (Humble/Jazzy with langtrack_msgs built): launch
tracker.launch.py, publish camera frames and a query, expect langtrack_msgs/TrackedTarget and
vision_msgs/Detection2DArray back, switch the query through the SetQuery service, and change a
gate parameter at run time. Skipped where rclpy / launch_pytest are not importable (no ROS).
"""
import os
import time

import numpy as np
import pytest

launch_pytest = pytest.importorskip("launch_pytest")
rclpy = pytest.importorskip("rclpy")
pytest.importorskip("langtrack_msgs")

from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from langtrack_msgs.msg import TrackedTarget  # noqa: E402
from langtrack_msgs.srv import SetQuery  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from langtrack_ros.paths import models_dir  # noqa: E402
from langtrack_ros.adapters.image_codec import encode_image  # noqa: E402

if not any(models_dir().glob("*.safetensors")):
    pytest.skip("no embedded model in models/", allow_module_level=True)

NS = "/lt_test"


@launch_pytest.fixture
def tracker_launch():
    path = os.path.join(get_package_share_directory("langtrack_ros"), "launch", "tracker.launch.py")
    args = {"image_topic": f"{NS}/camera", "namespace": NS, "query": "the red square", "backend": "torch"}
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(path), launch_arguments=args.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


def _frame(i):
    rgb = np.full((240, 320, 3), 90, np.uint8)
    rgb[60:120, 40 + 4 * i:100 + 4 * i] = (220, 30, 30)
    msg = Image(**encode_image(rgb, "rgb8"))
    msg.header.stamp.sec, msg.header.frame_id = i + 1, "camera"
    return msg


def _spin_until(node, done, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not done():
        rclpy.spin_once(node, timeout_sec=0.05)
    return done()


@pytest.mark.launch(fixture=tracker_launch)
def test_tracker_node_end_to_end():
    rclpy.init()
    node = rclpy.create_node("langtrack_probe")
    try:
        targets, detections = [], []
        node.create_subscription(TrackedTarget, f"{NS}/target", targets.append, 10)
        node.create_subscription(Detection2DArray, f"{NS}/detections", detections.append, 10)
        camera = node.create_publisher(Image, f"{NS}/camera", 10)
        assert _spin_until(node, lambda: camera.get_subscription_count() > 0, 60), "tracker never subscribed"
        for i in range(10):
            camera.publish(_frame(i))
            _spin_until(node, lambda: False, 0.2)
        assert _spin_until(node, lambda: len(targets) >= 3, 30), "no TrackedTarget received"
        assert targets[-1].query == "the red square" and targets[-1].header.frame_id == "camera"
        assert len(detections) > 0

        client = node.create_client(SetQuery, f"{NS}/set_query")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(SetQuery.Request(query="the grey background"))
        assert _spin_until(node, future.done, 10) and future.result().accepted
        refused = client.call_async(SetQuery.Request(query="   "))
        assert _spin_until(node, refused.done, 10) and not refused.result().accepted

        params = node.create_client(SetParameters, f"{NS}/langtrack_tracker/set_parameters")
        assert params.wait_for_service(timeout_sec=10)
        tau = Parameter(name="gate.tau", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=0.3))
        change = params.call_async(SetParameters.Request(parameters=[tau]))
        assert _spin_until(node, change.done, 10) and change.result().results[0].successful
    finally:
        node.destroy_node()
        rclpy.shutdown()
