"""The tracker's and trainer's ROS interface in one table: topic names and message types.

Read by the rclpy nodes, the DDS process (``langtrack dds``), bag replay and export, and the launch
files. Names are relative, as ROS resolves them under the node's namespace (``--namespace`` for
``langtrack dds``); where a topic really lives on a robot (the camera driver's
``/camera/image_raw``) is a remap given by launch or the CLI, with :data:`CAMERA` as its default.
"""
from __future__ import annotations

from langtrack_ros.adapters import type_names as defs  # plain strings: launch files import this table

IMAGE, COMPRESSED, QUERY = "image", "image/compressed", "query"
TARGET, RELOCALIZATION, DETECTIONS, DEBUG_IMAGE = "target", "relocalization", "detections", "debug_image"
SET_QUERY = "set_query"  # service, langtrack_msgs/srv/SetQuery
TRAINING_PROGRESS = "training_progress"

INPUTS = {IMAGE: defs.IMAGE, COMPRESSED: defs.COMPRESSED_IMAGE, QUERY: defs.STRING}
OUTPUTS = {TARGET: defs.TRACKED_TARGET, RELOCALIZATION: defs.RELOCALIZATION_EVENT, DETECTIONS: defs.DETECTION2D_ARRAY}
DEBUG = {DEBUG_IMAGE: defs.IMAGE}  # only with publish_debug_image
TRAINER_OUTPUTS = {TRAINING_PROGRESS: defs.TRAINING_PROGRESS}

# `query` is read with two QoS (adapters/session.QueryOnce): "reliable" and "latched" (transient local)
QUERY_QOS = ("reliable", "latched")

CAMERA = "/camera/image_raw"  # default remap of IMAGE (launch image_topic:=, langtrack dds --image-topic)


def compressed_of(image_topic: str) -> str:
    """The CompressedImage topic beside an image topic (image_transport's naming)."""
    return image_topic.rstrip("/") + "/compressed"


def resolve(name: str, namespace: str = "") -> str:
    """ROS name resolution: an absolute name stays, a relative one goes under ``namespace``."""
    if name.startswith("/"):
        return name
    return "/" + "/".join(part for part in (namespace.strip("/"), name) if part)
