"""10,000 frames through the `langtrack dds` process: its resident memory must stay flat.

    python scripts/dds_soak.py [--frames 10000] [--rate 100] [--model M] [--out docs/BENCHMARKS_SOAK.md]

This process is the camera (640x480 rgb8, BEST_EFFORT) and the operator (one query at the start,
a new one every 2,000 frames); the tracker runs in a child process exactly as on a robot
(MVLM, ONNX Runtime). The child's VmRSS is sampled from /proc every 500 frames. The camera
publishes faster than the tracker steps, so the newest-frame-only path (and its drops) is what
is exercised. Writes a Markdown table with the command that made it.
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langtrack_ros.dds.latency import LOOPBACK  # noqa: E402

QUERIES = ("the person on the left", "the red car", "the dog in front", "the man in a dark jacket", "the bike")


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=100.0, help="camera frames per second")
    parser.add_argument("--model", default="", help="model file (default: the tracker config's)")
    parser.add_argument("--every", type=int, default=500, help="RSS sample period in frames")
    parser.add_argument("--out", default="docs/BENCHMARKS_SOAK.md")
    args = parser.parse_args()
    os.environ.setdefault("CYCLONEDDS_URI", LOOPBACK)
    from langtrack_ros.dds.transport import Endpoints
    from langtrack_ros.dds.types import dds_array, make
    from langtrack_ros.adapters import conversions as conv
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.adapters import topics
    from langtrack_ros.adapters.image_codec import encode_image

    domain = 20 + os.getpid() % 40
    endpoints = Endpoints(domain)
    images = endpoints.writer(topics.CAMERA, defs.IMAGE, "sensor_data")
    queries = endpoints.writer(topics.resolve(topics.QUERY), defs.STRING)
    targets = endpoints.reader(topics.resolve(topics.TARGET), defs.TRACKED_TARGET)
    cmd = [sys.executable, "-m", "langtrack_ros.cli", "dds", "--domain-id", str(domain), "--backend", "onnxruntime"]
    cmd += ["--model", args.model] if args.model else []
    child = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not (images.get_matched_subscriptions() and targets.get_matched_publications()):
        if child.poll() is not None:
            sys.exit(f"langtrack dds exited: {child.stderr.read()[-2000:]}")
        time.sleep(0.1)
    time.sleep(0.5)
    rng = np.random.default_rng(0)
    clips = [encode_image(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) for _ in range(4)]
    samples, received, start = [], 0, time.monotonic()
    for i in range(args.frames):
        if i % 2000 == 0:
            queries.write(make(defs.STRING)(data=QUERIES[i // 2000 % len(QUERIES)]))
        fields = {**clips[i % len(clips)], "header": conv.header_fields(1000 + i, 0, "cam")}
        images.write(conv.build(defs.IMAGE, fields, make, dds_array))
        received += sum(1 for m in targets.take(64) if hasattr(m, "header"))
        if i % args.every == 0 or i == args.frames - 1:
            samples.append((i + 1, rss_mb(child.pid), received))
        time.sleep(max(0.0, start + (i + 1) / args.rate - time.monotonic()))
    time.sleep(1.0)
    received += sum(1 for m in targets.take(256) if hasattr(m, "header"))
    alive = child.poll() is None
    child.terminate()
    child.wait(20)
    write(args, samples, received, alive, time.monotonic() - start)


def write(args, samples, received, alive, seconds) -> None:
    first = next((s for s in samples if s[0] > 1000), samples[0])  # after warm-up (arenas, ORT buffers)
    last = samples[-1]
    command = "python scripts/dds_soak.py " + " ".join(sys.argv[1:])
    lines = ["# DDS soak: resident memory of `langtrack dds` over many frames", "",
             f"Produced by `{command}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
             f"({seconds:.0f} s, {os.cpu_count()} CPU cores, shared machine).", "",
             f"- {args.frames} frames of 640x480 rgb8 sent at {args.rate:g} Hz, a new query every 2,000 frames; "
             f"{received} targets came back (the rest were dropped as stale: newest frame only)",
             f"- tracker process alive at the end: {alive}",
             f"- RSS after warm-up (frame {first[0]}): {first[1]:.1f} MB; at the end: {last[1]:.1f} MB; "
             f"change {last[1] - first[1]:+.1f} MB", "",
             "| frames sent | tracker RSS MB | targets received |", "|---:|---:|---:|"]
    lines += [f"| {n} | {rss:.1f} | {got} |" for n, rss, got in samples]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
