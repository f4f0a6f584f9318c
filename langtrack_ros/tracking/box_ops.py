"""Box arithmetic on the token grid: candidate boxes, exact box averages, pairwise IoU.

Boxes are ``[x, y, w, h]``. On the grid they are normalised to the search patch (0..1); the
token in row ``i``, column ``j`` of a ``G x G`` grid has its centre at ``((j + .5) / G, (i + .5) / G)``.

The box average is exact: a summed-area table with a zero first row and column, so the sum over
rows ``r0..r1`` and columns ``c0..c1`` is four look-ups and nothing is dropped. (The MVLM
reference code dropped the first row and column yet divided by the full area, so a one-token box
averaged to zero.)
"""
from __future__ import annotations

import numpy as np


def candidate_boxes(offset: np.ndarray, size: np.ndarray) -> np.ndarray:
    """One box per grid cell from the centre head, row-major: (G*G, 4) normalised xywh.

    ``offset`` (2, G, G) is the sub-cell centre position (x then y), ``size`` (2, G, G) is
    (w, h) in units of the patch side.
    """
    g = offset.shape[-1]
    rows, cols = np.mgrid[0:g, 0:g]
    cx = (cols + offset[0]) / g
    cy = (rows + offset[1]) / g
    w, h = size[0], size[1]
    return np.stack([cx - w / 2, cy - h / 2, w, h], axis=-1).reshape(-1, 4).astype(np.float64)


def integral_image(grid: np.ndarray) -> np.ndarray:
    """Summed-area table of a (G, G) map, shape (G+1, G+1), with a zero first row and column."""
    table = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1), dtype=np.float64)
    table[1:, 1:] = np.asarray(grid, dtype=np.float64).cumsum(0).cumsum(1)
    return table


def _token_range(lo: np.ndarray, hi: np.ndarray, centre: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last token index along one axis whose centre lies in [lo, hi] (normalised units).

    The token containing the box centre is always included, so a box smaller than a token still
    covers one token.
    """
    first = np.ceil(lo * g - 0.5)
    last = np.floor(hi * g - 0.5)
    own = np.floor(centre * g)
    empty = ~(first <= last)
    first = np.where(empty, own, np.minimum(first, own))
    last = np.where(empty, own, np.maximum(last, own))
    return np.clip(first, 0, g - 1).astype(int), np.clip(last, 0, g - 1).astype(int)


def box_token_ranges(boxes: np.ndarray, g: int) -> tuple[np.ndarray, ...]:
    """Inclusive token ranges (r0, r1, c0, c1) covered by each normalised box (N, 4)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    c0, c1 = _token_range(b[:, 0], b[:, 0] + b[:, 2], b[:, 0] + b[:, 2] / 2, g)
    r0, r1 = _token_range(b[:, 1], b[:, 1] + b[:, 3], b[:, 1] + b[:, 3] / 2, g)
    return r0, r1, c0, c1


def box_average(grid: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Exact mean of ``grid`` (G, G) over the tokens each box (N, 4) covers: s(b) in MVLM."""
    table = integral_image(grid)
    r0, r1, c0, c1 = box_token_ranges(boxes, grid.shape[0])
    total = table[r1 + 1, c1 + 1] - table[r0, c1 + 1] - table[r1 + 1, c0] + table[r0, c0]
    return total / ((r1 - r0 + 1) * (c1 - c0 + 1))


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas between xywh boxes a (N, 4) and b (M, 4): shape (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU between xywh boxes a (N, 4) and b (M, 4): shape (N, M); empty boxes give 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = intersection_matrix(a, b)
    area_a = np.clip(a[:, 2], 0, None) * np.clip(a[:, 3], 0, None)
    area_b = np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)
    union = area_a[:, None] + area_b[None] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
