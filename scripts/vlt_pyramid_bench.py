"""VLT with the scale pyramid: frames per second with one forward per scale (sequential) vs the 3
crops in one batched forward, side by side on the same real frames, written to docs/BENCHMARKS.md.

    python scripts/vlt_pyramid_bench.py [--frames 60] [--passes 3] [--threads 1] [--out docs/BENCHMARKS.md]

Two trackers (the shipped config/vlt_tracker.yaml model and settings, one per mode) step every
frame in turn, so load on the shared machine hits both alike; the first frame of each pass
initialises them with the ground-truth box and is not timed. The boxes of the two modes are
compared too (they must agree: BatchNorm is in eval mode). The section between the markers is
replaced; the rest of the file is left alone (``langtrack bench`` keeps it).
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BEGIN, END = "<!-- vlt-pyramid: scripts/vlt_pyramid_bench.py -->", "<!-- /vlt-pyramid -->"


def _sequence(frames: int):
    from langtrack_ros.data.loaders import load_dataset

    seq = load_dataset("otb99lang", ROOT.parent / "shared" / "data" / "real")[0]
    return seq.name, [seq.image(i) for i in range(min(frames + 1, len(seq.frames)))], seq.sentence, seq.boxes[0]


def bench(threads: int, frames, sentence, box, passes: int) -> tuple[dict, float]:
    """Per-frame step times (ms) per mode and the largest box difference between the modes (px), both
    stepping from the sequential tracker's box (left alone, peak flips between near-equal cells
    after a 1e-6 difference in the maps let the two trajectories drift apart)."""
    from langtrack_ros.vlt.tracker import load_vlt_tracker

    trackers = {}
    for batched in (False, True):
        trackers[batched] = load_vlt_tracker(threads=threads, scale_mode="pyramid")
        trackers[batched].batched = batched
    torch.set_num_threads(threads)
    times, diff = {False: [], True: []}, 0.0
    for _ in range(passes):
        for t in trackers.values():
            t.set_query(sentence, box)
            t.step(frames[0])
        for image in frames[1:]:
            boxes, start = {}, trackers[False].box.copy()
            trackers[True].box = start.copy()  # same crops: the closed loop amplifies float rounding
            for batched, t in trackers.items():
                start = time.perf_counter()
                boxes[batched] = t.step(image).box
                times[batched].append((time.perf_counter() - start) * 1000.0)
            diff = max(diff, float(np.abs(boxes[True] - boxes[False]).max()))
    return {k: np.array(v) for k, v in times.items()}, diff


def render(results, name: str, n: int, passes: int, command: str) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [BEGIN, "## VLT scale pyramid: sequential vs batched forward", "",
             f"Produced by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: VLT "
             f"(config/vlt_tracker.yaml model, `scale_mode: pyramid`, 3 scales) on {n} frames of real `{name}` "
             f"x {passes} passes, torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPU cores, "
             f"load average at the end {load} (shared machine: compare rows of one run).",
             "ratio = batched FPS / sequential FPS; box diff = largest |batched - sequential| box coordinate, both "
             "stepping from the same box every frame.", "",
             "| threads | forward | median ms | mean ms | p90 ms | FPS | ratio | box diff px |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for threads, (times, diff) in results.items():
        fps = {k: 1000.0 / v.mean() for k, v in times.items()}
        for batched, label in ((False, "3 x batch 1 (sequential)"), (True, "1 x batch 3 (batched)")):
            v = times[batched]
            ratio = f"{fps[True] / fps[False]:.2f}" if batched else ""
            lines.append(f"| {threads} | {label} | {np.median(v):.2f} | {v.mean():.2f} | {np.percentile(v, 90):.2f} "
                         f"| {fps[batched]:.1f} | {ratio} | {diff:.1e} |")
    return "\n".join(lines + [END])


def write_section(path: Path, section: str) -> None:
    from langtrack_ros.files import atomic_write_text

    text = path.read_text() if path.is_file() else ""
    if BEGIN in text and END in text:
        text = text.split(BEGIN, 1)[0] + section + text.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic_write_text(path, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60, help="timed frames per pass (after the first)")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads (config: 1)")
    parser.add_argument("--out", default="docs/BENCHMARKS.md", help="Markdown file ('' = print only)")
    args = parser.parse_args(argv)
    name, frames, sentence, box = _sequence(args.frames)
    results = {t: bench(t, frames, sentence, box, args.passes) for t in args.threads}
    command = "python scripts/vlt_pyramid_bench.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    section = render(results, name, len(frames) - 1, args.passes, command.strip())
    print(section)
    if args.out:
        write_section(Path(args.out), section)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
