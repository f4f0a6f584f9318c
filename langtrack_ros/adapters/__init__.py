"""What every adapter shares, with no ROS install needed (docs/ARCHITECTURE.md).

The rclpy node, the Cyclone DDS process, bag replay and ``langtrack track`` all use: ``session``
(TrackingSession: query rules and the per-frame guard), ``topics`` (the one topic table),
``conversions`` (message fields for rclpy messages, rosbags dataclasses and DDS structs alike),
``definitions`` (layouts from the ``.msg`` files of ``langtrack_msgs/``), ``image_codec``,
``overlay`` (annotated frames and video), ``parameters`` (ROS parameters <-> settings) and
``progress`` (the trainer node's progress message).
"""
