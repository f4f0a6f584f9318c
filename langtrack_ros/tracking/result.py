"""What a tracker returns each frame, and the interface every tracker (ours and baselines) has."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np


class SearchMode(str, Enum):
    ROI = "ROI"  # compact crop around the last confident box
    GLOBAL = "GLOBAL"  # whole image, letterboxed (relocalization)


class Event(str, Enum):
    RELOCALIZED = "relocalized"  # this frame was searched globally because confidence was low
    QUERY_CHANGED = "query_changed"  # a new sentence arrived: forced global search, memory reset
    RECOVERED = "recovered"  # confident again after one or more low-confidence frames
    LOST = "lost"  # confidence dropped below tau: the next frame searches globally


@dataclass
class TrackResult:
    box: np.ndarray  # [x, y, w, h] in original image pixels
    kappa: float = 1.0  # kappa_mvlm of the chosen box, in [-1, 1]
    d_corr: float = 0.0  # correlation margin
    d_cls: float = 0.0  # classification margin
    score: float = 1.0  # classification score l(b) of the chosen box
    mode: SearchMode = SearchMode.GLOBAL  # search mode that PRODUCED this box
    found: bool = True  # False: low confidence / not found (box is the best guess)
    events: list[Event] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "box": [float(v) for v in self.box],
            "kappa": float(self.kappa),
            "d_corr": float(self.d_corr),
            "d_cls": float(self.d_cls),
            "score": float(self.score),
            "mode": self.mode.value,
            "found": bool(self.found),
            "events": [e.value for e in self.events],
        }


class Tracker(Protocol):
    """Anything the evaluation harness, the demo and the ROS adapters can drive.

    ``set_query`` takes the sentence; the next ``step`` is the first frame of that query.
    ``init_box`` ([x, y, w, h] in that next frame) is given only to trackers with
    ``needs_box = True`` (box-initialised baselines, box+language mode).
    """

    name: str
    needs_box: bool

    def set_query(self, text: str, init_box: np.ndarray | None = None) -> None: ...

    def step(self, image: np.ndarray) -> TrackResult: ...
