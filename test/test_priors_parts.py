"""Issue 14: head-noun parsing (parts of a person), the prior nets' schedule in ROI mode, and their
bad input (fake networks with known answers, as in test_priors.py)."""
import dataclasses
import functools

import numpy as np
import pytest

from fake_mvlm import FakeBackend
from langtrack_ros.builder import build_priors
from langtrack_ros.config import ConfigError, read_yaml
from langtrack_ros.inference.prior_models import load_priors
from langtrack_ros.paths import config_file, models_dir
from langtrack_ros.tracking.box_ops import iou_matrix
from langtrack_ros.tracking.geometry import PatchTransform
from langtrack_ros.tracking.priors.fusion import PriorFusion, inside_part, owner_boxes, sub_boxes
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.tracking.priors.schedule import NetOutputs, carry
from langtrack_ros.tracking.result import SearchMode
from langtrack_ros.tracking.tracker import MVLMTracker
from test_priors import FakeDetector, RedEncoder


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.load(config_file("priors"))


@pytest.mark.parametrize("text, category, part, colour", [
    ("the face of the man holding the umbrella", "person", "face", None),
    ("the helmet of the cyclist", "person", "head", None),
    ("the man's face", "person", "face", None),
    ("the red helmet of the rider", "person", "head", "red"),
    ("the bike rider", "person", None, None),  # the last noun of the first phrase is the head
    ("the person in the red jacket", "person", None, "red"),
    ("the wakeboarder behind the boat", "person", None, None),
    ("the white boat moored by the pier", "boat", None, "white"),
    ("the dog followed the man", "dog", None, None),  # a past participle opens a relation
    ("the man on the bike", "person", None, None),  # "on" ends the phrase (YAML once read it as true)
    ("the head of the kitesurfer in the white shirt", "person", "head", "white"),
    ("the yellow top", "person", "torso", "yellow"),  # "top" after a colour is the garment ...
    ("the ball on the top of the hill", "ball", None, None),  # ... and after "the" the place
    ("the face of the cat", None, None, None),  # a part of a non-person: nothing places it, MVLM does
    ("the hand holding the cup", "person", "hand", None),  # only an "of" phrase names another owner
])
def test_the_head_noun_is_the_target(lexicon, text, category, part, colour):
    q = lexicon.parse(text)
    assert (q.category.name if q.category else None, q.part.name if q.part else None, q.colour) == \
        (category, part, colour)


def test_a_bare_yaml_boolean_in_a_word_list_is_a_config_error():
    data = read_yaml(config_file("priors"))
    data["phrase_ends"] = [*data["phrase_ends"], True]  # what an unquoted `on` or `yes` becomes
    with pytest.raises(ConfigError, match="non-words.*True"):
        Lexicon(data)
    data = read_yaml(config_file("priors"))
    data["ordinals"][False] = 2  # an unquoted `no:` key
    with pytest.raises(ConfigError, match="non-words.*False"):
        Lexicon(data)


def test_an_unknown_head_noun_is_not_replaced_by_a_later_one(lexicon):
    q = lexicon.parse("the plastic tarp near the man")
    assert q.category is None and q.head == "tarp" and q.context == ("person",)


def test_a_participle_relation_does_not_become_the_head_noun(lexicon):
    q = lexicon.parse("the blue alien toy held up in a hand")
    assert q.category is None and q.head == "toy" and q.colour == "blue"
    assert lexicon.parse("the cart pulled by the horse").head == "cart"


def test_two_colours_joined_by_and_do_not_end_the_first_phrase(lexicon):
    # "and" used to end the phrase after "red", and the first known noun (the hand of the relation) won
    q = lexicon.parse("the red and silver coke can held in a hand above the plant")
    assert q.category is None and q.part is None and q.head == "can" and q.colour == "red"
    assert lexicon.parse("the man in the red and white shirt").colour == "red"
    assert lexicon.parse("the dog and the cat").category.name == "dog"  # "and" between nouns still ends it


def test_a_toy_word_before_an_animal_makes_the_target_a_toy(lexicon):
    for text in ("the orange stuffed toy tiger held up above the plant", "the toy dog", "the plush bear"):
        assert lexicon.parse(text).category.name == "teddy", text
    toy_dog = lexicon.parse("the toy dog").category
    assert toy_dog.coco == ("teddy bear", "dog") and set(lexicon.parse("the dog").category.imagenet) <= set(toy_dog.imagenet)
    assert lexicon.parse("the dog next to the toy").category.name == "dog"  # after the head: a relation
    assert lexicon.parse("the toy car").category.name == "car"  # only animals have a toy class (teddy bear)


def test_a_garment_colour_is_measured_on_the_owners_garment(lexicon):
    q = lexicon.parse("the face of the man in the yellow jacket")
    torso = next(p for p in lexicon.parts if p.name == "torso")
    assert q.part.name == "face" and q.colour == "yellow" and q.colour_region == torso.region
    assert lexicon.parse("the red car").colour_region is None
    assert lexicon.parse("the girl in a yellow top").colour_region == torso.region


def test_part_boxes_and_owner_boxes_invert_each_other():
    people = np.array([[10.0, 20.0, 40.0, 150.0], [0.2, 0.1, 0.05, 0.3]])
    region = (0.34, 0.02, 0.66, 0.13)
    faces = sub_boxes(people, region)
    np.testing.assert_allclose(faces[0], [10 + 0.34 * 40, 20 + 0.02 * 150, 0.32 * 40, 0.11 * 150])
    np.testing.assert_allclose(owner_boxes(faces, region), people)


@functools.lru_cache(maxsize=1)
def _shipped_settings():
    return build_priors("all").cfg  # loads the prior models once for the whole module


def _fusion(lexicon, detector, **settings):
    cfg = dataclasses.replace(_shipped_settings(), **settings)
    return PriorFusion(cfg, lexicon, detector, None)


def _person_image():
    image = np.zeros((240, 320, 3), np.uint8)
    image[100:140, 40:80] = (255, 0, 0)  # what the fake MVLM network scores (a red distractor)
    image[60:200, 220:260] = (0, 255, 0)  # the person the detector finds: 40 x 140
    return image


def test_the_face_of_a_detected_person_is_tracked_in_both_modes(lexicon):
    tracker = MVLMTracker(FakeBackend(), RedEncoder(), priors=_fusion(lexicon, FakeDetector("Person")))
    tracker.set_query("the face of the person")
    face = sub_boxes(np.array([[220.0, 60.0, 40.0, 140.0]]), lexicon.parse("the face").part.region)[0]
    for mode in ("GLOBAL", "ROI"):  # in ROI mode the detector sees a wider region: the whole person
        result = tracker.step(_person_image())
        assert result.found and result.mode.name == mode
        assert iou_matrix(result.box[None], face[None])[0, 0] > 0.5, result.box


def test_inside_part_takes_tight_boxes_inside_a_part_and_nothing_larger_or_outside():
    face = np.array([[100.0, 100.0, 40.0, 40.0]])
    boxes = np.array([[105.0, 105.0, 14.0, 14.0],   # inside, IoU 0.12: a tight face the ramp misses
                      [130.0, 130.0, 20.0, 20.0],   # a quarter inside
                      [101.0, 101.0, 4.0, 4.0],     # inside but 1% of the part: a speck
                      [90.0, 90.0, 60.0, 60.0]])    # the part and more (44% of it inside)
    np.testing.assert_array_equal(inside_part(boxes, face, 0.3, 0.1)[:, 0], [1, 0, 0, 1])
    np.testing.assert_array_equal(inside_part(boxes, face, 0.5, 0.1)[:, 0], [1, 0, 0, 0])
    np.testing.assert_array_equal(inside_part(boxes, face, 0.3, 0.0)[:, 0], [1, 0, 1, 1])  # specks too
    assert inside_part(boxes, np.zeros((0, 4)), 0.3, 0.1).shape == (4, 0)


@pytest.mark.parametrize("part_inside, expected", [(0.0, 0.0), (0.3, 1.0)])
def test_a_network_face_box_inside_the_persons_face_region_takes_the_detection(lexicon, part_inside, expected):
    """The person's face region comes from body proportions; MVLM's own face box (tighter, shifted)
    overlaps it by IoU 0.18, under the ramp: only part_inside gives it the person's evidence."""
    fusion = _fusion(lexicon, FakeDetector("Person"), part_inside=part_inside)
    fusion.set_query("the face of the person")
    t = PatchTransform(0.0, -40.0, 2.5, 128)  # the 320 x 240 frame letterboxed into a 128 patch
    tight, elsewhere = t.box_to_patch(np.array([[236.0, 64.0, 6.0, 6.0], [40.0, 100.0, 40.0, 40.0]]))
    boxes = np.stack([tight, elsewhere])
    maps = {"score_map": np.zeros((8, 8), np.float32), "corr_map": np.zeros((8, 8), np.float32)}
    fused = fusion.fuse(_person_image(), t, SearchMode.GLOBAL, boxes, np.array([0.5, 0.5]), np.array([0.5, 0.5]), maps)
    assert fused.prior[1] == 0.0  # a box away from any person never gets the evidence
    assert fused.prior[0] == pytest.approx(expected * fused.prior.max()) and fused.prior.max() > 0.5


def test_in_the_middle_means_the_image_centre_column_in_patch_coordinates(lexicon):
    """The frame sits in the left part of the patch (x0 = 0, not a centred letterbox), so the image
    centre (x = 120 of 240) is patch x 0.375: the candidate there wins over three at x = 160."""
    fusion = _fusion(lexicon, FakeDetector("Person"))
    fusion.set_query("the thing in the middle")
    t = PatchTransform(0.0, 0.0, 2.5, 128)  # a 240 x 320 portrait frame, 320 px of image per patch side
    centres = np.array([120.0, 160.0, 161.0, 162.0])
    boxes = t.box_to_patch(np.stack([centres - 10, np.full(4, 100.0), np.full(4, 20.0), np.full(4, 20.0)], axis=1))
    maps = {"score_map": np.zeros((8, 8), np.float32), "corr_map": np.zeros((8, 8), np.float32)}
    image = np.zeros((320, 240, 3), np.uint8)
    fused = fusion.fuse(image, t, SearchMode.GLOBAL, boxes, np.full(4, 0.5), np.full(4, 0.5), maps)
    assert np.argmax(fused.prior) == 0, fused.prior


def test_the_nets_run_every_nth_roi_frame_and_their_boxes_follow_the_target(lexicon):
    detector = FakeDetector("Person")
    tracker = MVLMTracker(FakeBackend(), RedEncoder(), priors=_fusion(lexicon, detector, roi_every=3))
    tracker.set_query("the person walking")
    boxes = [tracker.step(_person_image()).box for _ in range(8)]  # 1 global + 7 ROI frames
    assert detector.calls == 1 + 1 + 2  # global, the ROI frame after it, then every 3rd
    np.testing.assert_allclose(boxes, [[220, 60, 40, 140]] * 8, atol=3)
    tracker.set_query("the person walking")  # a new query forgets what the nets saw
    assert tracker.priors.schedule.last is None


def test_carried_outputs_move_with_the_shift_into_the_new_patch():
    old = PatchTransform(0.0, 0.0, 2.0, 100)  # image pixel = 2 * patch pixel
    cam = np.zeros((100, 100), np.float32)
    cam[10:20, 30:40] = 1.0  # image x 60..80, y 20..40
    nets = NetOutputs(old, np.array([[0.3, 0.1, 0.1, 0.1]]), np.array([0.9]), cam, np.zeros((0, 4)))
    new = PatchTransform(50.0, 0.0, 1.0, 100)  # image pixel = 50 + patch pixel
    moved = carry(nets, new, np.array([10.0, 0.0]))  # the target moved 10 px right
    np.testing.assert_allclose(moved.det_boxes, [[(70 - 50) / 100, 0.2, 0.2, 0.2]])
    ys, xs = np.nonzero(moved.cam > 0.25)  # image x 70..90 -> new patch 20..40 (bilinear at the edges)
    np.testing.assert_allclose([xs.min(), xs.max(), ys.min(), ys.max()], [20, 39, 20, 39], atol=1)


@pytest.mark.parametrize("bad, match", [("roi_every: 1 ", "roi_every"), ("part_context: 1.3", "part_context")])
def test_bad_schedule_and_part_settings_name_the_key(tmp_path, bad, match):
    text = config_file("priors").read_text()
    key = bad.split(":")[0]
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(key + ":"))
    (tmp_path / "priors.yaml").write_text(text.replace(line, f"  {key}: 0"))
    with pytest.raises(ConfigError, match=match):
        load_priors(tmp_path / "priors.yaml", models_dir() / "priors")


def test_a_part_with_an_unknown_owner_is_a_config_error():
    data = read_yaml(config_file("priors"))
    data["parts"]["face"]["owner"] = "dragon"
    with pytest.raises(ConfigError, match="parts.face"):
        Lexicon(data)


class FakeCoco(FakeDetector):
    labels = ["background", "person", "bird"]


def test_categories_only_coco_knows_use_the_coco_detector(lexicon):
    oid, coco = FakeDetector("Person"), FakeCoco("bird")
    fusion = PriorFusion(_shipped_settings(), lexicon, oid, None, coco)
    tracker = MVLMTracker(FakeBackend(), RedEncoder(), priors=fusion)
    tracker.set_query("the bird on the fence")
    result = tracker.step(_person_image())  # the green square is a bird to the fake COCO SSD
    assert (coco.calls, oid.calls) == (1, 0) and result.found
    np.testing.assert_allclose(result.box, [220, 60, 40, 140], atol=3)
    fusion.set_query("the person walking")
    assert fusion._det_name == "detector"  # both know people: the Open Images SSD, unless prefer_coco
    fusion.cfg = dataclasses.replace(fusion.cfg, prefer_coco=True)
    fusion.set_query("the person walking")
    assert fusion._det_name == "coco"


def test_a_missing_coco_file_warns_and_the_rest_still_runs(tmp_path, caplog):
    import logging
    import shutil

    shutil.copy(config_file("priors"), tmp_path / "priors.yaml")
    (tmp_path / "models").mkdir()
    detector = read_yaml(config_file("priors"))["priors"]["detector"]  # the configured (int8) file
    for name in (detector, detector + ".sha256"):
        shutil.copy(models_dir() / "priors" / name, tmp_path / "models")
    with caplog.at_level(logging.WARNING):
        priors = load_priors(tmp_path / "priors.yaml", tmp_path / "models")
    assert priors.coco is None and priors.detector is not None
    coco = read_yaml(config_file("priors"))["priors"]["coco_detector"]
    assert coco in caplog.text and "without the COCO detector" in caplog.text
    priors.set_query("the bird on the fence")  # no detector knows birds now: ImageNet evidence only (none here)
    assert priors._det_classes == [] and not priors.active


def test_shipped_coco_detector_finds_the_cat():
    """The converted COCO SSD on a real photo (chelsea): a cat box over most of the image."""
    import cv2
    import skimage.data

    from langtrack_ros.inference.prior_models import SSDDetector, load_optional
    from langtrack_ros.tracking.priors import ssd

    coco = load_optional(models_dir() / "priors", "ssd_mobilenetv2_coco.onnx", 1, SSDDetector, "COCO detector")
    boxes, scores = ssd.decode(*coco(cv2.resize(skimage.data.chelsea(), (300, 300), interpolation=cv2.INTER_AREA)))
    cat = scores[:, coco.labels.index("cat")]
    best = int(np.argmax(cat))
    assert cat[best] > 0.5 and boxes[best, 2] * boxes[best, 3] > 0.3


def test_the_template_match_finds_how_far_a_textured_target_moved():
    from langtrack_ros.tracking.priors.schedule import make_template, match_shift

    rng = np.random.default_rng(0)
    texture = np.kron(rng.integers(0, 255, (10, 5, 3), dtype=np.uint8), np.ones((6, 6, 1), np.uint8))  # 6-px blocks
    before, after = np.zeros((200, 200, 3), np.uint8), np.zeros((200, 200, 3), np.uint8)
    before[50:110, 80:110] = texture
    after[56:116, 71:101] = texture  # moved 9 px left, 6 px down
    tpl = make_template(before, np.array([80.0, 50.0, 30.0, 60.0]))
    np.testing.assert_allclose(match_shift(after, tpl), [-9, 6], atol=2)
    assert make_template(np.zeros((200, 200, 3), np.uint8), np.array([80.0, 50.0, 30.0, 60.0])) is None  # flat
    assert make_template(before, np.array([500.0, 50.0, 30.0, 60.0])) is None  # out of view


def test_appearance_memory_learns_only_when_confident_and_ranks_by_colour(lexicon):
    from langtrack_ros.tracking.priors.memory import AppearanceMemory

    image = np.zeros((100, 200, 3), np.uint8)
    image[20:80, 20:60] = (200, 40, 40)  # the confirmed target: red
    image[20:80, 120:160] = (40, 40, 200)  # another of its kind: blue
    red, blue = np.array([20.0, 20, 40, 60]), np.array([120.0, 20, 40, 60])
    memory = AppearanceMemory(min_kappa=0.3, rate=0.1, inner=0.2)
    memory.observe(image, red, kappa=0.1, found=True)  # not confident: nothing learnt
    memory.observe(image, red, kappa=0.9, found=False)
    assert memory.hist is None
    memory.observe(image, red, kappa=0.5, found=True)
    sim = memory.similarity(image, np.stack([red, blue, [500.0, 0, 10, 10]]))  # the last box is out of view
    assert sim[0] > 0.95 and sim[1] < 0.2 and sim[2] == 0.0
    fusion = _fusion(lexicon, FakeDetector("Person"), memory_weight=0.5)
    fusion.set_query("the person")
    fusion.observe(image, red, 0.5, True)
    t = PatchTransform(0.0, 0.0, 1.0, 200)
    factor = fusion._remembered(image, t, np.stack([red, blue]) / 200, np.array([0.9, 0.8]))
    assert factor[0] > 0.95 and factor[1] < 0.65
    fusion.set_query("the person")  # a new query forgets the old target
    assert fusion.memory.hist is None


def test_prior_settings_can_be_overridden_per_run_and_bad_keys_are_named():
    priors = build_priors("detector,colour,roi_every=2,memory_weight=0.4")
    assert (priors.cfg.roi_every, priors.schedule.roi_every, priors.cfg.memory_weight) == (2, 2, 0.4)
    assert priors.coco is None and priors.imagenet is None and priors.detector is not None
    with pytest.raises(ConfigError, match="roi_evry"):
        build_priors("all,roi_evry=3")
    with pytest.raises(ConfigError, match="roi_every"):
        build_priors("all,roi_every=0")


@pytest.mark.parametrize("text, category, part, colour, spatial", [
    ("the blue alien toy held up in a hand", None, None, "blue", None),  # a colour in the first phrase: the target's
    ("the top of the car", "car", None, None, None),  # a part of something that is not its owner
    ("the little girl in a yellow top and pink trousers", "person", None, "yellow", "smallest"),  # "top": a garment
    ("the stork flying near the top of the pink sky", "bird", None, None, None),
])
def test_validation_sentences_parse_as_meant(lexicon, text, category, part, colour, spatial):
    q = lexicon.parse(text)
    assert (q.category.name if q.category else None, q.part.name if q.part else None, q.colour, q.spatial) == \
        (category, part, colour, spatial)


def test_a_head_and_shoulders_box_gives_a_larger_face():
    from langtrack_ros.tracking.priors.fusion import part_boxes

    region = (0.34, 0.02, 0.66, 0.13)
    whole, bust = np.array([[0.0, 0.0, 40.0, 120.0]]), np.array([[0.0, 0.0, 60.0, 60.0]])
    np.testing.assert_allclose(part_boxes(whole, region, 2.7), sub_boxes(whole, region))  # taller than 2.7: as is
    face = part_boxes(bust, region, 2.7)[0]
    assert face[3] == pytest.approx(60 * 0.11 * 2.7) and face[1] == pytest.approx(60 * 0.02 * 2.7)
    np.testing.assert_allclose(part_boxes(bust, region, 0.0), sub_boxes(bust, region))


def test_the_schedule_reruns_after_global_search_and_unsure_answers():
    from langtrack_ros.tracking.priors.schedule import PriorSchedule
    from langtrack_ros.tracking.result import SearchMode

    nets = NetOutputs(PatchTransform(0.0, 0.0, 1.0, 100), np.zeros((0, 4)), np.zeros(0), None, np.zeros((0, 4)))
    image = np.zeros((100, 100, 3), np.uint8)
    schedule = PriorSchedule(roi_every=4, min_kappa=0.3)
    schedule.store(nets, SearchMode.GLOBAL, image, None)
    schedule.observe(0.9, True)
    assert schedule.due(SearchMode.ROI)  # a global search's outputs are never carried
    schedule.store(nets, SearchMode.ROI, image, None)
    schedule.observe(0.9, True)
    assert not schedule.due(SearchMode.ROI) and schedule.due(SearchMode.GLOBAL)
    schedule.observe(0.1, True)  # unsure: run again
    assert schedule.due(SearchMode.ROI)
    schedule.observe(0.9, False)  # not found: run again
    assert schedule.due(SearchMode.ROI)


def test_words_alone_decides_whether_colour_words_without_a_category_act(lexicon):
    fusion = _fusion(lexicon, FakeDetector("Person"), words_alone=False)
    fusion.set_query("the red hexagon on the left")  # no category the priors know
    assert not fusion.active
    fusion.cfg = dataclasses.replace(fusion.cfg, words_alone=True)
    assert fusion.active
    fusion.set_query("the red person")  # a category: active either way
    fusion.cfg = dataclasses.replace(fusion.cfg, words_alone=False)
    assert fusion.active
