"""``langtrack dds``: serve a ROS 2 robot from a machine without ROS (Cyclone DDS, same topics).

    langtrack dds --image-topic /camera/image_raw --namespace /langtrack

Topic names are relative, as the ROS node's (langtrack_ros/adapters/topics.py): with
``--namespace /langtrack`` the query is read on ``/langtrack/query`` and the results go to
``/langtrack/target``, ...; ``--image-topic`` and ``--query-topic`` remap them, as launch does.
Tracker settings (model, backend, gate, image QoS, initial query) come from config/tracker.yaml
or ``--config``, like the ROS node. ``--tracker`` picks a registry tracker instead and
``--tracker-factory module:function`` (or ``file.py:function``) any callable returning a tracker.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading

from langtrack_ros.adapters import topics
from langtrack_ros.commands.arg_types import domain_id, non_negative_float, non_negative_int
from langtrack_ros.commands.tracker_options import add_tracker_arguments, tracker_and_settings

log = logging.getLogger("langtrack.dds")


def register(subparsers) -> None:
    parser = subparsers.add_parser("dds", help="run the tracker on ROS 2 topics over Cyclone DDS (no ROS needed)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-topic", default=topics.CAMERA,
                        help="remap of `image`: the camera's sensor_msgs/Image topic (<topic>/compressed too)")
    parser.add_argument("--query-topic", default=topics.QUERY, help="remap of `query` (std_msgs/String)")
    parser.add_argument("--namespace", default="/",
                        help="namespace that relative names resolve under, as a ROS node's (query, target, ...)")
    parser.add_argument("--domain-id", type=domain_id, default=None, help="DDS domain (default: ROS_DOMAIN_ID or 0)")
    parser.add_argument("--max-frames", type=non_negative_int, default=0, help="stop after N tracked frames (0: never)")
    parser.add_argument("--duration", type=non_negative_float, default=0.0, help="stop after S seconds (0: never)")
    parser.add_argument("--dds-config", default=None,
                        help="Cyclone DDS XML applied before CYCLONEDDS_URI (default config/cyclonedds.xml: "
                             "buffers for 1080p/4K images); 'none' to use Cyclone's defaults")
    add_tracker_arguments(parser)
    parser.set_defaults(func=run)


def env_domain_id() -> int:
    """ROS_DOMAIN_ID (0 when unset), checked like --domain-id."""
    import argparse
    import os

    text = os.environ.get("ROS_DOMAIN_ID", "").strip() or "0"
    try:
        return domain_id(text)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"ROS_DOMAIN_ID: {exc}") from None


def run(args) -> int:
    from langtrack_ros.dds.tracker_process import DdsTracker
    from langtrack_ros.dds.transport import join, large_image_config
    from langtrack_ros.adapters.session import TrackingSession

    if args.dds_config != "none":
        large_image_config(args.dds_config)  # before the first participant: Cyclone reads it once

    tracker, query, image_qos = tracker_and_settings(args)
    domain = args.domain_id if args.domain_id is not None else env_domain_id()
    endpoints = join(domain, args.namespace)
    node = DdsTracker(TrackingSession(tracker, query), endpoints, args.image_topic, args.query_topic, image_qos)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    names = [topics.resolve(t, args.namespace) for t in (args.image_topic, args.query_topic, *topics.OUTPUTS)]
    log.info("DDS tracker on domain %d: %s + %s -> %s", domain, names[0], names[1], ", ".join(names[2:]))
    frames = node.run(stop, args.max_frames, args.duration)
    log.info("tracked %d frames", frames)
    return 0
