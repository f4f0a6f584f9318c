"""``langtrack eval``: run a tracker over a dataset and write predictions, reports and plots.

Defaults (convention per dataset, mode, event thresholds) come from ``config/eval.yaml``.
"""
from __future__ import annotations

import argparse

DATASETS = ("lasot", "tnl2k", "otb99lang", "mgit", "synth")


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a tracker on a dataset (success, precision, events)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--root", required=True, help="dataset root folder")
    p.add_argument("--tracker", required=True, help="tracker name (oracle, csrt, kcf, ...)")
    p.add_argument("--out", required=True, help="output folder; results go to OUT/<tracker>/")
    p.add_argument("--convention", default=None,
                   help="pytracking | got10k | lasot_matlab | tnl2k_matlab | mgit (default: per dataset, eval.yaml)")
    p.add_argument("--mode", default=None, choices=("honest", "toolkit"), help="headline mode (default: eval.yaml)")
    p.add_argument("--sequences", default=None, help="comma-separated sequence names to keep")
    p.add_argument("--max-frames", type=int, default=None, help="evaluate only the first N frames of each sequence")
    p.add_argument("--split", default=None, help="dataset split (train/test/val/...)")
    p.add_argument("--tracker-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="option passed to the tracker factory (repeatable)")
    p.add_argument("--search", choices=("gated", "global", "roi"), default=None,
                   help="mvlm only: A4 gated (default) | A1 global every frame | A2/A3 ROI without gate")
    p.add_argument("--config", default=None, help="eval settings YAML (default: config/eval.yaml)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from langtrack_ros.data.loaders import load_dataset
    from langtrack_ros.evaluation import harness, report
    from langtrack_ros.evaluation.registry import make_tracker, parse_options

    settings = harness.load_settings(args.config)
    convention = args.convention or settings.convention_for(args.dataset)
    names = [s.strip() for s in args.sequences.split(",") if s.strip()] if args.sequences else None
    sequences = load_dataset(args.dataset, args.root, split=args.split, sequences=names)
    options = parse_options(args.tracker_opt)
    if args.search:
        options["search"] = args.search
    tracker = make_tracker(args.tracker, **options)
    result = harness.evaluate(tracker, sequences, convention, args.mode or settings.mode, args.out,
                              dataset=args.dataset, tracker_name=getattr(tracker, "name", args.tracker), max_frames=args.max_frames,
                              settings=settings, progress=not args.no_progress)
    print(report.summary_line(result), flush=True)
    return 0
