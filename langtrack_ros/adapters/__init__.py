"""ROS message layouts and conversions that need no ROS install.

Shared by the three adapters (rclpy node, Cyclone DDS process, rosbag replayer): they work on
plain message fields, so the same code serves rclpy messages, rosbags dataclasses and DDS
structs. Message layouts come from the ``.msg`` files in ``langtrack_msgs/`` (one source of truth).
"""
