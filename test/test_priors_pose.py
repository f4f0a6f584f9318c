"""Issue 14: BlazePose landmarks place body parts (tracking/priors/pose.py): on a real photo with the
shipped model, with a fake pose net of known answers, and when the pose net fails or is missing."""
import dataclasses
import logging

import numpy as np
import pytest

from langtrack_ros.builder import build_priors
from langtrack_ros.config import ConfigError
from langtrack_ros.paths import config_file
from langtrack_ros.tracking.box_ops import iou_matrix
from langtrack_ros.tracking.geometry import PatchTransform
from langtrack_ros.tracking.priors import faces, pose
from langtrack_ros.tracking.priors.fusion import PriorFusion, part_boxes
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.tracking.result import SearchMode
from test_priors import FakeDetector
from test_priors_faces import ASTRONAUT_FACE, T, FakeFace, _scene, load_detector_only, load_with_setting

# an upright body in the 256-px crop, its left hand raised beside the head (where no body
# proportion puts a hand): landmark -> (x, y) in crop pixels
BODY = {0: (128, 40), 1: (124, 35), 2: (122, 35), 3: (120, 35), 4: (132, 35), 5: (134, 35), 6: (136, 35),
        7: (115, 40), 8: (141, 40), 9: (124, 48), 10: (132, 48), 11: (145, 70), 12: (111, 70), 13: (160, 60),
        14: (101, 100), 15: (175, 30), 16: (95, 130), 17: (178, 24), 18: (93, 138), 19: (175, 22),
        20: (95, 139), 21: (171, 26), 22: (98, 136), 23: (138, 140), 24: (118, 140), 25: (138, 180),
        26: (118, 180), 27: (138, 220), 28: (118, 220), 29: (136, 226), 30: (116, 226), 31: (146, 228),
        32: (112, 228)}


def raw_landmarks(visible=(), flag=0.9, hidden=()):
    """The pose net's raw outputs with BODY's landmarks; ``hidden`` ones get visibility logit -5."""
    lm = np.zeros((pose.LANDMARKS, 5))
    for i, (x, y) in BODY.items():
        lm[i] = [x, y, 0.0, -5.0 if i in hidden else 5.0, 5.0]
    return lm.reshape(-1), np.array([flag])


class FakePose:
    """BODY in every crop (the person fills the crop as MediaPipe's region does)."""

    def __init__(self, hidden=()):
        self.calls, self.hidden = 0, hidden

    def __call__(self, crop):
        assert crop.shape == (pose.INPUT, pose.INPUT, 3)
        self.calls += 1
        return raw_landmarks(hidden=self.hidden)


class BrokenPose:
    def __call__(self, crop):
        raise RuntimeError("pose model exploded")


def _fusion(pose_net, face=None, **settings):
    cfg = dataclasses.replace(build_priors("all").cfg, **settings)
    return PriorFusion(cfg, Lexicon.load(config_file("priors")), FakeDetector("Person"), None, None, face, pose_net)


PERSON = np.array([220.0, 60.0, 40.0, 140.0])  # the green person of _scene(), image pixels


def _crop_at():
    return faces.crop_square(_scene(), PERSON, 1.25, pose.INPUT)[1]


def _image_point(i):
    x0, y0, side = _crop_at()
    return np.array(BODY[i]) * side / pose.INPUT + [x0, y0]


def test_decode_maps_crop_pixels_to_the_image_and_refuses_no_person():
    points, vis = pose.decode(raw_landmarks(), (10.0, 20.0, 512.0), 0.5)
    np.testing.assert_allclose(points[0], [10 + 2 * 128, 20 + 2 * 40])
    assert vis[0] > 0.99
    assert pose.decode(raw_landmarks(flag=0.2), (0.0, 0.0, 256.0), 0.5) is None
    assert pose.decode(raw_landmarks(flag=float("nan")), (0.0, 0.0, 256.0), 0.5) is None


def test_part_boxes_follow_the_landmarks_one_per_visible_side():
    points, vis = pose.decode(raw_landmarks(hidden=(16, 18, 20, 22)), (0.0, 0.0, 256.0), 0.5)
    person = np.array([90.0, 20.0, 80.0, 210.0])
    hands = pose.part_boxes("hand", points, vis, person, 0.5)
    assert len(hands) == 1  # the right hand's landmarks are hidden
    x, y, w, h = hands[0]
    assert x < 171 and x + w > 178 and y < 22 and y + h > 30  # around the raised left hand
    assert len(pose.part_boxes("foot", points, vis, person, 0.5)) == 2
    head = pose.part_boxes("head", points, vis, person, 0.5)[0]
    ears = points[[7, 8]]
    assert head[2] > np.ptp(ears[:, 0]) and head[1] < points[1:7, 1].min() and head[3] > head[2]
    assert pose.part_boxes("face", points, vis, person, 0.5) == []  # faces: BlazeFace or geometry
    assert pose.part_boxes("torso", points, np.zeros_like(vis), person, 0.5) == []  # nothing visible


def test_the_shipped_pose_model_places_the_astronauts_head_and_shoulders():
    import skimage.data

    image = skimage.data.astronaut()
    priors = build_priors("all")
    person = np.array([30.0, 20.0, 420.0, 492.0])
    crop, crop_at = faces.crop_square(image, person, 1.25, pose.INPUT)
    points, vis = pose.decode(priors.pose(crop), crop_at, 0.5)
    x, y, w, h = ASTRONAUT_FACE
    assert vis[0] > 0.9 and x < points[0, 0] < x + w and y < points[0, 1] < y + h  # the nose is in the face
    assert (points[[11, 12], 1] > y + h).all() and vis[[11, 12]].min() > 0.9  # shoulders below it
    head = pose.part_boxes("head", points, vis, person, 0.5)[0]
    assert iou_matrix(head[None], ASTRONAUT_FACE[None])[0, 0] > 0.3 and head[1] < y, head  # the face and the hair above
    assert pose.decode(priors.pose(np.full((256, 256, 3), 128, np.uint8)), crop_at, 0.5) is None  # no one


@pytest.mark.parametrize("mode", [SearchMode.GLOBAL, SearchMode.ROI])
def test_a_hand_target_moves_onto_the_hands_the_pose_finds(mode):
    pose_net = FakePose()
    fusion = _fusion(pose_net)
    fusion.set_query("the hand of the person")
    geometric = part_boxes(PERSON[None], fusion.query.part.region, fusion.cfg.person_aspect)[0]
    boxes, p = fusion._detections(_scene(), T, mode, PERSON)
    got = T.box_to_image(boxes)
    assert pose_net.calls == 1 and len(got) == 2 and p[0] == p[1]  # both hands, the owner's score
    left = _image_point(15)
    assert any((b[:2] < left).all() and (b[:2] + b[2:] > left).all() for b in got)
    assert iou_matrix(got[:1], geometric[None])[0, 0] < 0.3


def test_faces_come_first_and_the_pose_places_heads_where_no_face_is_found():
    face_net, pose_net = FakeFace(), FakePose()
    fusion = _fusion(pose_net, face_net)
    fusion.set_query("the face of the person")
    fusion._detections(_scene(), T, SearchMode.GLOBAL)
    assert face_net.calls == 1 and pose_net.calls == 0  # _scene() has a blue face: BlazeFace placed it
    image = _scene()
    image[78:90, 238:250] = (0, 255, 0)  # seen from behind: no face
    fusion.set_query("the helmet of the person")
    boxes, _ = fusion._detections(image, T, SearchMode.GLOBAL)
    head = T.box_to_image(boxes[0])
    nose = _image_point(0)
    assert pose_net.calls == 1 and (head[:2] < nose).all() and (head[:2] + head[2:] > nose).all()


@pytest.mark.parametrize("query", ["the person walking", "the red car", "the face of the man"])
@pytest.mark.parametrize("face_seen", [True, False])
def test_whole_objects_and_faces_never_run_the_pose_model(query, face_seen):
    pose_net = FakePose()
    fusion = _fusion(pose_net, FakeFace())
    fusion.set_query(query)
    image = _scene()
    if not face_seen:
        image[78:90, 238:250] = (0, 255, 0)
    for mode in (SearchMode.GLOBAL, SearchMode.ROI):
        fusion._detections(image, T, mode, PERSON)
    assert pose_net.calls == 0


def test_a_failing_pose_model_is_switched_off_and_parts_fall_back_to_geometry(caplog):
    fusion = _fusion(BrokenPose())
    fusion.set_query("the jacket of the person")
    geometric = part_boxes(PERSON[None], fusion.query.part.region, fusion.cfg.person_aspect)[0]
    with caplog.at_level(logging.WARNING):
        boxes, _ = fusion._detections(_scene(), T, SearchMode.GLOBAL)
    assert fusion.pose is None and "pose model exploded" in caplog.text
    assert iou_matrix(T.box_to_image(boxes[0])[None], geometric[None])[0, 0] > 0.8


def test_a_missing_pose_file_warns_and_the_other_priors_load(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        priors = load_detector_only(tmp_path)
    assert priors.pose is None and priors.detector is not None
    assert "pose_landmark_full.onnx" in caplog.text


@pytest.mark.parametrize("bad", ["pose_context: 0.5", "pose_min_visibility: 1.5", "pose_top_k: -1",
                                 "pose_min_presence: -0.1"])
def test_bad_pose_settings_name_the_key(tmp_path, bad):
    with pytest.raises(ConfigError, match=bad.split(":")[0]):
        load_with_setting(tmp_path, bad)
