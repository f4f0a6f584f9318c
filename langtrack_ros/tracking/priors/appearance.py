"""Colour and spatial words checked against candidate boxes (no network).

Colour: the fraction of a box's inner pixels (trimmed by ``priors.colour_inner``, so background
at the box's edge counts less) whose HSV value falls in the word's ranges (config/priors.yaml). Spatial: rank of
each candidate among the plausible ones by x, y or area.
"""
from __future__ import annotations

import cv2
import numpy as np

from langtrack_ros.tracking.box_ops import iou_matrix


def colour_mask(hsv: np.ndarray, colour: str, lexicon) -> np.ndarray:
    """(H, W) bool: pixels of ``hsv`` (OpenCV HSV, uint8) that show ``colour``."""
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    if colour in lexicon.achromatic:
        s_max, v_min, v_max = lexicon.achromatic[colour]
        return (s <= s_max) & (v >= v_min) & (v <= v_max)
    mask = np.zeros(hsv.shape[:2], dtype=bool)
    for h_lo, h_hi, s_min, v_min in lexicon.colours[colour]:
        mask |= (h >= h_lo) & (h <= h_hi) & (s >= s_min) & (v >= v_min)
    return mask


def colour_fractions(image_rgb: np.ndarray, boxes_img: np.ndarray, colour: str, lexicon,
                     inner: float = 0.0) -> np.ndarray:
    """Fraction of colour-matching pixels inside each image-pixel box (N,), via an integral image
    over just the part of the image the boxes cover (an ROI search touches a small part).
    ``inner``: fraction of each side trimmed first (background at a box's edge counts less)."""
    b = np.asarray(boxes_img, dtype=np.float64).reshape(-1, 4)
    if not len(b):
        return np.zeros(0)
    full_h, full_w = image_rgb.shape[:2]
    ox = int(np.clip(np.floor(b[:, 0].min()), 0, full_w - 1))
    oy = int(np.clip(np.floor(b[:, 1].min()), 0, full_h - 1))
    ex = int(np.clip(np.ceil((b[:, 0] + b[:, 2]).max()), ox + 1, full_w))
    ey = int(np.clip(np.ceil((b[:, 1] + b[:, 3]).max()), oy + 1, full_h))
    hsv = cv2.cvtColor(np.ascontiguousarray(image_rgb[oy:ey, ox:ex]), cv2.COLOR_RGB2HSV)
    table = cv2.integral(colour_mask(hsv, colour, lexicon).astype(np.uint8)).astype(np.float64)
    hgt, wid = hsv.shape[:2]
    b = b - np.array([ox, oy, 0.0, 0.0])
    x0 = np.clip(b[:, 0] + inner * b[:, 2], 0, wid - 1).astype(int)
    y0 = np.clip(b[:, 1] + inner * b[:, 3], 0, hgt - 1).astype(int)
    x1 = np.clip(b[:, 0] + (1 - inner) * b[:, 2], x0 + 1, wid).astype(int)
    y1 = np.clip(b[:, 1] + (1 - inner) * b[:, 3], y0 + 1, hgt).astype(int)
    total = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return total / ((x1 - x0) * (y1 - y0))


def spatial_rank(boxes: np.ndarray, relation: str, plausible: np.ndarray, order: int = 1,
                 also: str | None = None, middle_x: float | None = None) -> np.ndarray:
    """Score in [0, 1] per box: 1 for the plausible box that best fits ``relation``, falling
    linearly to 0 for the worst; implausible boxes get 0.

    ``also``: a second relation on the other axis ("the bottom left"): the two ranks are averaged.
    ``order`` > 1 ("the second dog from the left"): the plausible boxes are first grouped into
    objects (the detector and MVLM propose several boxes per object, so counting raw boxes would
    count one object twice), and the ``order``-th object along the relation scores 1, its
    neighbours in that order less. ``middle_x``: where "middle" is (the image's centre column, in
    the boxes' coordinates); None: the median of the plausible boxes' centres."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.zeros(len(b))
    if not plausible.any():
        return out
    key = _rank_key(b, relation, plausible, middle_x) + (_rank_key(b, also, plausible, middle_x) if also else 0.0)
    if order <= 1:
        out[plausible] = _spread(key[plausible])
        return out
    group = object_groups(b, plausible)
    ids = np.unique(group[plausible])
    place = np.argsort(np.argsort([-key[group == g].mean() for g in ids]))  # 0 = best fit
    target = min(order - 1, len(ids) - 1)
    for g, rank in zip(ids, place):
        out[group == g] = 1.0 - abs(rank - target) / max(1, len(ids) - 1)
    return out


def _rank_key(b: np.ndarray, relation: str, plausible: np.ndarray, middle_x: float | None = None) -> np.ndarray:
    """Per box: larger = fits ``relation`` better, scaled to [0, 1] over the plausible boxes."""
    cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    if relation in ("middle", "between"):  # between the others: the middle of the candidates, not of the image
        centre = np.median(cx[plausible]) if middle_x is None or relation == "between" else middle_x
        raw = -np.abs(cx - centre)
    else:
        raw = {"left": -cx, "right": cx, "top": -cy, "bottom": cy,
               "largest": b[:, 2] * b[:, 3], "smallest": -(b[:, 2] * b[:, 3])}[relation]
    return _spread(raw, raw[plausible])


def _spread(values: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Linear map of ``values`` to [0, 1] by the range of ``reference`` (1 everywhere: no range)."""
    ref = values if reference is None else reference
    lo, hi = ref.min(), ref.max()
    return np.ones_like(values) if hi <= lo else (values - lo) / (hi - lo)


def object_groups(boxes: np.ndarray, members: np.ndarray, same_iou: float = 0.3) -> np.ndarray:
    """Group id per box (-1 for non-members): member boxes overlapping by IoU >= ``same_iou``, or of
    similar size with one holding the other's centre, are one object (greedy, in box order). A box
    much larger than another (one covering two people) never joins them by centre alone."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    area = b[:, 2] * b[:, 3]
    cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    holds = (b[:, None, 0] <= cx[None]) & (cx[None] <= b[:, None, 0] + b[:, None, 2]) & \
        (b[:, None, 1] <= cy[None]) & (cy[None] <= b[:, None, 1] + b[:, None, 3])  # [i, j]: i holds j's centre
    similar = np.maximum(area[:, None], area[None]) <= 2.5 * np.maximum(np.minimum(area[:, None], area[None]), 1e-12)
    same = (iou_matrix(b, b) >= same_iou) | (similar & (holds | holds.T))
    group = np.full(len(b), -1)
    heads: list[int] = []
    for i in np.flatnonzero(members):
        match = [g for g, h in enumerate(heads) if same[i, h]]
        if not match:
            heads.append(i)
        group[i] = match[0] if match else len(heads) - 1
    return group
