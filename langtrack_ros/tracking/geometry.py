"""Search-region geometry shared by the tracker and by training: ROI crops and letterboxing.

Both are one similarity transform (scale + shift, no rotation, same scale on both axes) from the
S x S search patch to the original image: ``x_img = x0 + u * scale``. Keeping the aspect ratio in
global mode is deliberate (MVLM.md: the reference resized the whole image anisotropically).
Boxes are ``[x, y, w, h]``; "normalised" boxes are in units of the patch side (0..1).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PatchTransform:
    """Patch pixel (u, v) -> image pixel (x0 + u * scale, y0 + v * scale)."""

    x0: float
    y0: float
    scale: float  # image pixels per patch pixel
    size: int  # patch side in pixels

    def box_to_image(self, box_norm: np.ndarray) -> np.ndarray:
        """Normalised patch box(es) [..., 4] -> image-pixel box(es)."""
        b = np.asarray(box_norm, dtype=np.float64) * self.size * self.scale
        return np.concatenate([b[..., :1] + self.x0, b[..., 1:2] + self.y0, b[..., 2:]], axis=-1)

    def box_to_patch(self, box_img: np.ndarray) -> np.ndarray:
        """Image-pixel box(es) [..., 4] -> normalised patch box(es)."""
        b = np.asarray(box_img, dtype=np.float64)
        s = self.size * self.scale
        return np.concatenate([(b[..., :1] - self.x0) / s, (b[..., 1:2] - self.y0) / s, b[..., 2:] / s], axis=-1)

    def image_area_in_patch(self, image_hw: tuple[int, int]) -> np.ndarray:
        """The part of the patch that shows the image, as a normalised box (letterbox padding excluded)."""
        h, w = image_hw
        box = self.box_to_patch(np.array([0.0, 0.0, w, h]))
        x1, y1 = np.clip(box[:2], 0, 1)
        x2, y2 = np.clip(box[:2] + box[2:], 0, 1)
        return np.array([x1, y1, x2 - x1, y2 - y1])


def image_mean(image: np.ndarray, samples: int = 64) -> tuple[float, ...]:
    """Per-channel mean over a ``samples`` x ``samples`` grid of pixels: the border fill does not
    need every pixel, and a full mean cost more than the whole crop (O(H*W) per frame)."""
    h, w = image.shape[:2]
    rows = np.linspace(0, h - 1, min(h, samples)).astype(int)  # uneven steps: no aliasing onto stripes
    cols = np.linspace(0, w - 1, min(w, samples)).astype(int)
    grid = image[np.ix_(rows, cols)]
    return tuple(float(v) for v in grid.reshape(-1, image.shape[-1]).mean(0))


def warp(image: np.ndarray, t: PatchTransform, border_value=None) -> np.ndarray:
    """Render the patch that ``t`` describes; outside the image is filled with the image mean.
    Cost is O(size^2) whatever the image size (cv2 samples only the output pixels)."""
    if border_value is None:
        border_value = image_mean(image)
    inv = 1.0 / t.scale
    matrix = np.array([[inv, 0.0, -t.x0 * inv], [0.0, inv, -t.y0 * inv]], dtype=np.float64)
    interp = cv2.INTER_AREA if t.scale > 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (t.size, t.size), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


def roi_transform(box: np.ndarray, factor: float, size: int, min_side: float = 16.0) -> PatchTransform:
    """Square region of side ``factor * sqrt(w * h)`` centred on ``box`` (OSTrack-style search area)."""
    x, y, w, h = (float(v) for v in box)
    side = max(factor * np.sqrt(max(w, 1.0) * max(h, 1.0)), min_side)
    cx, cy = x + w / 2.0, y + h / 2.0
    return PatchTransform(cx - side / 2.0, cy - side / 2.0, side / size, size)


def letterbox_transform(image_hw: tuple[int, int], size: int) -> PatchTransform:
    """Whole image scaled to fit ``size`` with its aspect ratio kept, centred, padded on the short side."""
    h, w = image_hw
    side = float(max(h, w))
    return PatchTransform((w - side) / 2.0, (h - side) / 2.0, side / size, size)


def roi_crop(image: np.ndarray, box: np.ndarray, factor: float, size: int) -> tuple[np.ndarray, PatchTransform]:
    t = roi_transform(box, factor, size)
    return warp(image, t), t


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, PatchTransform]:
    t = letterbox_transform(image.shape[:2], size)
    return warp(image, t), t
