"""Relations to other named objects: "the wakeboarder behind the boat", "the man holding the
umbrella", "the house right of the school", "the cat on the car".

The lexicon reads the first relation from the target to an object of another category (its kind
and that category, config/priors.yaml ``relations``); the detector that knows the category finds
those objects in global search, and each target candidate is scored by how well it stands in that
relation to the best-placed object. Kinds: ``near`` (touching or close: near, behind, with,
holding, riding, ...), ``left_of`` / ``right_of`` and ``above`` / ``below`` (the side, and still
close: an object across the image is not "right of" anything). Boxes are xywh in one frame.

A relation to another object of the target's own kind ("the dog next to the other dog"): the
objects are then the target's own candidates, and each candidate is related only to the others:
an object that mostly covers the candidate, or that it mostly covers, is that candidate itself
(or its owner, for a part) and is left out.
"""
from __future__ import annotations

import numpy as np

from langtrack_ros.tracking.box_ops import intersection_matrix

KINDS = ("near", "left_of", "right_of", "above", "below")
SIDE_REACH = 2.0  # sideways relations count up to this many object sizes away (near: one)
SAME_OBJECT = 0.6  # same kind: an object covering this much of the smaller box is the candidate itself


def gaps(boxes: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """(N, M) distance between the edges of box n and object m (0 when they touch or overlap)."""
    b, o = boxes[:, None, :], objects[None, :, :]
    dx = np.maximum(0.0, np.maximum(o[..., 0] - (b[..., 0] + b[..., 2]), b[..., 0] - (o[..., 0] + o[..., 2])))
    dy = np.maximum(0.0, np.maximum(o[..., 1] - (b[..., 1] + b[..., 3]), b[..., 1] - (o[..., 1] + o[..., 3])))
    return np.hypot(dx, dy)


def overlap_of_smaller(boxes: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """(N, M) intersection area over the smaller of box n and object m."""
    smaller = np.minimum((boxes[:, 2] * boxes[:, 3])[:, None], (objects[:, 2] * objects[:, 3])[None, :])
    return intersection_matrix(boxes, objects) / np.maximum(smaller, 1e-12)


def match(kind: str, boxes: np.ndarray, objects: np.ndarray, same_kind: bool = False,
          weights: np.ndarray | None = None) -> np.ndarray:
    """(N,) in [0, 1]: how well each box stands in relation ``kind`` to its best object; with
    ``same_kind`` the objects that are the box itself do not count; ``weights`` (M,) in [0, 1]: how
    well each object fits the sentence's description of it ("the man in red")."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    objects = np.asarray(objects, dtype=np.float64).reshape(-1, 4)
    if not len(boxes) or not len(objects):
        return np.zeros(len(boxes))
    size = np.maximum(np.sqrt(boxes[:, None, 2] * boxes[:, None, 3]), np.sqrt(objects[None, :, 2] * objects[None, :, 3]))
    size = np.maximum(size, 1e-6)
    reach = 1.0 if kind == "near" else SIDE_REACH
    close = np.exp(-gaps(boxes, objects) / (reach * size))
    if same_kind:
        close = np.where(overlap_of_smaller(boxes, objects) >= SAME_OBJECT, 0.0, close)
    if weights is not None:
        close = close * np.asarray(weights, dtype=np.float64)[None, :]
    if kind == "near":
        return close.max(axis=1)
    axis = 0 if kind in ("left_of", "right_of") else 1
    centre_b = boxes[:, None, axis] + boxes[:, None, axis + 2] / 2
    centre_o = objects[None, :, axis] + objects[None, :, axis + 2] / 2
    ahead = (centre_o - centre_b) if kind in ("left_of", "above") else (centre_b - centre_o)
    side = 1.0 / (1.0 + np.exp(-np.clip(4.0 * ahead / size, -50, 50)))  # 0.5 level, ~1 a size onto the side
    return (side * close).max(axis=1)
