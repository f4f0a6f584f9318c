"""Camera -> target latency over DDS, measured between real processes (``langtrack bench --runtime``).

This process plays the camera (640x480 rgb8, BEST_EFFORT, stamped with the send time) and the
consumer of ``target``; ``langtrack dds`` runs in a child process. Latency = arrival of the
target - the image's stamp (one clock: both ends are here). Run twice: with the MVLM tracker and
with :func:`null_tracker`, whose step costs nothing, so the second run is the transport alone
(two DDS hops, CDR, image decode, message building) and its share of the first is reported.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from langtrack_ros.tracking.result import SearchMode, TrackResult

LOOPBACK = ("<CycloneDDS><Domain Id='any'><General><Interfaces><NetworkInterface name='lo'/></Interfaces>"
            "<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>"
            "<Peers><Peer address='127.0.0.1'/></Peers></Discovery></Domain></CycloneDDS>")


class _NullTracker:
    name, needs_box = "null", False

    def set_query(self, text, init_box=None):
        pass

    def step(self, image):
        return TrackResult(box=np.array([1.0, 2.0, 3.0, 4.0]), kappa=1.0, mode=SearchMode.ROI, found=True)


def null_tracker(**_):
    """A tracker that answers instantly: the pipeline around it is all that is timed."""
    return _NullTracker()


def _run_pipeline(domain: int, tracker_args: list[str], frames: int, rate: float, env: dict) -> dict:
    from langtrack_ros.dds.transport import Endpoints
    from langtrack_ros.dds.types import dds_array, make
    from langtrack_ros.adapters import conversions as conv
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.adapters import topics
    from langtrack_ros.adapters.image_codec import encode_image

    endpoints = Endpoints(domain)
    writer = endpoints.writer(topics.CAMERA, defs.IMAGE, "sensor_data")
    reader = endpoints.reader(topics.TARGET, defs.TRACKED_TARGET)
    child = subprocess.Popen([sys.executable, "-m", "langtrack_ros.cli", "dds", "--domain-id", str(domain),
                              "--query", "the person on the left", *tracker_args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 120
        while not (writer.get_matched_subscriptions() and reader.get_matched_publications()):
            if child.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"langtrack dds did not come up: {child.stderr.read()[-2000:]}")
            time.sleep(0.05)
        time.sleep(0.5)
        image = encode_image(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8))
        sent, latencies = {}, []
        for i in range(frames):
            now = time.time()
            sec, nsec = int(now), int((now % 1) * 1e9)
            sent[(sec, nsec)] = now
            writer.write(conv.build(defs.IMAGE, {**image, "header": conv.header_fields(sec, nsec, "cam")},
                                    make, dds_array))
            latencies += _drain(reader, sent, time.monotonic() + 1.0 / rate)
        latencies += _drain(reader, sent, time.monotonic() + 1.0)
    finally:
        child.terminate()
        child.wait(20)
    ms = np.array(latencies) * 1000.0
    return {"sent": frames, "received": len(ms), "median": float(np.median(ms)) if len(ms) else float("nan"),
            "p95": float(np.percentile(ms, 95)) if len(ms) else float("nan")}


def _drain(reader, sent: dict, until: float) -> list[float]:
    out = []
    while time.monotonic() < until:
        for m in reader.take(16):
            if hasattr(m, "header"):
                t0 = sent.get((m.header.stamp.sec, m.header.stamp.nanosec))
                if t0 is not None:
                    out.append(time.time() - t0)
        time.sleep(0.0005)
    return out


def _bare_step(model_path: Path, cache: Path, frames: int) -> dict:
    """The step alone on the frame the camera sends (same tracker config as the child)."""
    from langtrack_ros.inference.backends import make_backend
    from langtrack_ros.builder import load_tracker

    tracker = load_tracker(model_path, backend=make_backend("onnxruntime", model_path, cache_dir=cache / "bare"))
    tracker.set_query("the person on the left")
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    times = []
    for i in range(frames + 3):
        start = time.perf_counter()
        tracker.step(image)
        times.append((time.perf_counter() - start) * 1000.0)
    ms = np.array(times[3:])
    return {"sent": frames, "received": "", "median": float(np.median(ms)), "p95": float(np.percentile(ms, 95))}


def measure_latency(model_path: Path, cache: Path, frames: int = 200, rate: float = 10.0) -> dict:
    """Both pipelines; rows, a note on the set-up and a summary line with the transport's share."""
    os.environ.setdefault("CYCLONEDDS_URI", LOOPBACK)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1",
           "XDG_CACHE_HOME": str(cache / "xdg")}
    domain = 60 + os.getpid() % 40
    mvlm = _run_pipeline(domain, ["--model", str(model_path), "--backend", "onnxruntime"], frames, rate, env)
    null = _run_pipeline(domain + 1, ["--tracker-factory", "langtrack_ros.dds.latency:null_tracker"],
                         frames, rate, env)
    bare = _bare_step(model_path, cache, frames)
    share = null["median"] / mvlm["median"]
    return {"rows": {"MVLM tracker (ONNX Runtime, 1 thread)": mvlm, "transport only (tracker that does nothing)": null,
                     "bare tracker step, same frame and query, in this process (no DDS)": bare},
            "note": f"640x480 rgb8 at {rate:g} Hz, `langtrack dds` in a child process, loopback, "
                    f"config/cyclonedds.xml applied; latency = target arrival - image stamp.",
            "summary": f"Transport share of the median camera -> target latency: {share:.0%} "
                       f"({null['median']:.2f} of {mvlm['median']:.2f} ms: two DDS hops, CDR, image decode, "
                       f"message building); the bare step on the same frame is {bare['median']:.2f} ms. Medians "
                       "do not add up exactly: each row is its own distribution on a shared machine."}
