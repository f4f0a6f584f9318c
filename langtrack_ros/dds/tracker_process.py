"""The tracker as a plain DDS process: same topics, types and QoS as the ROS node, no ROS install.

Subscribes ``image`` (sensor_msgs/Image), ``image/compressed`` (sensor_msgs/CompressedImage) and
``query`` (std_msgs/String); publishes ``target``, ``relocalization`` and ``detections``. Like the
rclpy node it processes only the newest frame and skips frames not newer than the last one (so a
camera publishing both raw and compressed costs one tracker step per frame).
"""
from __future__ import annotations

import logging
import threading
import time

from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
from cyclonedds.internal import InvalidSample
from cyclonedds.util import duration

from langtrack_ros.dds import types as dds_types
from langtrack_ros.dds import transport
from langtrack_ros.dds.transport import Endpoints
from langtrack_ros.adapters import conversions as conv
from langtrack_ros.adapters import topics
from langtrack_ros.adapters.image_codec import decode_compressed, image_fields_to_rgb
from langtrack_ros.adapters.session import QueryOnce, TrackingSession, is_twin

log = logging.getLogger(__name__)
_ANY = SampleState.Any | ViewState.Any | InstanceState.Any


def _take(reader, limit: int = 64) -> list:
    """Data samples only (a writer leaving delivers sample-less state changes)."""
    return [m for m in reader.take(limit) if not isinstance(m, InvalidSample)]


def _stamp(header) -> tuple[int, int]:
    return header.stamp.sec, header.stamp.nanosec


class DdsTracker:
    """Reads frames and queries, steps the session, writes the results."""

    def __init__(self, session: TrackingSession, endpoints: Endpoints, image_topic: str = topics.IMAGE,
                 query_topic: str = topics.QUERY, image_qos: str = "sensor_data"):
        self.session = session
        kinds = topics.INPUTS
        self.images = endpoints.reader(image_topic, kinds[topics.IMAGE], image_qos)
        self.compressed = endpoints.reader(topics.compressed_of(image_topic), kinds[topics.COMPRESSED], image_qos)
        self.queries = [endpoints.reader(query_topic, kinds[topics.QUERY], qos) for qos in topics.QUERY_QOS]
        self.once = QueryOnce()  # a latched publisher reaches both query readers
        self.writers = {topic: endpoints.writer(topic, ros_type) for topic, ros_type in topics.OUTPUTS.items()}
        self.waitset = WaitSet(endpoints.participant)
        for reader in (self.images, self.compressed, *self.queries):
            self.waitset.attach(ReadCondition(reader, _ANY))
        self.last_frame: tuple[str, tuple[int, int]] | None = None  # (transport, stamp) of the last frame
        self.frames = 0
        # a second tracker on the same topics answers every frame twice: watch for other writers
        self._peers = endpoints.reader(topics.TARGET, topics.OUTPUTS[topics.TARGET], "sensor_data")
        self._own_key = endpoints.participant.guid
        self._target_name = endpoints.topic_name(topics.TARGET)
        self._others, self._next_peer_check = 0, 0.0
        self._big_frame_logged = False

    def poll(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for data, handle it; returns the number of frames tracked."""
        self.waitset.wait(duration(seconds=timeout_s))
        samples = [m for reader in self.queries for m in _take(reader)]
        samples.sort(key=lambda m: m.sample_info.source_timestamp)
        for msg in samples:  # oldest first, across both readers
            if not self.once.first(msg.sample_info.source_timestamp, msg.data):
                continue
            accepted, why = self.session.set_query(msg.data)
            if not accepted:
                log.warning("query rejected: %s", why)
        raw, packed = _take(self.images), _take(self.compressed)
        candidates = [(_stamp(m.header), m, False) for m in raw] + [(_stamp(m.header), m, True) for m in packed]
        if not candidates:
            return 0
        stamp, msg, is_compressed = max(candidates, key=lambda c: c[0])
        current = ("compressed" if is_compressed else "raw", stamp)
        last, self.last_frame = self.last_frame, current
        if is_twin(last, current):
            return 0
        return self._track(msg, is_compressed)

    def check_peers(self) -> int:
        """Writers of our ``target`` topic in other participants; one warning each time more appear."""
        handles = self._peers.get_matched_publications()
        keys = {str(self._peers.get_matched_publication_data(h).participant_key) for h in handles}
        others = len(keys - {str(self._own_key)})
        if others > self._others:
            log.warning("another process also publishes %s (%d other writer(s)): two trackers on the same topics "
                        "answer every frame twice; give each its own --namespace (or stop one)",
                        self._target_name, others)
        self._others = others
        return others

    def _note_size(self, msg) -> None:
        """Log once when a raw frame is larger than the socket buffer the kernel granted (most such
        frames never arrive: see transport.granted_receive_buffer)."""
        granted = transport.GRANTED_RECEIVE_BUFFER
        size = len(getattr(msg, "data", b""))
        if granted and size > granted and not self._big_frame_logged:
            self._big_frame_logged = True
            log.warning("a %.1f MB image arrived, more than the %.1f MB socket receive buffer the kernel granted: "
                        "most frames of this size will be lost (raise net.core.rmem_max, docs/RELIABILITY.md)",
                        size / 2**20, granted / 2**20)

    def _track(self, msg, is_compressed: bool) -> int:
        if not is_compressed:
            self._note_size(msg)
        decode = (lambda: decode_compressed(msg.format, msg.data)) if is_compressed else (lambda: image_fields_to_rgb(msg))
        outputs = self.session.process(decode, msg.header, log.error)
        if outputs is None:
            return 0
        for topic, ros_type, fields in outputs.messages():
            self.writers[topic].write(conv.build(ros_type, fields, dds_types.make, dds_types.dds_array))
        self.frames += 1
        return 1

    def run(self, stop: threading.Event, max_frames: int = 0, duration_s: float = 0.0) -> int:
        """Loop until ``stop`` is set, ``max_frames`` frames were tracked or ``duration_s`` passed."""
        end = time.monotonic() + duration_s if duration_s > 0 else float("inf")
        while not stop.is_set() and time.monotonic() < end and not (max_frames and self.frames >= max_frames):
            try:
                if time.monotonic() >= self._next_peer_check:
                    self._next_peer_check = time.monotonic() + 1.0
                    self.check_peers()
                self.poll(min(0.1, max(end - time.monotonic(), 0.0)))
            except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be published: log, go on
                log.error("frame handling failed (%s: %s); continuing", type(exc).__name__, exc)
        return self.frames
