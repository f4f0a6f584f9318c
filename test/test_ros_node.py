"""The tracker node for real: ``tracker_node`` as its own process (rclpy, Fast DDS, lifecycle,
the embedded MVLM model), driven from this test's rclpy node on a private ROS_DOMAIN_ID.

One node process serves the module (start-up loads the model once); the tests run in file order
and the lifecycle test comes last. The node runs in namespace /lt with its ``image`` input
remapped to /cam/image_raw, so every check also checks the namespace and the remap. It runs with
the vision_msgs test fixture (test/vision_msgs_fixture.py) on its path, so it publishes
``detections``; test_ros_interop.py runs a node without it.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ros_nodes import HERE, RELIABLE, RUN_TAG, NodeProcess, Probe

import vision_msgs_fixture  # noqa: E402
from colour_tracker import frame  # noqa: E402
from langtrack_msgs.msg import RelocalizationEvent, TrackedTarget  # noqa: E402
from langtrack_msgs.srv import SetQuery  # noqa: E402
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from langtrack_ros.adapters import parameters as params  # noqa: E402
from langtrack_ros.adapters.image_codec import encode_image  # noqa: E402
from langtrack_ros.adapters.session import TrackingSession  # noqa: E402
from langtrack_ros.builder import build_tracker  # noqa: E402

NS, CAMERA = f"/lt_{RUN_TAG}", f"/cam_{RUN_TAG}/image_raw"  # tagged: another run on this host reads other topics
NODE = f"{NS}/langtrack_tracker"
H, W = 120, 160
QUERIES = ["the red square"] * 4 + ["the blue square"] * 4  # a switch at frame 4
pytestmark = pytest.mark.timeout(120)


def image(i: int, stamp: int | None = None, **override) -> Image:
    rgb, _ = frame(i, H, W)
    msg = Image(**{**encode_image(rgb, "rgb8"), **override})
    msg.header.stamp.sec, msg.header.frame_id = 1000 + (i if stamp is None else stamp), "cam"
    return msg


def without_ros() -> list:
    """The same tracker on the same frames and queries, no ROS: (x, y, w, h, confidence) as float32, found."""
    settings = params.tracker_settings({**params.declared_defaults(), "backend": "torch"})
    session = TrackingSession(build_tracker(settings))
    out = []
    for i, query in enumerate(QUERIES):
        if query != session.query:
            session.set_query(query)
        target = session.step(frame(i, H, W)[0], {"frame_id": "cam"}).target
        out.append([*np.float32([target[k] for k in ("x", "y", "width", "height", "confidence")]), target["found"]])
    return out


class Rig:
    """The node process plus the probe's endpoints on its topics."""

    def __init__(self):
        if not (vision_msgs_fixture.PREFIX / "lib").is_dir():
            pytest.fail("vision_msgs test fixture not built: run `bash scripts/setup.sh --dev`", pytrace=False)
        self.node = NodeProcess("langtrack_ros.ros.tracker_node",
                                ["-r", f"__ns:={NS}", "-r", f"image:={CAMERA}", "-p", "backend:=torch"],
                                env=vision_msgs_fixture.env())
        self.expected = without_ros()  # while the node loads its model (two cores)
        self.probe = Probe()
        self.targets = self.probe.collect(TrackedTarget, f"{NS}/target")
        self.events = self.probe.collect(RelocalizationEvent, f"{NS}/relocalization")
        self.camera = self.probe.node.create_publisher(Image, CAMERA, RELIABLE)
        self.query = self.probe.node.create_publisher(String, f"{NS}/query", RELIABLE)
        assert self.node.wait_log("configured: tracker", 90), self.node.log()
        assert self.probe.until(lambda: self.camera.get_subscription_count() > 0
                                and self.query.get_subscription_count() > 0, 30), self.node.log()
        self.probe.spin(0.5)  # the node's side of discovery

    def send_query(self, text: str) -> None:
        mark = self.node.log().count("tracking '")
        self.query.publish(String(data=text))
        assert self.probe.until(lambda: self.node.log().count("tracking '") > mark, 10), self.node.log()

    def track(self, msg: Image, timeout: float = 20):
        """Publish one frame and wait for its target (matched by stamp); None if none came."""
        stamp = msg.header.stamp.sec
        self.camera.publish(msg)
        hit = lambda: next((t for t in self.targets if t.header.stamp.sec == stamp), None)  # noqa: E731
        self.probe.until(lambda: hit() is not None, timeout)
        return hit()

    def close(self) -> int:
        self.probe.close()
        return self.node.stop()


@pytest.fixture(scope="module")
def rig():
    rig = Rig()
    yield rig
    assert rig.close() == 0, rig.node.log()


def _box(t) -> list:
    return [t.x, t.y, t.width, t.height, t.confidence, t.found]


def test_images_and_query_in_targets_and_detections_out_equal_to_the_tracker_without_ros(rig):
    echo = subprocess.Popen([sys.executable, str(HERE / "ros_echo.py"), f"{NS}/detections",
                             "vision_msgs/msg/Detection2DArray", str(len(QUERIES)), "60"],
                            env={**os.environ, **vision_msgs_fixture.env()}, stdout=subprocess.PIPE, text=True)
    assert echo.stdout.readline().strip() == "ready"  # its reader has matched the node's writer
    rig.probe.spin(0.5)
    got = []
    for i, query in enumerate(QUERIES):
        if i == 0 or query != QUERIES[i - 1]:
            rig.send_query(query)
        target = rig.track(image(i))
        assert target is not None, f"no target for frame {i}\n{rig.node.log()}"
        assert (target.query, target.header.frame_id) == (query, "cam")
        got.append(_box(target))
    assert got == rig.expected
    assert rig.probe.until(lambda: any(e.reason == RelocalizationEvent.QUERY_CHANGED
                                       and e.query == "the blue square" for e in rig.events), 5)
    out, _ = echo.communicate(timeout=60)
    detections = [json.loads(line) for line in out.splitlines()]
    assert echo.returncode == 0 and len(detections) == len(QUERIES), out
    for det, (x, y, w, h, *_rest) in zip(detections, got):
        box = det["detections"][0]["bbox"]
        assert np.allclose([box["center"]["position"]["x"], box["center"]["position"]["y"], box["size_x"],
                            box["size_y"]], [x + w / 2, y + h / 2, w, h], atol=1e-3)


def test_set_query_accepts_and_refuses(rig):
    answer = rig.probe.call(SetQuery, f"{NS}/set_query", SetQuery.Request(query="the red square"))
    assert answer.accepted, answer.message
    refused = rig.probe.call(SetQuery, f"{NS}/set_query", SetQuery.Request(query="   "))
    assert not refused.accepted and "empty" in refused.message
    long = rig.probe.call(SetQuery, f"{NS}/set_query", SetQuery.Request(query="red " * 2500))  # 10,000 chars
    assert long.accepted, long.message  # cut to the text encoder's limit, with a warning saying so
    assert rig.node.wait_log("the encoder limit is", 10), rig.node.log()
    assert rig.probe.call(SetQuery, f"{NS}/set_query", SetQuery.Request(query="the red square")).accepted
    rig.query.publish(String(data=""))  # an empty query on the topic: one warning, target kept
    assert rig.node.wait_log("empty query ignored", 10)
    assert rig.track(image(20)) is not None, rig.node.log()


def _red_square(rig) -> None:
    """Each test sets the query it needs (they also run alone, with -k)."""
    assert rig.probe.call(SetQuery, f"{NS}/set_query", SetQuery.Request(query="the red square")).accepted


def _set(rig, name: str, value: ParameterValue):
    request = SetParameters.Request(parameters=[Parameter(name=name, value=value)])
    return rig.probe.call(SetParameters, f"{NODE}/set_parameters", request).results[0]


def test_gate_parameter_changes_at_run_time_and_bad_values_are_refused(rig):
    """tau bounds kappa_mvlm in [-1, 1]: at 0.999 nothing is found, at -1 everything is."""
    _red_square(rig)
    double = lambda v: ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=v)  # noqa: E731
    found = []
    for k, tau in enumerate((0.999, -1.0, 0.999)):
        assert _set(rig, "gate.tau", double(tau)).successful
        found.append(rig.track(image(21 + k)).found)
    assert found == [False, True, False]  # in force from the next frame on
    bad = _set(rig, "gate.tau", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="high"))
    assert not bad.successful and "tau" in bad.reason
    out_of_range = _set(rig, "gate.tau", double(3.0))
    assert not out_of_range.successful and "tau" in out_of_range.reason
    assert _set(rig, "gate.tau", double(params.declared_defaults()["gate.tau"])).successful


BAD_FRAMES = {  # what a broken driver sends -> a word the node's log line must contain
    "odd-width yuv422": ({"encoding": "yuv422", "width": 5, "height": 4, "step": 10, "data": bytes(40)}, "width"),
    "wrong step": ({"step": W * 3 - 7}, "step"),
    "unknown encoding": ({"encoding": "rgb99"}, "rgb99"),
    "empty data": ({"data": b""}, "0 bytes"),
    "16UC1": ({"encoding": "16UC1", "step": W * 2, "data": bytes(H * W * 2)}, "16UC1"),
}


def test_bad_frames_are_logged_and_the_next_good_frame_is_tracked(rig):
    _red_square(rig)
    for k, (name, (fields, word)) in enumerate(BAD_FRAMES.items()):
        mark = rig.node.log().count("dropping frame")
        rig.camera.publish(image(30 + k, **fields))
        assert rig.probe.until(lambda: rig.node.log().count("dropping frame") > mark, 10), f"{name} not logged"
        assert word in rig.node.log().rsplit("dropping frame", 1)[1].splitlines()[0], name
        assert rig.track(image(40 + k)) is not None, f"no target after {name}\n{rig.node.log()}"
    assert not [t for t in rig.targets if 1030 <= t.header.stamp.sec < 1030 + len(BAD_FRAMES)]


def test_stale_frames_are_dropped_and_the_newest_is_tracked(rig):
    """BEST_EFFORT depth 1: a burst faster than any tracker (30 frames back to back, far above a 60 Hz
    camera) leaves the node the newest frame, never a backlog. Rates and latency under a real 60 Hz
    camera: scripts/ros_frame_drops.py -> docs/BENCHMARKS_RUNTIME.md."""
    _red_square(rig)
    camera = rig.probe.node.create_publisher(Image, CAMERA, qos_profile_sensor_data)
    rig.probe.until(lambda: camera.get_subscription_count() > 0, 10)
    rig.probe.spin(0.3)
    burst = [image(i, stamp=100 + i) for i in range(30)]
    for msg in burst:
        camera.publish(msg)
    newest = burst[-1].header.stamp.sec
    assert rig.probe.until(lambda: any(t.header.stamp.sec == newest for t in rig.targets), 20), rig.node.log()
    rig.probe.spin(0.5)
    done = [t.header.stamp.sec for t in rig.targets if 1100 <= t.header.stamp.sec <= newest]
    assert len(done) < len(burst) / 2, f"{len(done)} of {len(burst)} frames of the burst tracked: a queue?"
    assert done == sorted(done)  # in camera order, ending with the newest
    rig.probe.node.destroy_publisher(camera)


def test_namespace_and_remaps(rig):
    topics = dict(rig.probe.node.get_topic_names_and_types())
    assert {f"{NS}/target", f"{NS}/relocalization", f"{NS}/detections", f"{NS}/query", CAMERA} <= set(topics)
    assert f"{NS}/image" not in topics  # remapped
    assert "/target" not in topics


def _transition(rig, transition: int) -> bool:
    return rig.probe.call(ChangeState, f"{NODE}/change_state",
                          ChangeState.Request(transition=Transition(id=transition))).success


def _state(rig) -> int:
    return rig.probe.call(GetState, f"{NODE}/get_state", GetState.Request()).current_state.id


def test_lifecycle_deactivate_activate_cleanup(rig):
    assert _state(rig) == State.PRIMARY_STATE_ACTIVE
    _red_square(rig)
    assert _transition(rig, Transition.TRANSITION_DEACTIVATE)
    assert rig.track(image(50), timeout=2) is None  # inactive: no output
    text = lambda v: ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=v)  # noqa: E731
    assert _set(rig, "image_qos", text("bogus")).successful  # not a run-time parameter: read at activate
    assert not _transition(rig, Transition.TRANSITION_ACTIVATE)
    assert rig.node.wait_log("activate failed: ConfigError: image_qos must be one of", 10), rig.node.log()
    assert _state(rig) == State.PRIMARY_STATE_INACTIVE
    assert _set(rig, "image_qos", text("sensor_data")).successful
    assert _transition(rig, Transition.TRANSITION_ACTIVATE)  # loads the model again
    rig.probe.until(lambda: rig.camera.get_subscription_count() > 0, 10)
    rig.probe.spin(0.5)
    again = rig.track(image(51))
    assert again is not None and again.query == "the red square"  # the query survived deactivate
    assert _transition(rig, Transition.TRANSITION_DEACTIVATE)
    assert _transition(rig, Transition.TRANSITION_CLEANUP)
    assert _state(rig) == State.PRIMARY_STATE_UNCONFIGURED


@pytest.mark.parametrize("cause", ["missing model", "langtrack_msgs not importable"])
def test_a_failed_autostart_is_logged_and_exits_non_zero(tmp_path, cause):
    """The defect this replaces: a configure failure swallowed by rclpy left a silent, idle node."""
    env, args = {}, ["-r", "__ns:=/lt_bad"]
    if cause == "missing model":
        args += ["-p", f"model:={tmp_path / 'missing.safetensors'}"]
        why = "missing.safetensors"
    else:  # a package of that name without the built messages shadows the real one (an unsourced overlay)
        (tmp_path / "langtrack_msgs").mkdir()
        (tmp_path / "langtrack_msgs" / "__init__.py").write_text("")
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
        why = "langtrack_msgs.msg"
    node = NodeProcess("langtrack_ros.ros.tracker_node", args, env)
    try:
        node.proc.wait(60)
    finally:
        node.stop()
    log = node.log()
    assert node.proc.returncode == 1, log
    assert "configure failed" in log and why in log and "exiting with status 1" in log
