"""Replay a ROS 2 bag through a tracker without ROS: frame-exactly, or in real time.

Messages are taken in log-time order: a query message switches the target from the next image
on (as the live node does). By default every image is tracked (repeatable runs); ``realtime``
delivers images at their recorded times and drops those the tracker is too slow for, as on a
robot (see :mod:`delivery`), so its predictions hold the last published box on dropped frames.
Outputs: ``<name>.txt`` / ``<name>_meta.csv`` in the evaluation format and a result bag with the
live node's topics (metadata version 8 so Humble can play it). Images before the first query get
NaN boxes and no messages. A frame that cannot be decoded or tracked is logged and gets a NaN
row; a bag damaged part-way is replayed up to the damage and the summary says so.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from langtrack_ros.evaluation.delivery import Delivery
from langtrack_ros.evaluation.harness import SequenceRun
from langtrack_ros.evaluation.replay_gt import score_against
from langtrack_ros.evaluation.report import write_predictions
from langtrack_ros.files import find_write_failure
from langtrack_ros.adapters import conversions as conv
from langtrack_ros.adapters import definitions as defs
from langtrack_ros.adapters.image_codec import decode_compressed, image_fields_to_rgb
from langtrack_ros.adapters import topics as topic_table
from langtrack_ros.adapters.session import Outputs, TrackingSession
from langtrack_ros.data.bag_topics import IMAGE_TYPES, QUERY_TOPIC, pick_query_topic, pick_topic

log = logging.getLogger(__name__)


@dataclass
class ReplaySummary:
    frames: int  # images in the bag on the image topic
    tracked: int  # images that produced a result (a query was in force)
    predictions: Path
    result_bag: Path
    image_topic: str
    query_topic: str | None
    failed: int = 0  # images that could not be decoded or tracked (logged, NaN rows)
    dropped: int = 0  # realtime: images the tracker was too slow for
    damaged: str = ""  # why reading stopped early ("" when the whole bag was read)
    scores: dict = field(default_factory=dict)  # AUC/PRE when ground truth was given

    @property
    def drop_rate(self) -> float:
        return self.dropped / self.frames if self.frames else 0.0


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
            name = topic_table.resolve(topic, self.namespace)
            if name not in self.connections:
                self.connections[name] = self.writer.add_connection(name, ros_type, typestore=self.store)
            msg = conv.build(ros_type, fields, lambda n: self.store.types[n])
            self.writer.write(self.connections[name], timestamp_ns, self.store.serialize_cdr(msg, ros_type))


def _rgb(msg, msgtype: str) -> np.ndarray:
    return decode_compressed(msg.format, msg.data) if msgtype == defs.COMPRESSED_IMAGE else image_fields_to_rgb(msg)


@dataclass
class _Topics:
    image: str
    query: str | None
    gt: str | None


def _open(bag: Path) -> AnyReader:
    """An open reader, or ValueError saying the bag cannot be read at all (garbage, missing files)."""
    reader = AnyReader([bag], default_typestore=defs.typestore())
    try:
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags raises several types for damaged bags
        raise ValueError(f"cannot read bag {bag}: {type(exc).__name__}: {exc}") from None
    return reader


def _topics(reader, bag, image_topic, query_topic, gt_topic, initial_query) -> _Topics:
    image = pick_topic(reader.connections, IMAGE_TYPES, image_topic, "image")
    if image is None:
        raise ValueError(f"bag {bag} has no sensor_msgs Image or CompressedImage topic")
    query = pick_query_topic(reader.connections, query_topic)
    if query is None and not (initial_query or "").strip():
        raise ValueError(f"bag {bag} has no {QUERY_TOPIC} topic and no --query was given: nothing to track "
                         "(pass --query 'the ...' or --query-topic)")
    gt = pick_topic(reader.connections, (defs.TRACKED_TARGET, defs.DETECTION2D_ARRAY), gt_topic, "ground-truth") \
        if gt_topic else None
    return _Topics(image, query, gt)


class _Replayer:
    """Turns delivered images and queries into rows, result-bag messages and log lines."""

    def __init__(self, bag: Path, session: TrackingSession, results: ResultBag):
        self.bag, self.session, self.results = bag, session, results
        self.rows: dict[int, tuple] = {}
        self.last_row = (np.full(4, np.nan), np.nan, "", False, 0.0)

    def query(self, stamp: int, msg) -> None:
        accepted, why = self.session.set_query(msg.data)
        if not accepted:
            log.warning("%s: query at %d ns ignored: %s", self.bag, stamp, why)

    def image(self, index: int, stamp: int, item) -> None:
        msg, msgtype = item
        start = time.perf_counter()
        outputs = self.session.process(lambda: _rgb(msg, msgtype), msg.header,
                                       lambda why: log.error("%s: image %d: %s", self.bag, index, why))
        seconds = time.perf_counter() - start
        if outputs is None:
            self.rows[index] = (np.full(4, np.nan), np.nan, "", False, seconds)
            return
        self.results.write(outputs, stamp)
        r = outputs.result
        self.rows[index] = self.last_row = (np.asarray(r.box, float), float(r.kappa), r.mode.value, bool(r.found), seconds)

    def drop(self, index: int) -> None:
        """Realtime: the frame never reached the tracker; a consumer still holds the last box."""
        box, kappa, _, found, _ = self.last_row
        self.rows[index] = (box, kappa, "dropped", found, 0.0)


def _items(reader, topics: _Topics, gt: dict, state: dict):
    """Bag messages as delivery items; a message that cannot be deserialized is logged and
    skipped, a bag that cannot be read further ends the stream with ``state['damaged']`` set."""
    wanted = [c for c in reader.connections if c.topic in (topics.image, topics.query, topics.gt)]
    index = 0
    try:
        for connection, timestamp, raw in reader.messages(connections=wanted):
            try:
                msg = reader.deserialize(raw, connection.msgtype)
            except Exception as exc:  # noqa: BLE001 - one damaged message is not the whole bag
                log.error("message on %s at %d ns cannot be decoded (%s); skipped", connection.topic, timestamp, exc)
                index += connection.topic == topics.image
                state["failed"] += connection.topic == topics.image
                continue
            if connection.topic == topics.gt:
                gt[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg
            elif connection.topic == topics.query:
                yield "query", timestamp, -1, msg
            else:
                state["stamps"].append((msg.header.stamp.sec, msg.header.stamp.nanosec))
                yield "image", timestamp, index, (msg, connection.msgtype)
                index += 1
    except Exception as exc:  # noqa: BLE001 - truncated file, broken index: keep what was read
        state["damaged"] = f"{type(exc).__name__}: {exc}"
        log.error("bag damaged after %d images (%s); the replay keeps what was read", index, state["damaged"])
    state["images"] = index


def replay_bag(bag: str | Path, out: str | Path, tracker, image_topic: str | None = None,
               query_topic: str | None = None, initial_query: str = "", name: str | None = None,
               realtime: bool = False, speed: float = 1.0, gt_file: str | Path | None = None,
               gt_topic: str | None = None) -> ReplaySummary:
    """Run ``tracker`` over the bag's images; write predictions and a result bag under ``out``."""
    bag, out = Path(bag), Path(out)
    name = name or bag.name
    result_path = out / f"{name}_tracked"
    if result_path.exists():
        raise ValueError(f"result bag {result_path} already exists: remove it or choose another --out")
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a finite number > 0, got {speed}")
    reader = _open(bag)
    staging = None
    try:
        topics = _topics(reader, bag, image_topic, query_topic, gt_topic, initial_query)
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}_tracked.", dir=out))  # renamed when complete
        session = TrackingSession(tracker, initial_query)
        state, gt = {"failed": 0, "damaged": "", "stamps": [], "images": 0}, {}
        with ResultBag(staging / result_path.name) as results:
            replayer = _Replayer(bag, session, results)
            delivery = Delivery(replayer.image, replayer.query, replayer.drop, realtime, speed)
            delivery.run(_items(reader, topics, gt, state))
        os.replace(staging / result_path.name, result_path)
    except Exception as exc:  # no half-written result bag left behind to be mistaken for a result
        failure = find_write_failure(exc, result_path)  # disk full, read-only: path + errno, rc 2
        if failure is not None:
            raise failure from None
        raise
    finally:
        reader.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return _finish(bag, out, name, replayer, state, delivery, topics, result_path, session, gt, gt_file)


def _finish(bag, out, name, replayer, state, delivery, topics, result_path, session, gt, gt_file) -> ReplaySummary:
    rows = [replayer.rows.get(i, (np.full(4, np.nan), np.nan, "", False, 0.0)) for i in range(state["images"])]
    run = _sequence_run(name, rows)
    predictions, _ = write_predictions(out, run)
    tracked = sum(1 for r in rows if r[2] not in ("", "dropped"))
    summary = ReplaySummary(len(rows), tracked, predictions, result_path, topics.image, topics.query,
                            failed=state["failed"] + session.dropped, dropped=delivery.dropped, damaged=state["damaged"])
    if gt_file or gt:
        summary.scores = score_against(run.boxes, state["stamps"], gt_file, gt)
    log.info("%s: %d images, %d tracked, %d failed, %d dropped -> %s, %s", bag, summary.frames, tracked,
             summary.failed, summary.dropped, predictions, result_path)
    return summary


def _sequence_run(name: str, rows) -> SequenceRun:
    boxes = np.array([r[0] for r in rows], float).reshape(-1, 4)
    return SequenceRun(name=name, boxes=boxes, kappa=np.array([r[1] for r in rows], float),
                       search_mode=[r[2] for r in rows], found=np.array([r[3] for r in rows], bool),
                       seconds=np.array([r[4] for r in rows], float))
