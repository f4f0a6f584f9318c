"""Motion evidence (tracking/priors/motion.py): a square moving across a panning textured
background is found; a static frame, a globally shifted frame and a scene cut propose nothing;
bad frames are one log line, not a crash; the fusion uses it only where class evidence is weak."""
import logging

import cv2
import numpy as np
import pytest

from fake_mvlm import FakeBackend, FakeEncoder
from langtrack_ros.builder import build_priors
from langtrack_ros.config import ConfigError
from langtrack_ros.inference.prior_models import load_priors
from langtrack_ros.paths import config_file, models_dir
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.tracking.priors.motion import MotionEvidence
from langtrack_ros.tracking.tracker import MVLMTracker

H, W = 240, 320


def _motion(side=160):
    return MotionEvidence(side=side, min_inliers=20, diff=20, max_fraction=0.15, min_area=6, max_regions=4)


def _background(seed=0, size=(400, 520)):
    """Textured (trackable corners everywhere) grey-ish RGB scene larger than the frame."""
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.integers(0, 256, (size[0] // 8, size[1] // 8), dtype=np.uint8), size[::-1],
                       interpolation=cv2.INTER_CUBIC)
    return np.repeat(cv2.GaussianBlur(noise, (3, 3), 0)[..., None], 3, axis=2)


def _frame(scene, pan, square=None):
    """The camera's view of ``scene`` panned by ``pan`` pixels, with a square at ``square`` (x, y)."""
    px, py = pan
    frame = scene[py:py + H, px:px + W].copy()
    if square is not None:  # a bright chequered square (texture, as real targets have)
        x, y = square
        frame[y:y + 24, x:x + 24] = np.kron([[250, 40, 250], [40, 250, 40]] * 2, np.ones((8, 8)))[:24, :, None]
    return frame


def test_a_moving_square_is_found_while_the_camera_pans():
    scene, m = _background(), _motion()
    found = []
    for k in range(6):  # camera pans 5 px/frame right and 2 down; the square moves 8 px/frame left
        moving = m.update(_frame(scene, (20 + 5 * k, 10 + 2 * k), (200 - 8 * k, 100)))
        if k:
            assert m.trusted
            found.append(moving)
    for k, moving in enumerate(found, start=1):
        assert len(moving.boxes) >= 1
        x, y, w, h = moving.boxes[0]  # the largest region: the square (its old and new place)
        sx = 200 - 8 * k
        assert x <= sx + 12 <= x + w and y <= 112 <= y + h, moving.boxes
        assert w < 80 and h < 60 and moving.scores[0] > 0.5


@pytest.mark.parametrize("pan", [(0, 0), (6, 3)])
def test_a_static_or_globally_shifted_frame_proposes_nothing(pan):
    scene, m = _background(), _motion()
    m.update(_frame(scene, (20, 20), (100, 100)))  # the square moves with the scene: nothing moves in it
    shifted = _frame(scene, (20 + pan[0], 20 + pan[1]), (100 - pan[0], 100 - pan[1]))
    moving = m.update(shifted)
    assert m.trusted and len(moving.boxes) == 0


def test_a_scene_cut_proposes_nothing():
    m = _motion()
    m.update(_frame(_background(seed=1), (0, 0)))
    moving = m.update(_frame(_background(seed=2), (0, 0)))
    assert len(moving.boxes) == 0 and not m.trusted


def test_bad_frames_are_one_log_line_not_a_crash(caplog):
    m = _motion()
    scene = _background()
    with caplog.at_level(logging.INFO, logger="langtrack_ros.tracking.priors.motion"):
        for bad in (np.zeros((4, 4, 3), np.uint8), np.zeros((H, W, 3), np.float32), np.zeros((H, W, 5), np.uint8)):
            assert len(m.update(bad).boxes) == 0
        assert len(caplog.records) == 3
        m.update(_frame(scene, (0, 0)))
        caplog.clear()
        assert len(m.update(scene[:200, :300].copy()).boxes) == 0  # another frame size: starts over, one line
        assert len(caplog.records) == 1 and "size changed" in caplog.text
    assert len(m.update(_frame(scene, (0, 0))).boxes) == 0  # and so on: the next frame compares again


def test_motion_settings_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="motion_side"):
        load_priors(config_file("priors"), models_dir() / "priors", overrides={"motion_side": 8})


class BlueEncoder(FakeEncoder):
    """The fake network looks for blue, which no frame here shows: MVLM alone finds nothing."""

    def encode(self, text):
        return super().encode("blue " + text)


class NoBirdDetector:
    """A COCO-like detector that knows birds and finds none (weak class evidence)."""

    labels = ["???", "bird"]

    def __call__(self, patch):
        return np.zeros((1917, 4)), np.full((1917, 2), -20.0)


@pytest.mark.parametrize("motion", [False, True])
def test_fusion_adds_the_moving_region_when_class_evidence_is_weak(motion):
    """The bird is named, the detector sees none: with motion on, the moving square is the answer;
    off, MVLM (which sees nothing either) keeps searching."""
    scene = _background()
    priors = build_priors(f"all,motion={str(motion).lower()},motion_in_global=true,motion_boxes=true")
    priors.detector, priors.coco, priors.imagenet = None, NoBirdDetector(), None
    tracker = MVLMTracker(FakeBackend(), BlueEncoder(), priors=priors)
    tracker.set_query("the bird flying")
    for k in range(4):
        result = tracker.step(_frame(scene, (20 + 4 * k, 10), (220 - 10 * k, 60)))
    x, y, w, h = result.box
    on_square = x <= 220 - 30 + 12 <= x + w and y <= 72 <= y + h
    assert on_square == motion, result


def test_motion_off_in_global_search_when_so_configured():
    """``motion_in_global: false``: the global search (MVLM sees nothing, so every frame) gets no
    moving regions, though they are measured."""
    scene = _background()
    priors = build_priors("all,motion=true,motion_in_global=false,motion_boxes=true")
    priors.detector, priors.coco, priors.imagenet = None, NoBirdDetector(), None
    tracker = MVLMTracker(FakeBackend(), BlueEncoder(), priors=priors)
    tracker.set_query("the bird flying")
    for k in range(4):
        result = tracker.step(_frame(scene, (20 + 4 * k, 10), (220 - 10 * k, 60)))
    assert result.mode.name == "GLOBAL" and priors.motion.trusted
    x, y, w, h = result.box
    assert not (x <= 202 <= x + w and y <= 72 <= y + h), result
