"""A tiny deterministic language tracker for adapter tests (DDS process, bag replay).

It understands one word of the query, a colour (red, green, blue), and returns the bounding box
of the pixels of that saturated colour. Loaded by the adapters through their tracker-factory
option (``test/colour_tracker.py:make``), so tests exercise real processes without a model.
"""
from __future__ import annotations

import numpy as np

from langtrack_ros.tracking.result import Event, SearchMode, TrackResult

CHANNELS = {"red": 0, "green": 1, "blue": 2}


class ColourTracker:
    name = "colour"
    needs_box = False

    def __init__(self):
        self.channel: int | None = None
        self.new_query = False
        self.found = True

    def set_query(self, text: str, init_box=None) -> None:
        words = [w for w in text.lower().split() if w in CHANNELS]
        if not words:
            raise ValueError(f"colour tracker needs a colour word in {sorted(CHANNELS)}: {text!r}")
        self.channel = CHANNELS[words[0]]
        self.new_query = True

    def step(self, image: np.ndarray) -> TrackResult:
        others = [c for c in range(3) if c != self.channel]
        mask = (image[..., self.channel] > 150) & (image[..., others] < 100).all(axis=2)
        ys, xs = np.nonzero(mask)
        found = xs.size > 0
        box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float) if found \
            else np.zeros(4)
        events = [Event.QUERY_CHANGED] if self.new_query else []
        if not found and self.found:
            events.append(Event.LOST)
        if found and not self.found and not self.new_query:
            events.append(Event.RECOVERED)
        mode = SearchMode.GLOBAL if self.new_query or not self.found else SearchMode.ROI
        self.new_query, self.found = False, found
        return TrackResult(box=box, kappa=1.0 if found else -1.0, mode=mode, found=found, events=events)


def make(**_options) -> ColourTracker:
    return ColourTracker()


def frame(i: int, height: int = 48, width: int = 64) -> tuple[np.ndarray, dict]:
    """Test frame i: a red square moving right and a fixed blue square; returns (rgb, true boxes)."""
    rgb = np.full((height, width, 3), 40, np.uint8)
    x = 2 + (i % 20) * 2
    rgb[10:20, x:x + 8] = (220, 20, 20)
    rgb[30:44, 40:52] = (20, 20, 220)
    return rgb, {"red": [x, 10, 8, 10], "blue": [40, 30, 12, 14]}
