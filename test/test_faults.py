"""Fault injection: every case in docs/RELIABILITY.md has its test here (or names the file that
holds it). Bad frames, bad queries, damaged files and killed processes must end in one clear log
line or error, never a crash, a traceback or a silently wrong result."""
import logging
import types

import numpy as np
import pytest

import fake_rclpy
from colour_tracker import ColourTracker, frame
from langtrack_ros.ros_msgs.image_codec import ImageCodecError, image_fields_to_rgb
from langtrack_ros.ros_msgs.session import TrackingSession


def _yuyv(width, height=4, encoding="yuyv"):
    return types.SimpleNamespace(height=height, width=width, encoding=encoding, step=width * 2,
                                 data=bytes(width * 2 * height), is_bigendian=0,
                                 header=types.SimpleNamespace(stamp=types.SimpleNamespace(sec=1, nanosec=0)))


# --- 1. any per-frame exception drops that frame, never the process ---------------------------
@pytest.mark.parametrize("encoding", ["yuyv", "yuv422"])
def test_odd_width_packed_yuv_is_a_codec_error_not_a_cv2_error(encoding):
    with pytest.raises(ImageCodecError, match="even width"):
        image_fields_to_rgb(_yuyv(5, encoding=encoding))


class _Exploding(ColourTracker):
    def step(self, image):
        raise RuntimeError("CUDA error: an illegal memory access")


def test_session_process_drops_any_failing_frame_with_one_line_and_keeps_serving():
    lines = []
    session = TrackingSession(ColourTracker(), "the red square")
    assert session.process(lambda: image_fields_to_rgb(_yuyv(5)), None, lines.append) is None
    assert session.process(lambda: 1 / 0, None, lines.append) is None  # anything unexpected
    assert session.process(lambda: frame(0)[0], None, lines.append).result.found
    session.tracker = _Exploding()
    assert session.process(lambda: frame(0)[0], None, lines.append) is None
    assert session.dropped == 3 and len(lines) == 3
    assert "even width" in lines[0] and "ZeroDivisionError" in lines[1] and "CUDA error" in lines[2]


# --- 2. rclpy node: logger call sites, parameter descriptors, typed launch values -------------
@pytest.fixture
def rclpy_fake():
    undo = fake_rclpy.install()
    yield fake_rclpy
    undo()


def _tracker_node(monkeypatch):
    from langtrack_ros.ros import tracker_node

    node = tracker_node.TrackerNode()
    node.session = TrackingSession(ColourTracker())
    node.publishers_ = {t: types.SimpleNamespace(publish=lambda m: None) for t in tracker_node.OUTPUTS}
    monkeypatch.setattr(tracker_node.conv, "build", lambda *a, **k: None)
    return node


def test_node_survives_an_empty_query_after_an_accepted_one(rclpy_fake, monkeypatch):
    node = _tracker_node(monkeypatch)
    node._on_query(types.SimpleNamespace(data="the red square"))
    node._on_query(types.SimpleNamespace(data="   "))  # rclpy raised here: one call site, two severities
    node._on_query(types.SimpleNamespace(data="the blue square"))
    assert [s for s, _ in node.get_logger().lines] == ["info", "warning", "info"]


def test_every_node_parameter_has_its_own_descriptor(rclpy_fake, monkeypatch):
    node = _tracker_node(monkeypatch)
    assert len({id(d) for d in node.descriptors.values()}) == len(node.descriptors)
    assert all(d.name == key for key, d in node.descriptors.items())
    assert node.descriptors["gate.tau"].description.startswith("MVLM gate")


def test_node_drops_an_odd_width_yuyv_frame_and_tracks_the_next(rclpy_fake, monkeypatch):
    node = _tracker_node(monkeypatch)
    node.session.set_query("the red square")
    node._on_image(_yuyv(5))
    assert node.get_logger().lines[-1][0] == "error" and "even width" in node.get_logger().lines[-1][1]
    node._track(lambda: frame(0)[0], None)
    assert node.session.dropped == 1


def test_trainer_node_accepts_an_integer_progress_period(rclpy_fake, monkeypatch):
    from langtrack_ros.ros import trainer_node

    monkeypatch.setattr(fake_rclpy, "OVERRIDES", {"progress_period": 2})  # `progress_period:=2`
    monkeypatch.setattr(trainer_node, "ros_class", lambda name: object)  # no langtrack_msgs build here
    node = trainer_node.TrainerNode()
    assert node.timer[0] == 2.0
