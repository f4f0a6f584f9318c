"""The ROS-free parts the adapters share: query rules, parameter <-> YAML round trip, progress ETA,
tracker factories."""
import math

import pytest

from colour_tracker import ColourTracker, frame
from langtrack_ros.config import ConfigError
from langtrack_ros.adapters import definitions as defs
from langtrack_ros.adapters import parameters as params
from langtrack_ros.adapters.progress import ProgressMeter
from langtrack_ros.adapters.session import TrackingSession
from langtrack_ros.evaluation.registry import load_factory
from langtrack_ros.tracking.tracker import load_settings


def test_session_waits_for_a_query_and_refuses_empty_ones():
    session = TrackingSession(ColourTracker())
    assert session.step(frame(0)[0], header=None) is None
    assert session.set_query("  ") == (False, "empty query ignored")
    assert session.set_query("the blue square")[0]
    out = session.step(frame(0)[0], header={"frame_id": "cam"})
    assert [topic for topic, _, _ in out.messages()] == ["target", "relocalization", "detections"]
    assert out.target["x"] == 40.0 and out.target["query"] == "the blue square"


def test_parameters_round_trip_through_the_core_loader():
    values = params.declared_defaults()
    assert {"gate.tau", "gate.lambda", "search.mode", "autostart", "publish_debug_image"} <= set(values)
    assert params.tracker_settings(values) == load_settings()  # the declared defaults are the YAML's
    values["gate.tau"], values["max_query_tokens"] = 0.25, 12
    settings = params.tracker_settings(values)
    assert (settings.gate.tau, settings.max_query_tokens) == (0.25, 12)
    values["gate.tau"] = "high"  # dynamic typing lets any type through rclpy: the loader must refuse it
    with pytest.raises(ConfigError, match="tau"):
        params.tracker_settings(values)


def test_only_gate_changes_build_a_new_gate():
    values = params.declared_defaults()
    assert params.gate_changes(values, {"backend": "torch"}) is None
    assert params.gate_changes(values, {"gate.lambda": 0.7}).lam == 0.7
    with pytest.raises(ConfigError):
        params.gate_changes(values, {"gate.nonsense": 1.0})


def test_progress_eta_counts_only_this_process():
    now = [100.0]
    meter = ProgressMeter(clock=lambda: now[0])
    assert meter.snapshot().eta_sec == -1 and math.isnan(meter.snapshot().loss)
    meter.update(500, 1000, None)  # resumed at step 500
    now[0] += 10
    meter.update(600, 1000, {"total": 0.5})
    snap = meter.snapshot()
    assert (snap.step, snap.total_steps, snap.loss) == (600, 1000, 0.5)
    assert snap.eta_sec == pytest.approx(40.0)


def test_factory_specs(tmp_path):
    assert load_factory("colour_tracker:make")().name == "colour"
    with pytest.raises(ValueError, match="must look like"):
        load_factory("colour_tracker")
    with pytest.raises(FileNotFoundError):
        load_factory(str(tmp_path / "missing.py") + ":make")
    with pytest.raises(ValueError, match="no attribute 'nope'"):
        load_factory("colour_tracker:nope")


def test_event_constants_come_from_the_msg_files():
    event = defs.typestore().types[defs.RELOCALIZATION_EVENT]
    assert (event.LOW_CONFIDENCE, event.QUERY_CHANGED, event.RECOVERED) == (1, 2, 3)


def test_only_the_other_transports_twin_of_a_frame_is_skipped():
    from langtrack_ros.adapters.session import is_twin

    assert is_twin(("raw", (5, 10)), ("compressed", (5, 10)))  # camera publishing both
    assert not is_twin(None, ("raw", (5, 10)))
    assert not is_twin(("raw", (5, 10)), ("raw", (5, 10)))  # repeated stamp on one transport
    assert not is_twin(("raw", (9, 0)), ("raw", (3, 0)))  # backwards: a looping bag
    assert not is_twin(("raw", (0, 0)), ("compressed", (0, 0)))  # unstamped frames are all tracked


def test_a_refused_initial_query_is_logged_and_the_session_waits(caplog):
    session = TrackingSession(ColourTracker(), "the square")  # no colour word: the tracker refuses it
    assert session.query == "" and "initial query: query refused" in caplog.text
    assert session.step(frame(0)[0], header={"frame_id": "cam"}) is None
