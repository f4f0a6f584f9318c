"""SiamCAR loss as VLT trains it (VLT.md): classification NLL (0.5 positives + 0.5 negatives),
``ciou * (1 - CIoU)`` weighted by the centerness target, and centerness BCE, all on the grid
points of the score map. Positives are points in the central ``pos_ratio`` of the ground-truth box;
a negative pair (``present`` False, vlt/data.py) has none, so it adds background points only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from langtrack_ros.training.losses import xywh_to_xyxy


@dataclass
class VLTLossWeights:
    """``loss`` of config/train_vlt.yaml (the one table of its values)."""

    cls: float
    ciou: float
    cen: float
    pos_ratio: float  # positives: points inside the central pos_ratio of the box (each side)


def complete_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Elementwise CIoU of (N,4) xyxy boxes: IoU - centre distance term - aspect-ratio term."""
    wh = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    wa, ha = (a[:, 2] - a[:, 0]).clamp(min=eps), (a[:, 3] - a[:, 1]).clamp(min=eps)
    wb, hb = (b[:, 2] - b[:, 0]).clamp(min=eps), (b[:, 3] - b[:, 1]).clamp(min=eps)
    iou = inter / (wa * ha + wb * hb - inter + eps)
    hull = torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])
    diag = (hull ** 2).sum(1) + eps
    centre = (((a[:, :2] + a[:, 2:]) - (b[:, :2] + b[:, 2:])) ** 2).sum(1) / 4
    v = (4 / math.pi ** 2) * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return iou - centre / diag - alpha * v


def targets(boxes_px: torch.Tensor, points: torch.Tensor, pos_ratio: float) -> dict:
    """Per grid point: positive mask (B,G,G), ltrb distances (B,G,G,4) and centerness (B,G,G)."""
    x1, y1, x2, y2 = xywh_to_xyxy(boxes_px).unbind(-1)
    px, py = points[None, None, :], points[None, :, None]
    l, t = px - x1[:, None, None], py - y1[:, None, None]
    r, b = x2[:, None, None] - px, y2[:, None, None] - py
    ltrb = torch.stack(torch.broadcast_tensors(l, t, r, b), -1)
    cx, cy = ((x1 + x2) / 2)[:, None, None], ((y1 + y2) / 2)[:, None, None]
    hw, hh = ((x2 - x1) * pos_ratio / 2)[:, None, None], ((y2 - y1) * pos_ratio / 2)[:, None, None]
    pos = ((px - cx).abs() <= hw) & ((py - cy).abs() <= hh)
    lr, tb = ltrb[..., 0::2].clamp(min=1e-3), ltrb[..., 1::2].clamp(min=1e-3)
    cen = torch.sqrt((lr.min(-1).values / lr.max(-1).values) * (tb.min(-1).values / tb.max(-1).values))
    return {"pos": pos, "ltrb": ltrb, "cen": cen}


def vlt_loss(out: dict, boxes_norm: torch.Tensor, points: torch.Tensor, search_size: int,
             w: VLTLossWeights, present: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Total loss and its parts; ``boxes_norm`` (B,4) xywh in units of the search patch side;
    ``present`` (B,) False for negative pairs (no target in the search crop)."""
    t = targets(boxes_norm * search_size, points, w.pos_ratio)
    pos = t["pos"] if present is None else t["pos"] & present[:, None, None]
    logp = F.log_softmax(out["cls"], 1)  # (B,2,G,G): channel 1 = target
    n_pos, n_neg = pos.sum().clamp(min=1), (~pos).sum().clamp(min=1)
    cls = -0.5 * (logp[:, 1][pos].sum() / n_pos) - 0.5 * (logp[:, 0][~pos].sum() / n_neg)
    if pos.any():
        pred = out["ltrb"].permute(0, 2, 3, 1)[pos]
        gt, cen_t = t["ltrb"][pos], t["cen"][pos]
        pts = torch.stack(torch.broadcast_tensors(points[None, :].expand(len(points), -1),
                                                  points[:, None].expand(-1, len(points))), -1)
        xy = pts.expand(pos.shape[0], -1, -1, -1)[pos]
        as_box = lambda d: torch.cat([xy - d[:, :2], xy + d[:, 2:]], 1)  # noqa: E731
        ciou = ((1 - complete_iou(as_box(pred), as_box(gt))) * cen_t).sum() / cen_t.sum().clamp(min=1e-6)
        cen = F.binary_cross_entropy_with_logits(out["cen"][:, 0][pos], cen_t)
    else:
        ciou = cen = out["ltrb"].sum() * 0.0
    total = w.cls * cls + w.ciou * ciou + w.cen * cen
    return total, {k: float(v.detach()) for k, v in (("total", total), ("cls", cls), ("ciou", ciou), ("cen", cen))}
