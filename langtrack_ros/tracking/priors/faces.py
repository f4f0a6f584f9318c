"""Faces for part targets: MediaPipe's BlazeFace (short range) on crops around part boxes.

The lexicon turns "the face of the man ..." into a *face* target whose box is cut from each person
box by geometry (config/priors.yaml ``parts``). Geometry puts the box in the wrong place for a face
seen from the side, a bent head or a person box that is not a whole upright body; a face detector
puts it on the face. BlazeFace short range is made for faces that fill a good part of its 128 px
input, so it runs on a square crop ``face_context`` times the part box around each of the
``face_top_k`` best owners' part boxes (and around the tracker's last box), where even a 20 px face
is large. Decoding follows MediaPipe's face_detection_short_range graph: 896 anchors (16x16 x 2 at
stride 8, 8x8 x 6 at stride 16, unit size), offsets scaled by 128, sigmoid scores.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

INPUT = 128
LAYERS = ((8, 2), (16, 6))  # (stride, anchors per location)
# a head (hair, hat, helmet) around a face box: wider, taller and centred higher (fractions of the face box)
HEAD_FROM_FACE = (1.4, 1.6, -0.2)  # width x, height x, centre shift in face heights


@lru_cache(maxsize=1)
def anchors() -> np.ndarray:
    """(896, 2) anchor centres, normalised, in the network's output order."""
    rows = []
    for stride, per_cell in LAYERS:
        fm = INPUT // stride
        for y in range(fm):
            for x in range(fm):
                rows += [((x + 0.5) / fm, (y + 0.5) / fm)] * per_cell
    return np.asarray(rows, dtype=np.float64)


def decode(regressors: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs (896, 16), (896,) -> face boxes (896, 4) normalised xywh and scores in [0, 1]."""
    a = anchors()
    r = np.asarray(regressors, dtype=np.float64).reshape(len(a), -1)
    cx, cy = r[:, 0] / INPUT + a[:, 0], r[:, 1] / INPUT + a[:, 1]
    w, h = np.abs(r[:, 2]) / INPUT, np.abs(r[:, 3]) / INPUT
    scores = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, dtype=np.float64).reshape(-1), -50, 50)))
    return np.stack([cx - w / 2, cy - h / 2, w, h], axis=1), np.nan_to_num(scores, nan=0.0)


def crop_square(image: np.ndarray, box: np.ndarray, context: float,
                size: int = INPUT) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The ``size`` x ``size`` crop of the square ``context`` x the box's longer side around its
    centre (edges replicated) and its (x0, y0, side) in image pixels."""
    x, y, w, h = (float(v) for v in box)
    side = max(context * max(w, h), 8.0)
    x0, y0 = x + w / 2 - side / 2, y + h / 2 - side / 2
    k = size / side
    m = np.array([[k, 0, -x0 * k], [0, k, -y0 * k]], dtype=np.float64)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, (x0, y0, side)


def best_face(raw, crop_at: tuple[float, float, float], min_score: float):
    """BlazeFace's raw outputs on a crop cut at ``crop_at`` (x0, y0, side; crop_square) -> the best
    face (box xywh in image pixels, score), or None below ``min_score``."""
    x0, y0, side = crop_at
    boxes, scores = decode(*raw)
    best = int(np.argmax(scores))
    if scores[best] < min_score:
        return None
    return boxes[best] * side + np.array([x0, y0, 0.0, 0.0]), float(scores[best])


def as_part(face: np.ndarray, part: str) -> np.ndarray:
    """A face box as the box of ``part`` (face, or head for hair, hats and helmets)."""
    if part != "head":
        return face
    x, y, w, h = face
    sw, sh, shift = HEAD_FROM_FACE
    cx, cy = x + w / 2, y + h / 2 + shift * h
    return np.array([cx - sw * w / 2, cy - sh * h / 2, sw * w, sh * h])
