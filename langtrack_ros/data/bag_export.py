"""Write sequences as ROS 2 bags a robot can replay: camera images plus language queries.

Bags are sqlite3 with metadata version 8, which ROS 2 Humble plays without plugins; messages are
CDR-serialized by ``rosbags`` against the Humble typestore. ``/camera/image_raw`` carries every
frame (sensor_msgs/msg/Image, rgb8) at ``fps``; ``/query`` (std_msgs/msg/String) carries the first
sentence with the first frame's timestamp and each switch sentence with its frame's timestamp.
Ground truth is not in the bag: it stays in the LaSOT export beside it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from langtrack_ros.adapters import topics

IMAGE_TOPIC = topics.CAMERA  # where a camera driver publishes: the default remap of the node's `image`
QUERY_TOPIC = topics.resolve(topics.QUERY)
FRAME_ID = "camera"
START_NS = 1_700_000_000 * 1_000_000_000  # a fixed epoch so identical inputs give identical bags


def typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def image_message(store, rgb: np.ndarray, stamp_ns: int):
    """sensor_msgs/Image (rgb8) holding ``rgb`` (H, W, 3) uint8."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"bag export needs RGB uint8 (H, W, 3) frames, got {rgb.dtype} {rgb.shape}")
    Time = store.types["builtin_interfaces/msg/Time"]
    Header = store.types["std_msgs/msg/Header"]
    Image = store.types["sensor_msgs/msg/Image"]
    h, w = rgb.shape[:2]
    header = Header(stamp=Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000), frame_id=FRAME_ID)
    return Image(header=header, height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
                 data=np.ascontiguousarray(rgb).reshape(-1))


def write_bag(path: str | Path, num_frames: int, frame: Callable[[int], np.ndarray],
              queries: list[tuple[int, str]], fps: float) -> Path:
    """Write one bag at ``path`` (a folder that must not exist): frames 0..N-1 and (frame, sentence) queries."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    if fps <= 0:
        raise ValueError(f"bag export fps must be > 0, got {fps}")
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"bag {path} already exists; remove it or pick another output folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    store = typestore()
    String = store.types["std_msgs/msg/String"]
    stamps = [START_NS + int(round(i * 1e9 / fps)) for i in range(num_frames)]
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        img_conn = writer.add_connection(IMAGE_TOPIC, "sensor_msgs/msg/Image", typestore=store)
        query_conn = writer.add_connection(QUERY_TOPIC, "std_msgs/msg/String", typestore=store)
        pending = sorted(queries)
        for i in range(num_frames):
            while pending and pending[0][0] <= i:
                text = pending.pop(0)[1]
                writer.write(query_conn, stamps[i], store.serialize_cdr(String(data=text), "std_msgs/msg/String"))
            msg = image_message(store, frame(i), stamps[i])
            writer.write(img_conn, stamps[i], store.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    return path


def export_bag(seq, out_dir: str | Path, fps: float) -> Path:
    """Bag ``<out_dir>/<seq.name>`` for anything with ``len``, ``render(i)``, ``sentence``, ``switches``."""
    queries = [(0, seq.sentence)] + [(sw.frame, sw.sentence) for sw in seq.switches]
    return write_bag(Path(out_dir) / seq.name, len(seq), seq.render, queries, fps)
