"""The debug overlay published on ``debug_image``: box, query and kappa drawn on the frame."""
from __future__ import annotations

import cv2
import numpy as np

from langtrack_ros.tracking.result import TrackResult

FOUND_RGB, LOST_RGB = (40, 220, 40), (230, 60, 40)


def draw_overlay(rgb: np.ndarray, result: TrackResult, query: str) -> np.ndarray:
    """A copy of ``rgb`` with the box (green: found, red: best guess) and a caption."""
    out = rgb.copy()
    colour = FOUND_RGB if result.found else LOST_RGB
    x, y, w, h = (int(round(float(v))) for v in result.box)
    cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
    caption = f"{query[:40]} k={result.kappa:+.2f} {result.mode.value}"
    cv2.putText(out, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return out
