"""Real-world priors: the word tables, SSD decoding, colour/space scores, the fusion into the gate
(fake networks with known answers) and the shipped prior models on real photos."""
import logging
import shutil

import numpy as np
import pytest
import skimage.data

from fake_mvlm import FakeBackend, FakeEncoder
from packaged import search_config
from langtrack_ros.config import ConfigError
from langtrack_ros.inference.prior_models import load_prior_models, load_priors
from langtrack_ros.paths import config_file, models_dir
from langtrack_ros.tracking.priors import appearance, ssd
from langtrack_ros.tracking.priors.fusion import PriorFusion
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.builder import build_priors
from langtrack_ros.tracking.tracker import MVLMTracker, load_settings

PRIORS = models_dir() / "priors"


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.load(config_file("priors"))


@pytest.mark.parametrize("text, category, colour, spatial", [
    ("the person in the red jacket", "person", "red", None),
    ("The two people walking together", "person", None, None),
    ("the wakeboarder behind the boat", "person", None, None),  # first category word is the target
    ("the white toy dog", "teddy", "white", None),  # a toy: teddy bear + the dog classes
    ("the dog on the left", "dog", None, "left"),
    ("the yellow ball left of the blue cube", "ball", "yellow", None),  # "left of": a relation, no ranking
    ("the car next to the red bus", "car", None, None),  # red describes the bus, not the car
    ("the largest star", None, None, "largest"),
    ("something shiny", None, None, None),
    ("the deer on the left", "animal", None, "left"),  # animals the tables do not name: the generic category
    ("the brown animal in the middle", "animal", "brown", "middle"),
    ("the diver in the black swimsuit standing on the platform", "person", "black", None),
    # a whole-body garment's colour is its wearer's, not the next noun's
    ("the sprinter in the yellow and green kit in the middle of the line of runners", "person", "yellow", "middle"),
    ("the man in the red outfit next to the car", "person", "red", None),
    ("the stork flying near the top of the pink sky", "bird", None, None),  # the sky's colour, not the bird's
    ("the boy on the green grass in the red shirt", "person", "red", None),
    ("the white object at the top right", None, "white", "top"),  # "top" is the place, not a torso
    ("the head of the young reindeer in the water", None, None, None),  # an animal's head: left to MVLM
])
def test_sentences_map_to_category_colour_and_space(lexicon, text, category, colour, spatial):
    q = lexicon.parse(text)
    assert (q.category.name if q.category else None, q.colour, q.spatial) == (category, colour, spatial)
    assert q.known == any((category, colour, spatial))


def test_malformed_prior_tables_are_config_errors():
    with pytest.raises(ConfigError, match="malformed"):
        Lexicon({"categories": {"x": {"detector": []}}, "colours": {}, "achromatic": {}, "spatial": {}})
    with pytest.raises(ConfigError, match="0..999"):
        Lexicon({"categories": {"x": {"words": ["x"], "imagenet": [1000]}}, "colours": {}, "achromatic": {},
                 "spatial": {}})


def test_ssd_anchor_layout_matches_the_network():
    a = ssd.anchors()
    assert a.shape == (1917, 4)  # 19*19*3 + (10*10 + 5*5 + 3*3 + 2*2 + 1) * 6
    np.testing.assert_allclose(a[0], [0.5 / 19, 0.5 / 19, 0.1, 0.1])  # lowest layer: scale 0.1 square first
    np.testing.assert_allclose(a[1, 2] / a[1, 3], 2.0)  # then aspect 2 at scale 0.2
    np.testing.assert_allclose(a[-1, :2], [0.5, 0.5])  # the 1x1 layer is centred
    np.testing.assert_allclose(a[-1, 2:], [np.sqrt(0.95)] * 2)  # its interpolated square: sqrt(0.95 * 1)


def test_ssd_decode_inverts_a_known_encoding():
    a = ssd.anchors()
    target = np.array([0.30, 0.40, 0.20, 0.50])  # x, y, w, h
    raw = np.zeros((1917, 4))
    k = 1000
    cx, cy = target[0] + target[2] / 2, target[1] + target[3] / 2
    raw[k] = [(cy - a[k, 1]) / a[k, 3] * 10, (cx - a[k, 0]) / a[k, 2] * 10,
              np.log(target[3] / a[k, 3]) * 5, np.log(target[2] / a[k, 2]) * 5]
    logits = np.full((1917, 24), -20.0)
    logits[k, 4] = 3.0
    boxes, scores = ssd.decode(raw, logits)
    np.testing.assert_allclose(boxes[k], target, atol=1e-9)
    assert scores[k, 4] == pytest.approx(1 / (1 + np.exp(-3.0)))
    keep = ssd.nms(np.vstack([boxes[k], boxes[k] + 0.001, [0.8, 0.8, 0.1, 0.1]]), np.array([0.9, 0.8, 0.5]), 0.5, 5)
    assert keep.tolist() == [0, 2]


def test_colour_fraction_and_spatial_rank(lexicon):
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:80, 20:80] = (220, 30, 30)  # red square on the left
    image[20:80, 120:180] = (30, 30, 220)  # blue square on the right
    boxes = np.array([[20, 20, 60, 60], [120, 20, 60, 60]], float)
    np.testing.assert_allclose(appearance.colour_fractions(image, boxes, "red", lexicon), [1.0, 0.0])
    np.testing.assert_allclose(appearance.colour_fractions(image, boxes, "blue", lexicon), [0.0, 1.0])
    night = image // 6  # the same scene at night: both squares are dark, whatever their hue
    np.testing.assert_allclose(appearance.colour_fractions(night, boxes, "dark", lexicon), [1.0, 1.0])
    np.testing.assert_allclose(appearance.colour_fractions(image, boxes, "dark", lexicon), [0.0, 0.0])
    assert lexicon.parse("the dark car crossing the junction").colour == "dark"
    norm = boxes / 200
    np.testing.assert_allclose(appearance.spatial_rank(norm, "left", np.array([True, True])), [1.0, 0.0])
    # the only plausible candidate ranks first whatever its place; implausible ones get 0
    np.testing.assert_allclose(appearance.spatial_rank(norm, "right", np.array([True, False])), [1.0, 0.0])


class FakeDetector:
    """Reports one detection of class ``label`` wherever a green square is (read from the pixels)."""

    labels = ["???", "Person", "Dog"]

    def __init__(self, label="Person", score=4.0):
        self.cls, self.score, self.calls = self.labels.index(label), score, 0

    def __call__(self, patch):
        self.calls += 1
        a = ssd.anchors()
        raw, logits = np.zeros((1917, 4)), np.full((1917, 3), -20.0)
        green = (patch[..., 1] > 200) & (patch[..., 0] < 60)
        if green.any():
            ys, xs = np.nonzero(green)
            x, y = xs.min() / 300, ys.min() / 300
            w, h = (xs.max() + 1) / 300 - x, (ys.max() + 1) / 300 - y
            k = int(np.argmin(np.abs(a[:, 0] - (x + w / 2)) + np.abs(a[:, 1] - (y + h / 2)) + np.abs(a[:, 2] - w)))
            raw[k] = [(y + h / 2 - a[k, 1]) / a[k, 3] * 10, (x + w / 2 - a[k, 0]) / a[k, 2] * 10,
                      np.log(h / a[k, 3]) * 5, np.log(w / a[k, 2]) * 5]
            logits[k, self.cls] = self.score
        return raw, logits


class RedEncoder(FakeEncoder):
    """The fake network always looks for red; the sentence itself is left to the priors."""

    def encode(self, text):
        return super().encode("red " + text)


def _fusion(lexicon, detector):
    priors = build_priors("all")
    return PriorFusion(priors.cfg, lexicon, detector, None)


def test_a_detected_person_wins_over_mvlm_distractor(lexicon):
    """MVLM (fake) sees only the red square; the sentence names a person and the detector finds the
    green one: the fused gate answers the green box, with its own (tall) shape, confidently."""
    image = np.zeros((240, 320, 3), np.uint8)
    image[100:140, 40:80] = (255, 0, 0)  # what the fake MVLM network scores (a red distractor)
    image[60:200, 220:260] = (0, 255, 0)  # the person: 40 x 140, tall
    tracker = MVLMTracker(FakeBackend(), RedEncoder(), box_language=False,
                          priors=_fusion(lexicon, FakeDetector("Person")))
    tracker.set_query("the person walking")
    result = tracker.step(image)
    assert result.found
    np.testing.assert_allclose(result.box, [220, 60, 40, 140], atol=3)
    result = tracker.step(image)  # ROI mode now: the detector runs on the ROI crop and still finds it
    assert result.mode.name == "ROI"
    np.testing.assert_allclose(result.box, [220, 60, 40, 140], atol=3)


def test_detector_finding_nothing_leaves_mvlm_unchanged(lexicon):
    image = np.zeros((240, 320, 3), np.uint8)
    image[100:140, 40:80] = (255, 0, 0)
    plain = MVLMTracker(FakeBackend(), RedEncoder())
    fused = MVLMTracker(FakeBackend(), RedEncoder(), priors=_fusion(lexicon, FakeDetector("Person")))
    for t in (plain, fused):
        t.set_query("the person")
    for _ in range(3):
        a, b = plain.step(image), fused.step(image)
        np.testing.assert_allclose(a.box, b.box)
        assert (a.kappa, a.found, a.mode) == (b.kappa, b.found, b.mode)


def test_unknown_words_mean_plain_mvlm_logged_once(lexicon, caplog):
    image = np.zeros((240, 320, 3), np.uint8)
    image[100:140, 40:80] = (255, 0, 0)
    detector = FakeDetector("Person")
    tracker = MVLMTracker(FakeBackend(), RedEncoder(), priors=_fusion(lexicon, detector))
    with caplog.at_level(logging.INFO):
        tracker.set_query("the thingamajig")
        for _ in range(3):
            tracker.step(image)
    assert not tracker.priors.active and detector.calls == 0
    assert sum("plain MVLM" in r.message for r in caplog.records) == 1


def test_missing_or_corrupt_prior_files_fall_back_with_a_warning(tmp_path, caplog):
    (tmp_path / "bad.onnx").write_bytes(b"not an onnx file")
    with caplog.at_level(logging.WARNING):
        detector, imagenet = load_prior_models(tmp_path, "missing.onnx", "bad.onnx", 1)
    assert detector is None and imagenet is None
    text = " ".join(r.message for r in caplog.records)
    assert "missing.onnx" in text and "bad.onnx" in text and "without this prior" in text


def test_prior_config_errors_name_the_key(tmp_path):
    data = config_file("priors").read_text().replace("weight: 0.7", "weight: 1.7")
    (tmp_path / "priors.yaml").write_text(data)
    with pytest.raises(ConfigError, match="priors.weight"):
        load_priors(tmp_path / "priors.yaml", PRIORS)
    with pytest.raises(ConfigError, match="unknown prior"):
        build_priors("detector,telepathy")
    for bad, match in (("colour_full: 0.25", "colour_full: 0"), ("left: left", "left: lefft")):
        (tmp_path / "priors.yaml").write_text(config_file("priors").read_text().replace(bad, match, 1))
        with pytest.raises(ConfigError, match="colour_full|unknown relations"):
            load_priors(tmp_path / "priors.yaml", PRIORS)


def test_shipped_detector_finds_the_astronaut():
    """The converted Open Images SSD on a real photo: a Person box around the astronaut."""
    detector, _ = load_prior_models(PRIORS, "ssd_mobilenetv2_oidv4.onnx", "", 1)
    image = skimage.data.astronaut()  # 512 x 512, the astronaut fills most of it
    import cv2

    boxes, scores = ssd.decode(*detector(cv2.resize(image, (300, 300), interpolation=cv2.INTER_AREA)))
    person = scores[:, detector.labels.index("Person")]
    best = int(np.argmax(person))
    assert person[best] > 0.5
    x, y, w, h = boxes[best]
    assert x < 0.2 and w > 0.5 and h > 0.6  # the whole figure, not a patch


def test_shipped_imagenet_evidence_sees_the_cat_where_it_is(lexicon):
    """ImageNet evidence on chelsea (a cat): the cat group dominates the cells on the cat."""
    _, imagenet = load_prior_models(PRIORS, "", "mobilenetv2_imagenet.onnx", 1)
    import cv2

    image = cv2.resize(skimage.data.chelsea(), (256, 256))
    logits = imagenet(image)
    assert logits.shape == (1000, 8, 8)
    cat = [c for c in lexicon.categories if c.name == "cat"][0]
    prob = np.exp(logits - logits.max(0))
    prob /= prob.sum(0)
    assert prob[list(cat.imagenet)].sum(0).max() > 0.5


def test_tracker_yaml_and_priors_yaml_load_together():
    settings = load_settings()
    priors = load_priors(config_file("priors"), PRIORS)
    assert settings.gate.tau == pytest.approx(0.05) and priors is not None and priors.detector is not None


def test_priors_folder_missing_entirely_still_tracks(tmp_path, caplog, lexicon):
    shutil.copy(config_file("priors"), tmp_path / "priors.yaml")
    with caplog.at_level(logging.WARNING):
        priors = load_priors(tmp_path / "priors.yaml", tmp_path / "no_such_folder")
    assert priors.detector is None and priors.imagenet is None
    # a category word with no prior model to check it: exactly plain MVLM (not a re-weighting)
    plain = MVLMTracker(FakeBackend(), RedEncoder())
    fused = MVLMTracker(FakeBackend(), RedEncoder(), priors=priors)
    image = np.zeros((120, 160, 3), np.uint8)
    image[40:60, 40:60] = (255, 0, 0)
    image[80:100, 100:120] = (255, 0, 0)
    for t in (plain, fused):
        t.set_query("the person")
    assert not fused.priors.active
    for _ in range(2):
        a, b = plain.step(image), fused.step(image)
        np.testing.assert_allclose(a.box, b.box)
        assert (a.kappa, a.found) == (b.kappa, b.found)


@pytest.mark.parametrize("parallel", [False, True])  # True: it fails on the prior nets' worker thread
def test_a_prior_model_failing_at_run_time_is_switched_off_once(lexicon, caplog, parallel):
    class Broken(FakeDetector):
        def __call__(self, patch):
            raise RuntimeError("CUDA provider lost")

    fusion = _fusion(lexicon, Broken("Person"))
    fusion.cfg.parallel = parallel
    tracker = MVLMTracker(FakeBackend(), RedEncoder(), priors=fusion)
    tracker.set_query("the person")
    image = np.zeros((120, 160, 3), np.uint8)
    image[40:60, 40:60] = (255, 0, 0)
    with caplog.at_level(logging.WARNING):
        results = [tracker.step(image) for _ in range(3)]
    assert all(r.found for r in results) and tracker.priors.detector is None
    assert sum("switched off" in r.message for r in caplog.records) == 1


def test_box_means_count_only_the_part_inside_the_patch():
    from langtrack_ros.tracking.priors.fusion import patch_box_mean

    prob = np.zeros((10, 10))
    prob[:, 2:4] = 1.0
    boxes = np.array([[-0.2, 0.0, 0.4, 1.0],  # sticks out on the left: covers columns 0..1 only
                      [0.2, 0.0, 0.2, 1.0],  # exactly the bright columns
                      [0.95, 0.95, 0.5, 0.5]])  # mostly outside: the last pixel
    np.testing.assert_allclose(patch_box_mean(prob, boxes), [0.0, 1.0, 0.0])


def test_the_generic_animal_category_asks_coco_for_every_animal_it_knows(lexicon):
    from langtrack_ros.builder import build_priors

    animal = lexicon.parse("the octopus crawling on the sea floor").category
    assert animal.name == "animal" and set(animal.imagenet) == set(range(398))
    fusion = build_priors("all")
    fusion.set_query("the second animal from the left")
    labels = fusion.coco.labels
    assert fusion._det_name == "coco"
    assert sorted(labels[i] for i in fusion._det_classes) == sorted(
        ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"])


def test_any_word_salad_parses_without_error(lexicon):
    """The parser indexes around nouns, relation words and colours ("the man in red", "other",
    before/after a relation word): no sentence of the tables' own words may make it raise, and
    what it returns always names a known colour and category."""
    rng = np.random.default_rng(0)
    vocab = [*lexicon._word_to_category, *lexicon._word_to_part, *lexicon.colour_words(), *lexicon.spatial,
             *lexicon.relations, "the", "a", "of", "other", "another", "two", "others", "walking", "and", "to",
             "camera", "second", "xyzzy"]
    for _ in range(3000):
        q = lexicon.parse(" ".join(rng.choice(vocab, size=rng.integers(0, 15))))
        assert q.colour is None or q.colour in lexicon.colour_words()
        assert q.category is None or q.category.name in {c.name for c in lexicon.categories}  # a toy: teddy + its animal
        assert q.relation_colour is None or q.relation_colour[0] in lexicon.colour_words()


def test_a_recheck_that_keeps_the_target_leaves_the_next_frames_unchanged(lexicon):
    """The global re-check runs the prior nets on the whole frame; when it keeps the followed person,
    the ROI schedule carries what it carried before, so every answer equals the tracker's without it."""
    frames = []
    for k in range(8):
        image = np.zeros((240, 320, 3), np.uint8)
        image[60 + 3 * k:200 + 3 * k, 100 + 8 * k:140 + 8 * k] = (0, 255, 0)
        frames.append(image)
    plain = MVLMTracker(FakeBackend(), RedEncoder(), priors=_fusion(lexicon, FakeDetector("Person")))
    checked = MVLMTracker(FakeBackend(), RedEncoder(), priors=_fusion(lexicon, FakeDetector("Person")),
                          search_cfg=search_config(recheck_every=1))
    for t in (plain, checked):
        t.set_query("the person walking")
    for image in frames:
        a, b = plain.step(image), checked.step(image)
        np.testing.assert_allclose(a.box, b.box)
        assert (a.kappa, a.found, a.mode) == (b.kappa, b.found, b.mode)
    assert checked.priors.detector.calls > plain.priors.detector.calls  # the looks did run
