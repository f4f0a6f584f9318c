"""When the heavy prior networks run, and what stands in for them on the frames between.

The detector and the ImageNet net cost two to four times MVLM's own step (docs/BENCHMARKS.md).
A global search (a new query, or the gate lost the target) always runs them: that is where they
find the target. In ROI mode they run on one frame in ``priors.roi_every``; on the frames between,
their last outputs are carried over, moved by the displacement of the tracked box since they were
computed (the ROI follows the target, so the target's detection moves with it), and re-expressed
in the current search patch. The gate therefore sees the same kind of candidates and scores on
every frame, only some of them one or two frames old.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from langtrack_ros.tracking.geometry import PatchTransform
from langtrack_ros.tracking.result import SearchMode


@dataclass
class NetOutputs:
    """The prior networks' answer for one frame, in the search patch of ``t``."""

    t: PatchTransform
    det_boxes: np.ndarray  # (N, 4) patch-normalised
    det_p: np.ndarray  # (N,)
    cam: np.ndarray | None  # (S, S) class-group probability over the patch, or None


def centre(box: np.ndarray | None) -> np.ndarray:
    return np.zeros(2) if box is None else np.asarray(box[:2], dtype=np.float64) + np.asarray(box[2:]) / 2


def carry(nets: NetOutputs, t: PatchTransform, shift: np.ndarray) -> NetOutputs:
    """``nets`` moved by ``shift`` image pixels and re-expressed in the patch of ``t``."""
    boxes_img = nets.t.box_to_image(nets.det_boxes) + np.array([shift[0], shift[1], 0.0, 0.0])
    det = t.box_to_patch(boxes_img).reshape(-1, 4)
    cam = None
    if nets.cam is not None:  # new patch pixel u -> image x0 + u*scale - shift -> old patch pixel
        a = t.scale / nets.t.scale
        bx = (t.x0 - shift[0] - nets.t.x0) / nets.t.scale
        by = (t.y0 - shift[1] - nets.t.y0) / nets.t.scale
        matrix = np.array([[a, 0.0, bx], [0.0, a, by]], dtype=np.float64)
        cam = cv2.warpAffine(nets.cam, matrix, (t.size, t.size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return NetOutputs(t, det, nets.det_p.copy(), cam)


class PriorSchedule:
    """Decides per frame whether the prior networks run; keeps their last outputs otherwise."""

    def __init__(self, roi_every: int):
        self.roi_every = roi_every
        self.reset()

    def reset(self) -> None:
        """A new query: nothing carried over."""
        self.last: NetOutputs | None = None
        self.anchor: np.ndarray | None = None
        self.age = 0

    def due(self, mode: SearchMode) -> bool:
        return mode is SearchMode.GLOBAL or self.last is None or self.age + 1 >= self.roi_every

    def store(self, nets: NetOutputs, anchor: np.ndarray | None) -> NetOutputs:
        self.last, self.anchor, self.age = nets, None if anchor is None else np.array(anchor, float), 0
        return nets

    def carried(self, t: PatchTransform, anchor: np.ndarray | None) -> NetOutputs:
        """The last outputs, moved with the tracked box (no move when either box is unknown)."""
        self.age += 1
        known = anchor is not None and self.anchor is not None
        shift = centre(anchor) - centre(self.anchor) if known else np.zeros(2)
        return carry(self.last, t, shift)
