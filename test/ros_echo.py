"""`ros2 topic echo` stand-in for the tests (ros2cli is not on PyPI): print COUNT messages of TYPE on
TOPIC as JSON lines, then exit (status 1 if fewer came within TIMEOUT s).

    python test/ros_echo.py TOPIC pkg/msg/Type COUNT TIMEOUT

Runs in its own process so it can import interface packages that only its environment has
(the vision_msgs test fixture).
"""
import json
import sys
import time

import rclpy

from langtrack_ros.ros.messages import ros_class


def plain(msg):
    """A message as JSON-able dicts and lists."""
    if hasattr(msg, "get_fields_and_field_types"):
        return {name: plain(getattr(msg, name)) for name in msg.get_fields_and_field_types()}
    if hasattr(msg, "tolist"):  # numpy arrays and array.array (fixed/typed sequences)
        return msg.tolist()
    if isinstance(msg, (list, tuple)):
        return [plain(v) for v in msg]
    return msg


def main(topic: str, typename: str, count: int, timeout: float) -> int:
    rclpy.init()
    node = rclpy.create_node("langtrack_echo")
    got = []
    sub = node.create_subscription(ros_class(typename), topic, got.append, 10)
    end = time.monotonic() + timeout
    while time.monotonic() < end and sub.get_publisher_count() == 0:  # matched: nothing sent later is lost
        rclpy.spin_once(node, timeout_sec=0.05)
    print("ready", flush=True)
    while len(got) < count and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    for msg in got:
        print(json.dumps(plain(msg)), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if len(got) >= count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
