"""Appearance memory of the confirmed target: the right one of several of a kind.

A sentence often names the target once by something only one frame shows ("the rider in the
yellow shirt, closest to the camera"); after that, several candidates of the category look equally
plausible to the priors. Once the gate is confident (kappa >= ``priors.memory_min_kappa``), the
memory keeps a hue-saturation histogram of the answer box's inner part, averaged over confident
frames (rate ``priors.memory_rate``). Candidates are then ranked by their histogram's similarity
to it (1 - Bhattacharyya distance); in global search this is what re-acquires the same person
after an occlusion rather than the nearest other one. A new query clears it.
"""
from __future__ import annotations

import cv2
import numpy as np

BINS = (16, 8)  # hue, saturation
RANGES = [0, 180, 0, 256]


def box_histogram(image_rgb: np.ndarray, box: np.ndarray, inner: float) -> np.ndarray | None:
    """Normalised H-S histogram of a box's inner part (image pixels), or None when it is empty."""
    h, w = image_rgb.shape[:2]
    x, y, bw, bh = (float(v) for v in box)
    x0, y0 = int(np.clip(x + inner * bw, 0, w)), int(np.clip(y + inner * bh, 0, h))
    x1, y1 = int(np.clip(x + (1 - inner) * bw, 0, w)), int(np.clip(y + (1 - inner) * bh, 0, h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(image_rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(BINS), RANGES)
    return hist / max(float(hist.sum()), 1e-9)


class AppearanceMemory:
    """Colour histogram of the target at confident frames; similarity of candidates to it."""

    def __init__(self, min_kappa: float, rate: float, inner: float):
        self.min_kappa, self.rate, self.inner = min_kappa, rate, inner
        self.hist: np.ndarray | None = None

    def reset(self) -> None:
        self.hist = None

    def observe(self, image_rgb: np.ndarray, box: np.ndarray, kappa: float, found: bool) -> None:
        if not found or not kappa >= self.min_kappa:
            return
        hist = box_histogram(image_rgb, box, self.inner)
        if hist is not None:
            self.hist = hist if self.hist is None else (1 - self.rate) * self.hist + self.rate * hist

    def similarity(self, image_rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N,) in [0, 1] for image-pixel boxes; 0 for a box with no pixels in view."""
        out = np.zeros(len(boxes))
        for i, box in enumerate(boxes):
            hist = box_histogram(image_rgb, box, self.inner)
            if hist is not None:
                out[i] = 1.0 - cv2.compareHist(self.hist, hist, cv2.HISTCMP_BHATTACHARYYA)
        return np.clip(out, 0.0, 1.0)
