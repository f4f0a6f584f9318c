"""How the rclpy tracker node copes with a camera faster than itself: frames dropped and camera ->
target latency, measured between real processes over Fast DDS (the PyPI ROS 2 wheels).

This process is the camera (rclpy, RELIABLE depth 10 like most drivers, stamped with the send time)
and the consumer of ``target``; ``tracker_node`` runs in a child process on a private domain. One
row per image QoS of the node (``image_qos`` parameter; both keep only the newest frame, depth 1).
Latency = arrival of the target - the image's stamp (one clock: both ends are here).

    .venv/bin/python scripts/ros_frame_drops.py [--frames 300] [--rate 60] [--size 640x480] [--write]

``--write`` replaces the section of docs/BENCHMARKS_RUNTIME.md between its markers.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "BENCHMARKS_RUNTIME.md"
BEGIN, END = "<!-- ros_frame_drops: begin -->", "<!-- ros_frame_drops: end -->"
DOMAIN = 120 + os.getpid() % 100
os.environ.update({"ROS_DOMAIN_ID": str(DOMAIN), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                   "ROS_LOG_DIR": tempfile.mkdtemp(prefix="ros-frame-drops-")})

import rclpy  # noqa: E402
from langtrack_msgs.msg import TrackedTarget  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402


def spin(node, seconds: float, done=lambda: False) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not done():
        rclpy.spin_once(node, timeout_sec=0.005)
    return done()


def frame(i: int, height: int, width: int) -> np.ndarray:
    rgb = np.full((height, width, 3), 90, np.uint8)
    x = (i * 4) % (width - 80)
    rgb[height // 3:height // 3 + 60, x:x + 60] = (220, 30, 30)
    return rgb


def run(node, qos_name: str, args) -> dict:
    width, height = (int(v) for v in args.size.split("x"))
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    tracker = subprocess.Popen([sys.executable, "-m", "langtrack_ros.ros.tracker_node", "--ros-args", "-r",
                                "__ns:=/bench", "-p", f"image_qos:={qos_name}", "-p", f"backend:={args.backend}",
                                "-p", "initial_query:=the red square"], stdout=log, stderr=subprocess.STDOUT)
    arrivals: dict[float, float] = {}
    sub = node.create_subscription(TrackedTarget, "/bench/target",
                                   lambda m: arrivals.setdefault(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9,
                                                                 time.time()), 100)
    camera = node.create_publisher(Image, "/bench/image", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    try:
        if not spin(node, 120, lambda: camera.get_subscription_count() > 0):
            sys.exit(f"tracker_node never subscribed; log: {log.name}")
        spin(node, 2.0)
        for i in range(20):  # warm-up (first steps allocate), not counted
            camera.publish(msg(frame(i, height, width), time.time()))
            spin(node, 0.1)
        spin(node, 1.0)
        arrivals.clear()
        sent, period, start = [], 1.0 / args.rate, time.monotonic()
        for i in range(args.frames):
            stamp = time.time()
            camera.publish(msg(frame(i, height, width), stamp))
            sent.append(stamp)
            spin(node, max(0.0, start + (i + 1) * period - time.monotonic()))
        sending = time.monotonic() - start  # tracked FPS: per second of camera time
        spin(node, 2.0)
    finally:
        tracker.send_signal(subprocess.signal.SIGINT)
        tracker.wait(20)
        node.destroy_subscription(sub)
        node.destroy_publisher(camera)
    latency = np.array([arrivals[s] - s for s in sent if s in arrivals]) * 1000
    return {"qos": qos_name, "sent": len(sent), "tracked": len(latency), "rate": args.rate,
            "fps": len(latency) / sending, "p50": np.median(latency), "p95": np.percentile(latency, 95),
            "max": latency.max()}


def msg(rgb: np.ndarray, stamp: float) -> Image:
    out = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", step=rgb.shape[1] * 3, data=rgb.tobytes())
    out.header.stamp.sec, out.header.stamp.nanosec = int(stamp), int((stamp % 1) * 1e9)
    out.header.frame_id = "camera"
    return out


def table(rows: list[dict], args) -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [BEGIN, f"Produced by `.venv/bin/python scripts/ros_frame_drops.py --frames {args.frames} --rate "
             f"{args.rate} --size {args.size} --backend {args.backend} --write` on "
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC (ROS 2 Kilted wheels from PyPI, rclpy + Fast DDS, "
             f"one machine; load average at the end {load}: a shared machine, compare rows of one run).",
             "", f"{args.size} rgb8 at {args.rate} Hz from a RELIABLE depth-10 rclpy camera into `tracker_node` "
             "(MVLM); latency = target arrival - image stamp, over the frames that were tracked; tracked FPS = "
             "tracked frames per second of camera time.", "",
             "| node image_qos | frames sent | tracked | dropped | tracked FPS | median ms | p95 ms | max ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['qos']} (depth 1) | {r['sent']} | {r['tracked']} | {1 - r['tracked'] / r['sent']:.0%} | "
                     f"{r['fps']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} |")
    lines += ["", "Depth 1 keeps the newest frame only: the node drops what it cannot keep up with and the latency "
              "stays one step plus transport instead of growing with a queue.", END]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--write", action="store_true", help=f"update {DOC.relative_to(REPO)}")
    args = parser.parse_args(argv)
    rclpy.init()
    node = rclpy.create_node("langtrack_frame_drops")
    try:
        rows = [run(node, qos, args) for qos in ("sensor_data", "reliable")]
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    text = table(rows, args)
    print(text)
    if args.write:
        doc = DOC.read_text()
        section = "\n## rclpy node under a fast camera (Fast DDS, PyPI wheels)\n\n" + text + "\n"
        if BEGIN in doc:
            head, rest = doc.split(BEGIN, 1)
            doc = head.rstrip("\n") + "\n" + text + rest.split(END, 1)[1]
        else:
            doc = doc.rstrip("\n") + "\n" + section
        DOC.write_text(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
