"""``langtrack console``: a browser page to watch the tracker and tell it what to follow.

    langtrack console --video clip.mp4 --query "the person crossing the road"
    langtrack console --camera 0 --host 0.0.0.0        # a phone on the robot's network: token printed
    langtrack console --image-topic /camera/image_raw  # ROS 2 topics over Cyclone DDS, as `langtrack dds`
    langtrack console --bag run1

Prints the URL to open (http://127.0.0.1:8765/ by default, config/console.yaml). The page shows the
live image with the box, the confidence, ROI/GLOBAL, a confidence plot and the relocalization
events; its text box sets a new sentence (the topic's and the service's rules) and its button
pauses tracking. It binds to localhost unless --host is given; any other host needs a token
(--token, or a random one printed with the URL). With --image-topic the tracker also serves the
DDS topics exactly as `langtrack dds` does. Stops on Ctrl-C, or after --duration seconds.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path

from langtrack_ros.adapters import topics
from langtrack_ros.commands.tracker_options import add_tracker_arguments, tracker_and_settings

log = logging.getLogger("langtrack.console")


def register(subparsers) -> None:
    p = subparsers.add_parser("console", help="browser page: live tracking view, new sentence, pause (phone too)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="video file or numbered frames (img/%%04d.jpg)")
    src.add_argument("--camera", type=int, help="webcam index")
    src.add_argument("--bag", help="ROS 2 bag folder (images and /query messages played at recorded times)")
    src.add_argument("--image-topic", help="camera topic over Cyclone DDS (<topic>/compressed too), as `langtrack dds`")
    p.add_argument("--query-topic", help="bag or DDS: std_msgs/String topic of sentences (default: query)")
    p.add_argument("--namespace", default="/", help="DDS: namespace of the relative topic names")
    p.add_argument("--domain-id", type=int, default=None, help="DDS domain (default: ROS_DOMAIN_ID or 0)")
    p.add_argument("--host", help="address to listen on (default: config/console.yaml, localhost); "
                                  "any other address requires a token")
    p.add_argument("--port", type=int, help="port (default: config/console.yaml; 0: any free port)")
    p.add_argument("--token", help="token the page must carry (default: random when --host is not localhost)")
    p.add_argument("--console-config", help="console settings file merged over config/console.yaml")
    p.add_argument("--loop", action="store_true", default=None, help="video file: start again at the end")
    p.add_argument("--no-pace", dest="pace", action="store_false", default=None,
                   help="video file or bag: as fast as the tracker goes, not at the recorded rate")
    p.add_argument("--max-frames", type=int, default=0, help="stop tracking after N frames (0: never)")
    p.add_argument("--duration", type=float, default=0.0, help="quit after S seconds (0: on Ctrl-C)")
    add_tracker_arguments(p)
    p.set_defaults(func=run)


def _items(args, settings, query: str):
    from langtrack_ros.console.runner import bag_items, video_items

    if args.bag:
        return bag_items(args.bag, None, args.query_topic, query), False
    return video_items(args.video if args.video is not None else args.camera, settings.loop), args.video is None


def _dds(args, console, session, image_qos, stop: threading.Event) -> int:
    """The DDS process of `langtrack dds`, its session watched by the console."""
    import os

    from langtrack_ros.dds.tracker_process import DdsTracker
    from langtrack_ros.dds.transport import join, large_image_config

    large_image_config(None)
    domain = args.domain_id if args.domain_id is not None else int(os.environ.get("ROS_DOMAIN_ID", "0"))
    node = DdsTracker(console.watch(session), join(domain, args.namespace), args.image_topic,
                      args.query_topic or topics.QUERY, image_qos)
    return node.run(stop, args.max_frames, 0.0)


def run(args) -> int:
    from langtrack_ros.adapters.session import TrackingSession
    from langtrack_ros.console.runner import Console, Player, load_console_settings

    if args.video is not None and "%" not in args.video and not Path(args.video).is_file():
        raise FileNotFoundError(f"video not found: {args.video}")
    settings = load_console_settings(args.console_config, host=args.host, port=args.port, token=args.token,
                                     loop=args.loop, pace=args.pace)
    tracker, query, image_qos = tracker_and_settings(args)
    session = TrackingSession(tracker, query)
    console = Console(settings, session.set_query)
    stop, failure = threading.Event(), []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def track() -> None:
        try:
            if args.image_topic:
                frames = _dds(args, console, session, image_qos, stop)
            else:
                items, live = _items(args, settings, query)
                player = Player(console, session, settings.pace and not live, live)  # a camera paces itself
                frames = player.run(items, stop, args.max_frames)
            log.info("source ended after %d tracked frames; the page keeps the last one (Ctrl-C to quit)", frames)
            console.hub.update(ended=True)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread, which exits with it
            failure.append(exc)
            stop.set()

    print(f"operator console: {console.start()}", flush=True)
    worker = threading.Thread(target=track, name="langtrack-tracking", daemon=True)
    worker.start()
    end = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    while not stop.wait(0.2) and time.monotonic() < end:
        pass
    stop.set()
    worker.join(timeout=5)
    console.stop()
    if failure:
        raise failure[0]
    return 0
