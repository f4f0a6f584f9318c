"""Two DDS vendors on one ROS 2 domain, with real camera frames (OTB Crossing, a reporting-only
clip: nothing is tuned here):

- Fast DDS -> Cyclone -> Fast DDS: this test's rclpy node is the camera and the operator; the
  tracker is ``langtrack dds`` (Cyclone DDS, no ROS); the targets come back to rclpy.
- Cyclone -> Fast DDS -> Cyclone: camera and operator are Cyclone DDS writers in this process; the
  tracker is ``tracker_node`` (rclpy); its targets come back to a Cyclone reader. This node runs
  without vision_msgs: it must say so once and publish everything but ``detections``.

In both, the query is published ONCE, by a latched (reliable, transient-local) writer created
before the tracker exists, as ``ros2 topic pub --once`` does: it must still reach the tracker.
Every box must equal the same tracker's without ROS. Fast DDS runs with config/fastdds.xml
(test/ros_nodes.py), without which Fast DDS images never reach a Cyclone reader.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from dds_domain import domain_in
from ros_nodes import DOMAIN, LATCHED, RELIABLE, RUN_TAG, NodeProcess, Probe

from langtrack_msgs.msg import TrackedTarget  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from langtrack_ros.adapters import conversions as conv  # noqa: E402
from langtrack_ros.adapters import definitions as defs  # noqa: E402
from langtrack_ros.adapters import parameters as params  # noqa: E402
from langtrack_ros.adapters.image_codec import encode_image  # noqa: E402
from langtrack_ros.adapters.session import TrackingSession  # noqa: E402
from langtrack_ros.builder import build_tracker  # noqa: E402
from langtrack_ros.ros.messages import rclpy_array, ros_class  # noqa: E402

FRAMES = 6
IX, IY = f"/ix_{RUN_TAG}", f"/iy_{RUN_TAG}"  # the Cyclone and the rclpy tracker; tagged: this run only
pytestmark = pytest.mark.timeout(150)
# Cyclone on loopback with unicast peers: Fast DDS here runs with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# (ros_nodes.py), and the two only find each other when Cyclone, too, talks to 127.0.0.1
LOOPBACK = (
    "<CycloneDDS><Domain Id='any'><General><Interfaces><NetworkInterface name='lo'/></Interfaces>"
    "<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>"
    "<MaxAutoParticipantIndex>30</MaxAutoParticipantIndex><Peers><Peer address='127.0.0.1'/></Peers>"
    "</Discovery></Domain></CycloneDDS>"
)


@pytest.fixture(scope="module")
def clip(real_data_root):
    folder = real_data_root / "OTB_videos" / "Crossing" / "img"
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob("*.jpg"))[:FRAMES]]
    query = (real_data_root / "OTB_query_test" / "Crossing.txt").read_text().strip()
    return frames, query


def _fields(rgb, i: int) -> dict:
    # alternate encodings: both trackers must convert BGR too
    image = encode_image(rgb[..., ::-1].copy(), "bgr8") if i % 2 else encode_image(rgb, "rgb8")
    return {**image, "header": conv.header_fields(500 + i, 0, "cam")}


def _box(t) -> list:
    return [t.x, t.y, t.width, t.height, t.confidence, t.found]


def _as_sent(target: dict) -> list:
    """The core's target fields as a TrackedTarget carries them (float32)."""
    return [*np.float32([target[k] for k in ("x", "y", "width", "height", "confidence")]), target["found"]]


@pytest.fixture(scope="module")
def trackers(clip):
    """Both trackers start together (their model loads overlap) while this process computes the
    boxes without ROS."""
    saved = os.environ.get("CYCLONEDDS_URI")
    os.environ["CYCLONEDDS_URI"] = LOOPBACK  # this process's Cyclone participant and `langtrack dds`
    dds = NodeProcess("langtrack_ros.cli", ["dds", "--domain-id", str(DOMAIN), "--namespace", IX, "--image-topic",
                                            f"{IX}_cam/image_raw", "--backend", "torch", "--duration", "120"], ros=False)
    # image_qos reliable: Cyclone's 1344-byte fragments of a 259 KB frame are many datagrams, and
    # on a loaded machine one lost fragment loses a best-effort frame (what is tested here is the
    # vendors talking, not loss; test_ros_node.py covers the default best-effort reader)
    node = NodeProcess("langtrack_ros.ros.tracker_node",
                       ["-r", f"__ns:={IY}", "-r", f"image:={IY}_cam/image_raw", "-p", "backend:=torch",
                        "-p", "image_qos:=reliable"])
    frames, query = clip
    settings = params.tracker_settings({**params.declared_defaults(), "backend": "torch"})
    session = TrackingSession(build_tracker(settings), query)
    expected = [_as_sent(session.step(rgb, {"frame_id": "cam"}).target) for rgb in frames]
    yield dds, node, expected
    dds.signal(subprocess.signal.SIGTERM)  # both shut down at once
    node.signal()
    dds_status = dds.stop(subprocess.signal.SIGTERM)
    if saved is None:
        os.environ.pop("CYCLONEDDS_URI")
    else:
        os.environ["CYCLONEDDS_URI"] = saved
    assert node.stop() == 0, node.log()
    assert dds_status == 0, dds.log()


# a frame no tracker can decode: it changes no tracker state, and its log line shows that the
# tracker's reader has matched our writer (Cyclone learns of a Fast DDS writer seconds after
# Fast DDS reports the match; frames sent before are lost)
PROBE_FRAME = {"encoding": "discovery-probe", "height": 1, "width": 1, "step": 1, "data": b"\0",
               "header": conv.header_fields(1, 0, "cam")}


def _until(done, timeout: float, step=lambda: time.sleep(0.02)) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not done():
        step()
    return bool(done())


def test_fast_dds_camera_and_operator_with_the_cyclone_tracker(clip, trackers):
    dds, _node, expected = trackers
    frames, query = clip
    probe = Probe("langtrack_interop_probe")
    try:
        said = probe.node.create_publisher(String, f"{IX}/query", LATCHED)
        said.publish(String(data=query))  # once, before the tracker can have matched
        targets = probe.collect(TrackedTarget, f"{IX}/target")
        camera = probe.node.create_publisher(Image, f"{IX}_cam/image_raw", RELIABLE)
        assert probe.until(lambda: camera.get_subscription_count() > 0, 60), f"dds never subscribed\n{dds.log()}"
        probe_frame = conv.build(defs.IMAGE, PROBE_FRAME, ros_class, rclpy_array)
        knock = lambda: (camera.publish(probe_frame), probe.spin(0.3))  # noqa: E731
        assert _until(lambda: "discovery-probe" in dds.log(), 30, knock), dds.log()
        assert dds.wait_log(f"tracking {query!r}", 30), f"the latched query never arrived\n{dds.log()}"
        got = []
        for i, rgb in enumerate(frames):
            camera.publish(conv.build(defs.IMAGE, _fields(rgb, i), ros_class, rclpy_array))
            assert probe.until(lambda: any(t.header.stamp.sec == 500 + i for t in targets), 30), \
                f"no target for frame {i}\n{dds.log()}"
            got.append(_box(next(t for t in targets if t.header.stamp.sec == 500 + i)))
        assert all(t.query == query for t in targets)
        assert got == expected
        assert dds.log().count(f"tracking {query!r}") == 1  # it reached both query readers: applied once
    finally:
        probe.close()


def test_cyclone_camera_and_operator_with_the_rclpy_tracker(clip, trackers):
    from langtrack_ros.dds.transport import Endpoints
    from langtrack_ros.dds.types import dds_array, make

    _dds, node, expected = trackers
    frames, query = clip
    endpoints = Endpoints(DOMAIN)
    said = endpoints.writer(f"{IY}/query", defs.STRING, "latched")
    said.write(make(defs.STRING)(data=query))  # once, before the tracker can have matched
    targets_reader = endpoints.reader(f"{IY}/target", defs.TRACKED_TARGET)
    camera = endpoints.writer(f"{IY}_cam/image_raw", defs.IMAGE)
    assert _until(lambda: camera.get_matched_subscriptions(), 60), f"tracker_node never subscribed\n{node.log()}"
    probe_frame = conv.build(defs.IMAGE, PROBE_FRAME, make, dds_array)
    assert _until(lambda: "discovery-probe" in node.log(), 30, lambda: (camera.write(probe_frame), time.sleep(0.3))), \
        node.log()
    assert node.wait_log(f"tracking {query!r}", 30), f"the latched query never arrived\n{node.log()}"
    # and the other way: our reader must know the node's writer before the first target is sent
    assert _until(lambda: targets_reader.get_matched_publications(), 30), "never matched the node's target writer"
    time.sleep(0.5)
    targets, got = [], []
    for i, rgb in enumerate(frames):
        camera.write(conv.build(defs.IMAGE, _fields(rgb, i), make, dds_array))
        hit = lambda: next((t for t in targets if t.header.stamp.sec == 500 + i), None)  # noqa: E731
        assert _until(lambda: hit() is not None, 30,
                      lambda: (targets.extend(m for m in targets_reader.take(16) if hasattr(m, "header")),
                               time.sleep(0.02))), f"no target for frame {i}\n{node.log()}"
        got.append(_box(hit()))
    assert all(t.query == query for t in targets)
    assert got == expected
    assert node.log().count(f"tracking {query!r}") == 1  # it reached both query readers: applied once
    warnings = [line for line in node.log().splitlines() if "no `detections` topic" in line]
    assert len(warnings) == 1 and "vision-msgs" in warnings[0], node.log()


def test_without_the_shipped_profile_fast_dds_images_never_reach_cyclone():
    """Why config/fastdds.xml ships (the two tests above pass with it): without it Cyclone refuses
    the type object Fast DDS propagates, and with it every image."""
    domain = domain_in(1, 170)  # not DOMAIN: the nodes of the tests above may still be leaving it
    env = {**os.environ, "CYCLONEDDS_URI": LOOPBACK, "ROS_DOMAIN_ID": str(domain)}
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE")
    out = subprocess.run([sys.executable, str(Path(__file__).parent / "fastdds_to_cyclone.py"), str(domain),
                          "30000"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-3:] == ["0", "of", "5"], out.stdout + out.stderr
