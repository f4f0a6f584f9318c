"""Replay a ROS 2 bag through a tracker, frame-exactly, without ROS.

Messages are taken in log-time order: a query message switches the target from the next image
on (as the live node does), every image is tracked (nothing dropped, unlike the live node, so
runs are repeatable), and the outputs go to (1) ``<name>.txt`` / ``<name>_meta.csv`` in the
evaluation format and (2) a result bag holding the live node's topics (``target``,
``relocalization``, ``detections`` as langtrack_msgs / vision_msgs), metadata version 8 so
Humble can play it. Images recorded before the first query get NaN boxes and no messages.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from langtrack_ros.evaluation.harness import SequenceRun
from langtrack_ros.evaluation.report import write_predictions
from langtrack_ros.ros_msgs import conversions as conv
from langtrack_ros.ros_msgs import definitions as defs
from langtrack_ros.ros_msgs.image_codec import decode_compressed, image_fields_to_rgb
from langtrack_ros.ros_msgs.session import Outputs, TrackingSession

log = logging.getLogger(__name__)
IMAGE_TYPES = (defs.IMAGE, defs.COMPRESSED_IMAGE)


@dataclass
class ReplaySummary:
    frames: int  # images in the bag on the image topic
    tracked: int  # images that produced a result (a query was in force)
    predictions: Path
    result_bag: Path
    image_topic: str
    query_topic: str | None


def pick_topic(connections, types: tuple[str, ...], wanted: str | None, what: str) -> str | None:
    """The topic to read: ``wanted`` (must exist with a fitting type) or the only non-empty one of ``types``."""
    found = {c.topic: c.msgtype for c in connections if c.msgcount}
    if wanted:
        if found.get(wanted) not in types:
            raise ValueError(f"bag has no {what} topic {wanted!r} of type {types}; topics: {found}")
        return wanted
    fitting = sorted(t for t, m in found.items() if m in types)
    if len(fitting) > 1:
        raise ValueError(f"bag has several {what} topics {fitting}: choose one")
    return fitting[0] if fitting else None


class ResultBag:
    """Writes the tracker's messages to a ROS 2 bag (sqlite3, metadata version 8)."""

    def __init__(self, path: Path, namespace: str = "/"):
        self.store = defs.typestore()
        self.writer = Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3)
        self.namespace = "/" + namespace.strip("/")
        self.connections = {}

    def __enter__(self):
        self.writer.open()
        return self

    def __exit__(self, *exc):
        self.writer.close()

    def write(self, outputs: Outputs, timestamp_ns: int) -> None:
        for topic, ros_type, fields in outputs.messages():
            name = f"{self.namespace.rstrip('/')}/{topic}"
            if name not in self.connections:
                self.connections[name] = self.writer.add_connection(name, ros_type, typestore=self.store)
            msg = conv.build(ros_type, fields, lambda n: self.store.types[n])
            self.writer.write(self.connections[name], timestamp_ns, self.store.serialize_cdr(msg, ros_type))


def _rgb(msg, msgtype: str) -> np.ndarray:
    return decode_compressed(msg.format, msg.data) if msgtype == defs.COMPRESSED_IMAGE else image_fields_to_rgb(msg)


def replay_bag(bag: str | Path, out: str | Path, tracker, image_topic: str | None = None,
               query_topic: str | None = None, initial_query: str = "", name: str | None = None) -> ReplaySummary:
    """Run ``tracker`` over the bag's images; write predictions and a result bag under ``out``."""
    bag, out = Path(bag), Path(out)
    name = name or bag.name
    result_path = out / f"{name}_tracked"
    if result_path.exists():
        raise ValueError(f"result bag {result_path} already exists: remove it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    session = TrackingSession(tracker, initial_query)
    rows: list[tuple[np.ndarray, float, str, bool, float]] = []
    with AnyReader([bag], default_typestore=defs.typestore()) as reader:
        image_topic = pick_topic(reader.connections, IMAGE_TYPES, image_topic, "image")
        if image_topic is None:
            raise ValueError(f"bag {bag} has no sensor_msgs Image or CompressedImage topic")
        query_topic = pick_topic(reader.connections, (defs.STRING,), query_topic, "query")
        wanted = [c for c in reader.connections if c.topic in (image_topic, query_topic)]
        with ResultBag(result_path) as results:
            for connection, timestamp, raw in reader.messages(connections=wanted):
                msg = reader.deserialize(raw, connection.msgtype)
                if connection.topic == query_topic:
                    accepted, why = session.set_query(msg.data)
                    if not accepted:
                        log.warning("%s: query at %d ns ignored: %s", bag, timestamp, why)
                    continue
                rows.append(_track(session, msg, connection.msgtype, timestamp, results))
    run = _sequence_run(name, rows)
    predictions, _ = write_predictions(out, run)
    tracked = int(np.isfinite(run.boxes[:, 0]).sum()) if len(rows) else 0
    log.info("%s: %d images, %d tracked -> %s, %s", bag, len(rows), tracked, predictions, result_path)
    return ReplaySummary(len(rows), tracked, predictions, result_path, image_topic, query_topic)


def _track(session: TrackingSession, msg, msgtype: str, timestamp: int, results: ResultBag):
    start = time.perf_counter()
    outputs = session.step(_rgb(msg, msgtype), msg.header)
    seconds = time.perf_counter() - start
    if outputs is None:
        return np.full(4, np.nan), np.nan, "", False, seconds
    results.write(outputs, timestamp)
    r = outputs.result
    return np.asarray(r.box, float), float(r.kappa), r.mode.value, bool(r.found), seconds


def _sequence_run(name: str, rows) -> SequenceRun:
    boxes = np.array([r[0] for r in rows], float).reshape(-1, 4)
    return SequenceRun(name=name, boxes=boxes, kappa=np.array([r[1] for r in rows], float),
                       search_mode=[r[2] for r in rows], found=np.array([r[3] for r in rows], bool),
                       seconds=np.array([r[4] for r in rows], float))
