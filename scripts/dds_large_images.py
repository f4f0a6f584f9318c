"""How many large Image messages survive Cyclone DDS between two processes, with Cyclone's
defaults and with config/cyclonedds.xml (docs/RELIABILITY.md quotes the output).

    python scripts/dds_large_images.py [--frames 10] [--rate 5]

A camera process publishes rgb8 frames BEST_EFFORT (as cameras do) on loopback; this process
reads them with the tracker's image QoS and counts. Loopback needs no switch, so every loss here
is the receiving socket's buffer overflowing while one 6-25 MB message arrives in pieces.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = ("<CycloneDDS><Domain Id='any'><General><Interfaces><NetworkInterface name='lo'/></Interfaces>"
            "<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>"
            "<Peers><Peer address='127.0.0.1'/></Peers></Discovery></Domain></CycloneDDS>")
SIZES = {"640x480": (640, 480), "1080p": (1920, 1080), "4K": (3840, 2160)}


def camera(domain: int, width: int, height: int, frames: int, rate: float) -> None:
    import numpy as np

    from langtrack_ros.dds.transport import Endpoints
    from langtrack_ros.dds.types import dds_array, make
    from langtrack_ros.adapters import conversions as conv
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.adapters import topics
    from langtrack_ros.adapters.image_codec import encode_image

    writer = Endpoints(domain).writer(topics.CAMERA, defs.IMAGE, "sensor_data")
    end = time.monotonic() + 20
    while not writer.get_matched_subscriptions() and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.5)
    image = encode_image(np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8))
    for i in range(frames):
        writer.write(conv.build(defs.IMAGE, {**image, "header": conv.header_fields(i + 1, 0, "cam")}, make, dds_array))
        time.sleep(1.0 / rate)
    time.sleep(1.0)


def count(domain: int, size: str, frames: int, rate: float, uri: str) -> int:
    from langtrack_ros.dds.transport import Endpoints
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.adapters import topics

    os.environ["CYCLONEDDS_URI"] = uri
    reader = Endpoints(domain).reader(topics.CAMERA, defs.IMAGE, "sensor_data")
    width, height = SIZES[size]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sender = subprocess.Popen([sys.executable, __file__, "--camera", str(domain), str(width), str(height),
                               str(frames), str(rate)], env=env)
    stamps = set()
    while sender.poll() is None:
        stamps |= {m.header.stamp.sec for m in reader.take(8) if hasattr(m, "header")}
        time.sleep(0.002)
    stamps |= {m.header.stamp.sec for m in reader.take(8) if hasattr(m, "header")}
    return len(stamps)


def main() -> None:
    if sys.argv[1:2] == ["--camera"]:
        a = sys.argv[2:]
        return camera(int(a[0]), int(a[1]), int(a[2]), int(a[3]), float(a[4]))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--rate", type=float, default=5.0)
    args = parser.parse_args()
    shipped = f"file://{ROOT / 'config' / 'cyclonedds.xml'}"
    print("| image | Cyclone defaults | config/cyclonedds.xml |\n|---|---|---|")
    for n, size in enumerate(SIZES):
        cells = []
        for k, uri in enumerate((LOOPBACK, f"{shipped},{LOOPBACK}")):
            domain = 150 + 2 * n + k  # a fresh domain per run: each child process reads env at start
            env_uri = uri
            got = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                                  f"import runpy; m = runpy.run_path({__file__!r}); "
                                  f"print(m['count']({domain}, {size!r}, {args.frames}, {args.rate}, {env_uri!r}))"],
                                 capture_output=True, text=True, env={**os.environ, "CYCLONEDDS_URI": uri,
                                                                      "PYTHONPATH": str(ROOT)}, timeout=120)
            cells.append(f"{got.stdout.strip().splitlines()[-1] if got.stdout.strip() else 'error'}/{args.frames}")
        print(f"| {size} rgb8 | {cells[0]} | {cells[1]} |")
    print(f"\n`python scripts/dds_large_images.py --frames {args.frames} --rate {args.rate}`; "
          f"net.core.rmem_max = {Path('/proc/sys/net/core/rmem_max').read_text().strip()}")


if __name__ == "__main__":
    main()
