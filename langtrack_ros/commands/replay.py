"""``langtrack replay``: run the tracker over a ROS 2 bag (no ROS needed).

    langtrack replay --bag run1 --out results/run1 [--image-topic /camera/image_raw] [--query-topic /query]
    langtrack replay --bag run1 --out results/rt --realtime --gt run1_gt.txt

Writes ``<bag>.txt`` (x,y,w,h per image), ``<bag>_meta.csv`` and the bag ``<bag>_tracked`` with
the tracker's ``/target``, ``/relocalization`` and ``/detections`` messages. By default every image
is tracked; ``--realtime`` plays images at their recorded times and drops those the tracker is
too slow for (newest frame only, as on a robot), and reports the drop rate. ``--gt FILE`` (one
x,y,w,h line per image) or ``--gt-topic`` (TrackedTarget / Detection2DArray in the bag) scores
the run. Exit status 1 when nothing was tracked or the bag was damaged part-way.
"""
from __future__ import annotations

import argparse
import logging

from langtrack_ros.commands.arg_types import positive_float
from langtrack_ros.commands.tracker_options import add_tracker_arguments, tracker_and_settings

log = logging.getLogger("langtrack.replay")


def register(subparsers) -> None:
    parser = subparsers.add_parser("replay", help="track the images of a ROS 2 bag and write a result bag",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", required=True, help="bag folder (sqlite3 or mcap)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--image-topic", help="Image/CompressedImage topic (default: the only one in the bag)")
    parser.add_argument("--query-topic", help="std_msgs/String topic (default: /query if the bag has it)")
    parser.add_argument("--realtime", action="store_true", help="play at recorded times, drop frames when too slow")
    parser.add_argument("--speed", type=positive_float, default=1.0, help="realtime playback rate (2: twice as fast)")
    parser.add_argument("--gt", help="ground-truth file: one x,y,w,h line per image")
    parser.add_argument("--gt-topic", help="ground-truth topic in the bag (TrackedTarget or Detection2DArray)")
    add_tracker_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from langtrack_ros.evaluation.bag_replay import replay_bag

    tracker, query, _ = tracker_and_settings(args)
    s = replay_bag(args.bag, args.out, tracker, args.image_topic, args.query_topic, query, realtime=args.realtime,
                   speed=args.speed, gt_file=args.gt, gt_topic=args.gt_topic)
    print(f"{s.frames} images on {s.image_topic}, {s.tracked} tracked, {s.failed} failed; "
          f"predictions {s.predictions}; result bag {s.result_bag}")
    if args.realtime:
        print(f"realtime: {s.dropped} of {s.frames} images dropped (drop rate {s.drop_rate:.1%})")
    if s.scores:
        print(f"score ({s.scores['convention']}, honest, {s.scores['frames_with_gt']} frames with ground truth): "
              f"AUC={s.scores['auc']:.3f} PRE@20={s.scores['pre']:.3f}")
    if s.damaged:
        log.error("bag damaged part-way (%s): results cover the images read before it", s.damaged)
        return 1
    if s.frames and not s.tracked:
        log.error("no image was tracked: no query was in force (the bag's queries came after its images or were "
                  "all refused); pass --query")
        return 1
    return 0
