"""Issue 14: BlazeFace puts face and head targets on the face (tracking/priors/faces.py), on a real
photo with the shipped nets, with a fake face net of known answers, and when the face net fails."""
import dataclasses
import logging
import shutil

import numpy as np
import pytest

from langtrack_ros.builder import build_priors
from langtrack_ros.config import ConfigError, read_yaml
from langtrack_ros.inference.prior_models import load_priors
from langtrack_ros.paths import config_file, models_dir
from langtrack_ros.tracking.box_ops import iou_matrix
from langtrack_ros.tracking.geometry import PatchTransform
from langtrack_ros.tracking.priors import faces
from langtrack_ros.tracking.priors.fusion import PriorFusion, sub_boxes
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.tracking.result import SearchMode
from test_priors import FakeDetector

ASTRONAUT_FACE = np.array([176.0, 74.0, 101.0, 101.0])  # the face in skimage's astronaut photo (checked by eye)


@pytest.fixture(scope="module")
def shipped():
    return build_priors("all")


class FakeFace:
    """BlazeFace's raw outputs for one face wherever a blue square is in the crop."""

    def __init__(self):
        self.calls = 0

    def __call__(self, crop):
        self.calls += 1
        reg, logits = np.zeros((896, 16)), np.full(896, -20.0)
        blue = (crop[..., 2] > 200) & (crop[..., 0] < 60) & (crop[..., 1] < 60)
        if blue.any():
            ys, xs = np.nonzero(blue)
            cx, cy = (xs.min() + xs.max() + 1) / 2 / 128, (ys.min() + ys.max() + 1) / 2 / 128
            a = faces.anchors()
            k = int(np.argmin(np.abs(a[:, 0] - cx) + np.abs(a[:, 1] - cy)))
            reg[k, :4] = [(cx - a[k, 0]) * 128, (cy - a[k, 1]) * 128, xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
            logits[k] = 3.0
        return reg, logits


class BrokenFace:
    def __call__(self, crop):
        raise RuntimeError("face model exploded")


def _scene():
    """A person (green, 40 x 140) whose face (blue) sits lower and further right than body proportions say."""
    image = np.zeros((240, 320, 3), np.uint8)
    image[60:200, 220:260] = (0, 255, 0)
    image[78:90, 238:250] = (0, 0, 255)
    return image


def _fusion(face, **settings):
    cfg = dataclasses.replace(build_priors("all").cfg, **settings)
    return PriorFusion(cfg, Lexicon.load(config_file("priors")), FakeDetector("Person"), None, None, face)


T = PatchTransform(0.0, -40.0, 2.5, 128)  # the 320 x 240 frame letterboxed into a 128 patch


def test_the_shipped_face_model_finds_the_astronauts_face(shipped):
    import skimage.data

    image = skimage.data.astronaut()
    def find(img, box, context):
        crop, crop_at = faces.crop_square(img, np.array(box, dtype=float), context)
        return faces.best_face(shipped.face(crop), crop_at, 0.5)

    for box, score in (find(image, [180, 60, 70, 70], 3.0), find(image, [0, 0, 512, 512], 1.0)):
        assert score > 0.8 and iou_matrix(box[None], ASTRONAUT_FACE[None])[0, 0] > 0.7
    assert find(np.full((240, 320, 3), 128, np.uint8), [100, 80, 40, 40], 3.0) is None  # a grey wall has no face


def test_the_face_target_of_the_shipped_nets_is_the_face_not_the_body_proportion(shipped):
    import skimage.data

    image = skimage.data.astronaut()
    shipped.set_query("the face of the woman")
    t = PatchTransform(0.0, 0.0, 4.0, 128)
    boxes, p = shipped._detections(image, t, SearchMode.GLOBAL)
    best = t.box_to_image(boxes[int(np.argmax(p))])
    assert iou_matrix(best[None], ASTRONAUT_FACE[None])[0, 0] > 0.7, best


@pytest.mark.parametrize("mode", [SearchMode.GLOBAL, SearchMode.ROI])
def test_a_part_box_moves_onto_the_face_found_around_it(mode):
    face_net = FakeFace()
    fusion = _fusion(face_net)
    fusion.set_query("the face of the person")
    geometric = sub_boxes(np.array([[220.0, 60.0, 40.0, 140.0]]), fusion.query.part.region)[0]
    anchor = np.array([236.0, 76.0, 16.0, 16.0])
    boxes, p = fusion._detections(_scene(), T, mode, anchor)
    got = T.box_to_image(boxes[int(np.argmax(p))])
    np.testing.assert_allclose(got, [238.0, 78.0, 12.0, 12.0], atol=1.5)
    assert iou_matrix(got[None], geometric[None])[0, 0] < 0.2 and face_net.calls >= 1

    fusion.set_query("the helmet of the person")  # a head: the face box grown upwards
    head = T.box_to_image(fusion._detections(_scene(), T, mode, anchor)[0][0])
    assert head[2] > got[2] and head[3] > got[3] and head[1] < got[1]


def test_a_face_the_person_detector_missed_is_found_around_the_last_box_in_roi_mode():
    image = np.zeros((240, 320, 3), np.uint8)
    image[78:90, 238:250] = (0, 0, 255)  # a face, no body: the close-up the person detector misses
    fusion = _fusion(FakeFace())
    fusion.set_query("the face of the man")
    anchor = np.array([234.0, 74.0, 20.0, 20.0])
    assert len(fusion._detections(image, T, SearchMode.GLOBAL, anchor)[0]) == 0
    boxes, p = fusion._detections(image, T, SearchMode.ROI, anchor)
    np.testing.assert_allclose(T.box_to_image(boxes[0]), [238.0, 78.0, 12.0, 12.0], atol=1.5)
    assert p[0] > 0.9


@pytest.mark.parametrize("query", ["the person walking", "the jacket of the person", "the legs of the runner"])
def test_targets_that_are_not_faces_or_heads_never_run_the_face_model(query):
    face_net = FakeFace()
    fusion = _fusion(face_net)
    fusion.set_query(query)
    for mode in (SearchMode.GLOBAL, SearchMode.ROI):
        fusion._detections(_scene(), T, mode, np.array([220.0, 60.0, 40.0, 140.0]))
    assert face_net.calls == 0


def test_a_failing_face_model_is_switched_off_and_parts_fall_back_to_geometry(caplog):
    fusion = _fusion(BrokenFace())
    fusion.set_query("the face of the person")
    geometric = sub_boxes(np.array([[220.0, 60.0, 40.0, 140.0]]), fusion.query.part.region)[0]
    with caplog.at_level(logging.WARNING):
        boxes, _ = fusion._detections(_scene(), T, SearchMode.GLOBAL)
    assert fusion.face is None and "face model exploded" in caplog.text
    assert iou_matrix(T.box_to_image(boxes[0])[None], geometric[None])[0, 0] > 0.8


def load_detector_only(tmp_path):
    """load_priors with config/priors.yaml and only the Open Images detector's file in the models folder."""
    shutil.copy(config_file("priors"), tmp_path / "priors.yaml")
    (tmp_path / "models").mkdir()
    detector = read_yaml(config_file("priors"))["priors"]["detector"]
    for name in (detector, detector + ".sha256"):
        shutil.copy(models_dir() / "priors" / name, tmp_path / "models")
    return load_priors(tmp_path / "priors.yaml", tmp_path / "models")


def load_with_setting(tmp_path, setting: str):
    """load_priors with one ``key: value`` line of config/priors.yaml replaced."""
    key = setting.split(":")[0]
    text = config_file("priors").read_text()
    line = next(x for x in text.splitlines() if x.strip().startswith(key + ":"))
    (tmp_path / "priors.yaml").write_text(text.replace(line, "  " + setting))
    return load_priors(tmp_path / "priors.yaml", models_dir() / "priors")


def test_a_missing_face_file_warns_and_the_other_priors_load(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        priors = load_detector_only(tmp_path)
    assert priors.face is None and priors.detector is not None
    assert "blazeface_short_range.onnx" in caplog.text and "part boxes by geometry" in caplog.text


@pytest.mark.parametrize("bad", ["face_context: 0.5", "face_min_score: 1.5", "face_top_k: -1"])
def test_bad_face_settings_name_the_key(tmp_path, bad):
    with pytest.raises(ConfigError, match=bad.split(":")[0]):
        load_with_setting(tmp_path, bad)
