"""``langtrack replay``: run the tracker over a ROS 2 bag (no ROS needed), frame-exactly.

    langtrack replay --bag run1 --out results/run1 [--image-topic /camera/image_raw] [--query-topic /query]

Writes ``<bag>.txt`` (x,y,w,h per image), ``<bag>_meta.csv`` and the bag ``<bag>_tracked`` with
the tracker's ``/target``, ``/relocalization`` and ``/detections`` messages.
"""
from __future__ import annotations

import argparse

from langtrack_ros.commands.tracker_options import add_tracker_arguments, tracker_and_settings


def register(subparsers) -> None:
    parser = subparsers.add_parser("replay", help="track the images of a ROS 2 bag and write a result bag",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", required=True, help="bag folder (sqlite3 or mcap)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--image-topic", help="Image/CompressedImage topic (default: the only one in the bag)")
    parser.add_argument("--query-topic", help="std_msgs/String topic (default: the only one in the bag)")
    add_tracker_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from langtrack_ros.evaluation.bag_replay import replay_bag

    tracker, query, _ = tracker_and_settings(args)
    summary = replay_bag(args.bag, args.out, tracker, args.image_topic, args.query_topic, query)
    print(f"{summary.frames} images on {summary.image_topic}, {summary.tracked} tracked; "
          f"predictions {summary.predictions}; result bag {summary.result_bag}")
    return 0
