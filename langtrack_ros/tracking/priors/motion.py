"""Moving-region evidence: what moves against the (compensated) background, as candidate boxes.

A flying bird, a small car seen from a drone or a thrown ball are often what no detector class
fires on, but they move differently from the background. Per frame, at a reduced resolution
(``priors.motion_side`` on the longer side):

1. track corners of the previous frame into this one (pyramidal Lucas-Kanade) and fit the
   camera's global motion as a similarity transform (cv2.estimateAffinePartial2D, RANSAC);
2. warp the previous frame onto this one and take the absolute grey difference, above
   ``motion_diff`` grey levels, cleaned by a morphological opening and closing;
3. connected components of at least ``motion_min_area`` pixels -> boxes, scored by their mean
   difference over 2 x ``motion_diff`` (clipped to 1).

It proposes nothing when it cannot trust the estimate: too few RANSAC inliers (a cut, a textureless
frame, motion blur) or too much of the frame changing (a cut, a flash, strong parallax); and nothing
when more than ``motion_max_regions`` regions move (which of them is meant, motion cannot say). Cost and
the measurements are in docs/PRIORS.md ("Motion evidence").
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

CORNERS = 200  # corners tracked per frame for the global motion
RANSAC_PX = 1.0  # reprojection tolerance of the global fit, reduced-resolution pixels
KERNEL = np.ones((3, 3), np.uint8)


@dataclass
class Moving:
    """Moving regions of one frame: boxes in image pixels (xywh) and scores in [0, 1]."""

    boxes: np.ndarray  # (N, 4)
    scores: np.ndarray  # (N,)


NOTHING = Moving(np.zeros((0, 4)), np.zeros(0))


class MotionEvidence:
    """Keeps the previous reduced grey frame; ``update`` gives this frame's moving regions."""

    def __init__(self, side: int, min_inliers: int, diff: float, max_fraction: float,
                 min_area: int, max_regions: int):
        self.side, self.min_inliers, self.diff = side, min_inliers, diff
        self.max_fraction, self.min_area, self.max_regions = max_fraction, min_area, max_regions
        self.trusted = False  # whether the last frame's global motion estimate was trusted
        self.reset()

    def reset(self) -> None:
        """A new query or stream: no previous frame."""
        self.prev: np.ndarray | None = None
        self.prev_hw: tuple[int, int] | None = None

    def update(self, image: np.ndarray) -> Moving:
        """Moving regions of ``image`` (RGB or grey uint8) against the previous frame given."""
        grey, zoom = self._reduce(image)
        if grey is None:
            return NOTHING
        prev, hw = self.prev, image.shape[:2]
        if prev is not None and self.prev_hw != hw:
            log.info("motion evidence: frame size changed %s -> %s; starting over", self.prev_hw, hw)
            prev = None
        self.prev, self.prev_hw, self.trusted = grey, hw, False
        if prev is None:
            return NOTHING
        matrix = self._global_motion(prev, grey)
        if matrix is None:
            return NOTHING
        mask, diff = self._moving_mask(prev, grey, matrix)
        if mask is None:
            return NOTHING
        self.trusted = True
        return self._regions(mask, diff, zoom)

    def _reduce(self, image) -> tuple[np.ndarray | None, float]:
        """Grey frame with its longer side ``side`` (never enlarged), and the zoom back to image pixels."""
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or min(img.shape[:2]) < 8 or \
                (img.ndim == 3 and img.shape[2] not in (1, 3)):
            log.warning("motion evidence: frame of shape %s, dtype %s is not an 8-bit grey/RGB image of "
                        "at least 8x8 pixels; no motion candidates", img.shape, img.dtype)
            return None, 1.0
        grey = img if img.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY) \
            if img.shape[2] == 3 else img[..., 0]
        zoom = min(1.0, self.side / max(grey.shape))
        if zoom < 1.0:
            grey = cv2.resize(grey, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(np.ascontiguousarray(grey), (3, 3), 0), 1.0 / zoom

    def _global_motion(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray | None:
        """2x3 similarity taking ``prev`` onto ``cur``, or None when too few points agree on one."""
        pts = cv2.goodFeaturesToTrack(prev, CORNERS, 0.01, 6)
        if pts is None or len(pts) < self.min_inliers:
            return None
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, winSize=(15, 15), maxLevel=3)
        ok = ok.reshape(-1).astype(bool)
        if ok.sum() < self.min_inliers:
            return None
        matrix, inliers = cv2.estimateAffinePartial2D(pts[ok], nxt[ok], method=cv2.RANSAC,
                                                      ransacReprojThreshold=RANSAC_PX)
        if matrix is None or inliers is None or int(inliers.sum()) < self.min_inliers:
            return None
        return matrix

    def _moving_mask(self, prev, cur, matrix) -> tuple[np.ndarray | None, np.ndarray]:
        """Binary mask of pixels that changed beyond the camera's motion (None: too many did)."""
        h, w = cur.shape
        warped = cv2.warpAffine(prev, matrix, (w, h), flags=cv2.INTER_LINEAR)
        seen = cv2.warpAffine(np.full_like(prev, 255), matrix, (w, h), flags=cv2.INTER_NEAREST)
        seen = cv2.erode(seen, KERNEL, iterations=2)  # no borders of the warp
        diff = cv2.absdiff(cur, warped)
        diff[seen == 0] = 0
        mask = (diff > self.diff).astype(np.uint8)
        if mask.mean() > self.max_fraction:
            return None, diff
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, KERNEL)
        return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, KERNEL, iterations=2), diff

    def _regions(self, mask, diff, zoom: float) -> Moving:
        """Components of at least ``min_area`` pixels with their scores; none when there are more
        than ``max_regions`` (a crowd, traffic, waves: which mover is meant is not motion's to say)."""
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= self.min_area]
        if not keep or len(keep) > self.max_regions:
            return NOTHING
        boxes = stats[keep, :4].astype(np.float64) * zoom
        means = np.array([diff[labels == i].mean() for i in keep])
        return Moving(boxes, np.clip(means / (2 * self.diff), 0.0, 1.0))
