"""Issue 14: relations to other named objects rank the target's candidates ("the person next to the
dog"): parsing, the geometry of each kind, and the fusion with a fake detector of known answers."""
import dataclasses

import cv2
import numpy as np
import pytest

from langtrack_ros.builder import build_priors
from langtrack_ros.config import ConfigError, read_yaml
from langtrack_ros.paths import config_file
from langtrack_ros.tracking.geometry import PatchTransform
from langtrack_ros.tracking.priors import relations, ssd
from langtrack_ros.tracking.priors.fusion import PriorFusion
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.tracking.result import SearchMode


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.load(config_file("priors"))


@pytest.mark.parametrize("text, relation", [
    ("the face of the man holding the umbrella", ("near", "umbrella")),
    ("the wakeboarder behind the boat at the bottom left", ("near", "boat")),
    ("the person riding a bicycle on the right side of the road", ("near", "bicycle")),
    ("the man on the left of the car", ("left_of", "car")),
    ("the cat on the car", ("above", "car")),
    ("the dog under the table", ("below", "table")),
    ("the person on the left", None),             # a ranking word, no object
    ("the person left of centre", None),          # centre is no category
    ("the dog followed the man", ("near", "person")),
    ("the person in the red jacket", None),       # a garment is a part of the target, not another object
    ("the dog next to the other dog", ("near", "dog")),           # one object of the target's own kind
    ("the cat sitting beside another cat", ("near", "cat")),
    ("the man on the left of the other tall man", ("left_of", "person")),
    ("the face of the man beside the other man", ("near", "person")),  # a part: related through its owner
    ("the man behind the man in red", ("near", "person")),  # a second mention that its own colour singles out
    ("the man behind the man", None),             # ... but not a bare second mention
    ("the dog left of the other two dogs", None),  # a rank among a group, not one object
])
def test_the_first_relation_to_another_category_is_read(lexicon, text, relation):
    q = lexicon.parse(text)
    assert (None if q.relation is None else (q.relation[0], q.relation[1].name)) == relation


@pytest.mark.parametrize("text, colour, region, object_colour", [
    ("the man behind the man in red", None, None, ("red", None)),
    ("the man behind the man in the red shirt", None, None, ("red", "torso")),  # not the target's shirt
    ("the woman in blue behind the man in red", "blue", None, ("red", None)),  # before the relation: hers
    ("the man in red next to the car", "red", None, None),
    ("the car next to the big red bus", None, None, ("red", None)),
    ("the person in the red jacket", "red", "torso", None),
])
def test_colours_go_to_the_target_or_to_the_object_it_is_related_to(lexicon, text, colour, region, object_colour):
    torso = lexicon._word_to_part["shirt"].region
    q = lexicon.parse(text)
    named = {None: None, "torso": torso}
    assert (q.colour, q.colour_region) == (colour, named[region])
    assert q.relation_colour == (None if object_colour is None else (object_colour[0], named[object_colour[1]]))


def test_an_unknown_relation_kind_is_a_config_error():
    data = read_yaml(config_file("priors"))
    data["relations"]["inside_of"] = ["within"]
    with pytest.raises(ConfigError, match="inside_of"):
        Lexicon(data)


def test_each_kind_prefers_the_box_that_stands_in_it():
    obj = np.array([[100.0, 100.0, 40.0, 40.0]])
    left, right, far_left = [50.0, 100.0, 40.0, 40.0], [150.0, 100.0, 40.0, 40.0], [-300.0, 100.0, 40.0, 40.0]
    above, below, on_it = [100.0, 50.0, 40.0, 40.0], [100.0, 150.0, 40.0, 40.0], [110.0, 110.0, 20.0, 20.0]
    boxes = np.array([left, right, far_left, above, below, on_it])
    near = relations.match("near", boxes, obj)
    assert near[5] == pytest.approx(1.0) and near[0] > 0.7 and near[2] < 0.01
    lo, ro = relations.match("left_of", boxes, obj), relations.match("right_of", boxes, obj)
    assert lo[0] > 0.8 > 0.2 > lo[1] and ro[1] > 0.8 > 0.2 > ro[0] and lo[2] < 0.1  # too far to be "left of" it
    ab, be = relations.match("above", boxes, obj), relations.match("below", boxes, obj)
    assert ab[3] > 0.8 > 0.2 > ab[4] and be[4] > 0.8 > 0.2 > be[3]
    assert relations.match("near", boxes, np.zeros((0, 4))).tolist() == [0.0] * 6


def test_an_object_of_the_same_kind_is_never_related_to_itself():
    dogs = np.array([[0.0, 100.0, 40.0, 40.0], [50.0, 100.0, 40.0, 40.0], [300.0, 100.0, 40.0, 40.0]])
    head = np.array([[305.0, 102.0, 12.0, 12.0]])  # a part inside the far dog: that dog is its owner
    near = relations.match("near", np.concatenate([dogs, head]), dogs, same_kind=True)
    assert near[0] > 0.7 and near[1] > 0.7  # the pair are next to each other
    assert near[2] < 0.01 and near[3] < 0.01  # the lone dog (and its part) only touch themselves
    assert relations.match("near", dogs, dogs)[2] == pytest.approx(1.0)  # other kinds: overlap is near
    left = relations.match("left_of", dogs, dogs, same_kind=True)
    assert left[0] > 0.8 > 0.2 > left[1]
    weighted = relations.match("near", dogs, dogs, same_kind=True, weights=np.array([1.0, 0.0, 1.0]))
    assert weighted[1] > 0.7 and weighted[0] < 0.01  # the first is near only the one the sentence does not mean


class ColourDetector:
    """One detection per connected blob: green blobs are people, blue blobs dogs (Open Images labels)."""

    labels = ["???", "Person", "Dog"]

    def __init__(self):
        self.calls = 0

    def __call__(self, patch):
        self.calls += 1
        a = ssd.anchors()
        raw, logits = np.zeros((1917, 4)), np.full((1917, 3), -20.0)
        used = set()
        for cls, mask in ((1, (patch[..., 1] > 200) & (patch[..., 2] < 60)), (2, (patch[..., 2] > 200) & (patch[..., 1] < 60))):
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
            for x, y, w, h, _ in stats[1:]:
                x, y, w, h = x / 300, y / 300, w / 300, h / 300
                cost = np.abs(a[:, 0] - (x + w / 2)) + np.abs(a[:, 1] - (y + h / 2)) + np.abs(a[:, 2] - w)
                cost[list(used)] = np.inf
                k = int(np.argmin(cost))
                used.add(k)
                raw[k] = [(y + h / 2 - a[k, 1]) / a[k, 3] * 10, (x + w / 2 - a[k, 0]) / a[k, 2] * 10,
                          np.log(h / a[k, 3]) * 5, np.log(w / a[k, 2]) * 5]
                logits[k, cls] = 4.0
        return raw, logits


def _scene():
    """Two alike people; a dog beside the right-hand one."""
    image = np.zeros((240, 320, 3), np.uint8)
    image[60:200, 40:80] = (0, 255, 0)
    image[60:200, 220:260] = (0, 255, 0)
    image[160:200, 265:300] = (0, 0, 255)
    return image


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_the_person_next_to_the_dog_is_preferred_in_global_search(lexicon, weight):
    cfg = dataclasses.replace(build_priors("all").cfg, relation_weight=weight)
    detector = ColourDetector()
    fusion = PriorFusion(cfg, lexicon, detector, None)
    fusion.set_query("the person next to the dog")
    t = PatchTransform(0.0, -40.0, 2.5, 128)
    people = t.box_to_patch(np.array([[40.0, 60.0, 40.0, 140.0], [220.0, 60.0, 40.0, 140.0]]))
    maps = {"score_map": np.zeros((8, 8), np.float32), "corr_map": np.zeros((8, 8), np.float32)}
    fused = fusion.fuse(_scene(), t, SearchMode.GLOBAL, people, np.array([0.5, 0.5]), np.array([0.5, 0.5]), maps)
    assert detector.calls == 1  # the people's detector run also gave the dogs
    if weight == 0:
        assert fused.prior[0] == pytest.approx(fused.prior[1])
    else:
        assert fused.prior[1] > 1.5 * fused.prior[0]
        assert fused.l[1] > fused.l[0]


def _dogs():
    """Three alike dogs: two side by side on the left, one alone on the right."""
    image = np.zeros((240, 320, 3), np.uint8)
    for x0 in (30, 80, 240):
        image[150:190, x0:x0 + 40] = (0, 0, 255)
    return image


def test_the_dog_next_to_the_other_dog_is_not_the_lone_one(lexicon):
    detector = ColourDetector()
    fusion = PriorFusion(build_priors("all").cfg, lexicon, detector, None)
    fusion.set_query("the dog next to the other dog")
    t = PatchTransform(0.0, -40.0, 2.5, 128)
    dogs = t.box_to_patch(np.array([[30.0, 150.0, 40.0, 40.0], [80.0, 150.0, 40.0, 40.0], [240.0, 150.0, 40.0, 40.0]]))
    maps = {"score_map": np.zeros((8, 8), np.float32), "corr_map": np.zeros((8, 8), np.float32)}
    fused = fusion.fuse(_dogs(), t, SearchMode.GLOBAL, dogs, np.full(3, 0.5), np.full(3, 0.5), maps)
    assert detector.calls == 1  # the objects are the target's own detections: no second run
    assert fused.prior[0] > 1.5 * fused.prior[2] and fused.prior[1] > 1.5 * fused.prior[2]


def _people_one_in_yellow():
    """Three alike people (green); the left one wears a yellow shirt, the middle one stands beside
    it, the right one alone."""
    image = np.zeros((240, 320, 3), np.uint8)
    for x0 in (40, 90, 240):
        image[60:200, x0:x0 + 40] = (0, 255, 0)
    image[80:130, 40:80] = (255, 255, 0)
    return image


@pytest.mark.parametrize("text, best", [("the man next to the man in yellow", 1), ("the man in yellow", 0)])
def test_the_man_next_to_the_man_in_yellow_is_not_the_man_in_yellow(lexicon, text, best):
    fusion = PriorFusion(build_priors("all").cfg, lexicon, ColourDetector(), None)
    fusion.set_query(text)
    t = PatchTransform(0.0, -40.0, 2.5, 128)
    people = t.box_to_patch(np.array([[x, 60.0, 40.0, 140.0] for x in (40.0, 90.0, 240.0)]))
    maps = {"score_map": np.zeros((8, 8), np.float32), "corr_map": np.zeros((8, 8), np.float32)}
    fused = fusion.fuse(_people_one_in_yellow(), t, SearchMode.GLOBAL, people, np.full(3, 0.5), np.full(3, 0.5), maps)
    prior = fused.prior[:3]
    assert int(np.argmax(prior)) == best and prior[best] > 1.3 * np.sort(prior)[-2]


def test_relations_do_not_rank_inside_the_roi(lexicon):
    fusion = PriorFusion(build_priors("all").cfg, lexicon, ColourDetector(), None)
    fusion.set_query("the person next to the dog")
    t = PatchTransform(0.0, -40.0, 2.5, 128)
    nets = fusion._nets(_scene(), t, SearchMode.ROI, np.array([220.0, 60.0, 40.0, 140.0]))
    assert len(nets.related) == 0
