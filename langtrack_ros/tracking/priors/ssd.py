"""Decoding of MediaPipe's SSD MobileNetV2 (Open Images v4) outputs: anchors, boxes, NMS.

The network (models/priors/ssd_mobilenetv2_oidv4.onnx) has no post-processing op: it returns
1917 raw box encodings and 24 class logits. The anchors follow MediaPipe's SSD anchor scheme for
this model: 6 layers with strides 16..512 on a 300 px input, scales 0.2..0.95, aspect ratios
1, 2, 1/2, 3, 1/3 plus one interpolated-scale square box, and only 3 boxes (scale 0.1, 1, 2, 1/2)
in the lowest layer. Encodings are (y, x, h, w) with scales 10, 10, 5, 5; scores are sigmoids.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

INPUT = 300
STRIDES = (16, 32, 64, 128, 256, 512)
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECTS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
BOX_SCALE = (10.0, 10.0, 5.0, 5.0)  # y, x, h, w


def _scale(i: int, n: int) -> float:
    return MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (n - 1)


def _layer_shapes(layer: int) -> list[tuple[float, float]]:
    """(w, h) of the anchors at each location of one layer, normalised to the input."""
    n = len(STRIDES)
    if layer == 0:
        scales_aspects = [(0.1, 1.0), (_scale(0, n), 2.0), (_scale(0, n), 0.5)]
    else:
        s = _scale(layer, n)
        nxt = 1.0 if layer == n - 1 else _scale(layer + 1, n)
        scales_aspects = [(s, a) for a in ASPECTS] + [(math.sqrt(s * nxt), 1.0)]
    return [(s * math.sqrt(a), s / math.sqrt(a)) for s, a in scales_aspects]


@lru_cache(maxsize=1)
def anchors() -> np.ndarray:
    """(1917, 4) anchors as (cx, cy, w, h), normalised, in the network's output order."""
    rows = []
    for layer, stride in enumerate(STRIDES):
        fm = math.ceil(INPUT / stride)
        shapes = _layer_shapes(layer)
        for y in range(fm):
            for x in range(fm):
                rows += [((x + 0.5) / fm, (y + 0.5) / fm, w, h) for w, h in shapes]
    return np.asarray(rows, dtype=np.float64)


def decode(raw_boxes: np.ndarray, logits: np.ndarray, classes: list[int] | None = None):
    """Raw outputs (1917, 4), (1917, C) -> boxes (1917, 4) normalised xywh and scores in [0, 1]:
    (1917, C) for all classes, or (1917,) the best of ``classes`` (only those are computed)."""
    a = anchors()
    raw = np.asarray(raw_boxes, dtype=np.float64).reshape(-1, 4)
    cy = raw[:, 0] / BOX_SCALE[0] * a[:, 3] + a[:, 1]
    cx = raw[:, 1] / BOX_SCALE[1] * a[:, 2] + a[:, 0]
    h = np.exp(np.clip(raw[:, 2] / BOX_SCALE[2], -10, 10)) * a[:, 3]
    w = np.exp(np.clip(raw[:, 3] / BOX_SCALE[3], -10, 10)) * a[:, 2]
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    logits = np.asarray(logits, dtype=np.float64).reshape(len(a), -1)
    if classes is not None:
        logits = logits[:, classes].max(axis=1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
    return boxes, np.nan_to_num(scores, nan=0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, top_k: int) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first, at most ``top_k``."""
    from langtrack_ros.tracking.box_ops import iou_matrix

    order = np.argsort(-scores)
    keep: list[int] = []
    while len(order) and len(keep) < top_k:
        i = order[0]
        keep.append(int(i))
        order = order[1:][iou_matrix(boxes[order[1:]], boxes[i][None])[:, 0] <= iou]
    return np.asarray(keep, dtype=int)
