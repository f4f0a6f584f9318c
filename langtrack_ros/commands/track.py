"""``langtrack track``: follow a described target in a user's video file or webcam, no ROS needed.

The query can be changed while it runs: type a new sentence on stdin and press Enter. The
annotated video and per-frame results (JSON lines) are written to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
from pathlib import Path

from langtrack_ros.commands.arg_types import finite_float, non_negative_int

log = logging.getLogger("langtrack.track")


def register(sub) -> None:
    p = sub.add_parser("track", help="track a described target in a video file or a webcam")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="video file (anything OpenCV decodes) or numbered frames, e.g. img/%%04d.jpg")
    src.add_argument("--camera", type=int, help="webcam index")
    p.add_argument("--query", required=True, help='sentence naming the target, e.g. "the person in the red jacket"')
    p.add_argument("--out", default="track_out", help="output folder for the annotated video and results")
    p.add_argument("--tracker", default="mvlm", choices=("mvlm", "vlt"),
                   help="mvlm (language only) or vlt (template + language; its first box comes from MVLM's "
                        "language-only grounding, or from --init-box)")
    p.add_argument("--init-box", type=finite_float, nargs=4, metavar=("X", "Y", "W", "H"),
                   help="vlt only: the target's box in the first frame instead of MVLM's grounding")
    p.add_argument("--model", help="model file (default: embedded default)")
    p.add_argument("--config", help="tracker settings file merged over config/tracker.yaml (mvlm only)")
    p.add_argument("--backend", help="auto | tensorrt | onnxruntime | torch (default: config/tracker.yaml)")
    p.add_argument("--max-frames", type=non_negative_int, default=0, help="stop after this many frames (0: until the end)")
    p.add_argument("--no-stdin", action="store_true", help="do not read new queries from stdin")
    p.add_argument("--snapshot", default="", metavar="I,J,...",
                   help="frame numbers (from 0) to save side by side in OUT/snapshot.png")
    p.add_argument("--priors", default=None, metavar="PARTS",
                   help="real-world priors: none | all | detector,imagenet,colour,spatial (default: config/priors.yaml)")
    p.set_defaults(func=run)


def _stdin_queries(q: "queue.Queue[str]") -> None:
    for line in sys.stdin:
        q.put(line.rstrip("\n"))


def _make_tracker(args: argparse.Namespace):
    from langtrack_ros.builder import load_tracker

    if args.tracker != "mvlm" and args.config:
        raise ValueError("--config holds MVLM tracker settings; --tracker vlt reads config/vlt_tracker.yaml")
    if args.tracker == "mvlm":
        if args.init_box is not None:
            raise ValueError("--init-box is for --tracker vlt (MVLM tracks from the sentence alone)")
        return load_tracker(args.model, args.backend, config_path=args.config, priors=args.priors)
    from langtrack_ros.tracking.tracker import MVLMTracker
    from langtrack_ros.vlt.tracker import load_vlt_tracker

    if args.init_box is not None:  # checked before loading anything, and named as the user typed it
        try:
            MVLMTracker._check_init_box(args.init_box)
        except ValueError as exc:
            raise ValueError(f"--init-box {' '.join(f'{v:g}' for v in args.init_box)}: {exc}") from None
    first = "user" if args.init_box is not None else "mvlm"
    return load_vlt_tracker(args.model, first_box=first)


def run(args: argparse.Namespace) -> int:
    import cv2

    from langtrack_ros.adapters.overlay import VideoWriter, annotate
    from langtrack_ros.adapters.session import TrackingSession
    from langtrack_ros.files import LineWriter, write_error, write_image

    source = args.video if args.video is not None else args.camera
    if args.video is not None and "%" not in args.video and not Path(args.video).is_file():
        raise FileNotFoundError(f"video not found: {args.video}")
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise ValueError(f"cannot open video source {source!r}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    snapshot = {int(v) for v in args.snapshot.split(",") if v.strip()}
    out = Path(args.out)
    try:  # before loading the models: a read-only --out fails at once
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, out) from None
    tracker = _make_tracker(args)
    session = TrackingSession(tracker)  # the query rules every adapter shares
    accepted, why = session.set_query(args.query, **({"init_box": args.init_box} if tracker.needs_box else {}))
    if not accepted:
        raise ValueError(f"--query: {why}")
    pending: "queue.Queue[str]" = queue.Queue()
    if not args.no_stdin:
        threading.Thread(target=_stdin_queries, args=(pending,), daemon=True).start()
    n, shots = 0, []
    with VideoWriter(out / "track.mp4", fps) as video, LineWriter(out / "results.jsonl") as results:
        while not args.max_frames or n < args.max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            while not pending.empty():
                accepted, why = session.set_query(pending.get())
                if not accepted:  # the session logs accepted ones
                    log.error("query refused: %s", why)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            result = tracker.step(rgb)
            query = session.query
            frame = annotate(rgb, result, query, frame=n)
            video.write(frame)
            if n in snapshot:
                shots.append(frame)
            results.write(json.dumps({"frame": n, "query": query, **result.as_dict()}))
            n += 1
    cap.release()
    if shots:
        from langtrack_ros.evaluation.playback import grid

        write_image(out / "snapshot.png", cv2.cvtColor(grid(shots), cv2.COLOR_RGB2BGR))
    print(f"tracked {n} frames -> {out / 'track.mp4'}, {out / 'results.jsonl'}")
    return 0
