"""ROS 2 topics over plain Cyclone DDS: participants, readers and writers that ROS nodes match.

Rules (shared/design/ROS.md): topic ``/a/b`` is DDS topic ``rt/a/b``; payloads are XCDR1
(forced on every endpoint); endpoints advertise ``typehash=RIHS01_...;`` in USER_DATA and the
participant ``enclave=/;``. Such a process shows in ``ros2 topic list/echo`` but not as a node.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from cyclonedds.core import DDSException, Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from langtrack_ros.dds.types import struct_type
from langtrack_ros.adapters.definitions import type_hash

log = logging.getLogger(__name__)
XCDR1 = Policy.DataRepresentation(use_cdrv0_representation=True)
QOS_PRESETS = {
    # camera streams: newest frame only, never stall the publisher (matches reliable writers too)
    "sensor_data": [Policy.Reliability.BestEffort, Policy.History.KeepLast(1), Policy.Durability.Volatile],
    # ROS default profile
    "reliable": [Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)),
                 Policy.History.KeepLast(10), Policy.Durability.Volatile],
    # `ros2 topic pub`'s default: a late reader still gets the last sample (query sent once at start-up)
    "latched": [Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)),
                Policy.History.KeepLast(1), Policy.Durability.TransientLocal],
}


def ros_topic(name: str, namespace: str = "/") -> str:
    """ROS name -> DDS topic name; relative names resolve under ``namespace``."""
    if not name.startswith("/"):
        name = "/".join(part for part in (namespace.strip("/"), name) if part)
    return "rt/" + name.strip("/")


def qos_preset(name: str) -> list:
    try:
        return QOS_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown QoS preset {name!r}; choose from {sorted(QOS_PRESETS)}") from None


def large_image_config(path: str | Path | None = None) -> str:
    """Put the Cyclone settings for large images (config/cyclonedds.xml: socket buffers, message and
    fragment sizes) in front of any CYCLONEDDS_URI the user set, so the user's settings still win.
    Cyclone reads the variable when a process creates its first participant: call this before.
    Returns the value set."""
    from langtrack_ros.paths import config_file

    path = Path(path) if path else config_file("cyclonedds.xml")
    if not path.is_file():
        raise FileNotFoundError(f"Cyclone DDS config not found: {path}")
    own = f"file://{path.resolve()}"
    user = os.environ.get("CYCLONEDDS_URI", "").strip()
    if own not in user:
        os.environ["CYCLONEDDS_URI"] = f"{own},{user}" if user else own
    log.info("Cyclone DDS config: %s%s", path, " + CYCLONEDDS_URI" if user else "")
    granted_receive_buffer(path)
    return os.environ["CYCLONEDDS_URI"]


RMEM_MAX = Path("/proc/sys/net/core/rmem_max")
GRANTED_RECEIVE_BUFFER: int | None = None  # set by granted_receive_buffer: larger frames are logged once
_SIZE = re.compile(r"SocketReceiveBufferSize[^>]*max=\"(\d+)\s*([kKmMgG]?)i?B?\"")


def granted_receive_buffer(xml_path: str | Path) -> int | None:
    """The socket receive buffer the kernel will give Cyclone for the size ``xml_path`` asks for
    (Linux caps a request at net.core.rmem_max and doubles it); None when unknown. Logs one
    warning when that is less than asked: raw images larger than it cannot arrive whole, and
    Cyclone itself says nothing (0 of 10 4K frames arrived, silently)."""
    match = _SIZE.search(Path(xml_path).read_text())
    try:
        cap = int(RMEM_MAX.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not match:
        return None
    asked = int(match.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match.group(2).lower()]
    granted = 2 * min(asked, cap)
    if granted < asked:
        log.warning("the kernel caps socket receive buffers at net.core.rmem_max = %.1f MB, so Cyclone gets "
                    "%.1f MB of the %.0f MB %s asks for: raw images larger than that (4K rgb8 is 25 MB, 1080p "
                    "6 MB) will not arrive. Raise the cap: sudo sysctl -w net.core.rmem_max=%d "
                    "(docs/RELIABILITY.md), or publish image/compressed", cap / 2**20, granted / 2**20,
                    asked / 2**20, Path(xml_path).name, asked)
    global GRANTED_RECEIVE_BUFFER
    GRANTED_RECEIVE_BUFFER = granted
    return granted





def participant(domain_id: int) -> DomainParticipant:
    return DomainParticipant(domain_id, qos=Qos(Policy.Userdata(data=b"enclave=/;")))


class Endpoints:
    """Creates readers/writers for ROS topics on one participant, with ROS-compatible settings."""

    def __init__(self, domain_id: int, namespace: str = "/"):
        self.participant = participant(domain_id)
        self.namespace = namespace
        self._topics: dict[str, Topic] = {}

    def topic_name(self, name: str) -> str:
        """The ROS name ``name`` resolves to in this namespace (for log lines)."""
        return "/" + ros_topic(name, self.namespace)[3:]

    def _topic(self, name: str, ros_type: str) -> Topic:
        dds_name = ros_topic(name, self.namespace)
        if dds_name not in self._topics:
            self._topics[dds_name] = Topic(self.participant, dds_name, struct_type(ros_type))
        return self._topics[dds_name]

    @staticmethod
    def _qos(ros_type: str, preset: str) -> Qos:
        user_data = Policy.Userdata(data=f"typehash={type_hash(ros_type)};".encode())
        return Qos(*qos_preset(preset), XCDR1, user_data)

    def reader(self, name: str, ros_type: str, preset: str = "reliable") -> DataReader:
        return DataReader(self.participant, self._topic(name, ros_type), qos=self._qos(ros_type, preset))

    def writer(self, name: str, ros_type: str, preset: str = "reliable") -> DataWriter:
        return DataWriter(self.participant, self._topic(name, ros_type), qos=self._qos(ros_type, preset))


def join(domain: int, namespace: str = "") -> Endpoints:
    """Endpoints on ``domain``; a domain Cyclone cannot join (no usable network interface, an id it
    refuses) is one ``ValueError`` line for the command, not a DDSException traceback."""
    try:
        return Endpoints(domain, namespace)
    except DDSException as exc:
        raise ValueError(f"cannot join DDS domain {domain}: {exc}") from None
