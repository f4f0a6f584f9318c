"""One partial user file gives the same tracker on every adapter (issue 7): the rclpy node's
parameter dict, ``langtrack dds`` and ``langtrack replay`` (shared tracker options) and the
CLI (eval factory, `langtrack track --config`) all end at config/tracker.yaml with the user's keys over it, nothing from code."""
import argparse

import pytest

from fake_mvlm import FakeBackend, FakeEncoder
from langtrack_ros.config import from_dict, load_section
from langtrack_ros.adapters import parameters as params
from langtrack_ros.tracking.gate import GateConfig
from langtrack_ros.tracking.tracker import NODE, TrackerSettings, load_settings
from packaged import tracker_yaml

USER = "langtrack_tracker:\n  ros__parameters:\n    gate: {tau: 0.2}\n    search: {roi_factor: 3.0}\n"


@pytest.fixture
def no_models(monkeypatch):
    """A fake backend and encoder and no priors: the test is about settings, not networks."""
    from langtrack_ros import builder

    monkeypatch.setattr(builder, "make_backend", lambda kind, path, **kw: FakeBackend())
    monkeypatch.setattr(builder, "text_encoder_for", lambda backend, tokens: FakeEncoder())
    monkeypatch.setattr(builder, "build_priors", lambda parts=None, threads=None: None)


def expected_settings() -> TrackerSettings:
    """config/tracker.yaml, read as plain YAML, with the user's two keys over it."""
    raw = tracker_yaml()
    raw["gate"] = GateConfig.from_params({**raw["gate"], "tau": 0.2})
    raw["search"] = {**raw["search"], "roi_factor": 3.0}
    return from_dict(TrackerSettings, raw)


def node_path(user):
    """rclpy node: declared defaults overridden by ``--params-file``, then the node's own loader
    (TrackerNode._load: the parameter dict goes straight to the settings, no file)."""
    values = {**params.declared_defaults(), **params.flatten(load_section(user, NODE))}
    from langtrack_ros.builder import build_tracker

    settings = params.tracker_settings(values)
    return settings, build_tracker(settings)


def shared_options_path(user):
    """``langtrack dds`` and ``langtrack replay``: commands/tracker_options.tracker_and_settings."""
    from langtrack_ros.commands.tracker_options import tracker_and_settings

    args = argparse.Namespace(config=str(user), model=None, backend=None, tracker=None, tracker_factory=None,
                              query=None)
    tracker, _, _ = tracker_and_settings(args)
    return load_settings(args.config), tracker


def eval_path(user):
    """CLI/eval: the registry's ``mvlm`` factory with ``config_path``."""
    from langtrack_ros.evaluation.registry import make_tracker

    return load_settings(user), make_tracker("mvlm", config_path=str(user))


def track_path(user):
    """``langtrack track --config``: video files and webcams."""
    from langtrack_ros.commands.track import _make_tracker

    args = argparse.Namespace(tracker="mvlm", init_box=None, model=None, backend=None, config=str(user), priors=None)
    return load_settings(user), _make_tracker(args)


def test_a_partial_user_file_gives_the_same_tracker_on_every_adapter(tmp_path, no_models):
    user = tmp_path / "user.yaml"
    user.write_text(USER)
    expected = expected_settings()
    assert expected.gate.alpha == 0.7  # tracker.yaml's, where code defaults once said 1.0
    paths = {"node": node_path(user), "dds/replay": shared_options_path(user), "eval": eval_path(user),
             "track": track_path(user)}
    for name, (settings, tracker) in paths.items():
        assert settings == expected, name
        assert (tracker.gate_cfg, tracker.search_cfg) == (expected.gate, expected.search), name


def test_an_unknown_key_in_a_user_file_names_the_key_and_the_file(tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("gate: {tua: 0.2}\n")
    with pytest.raises(Exception, match=r"user\.yaml: unknown key 'gate\.tua'"):
        load_settings(user)


def test_tracker_opt_overrides_the_user_file_on_dds_and_replay(tmp_path, no_models):
    from langtrack_ros.commands.tracker_options import tracker_and_settings

    user = tmp_path / "user.yaml"
    user.write_text(USER)
    args = argparse.Namespace(config=str(user), model=None, backend=None, tracker=None, tracker_factory=None,
                              query=None, tracker_opt=["tau=0.3"])
    tracker, _, _ = tracker_and_settings(args)
    assert (tracker.gate_cfg.tau, tracker.search_cfg.roi_factor) == (0.3, 3.0)
    args.tracker_opt = ["taw=0.3"]
    with pytest.raises(Exception, match="unknown tracker override"):
        tracker_and_settings(args)
