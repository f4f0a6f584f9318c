"""When the heavy prior networks run, and what stands in for them on the frames between.

The detector and the ImageNet net cost two to four times MVLM's own step (docs/BENCHMARKS.md).
A global search (a new query, or the gate lost the target) always runs them: that is where they
find the target. In ROI mode they run on one frame in ``priors.roi_every``; on the frames between,
their last outputs are carried over where they were in the image and re-expressed in the current
search patch (the IoU ramp of the fusion tolerates the few pixels a target moves in between).
Moving them with the tracked box's displacement was tried and drifted: the box's own jitter was
extrapolated frame after frame. The first ROI frame after a global search runs them again: a global
search's outputs are never carried, because the ROI run is what confirms or rejects the global
answer (carrying the global detections kept a wrong first grounding confident on the validation
clips). The gate therefore sees the same kind of candidates and scores on
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
        self.last_global = False
        self.age = 0

    def due(self, mode: SearchMode) -> bool:
        return mode is SearchMode.GLOBAL or self.last is None or self.last_global or self.age + 1 >= self.roi_every

    def store(self, nets: NetOutputs, mode: SearchMode) -> NetOutputs:
        self.last, self.age, self.last_global = nets, 0, mode is SearchMode.GLOBAL
        return nets

    def carried(self, t: PatchTransform) -> NetOutputs:
        """The last outputs, where they were in the image, in the patch of ``t``."""
        self.age += 1
        return carry(self.last, t, np.zeros(2))
