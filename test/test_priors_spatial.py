"""Spatial words beyond the extremes: corners ("at the bottom left"), ordinals ("the second dog from
the left"), the middle, between the others, nearness to the camera, and size adjectives that
describe rather than rank."""
import numpy as np
import pytest

from langtrack_ros.paths import config_file
from langtrack_ros.tracking.priors import appearance
from langtrack_ros.tracking.priors.lexicon import Lexicon


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.load(config_file("priors"))


@pytest.mark.parametrize("text, spatial, also, order", [
    ("the second dog from the left", "left", None, 2),
    ("the third sheep from the right", "right", None, 3),
    ("the wakeboarder behind the boat at the bottom left", "bottom", "left", 1),
    ("the top right car", "top", "right", 1),
    ("the person in grey in the middle of the three walking together", "middle", None, 1),
    ("the player in green left of centre on the court", None, None, 1),  # centre is a reference point
    ("the white car driving in the middle of the road", None, None, 1),  # a place on another object
    ("the person closest to the camera", "largest", None, 1),
    ("the dog closest to the tree", None, None, 1),  # a relation to another object
    ("the small truck on the road at the bottom right", "bottom", "right", 1),  # size word only describes
    ("the little dog", "smallest", None, 1),  # ... unless nothing else ranks
    ("the largest car on the left", "largest", None, 1),  # no second axis for a size rank
    ("the person walking between the two others at the bottom", "between", "bottom", 1),
    ("the person in the grey shirt walking between the other two", "between", None, 1),
    ("the person between the car and the tree", None, None, 1),  # between other objects: no rank
    ("the person on the left of the pair", "left", None, 1),
])
def test_spatial_phrases_parse(lexicon, text, spatial, also, order):
    q = lexicon.parse(text)
    assert (q.spatial, q.spatial_also, q.spatial_order) == (spatial, also, order)


def boxes_in_a_row(n=4, dup=True):
    """n objects left to right (normalised xywh), each proposed twice (a detector box and a
    slightly shifted grid box), as the fusion sees them."""
    b = [[0.05 + 0.22 * i, 0.4, 0.15, 0.2] for i in range(n)]
    if dup:
        b += [[x + 0.01, y + 0.01, w * 0.9, h * 0.9] for x, y, w, h in b]
    return np.array(b)


def test_ordinal_counts_objects_not_boxes():
    b = boxes_in_a_row()
    score = appearance.spatial_rank(b, "left", np.ones(len(b), bool), order=2)
    assert score[1] == score[5] == 1.0  # the second object and its duplicate
    assert score[0] < 1 and score[2] < 1 and score[3] == min(score)
    right = appearance.spatial_rank(b, "right", np.ones(len(b), bool), order=2)
    assert right[2] == 1.0  # second from the right


def test_ordinal_past_the_last_object_takes_the_last():
    b = boxes_in_a_row(3, dup=False)
    np.testing.assert_allclose(appearance.spatial_rank(b, "left", np.ones(3, bool), order=5), [0.0, 0.5, 1.0])


def test_corner_combines_both_axes():
    b = np.array([[0.1, 0.1, 0.1, 0.1], [0.1, 0.8, 0.1, 0.1], [0.8, 0.8, 0.1, 0.1], [0.8, 0.1, 0.1, 0.1]])
    score = appearance.spatial_rank(b, "bottom", np.ones(4, bool), also="left")
    assert np.argmax(score) == 1 and score[3] == 0.0


def test_middle_and_implausible_boxes():
    b = boxes_in_a_row(3, dup=False)
    score = appearance.spatial_rank(b, "middle", np.array([True, True, True]))
    assert np.argmax(score) == 1
    only = appearance.spatial_rank(b, "middle", np.array([False, False, True]), order=2)
    np.testing.assert_allclose(only, [0.0, 0.0, 1.0])  # one plausible object: it is the answer
    assert not appearance.spatial_rank(b, "left", np.zeros(3, bool), order=2).any()


def test_the_middle_is_the_image_centre_not_the_median_of_duplicated_boxes():
    b = boxes_in_a_row(3, dup=False)  # centres 0.125, 0.345, 0.565
    right = b[2]
    b = np.concatenate([b, [right + [0.01, 0, 0, 0], right + [0.02, 0, 0, 0]]])  # the right one, 3 boxes
    assert np.argmax(appearance.spatial_rank(b, "middle", np.ones(5, bool))) >= 2  # median pulled right
    assert np.argmax(appearance.spatial_rank(b, "middle", np.ones(5, bool), middle_x=0.35)) == 1


def test_between_the_others_is_the_middle_of_the_candidates_wherever_the_image_centre_is():
    b = boxes_in_a_row(3, dup=False)  # centres 0.125, 0.345, 0.565: the group sits left of the image centre
    assert np.argmax(appearance.spatial_rank(b, "middle", np.ones(3, bool), middle_x=0.55)) == 2
    score = appearance.spatial_rank(b, "between", np.ones(3, bool), middle_x=0.55)
    assert np.argmax(score) == 1 and score[1] == 1.0 and max(score[0], score[2]) < 1e-9  # the others rank last


def test_a_box_covering_two_objects_does_not_merge_them():
    b = np.array([[0.1, 0.4, 0.1, 0.2], [0.3, 0.4, 0.1, 0.2], [0.05, 0.35, 0.5, 0.3]])
    group = appearance.object_groups(b, np.ones(3, bool))
    assert group[0] != group[1]
