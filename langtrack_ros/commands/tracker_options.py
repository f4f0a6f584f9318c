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
    parser.add_argument("--tracker-opt", action="append", metavar="KEY=VALUE",
                        help="repeatable: options of --tracker / --tracker-factory; for the MVLM tracker, "
                             "gate/search overrides such as tau=0.1 (its other settings: --config)")
    parser.add_argument("--query", help="initial sentence (default: the config's initial_query)")


def tracker_and_settings(args):
    """(tracker, initial query, image QoS preset) from the shared options: the MVLM tracker built
    from the settings (config/tracker.yaml + --config, read once), or --tracker / --tracker-factory
    from the registry with --tracker-opt options."""
    from langtrack_ros.builder import build_tracker, with_overrides
    from langtrack_ros.evaluation.registry import load_factory, make_tracker, parse_options
    from langtrack_ros.tracking.tracker import load_settings

    settings = load_settings(args.config)
    options = parse_options(getattr(args, "tracker_opt", None))
    if args.tracker_factory:  # a spec without ':' is a format error, never a registry lookup
        tracker = load_factory(args.tracker_factory)(**options)
    elif args.tracker and args.tracker != "mvlm":
        tracker = make_tracker(args.tracker, **options)
    else:  # options are gate/search overrides, e.g. tau=0.1
        tracker = build_tracker(with_overrides(settings, options), args.model or None, args.backend or None)
    query = args.query if args.query is not None else settings.initial_query
    return tracker, query, settings.image_qos
