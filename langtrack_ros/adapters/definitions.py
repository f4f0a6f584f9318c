"""Message definitions as ``.msg`` text, parsed with rosbags: one source of truth for layouts.

Our own types are read from ``langtrack_msgs/msg/*.msg`` (source checkout) or
``share/langtrack_ros/msg`` (installed). vision_msgs is not in rosbags' stores, so the 4.x
(Humble and later) layout of the few types we publish is spelled out below; the ROS type hash
(RIHS01) depends only on names and types, so these definitions hash like the real package.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from langtrack_ros.paths import share_dir

from langtrack_ros.adapters.type_names import (  # noqa: F401 - the type names travel with the layouts
    COMPRESSED_IMAGE, DETECTION2D_ARRAY, IMAGE, PACKAGE, RELOCALIZATION_EVENT, STRING, TRACKED_TARGET,
    TRAINING_PROGRESS,
)

VISION_MSGS_4 = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n"
    ),
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}


def msg_dir() -> Path:
    """Folder holding our ``.msg`` files, in a checkout or an install."""
    root = share_dir()
    for candidate in (root / PACKAGE / "msg", root / "msg"):
        if any(candidate.glob("*.msg")):
            return candidate
    raise FileNotFoundError(f"cannot find {PACKAGE} .msg files under {root}")


def own_definitions() -> dict[str, str]:
    """``{"langtrack_msgs/msg/T": msg text}`` for every ``.msg`` file of langtrack_msgs."""
    return {f"{PACKAGE}/msg/{path.stem}": path.read_text() for path in sorted(msg_dir().glob("*.msg"))}


@lru_cache(maxsize=None)
def typestore(store: Stores = Stores.ROS2_HUMBLE):
    """A rosbags typestore with the ROS 2 core types plus vision_msgs 4.x and langtrack_msgs."""
    types = get_typestore(store)
    parsed = {}
    for name, text in {**VISION_MSGS_4, **own_definitions()}.items():
        try:
            parsed.update(get_types_from_msg(text, name))
        except Exception as exc:  # rosbags raises its own parse errors: name the file
            raise ValueError(f"cannot parse message definition {name}: {exc}") from exc
    types.register(parsed)
    return types


def type_hash(typename: str) -> str:
    """ROS 2 type hash ``RIHS01_<hex>`` (what Jazzy endpoints advertise in USER_DATA)."""
    return typestore().hash_rihs01(typename)
