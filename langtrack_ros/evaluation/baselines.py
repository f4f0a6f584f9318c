"""Reference trackers for the harness: OpenCV CSRT / KCF (box-initialised) and an oracle.

CSRT and KCF are a box+vision reference row: they are given the ground-truth box at the first
frame and again at every query switch, so they never ground language. The oracle returns the
ground truth; it proves that the harness gives a perfect tracker the best score its convention
allows (PRE 1.0; AUC 20/21 with 21 strict IoU bins, since IoU 1 never passes "> 1.0").
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from langtrack_ros.data.sequence import Sequence
from langtrack_ros.tracking.result import Event, SearchMode, TrackResult


class OpenCVTracker:
    """An OpenCV ``cv2.Tracker`` behind the Tracker interface; re-initialised by every set_query."""

    needs_box = True

    def __init__(self, name: str, create: Callable[[], object]):
        self.name = name
        self._create = create
        self._tracker = None
        self._pending: np.ndarray | None = None
        self._last = np.full(4, np.nan)

    def set_query(self, text: str, init_box: np.ndarray | None = None) -> None:
        if init_box is None or not np.isfinite(init_box).all():
            raise ValueError(f"{self.name} needs a finite init_box (box-initialised baseline), got {init_box}")
        self._pending = np.asarray(init_box, dtype=np.float64)

    def step(self, image: np.ndarray) -> TrackResult:
        import cv2

        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if self._pending is not None:
            return self._initialise(bgr)
        if self._tracker is None:
            raise RuntimeError(f"{self.name}: step() before set_query()")
        ok, rect = self._tracker.update(bgr)
        if ok:
            self._last = np.asarray(rect, dtype=np.float64)
        return TrackResult(box=self._last.copy(), kappa=1.0 if ok else 0.0, mode=SearchMode.ROI, found=bool(ok),
                           events=[] if ok else [Event.LOST])

    def _initialise(self, bgr: np.ndarray) -> TrackResult:
        box = self._pending
        self._pending = None
        self._tracker = self._create()
        x, y, w, h = (int(round(v)) for v in box)
        self._tracker.init(bgr, (x, y, max(w, 1), max(h, 1)))
        self._last = box.copy()
        return TrackResult(box=box.copy(), kappa=1.0, mode=SearchMode.ROI, found=True,
                           events=[Event.QUERY_CHANGED])


def make_csrt(**options) -> OpenCVTracker:
    """CSRT; options are ``cv2.TrackerCSRT.Params`` attributes (e.g. ``use_segmentation=false``)."""
    import cv2

    params = _params(cv2.TrackerCSRT.Params(), options, "csrt")
    return OpenCVTracker("csrt", lambda: cv2.TrackerCSRT.create(params))


def make_kcf(**options) -> OpenCVTracker:
    """KCF; options are ``cv2.TrackerKCF.Params`` attributes (e.g. ``detect_thresh=0.4``)."""
    import cv2

    params = _params(cv2.TrackerKCF.Params(), options, "kcf")
    return OpenCVTracker("kcf", lambda: cv2.TrackerKCF.create(params))


def _params(params, options: dict, name: str):
    for key, value in options.items():
        if key.startswith("_") or not hasattr(params, key):
            known = sorted(k for k in dir(params) if not k.startswith("_"))
            raise ValueError(f"unknown {name} option {key!r}; known: {known}")
        setattr(params, key, value)
    return params


class OracleTracker:
    """Returns the ground truth of the bound sequence (NaN where the target is unknown)."""

    name = "oracle"
    needs_box = False

    def __init__(self):
        self._seq: Sequence | None = None
        self._frame = 0

    def bind_sequence(self, seq: Sequence) -> None:
        """Called by the harness before the first set_query of each sequence."""
        self._seq = seq
        self._frame = 0

    def set_query(self, text: str, init_box: np.ndarray | None = None) -> None:
        if self._seq is None:
            raise RuntimeError("oracle: bind_sequence() must come before set_query()")

    def step(self, image: np.ndarray) -> TrackResult:
        if self._seq is None or self._frame >= len(self._seq):
            raise RuntimeError("oracle: stepped past the bound sequence")
        box = self._seq.boxes[self._frame].copy()
        visible = bool(self._seq.visible[self._frame])
        self._frame += 1
        return TrackResult(box=box, kappa=1.0 if visible else -1.0, mode=SearchMode.GLOBAL, found=visible)
