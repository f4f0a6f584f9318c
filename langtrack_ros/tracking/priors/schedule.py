"""When the heavy prior networks run, and what stands in for them on the frames between.

The detector and the ImageNet net cost two to four times MVLM's own step (docs/BENCHMARKS.md).
A global search (a new query, or the gate lost the target) always runs them: that is where they
find the target. In ROI mode they run on one frame in ``priors.roi_every``; on the frames between,
their last outputs are carried over, moved by the target's image motion since they were computed,
and re-expressed in the current search patch. The motion comes from matching a small grey template
of the best detection (or of the tracked box) around its last place (normalised cross-correlation,
well under a millisecond). Two cheaper ways lost accuracy on the validation clips: leaving the
outputs where they were (the box lags a moving person), and moving them with the tracked box's own
displacement (its jitter was extrapolated frame after frame: drift).

They also run again on the frame after any answer the gate was not sure of (kappa below
``priors.carry_min_kappa``): stale evidence is carried only while tracking is confident. The first
ROI frame after a global search runs them too: a global search's outputs are never carried,
because the ROI run is what confirms or rejects the global answer (carrying the global detections
kept a wrong first grounding confident on the validation clips).
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
    related: np.ndarray  # (M, 4) objects the sentence relates the target to (global search only, else empty)


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
    return NetOutputs(t, det, nets.det_p.copy(), cam, np.zeros((0, 4)))  # relations rank in global search only


TEMPLATE_SIDE = 32  # the template's longer side in pixels (its box is scaled down to this)
MIN_MATCH = 0.5  # normalised correlation below which the match is not trusted (no move)


@dataclass
class Template:
    """Grey pixels of a box at the frame the nets ran, and where that box is believed to be now."""

    pixels: np.ndarray  # (h, w) float32, scaled by ``zoom``
    box: np.ndarray  # the box in image pixels at the nets' frame
    zoom: float


def make_template(image: np.ndarray, box: np.ndarray) -> Template | None:
    """The grey template of ``box`` (image pixels), or None when too little of it is in view or
    it has no texture to match."""
    x0, y0, x1, y1 = _clipped(box, image.shape)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    zoom = min(1.0, TEMPLATE_SIDE / max(x1 - x0, y1 - y0))
    pixels = _grey(image[y0:y1, x0:x1], zoom)
    if pixels.std() < 2.0:  # a flat template matches everywhere
        return None
    return Template(pixels, np.array([x0, y0, x1 - x0, y1 - y0], float), zoom)


def match_shift(image: np.ndarray, tpl: Template) -> np.ndarray:
    """Image motion (dx, dy) of the template's box, searched within half its size around it."""
    x, y, w, h = tpl.box
    margin = 0.5 * max(w, h) + 4
    x0, y0, x1, y1 = _clipped(np.array([x - margin, y - margin, w + 2 * margin, h + 2 * margin]), image.shape)
    window = _grey(image[y0:y1, x0:x1], tpl.zoom)
    if window.shape[0] < tpl.pixels.shape[0] or window.shape[1] < tpl.pixels.shape[1]:
        return np.zeros(2)
    _, best, _, (u, v) = cv2.minMaxLoc(cv2.matchTemplate(window, tpl.pixels, cv2.TM_CCOEFF_NORMED))
    if best < MIN_MATCH:
        return np.zeros(2)
    return np.array([x0 + u / tpl.zoom - x, y0 + v / tpl.zoom - y])


def _clipped(box: np.ndarray, shape) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    x0, y0 = int(np.clip(box[0], 0, w)), int(np.clip(box[1], 0, h))
    return x0, y0, int(np.clip(box[0] + box[2], x0, w)), int(np.clip(box[1] + box[3], y0, h))


def _grey(rgb: np.ndarray, zoom: float) -> np.ndarray:
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if zoom < 1.0:
        grey = cv2.resize(grey, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
    return grey.astype(np.float32)


class PriorSchedule:
    """Decides per frame whether the prior networks run; keeps their last outputs otherwise."""

    def __init__(self, roi_every: int, min_kappa: float):
        self.roi_every, self.min_kappa = roi_every, min_kappa
        self.reset()

    def reset(self) -> None:
        """A new query: nothing carried over."""
        self.last: NetOutputs | None = None
        self.template: Template | None = None
        self.last_global = False
        self.confident = False
        self.age = 0

    def due(self, mode: SearchMode) -> bool:
        return (mode is SearchMode.GLOBAL or self.last is None or self.last_global or not self.confident
                or self.age + 1 >= self.roi_every)

    def observe(self, kappa: float, found: bool) -> None:
        """The gate's verdict on the frame just answered."""
        self.confident = found and kappa >= self.min_kappa

    def store(self, nets: NetOutputs, mode: SearchMode, image: np.ndarray, anchor) -> NetOutputs:
        """Keep the nets' outputs and a template of the best detection (else of the tracked box)."""
        self.last, self.age, self.last_global = nets, 0, mode is SearchMode.GLOBAL
        if len(nets.det_p):
            anchor = nets.t.box_to_image(nets.det_boxes[int(np.argmax(nets.det_p))])
        self.template = None if anchor is None or self.roi_every == 1 else make_template(image, anchor)
        return nets

    def carried(self, t: PatchTransform, image: np.ndarray) -> NetOutputs:
        """The last outputs moved by the template's motion, in the patch of ``t``."""
        self.age += 1
        shift = np.zeros(2) if self.template is None else match_shift(image, self.template)
        return carry(self.last, t, shift)
