"""``langtrack import``: one own recording (video or ROS 2 bag) + boxes + sentence -> LaSOT layout.

    langtrack import --video run1.mp4 --boxes run1_boxes.txt --sentence "the red backpack" --out data/mine
    langtrack import --bag run2 --boxes run2_boxes.txt --sentence "..." --out data/mine [--image-topic T]

Then fine-tune with ``--set 'data.sources=[{kind: dataset, name: lasot, root: data/mine, weight: 1.0}]'``
(docs/TRAINING.md). Box file: one x,y,w,h row per image; 0,0,0,0 = target not visible.
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("import", help="turn a recording + boxes + sentence into training data",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="video file (anything OpenCV decodes)")
    src.add_argument("--bag", help="ROS 2 bag folder (sqlite3 or mcap)")
    parser.add_argument("--boxes", required=True, help="x,y,w,h per image (pixels), one row per image")
    parser.add_argument("--sentence", required=True, help="the words that describe the target")
    parser.add_argument("--out", required=True, help="dataset root (LaSOT layout); sequences accumulate here")
    parser.add_argument("--name", help="sequence name (default: the recording's file name)")
    parser.add_argument("--category", default="recording", help="LaSOT class folder (default: recording)")
    parser.add_argument("--image-topic", help="bag image topic (default: the only one)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from langtrack_ros.data.recordings import import_recording

    folder = import_recording(args.video or args.bag, args.boxes, args.sentence, args.out, name=args.name,
                              category=args.category, image_topic=args.image_topic)
    print(f"wrote {folder}")
    return 0
