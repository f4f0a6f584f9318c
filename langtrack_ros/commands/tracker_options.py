"""Tracker options shared by the commands that drive a tracker from ROS data (dds, replay)."""
from __future__ import annotations

import argparse


def add_tracker_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --model, --backend, --tracker, --tracker-factory, --query."""
    parser.add_argument("--config", help="tracker parameter file (default: config/tracker.yaml)")
    parser.add_argument("--model", help="model file (default: the config's model)")
    parser.add_argument("--backend", help="auto | tensorrt | onnxruntime | torch (default: the config's)")
    parser.add_argument("--tracker", help="registry tracker name instead of the configured MVLM tracker")
    parser.add_argument("--tracker-factory", help="'module:function' or 'file.py:function' returning a tracker")
    parser.add_argument("--query", help="initial sentence (default: the config's initial_query)")


def tracker_and_settings(args):
    """(tracker, initial query, image QoS preset) from the shared options."""
    from langtrack_ros.adapters.session import make_tracker
    from langtrack_ros.tracking.tracker import load_settings

    settings = load_settings(args.config)  # read once: the tracker is built from these settings
    tracker = make_tracker(args.tracker, args.tracker_factory, settings, args.model, args.backend)
    query = args.query if args.query is not None else settings.initial_query
    return tracker, query, settings.image_qos
