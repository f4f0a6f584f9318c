"""Crop evidence (tracking/priors/crops.py): the shipped ImageNet net on a real photo placed small in
a large frame, the fusion step that uses it, and bad candidate boxes."""
import numpy as np
import pytest
import skimage.data

from langtrack_ros.builder import build_priors
from langtrack_ros.inference.prior_models import load_prior_models
from langtrack_ros.paths import config_file, models_dir
from langtrack_ros.tracking.geometry import PatchTransform
from langtrack_ros.tracking.priors import crops
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.tracking.result import SearchMode

CAT_BOX = np.array([1500.0, 700.0, 150.0, 100.0])  # where the cat is pasted (camera pixels)


@pytest.fixture(scope="module")
def groups():
    cats = {c.name: np.array(c.imagenet) for c in Lexicon.load(config_file("priors")).categories}
    return cats["cat"], cats["bird"]


@pytest.fixture(scope="module")
def evidence():
    _, imagenet = load_prior_models(models_dir() / "priors", "", "mobilenetv2_imagenet.onnx", 1)
    return crops.CropEvidence(imagenet, 128, 1.5)


@pytest.fixture(scope="module")
def frame():
    """A 1920 x 1080 grey frame with chelsea (a cat) 150 x 100 px in the lower right: 1/140 of the frame."""
    import cv2

    image = np.full((1080, 1920, 3), 110, np.uint8)
    x, y, w, h = CAT_BOX.astype(int)
    image[y:y + h, x:x + w] = cv2.resize(skimage.data.chelsea(), (w, h), interpolation=cv2.INTER_AREA)
    return image


def test_a_small_cat_crop_is_a_cat_and_not_a_bird(evidence, frame, groups):
    cat, bird = groups
    background = np.array([300.0, 200.0, 150.0, 100.0])
    p_cat = evidence.evidence(frame, np.stack([CAT_BOX, background]), cat)
    p_bird = evidence.evidence(frame, CAT_BOX[None], bird)
    assert p_cat[0] > 0.5 and p_cat[1] < 0.1 and p_bird[0] < 0.1


def test_bad_boxes_give_zero_or_padded_evidence(evidence, frame, groups):
    cat, _ = groups
    assert evidence.evidence(frame, np.zeros((0, 4)), cat).shape == (0,)
    assert evidence.evidence(frame, CAT_BOX[None], np.zeros(0, int)).tolist() == [0.0]
    bad = np.array([[5000.0, -900.0, 50.0, 50.0],  # wholly outside: a crop of the mean colour
                    [1600.0, 750.0, 0.0, 0.0],  # degenerate: MIN_SIDE crop around the point
                    [np.nan, 0.0, 10.0, 10.0]])  # not finite: evidence 0
    p = evidence.evidence(frame, bad, cat)
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all() and p[2] == 0.0 and p[0] < 0.1


def test_pick_skips_neighbours_and_degenerate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 10, 10], [0, 0, 0, 5], [np.inf, 0, 1, 1.0]])
    rank = np.array([0.9, 0.8, 0.5, 1.0, 1.0])
    assert crops.pick(boxes, rank, 3).tolist() == [0, 2]
    assert crops.pick(np.zeros((0, 4)), np.zeros(0), 3).tolist() == []


def test_fusion_raises_a_small_cat_the_cam_missed(frame):
    """In the fused step the cat candidate (MVLM's top cell) gets crop evidence from the camera frame
    while the tracker works on a 640-px copy; without crops its evidence stays what it was."""
    priors = build_priors("all,crops=true,crops_top_k=2")
    priors.set_query("the cat on the sofa")
    zoom = 3.0
    priors.camera_frame(frame, np.array([zoom, zoom, zoom, zoom]))  # as images.working_frame gives it
    image = np.zeros((360, 640, 3), np.uint8)
    t = PatchTransform(0.0, -140.0, 640 / 256, 256)  # letterbox of the working frame
    boxes = t.box_to_patch(np.stack([CAT_BOX / zoom, np.array([100.0, 60, 50, 33])]))
    out = priors._with_crops(np.zeros(2), boxes, np.array([0.9, 0.5]), image, t, SearchMode.GLOBAL)
    assert out[0] > 0.5 and out[1] < 0.1
    priors.camera_frame(frame, zoom)  # a scalar zoom works the same
    assert priors._with_crops(np.zeros(2), boxes, np.array([0.9, 0.5]), image, t, SearchMode.GLOBAL)[0] > 0.5
    priors.crops = None
    assert priors._with_crops(np.zeros(2), boxes, np.array([0.9, 0.5]), image, t, SearchMode.GLOBAL).tolist() == [0, 0]


def test_tracker_answers_the_small_cat_among_two_equal_mvlm_targets(frame):
    """End to end on a 1920 x 1080 frame the tracker downscales: the fake MVLM scores two red
    frames alike, one around the small cat, one around grey; the ImageNet net alone (no detectors)
    with crop evidence picks the cat."""
    from fake_mvlm import FakeBackend, FakeEncoder
    from langtrack_ros.tracking.priors.fusion import PriorFusion
    from langtrack_ros.tracking.tracker import MVLMTracker

    class RedEncoder(FakeEncoder):
        def encode(self, text):
            return super().encode("red " + text)

    image = frame.copy()
    x, y, w, h = CAT_BOX.astype(int)
    for x0, y0 in ((x, y), (300, y)):  # red frames around the cat and grey (no crops: grey wins)
        image[y0 - 12:y0 + h + 12, x0 - 12:x0 + w + 12] = (255, 0, 0)
        image[y0:y0 + h, x0:x0 + w] = frame[y:y + h, x:x + w] if x0 == x else 110
    base = build_priors("all,crops=true,crops_top_k=2,crops_small=0.02,crops_in_roi=true")
    tracker = MVLMTracker(FakeBackend(), RedEncoder(), priors=PriorFusion(base.cfg, base.lexicon, None, base.imagenet))
    tracker.set_query("the cat")
    for _ in range(2):  # global search, then ROI
        box = tracker.step(image).box
        assert abs(box[0] + box[2] / 2 - (x + w / 2)) < 40 and abs(box[1] + box[3] / 2 - (y + h / 2)) < 40
