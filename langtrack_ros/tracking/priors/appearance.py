"""Colour and spatial words checked against candidate boxes (no network).

Colour: the fraction of a box's inner pixels (trimmed by ``priors.colour_inner``, so background
at the box's edge counts less) whose HSV value falls in the word's ranges (config/priors.yaml). Spatial: rank of
each candidate among the plausible ones by x, y or area.
"""
from __future__ import annotations

import cv2
import numpy as np


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


def spatial_rank(boxes: np.ndarray, relation: str, plausible: np.ndarray) -> np.ndarray:
    """Score in [0, 1] per box: 1 for the plausible box that best fits ``relation``, falling
    linearly to 0 for the worst; implausible boxes get 0."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    key = {"left": -(b[:, 0] + b[:, 2] / 2), "right": b[:, 0] + b[:, 2] / 2,
           "top": -(b[:, 1] + b[:, 3] / 2), "bottom": b[:, 1] + b[:, 3] / 2,
           "largest": b[:, 2] * b[:, 3], "smallest": -(b[:, 2] * b[:, 3])}[relation]
    out = np.zeros(len(b))
    if not plausible.any():
        return out
    lo, hi = key[plausible].min(), key[plausible].max()
    out[plausible] = 1.0 if hi <= lo else (key[plausible] - lo) / (hi - lo)
    return out
