"""MVLM training losses: focal heatmap + L1 + GIoU on the box at the GT cell + L_CM.

Boxes are normalised patch coordinates xywh (units of the search side), as in ``network.py``.
A frame is *positive* when the described target is in the search patch; on negative frames the
heatmap target is all zeros (the score map must stay low so the gate can say "lost") and there is
no box or L_CM loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F

from langtrack_ros.config import from_dict, load_merged, merge


@dataclass
class LossWeights:
    """Loss weights and L_CM settings (MVLM.md: focal + 5 L1 + 2 GIoU + 0.5 L_CM, K=10, c=1); the
    values live in config/train_mvlm.yaml (``loss:``)."""

    focal: float
    l1: float
    giou: float
    cm: float
    cm_k: int
    cm_c: float
    cm_use_log: bool
    min_overlap: float


def packaged_weights(changes: Mapping | None = None) -> LossWeights:
    """config/train_mvlm.yaml's ``loss:`` section with ``changes`` over it."""
    packaged = load_merged("train_mvlm")["loss"]
    return from_dict(LossWeights, merge(packaged, dict(changes or {}), "loss weights"), "loss")


def gaussian_radius(h: torch.Tensor, w: torch.Tensor, min_overlap: float = 0.7) -> torch.Tensor:
    """CenterNet's ``gaussian_radius``: the smallest of three corner-shift radii keeping IoU >= min_overlap.

    Reproduces the formula as CenterNet/OSTrack use it (each root divided by 2 rather than 2a), so
    heatmaps match the reference trackers' training targets. ``h``, ``w`` in grid cells.
    """
    mo = min_overlap
    b1, c1 = h + w, w * h * (1 - mo) / (1 + mo)
    r1 = (b1 + torch.sqrt((b1 ** 2 - 4 * c1).clamp(min=0))) / 2
    b2, c2 = 2 * (h + w), (1 - mo) * w * h
    r2 = (b2 + torch.sqrt((b2 ** 2 - 16 * c2).clamp(min=0))) / 2
    b3, c3 = -2 * mo * (h + w), (mo - 1) * w * h
    r3 = (b3 + torch.sqrt((b3 ** 2 - 16 * mo * c3).clamp(min=0))) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def gt_cells(boxes_norm: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid cell (row i, col j) holding each box centre, clamped into the grid."""
    boxes = torch.nan_to_num(boxes_norm)
    cx, cy = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    col = (cx * grid).floor().clamp(0, grid - 1).long()
    row = (cy * grid).floor().clamp(0, grid - 1).long()
    return row, col


def gaussian_heatmap(boxes_norm: torch.Tensor, grid: int, valid: torch.Tensor,
                     min_overlap: float = 0.7) -> torch.Tensor:
    """(B,G,G) CenterNet target: a Gaussian with peak exactly 1 at the GT cell; all zero where not valid.

    sigma = (2r + 1) / 6 with r = floor(gaussian_radius) of the box size in cells, drawn inside the
    (2r+1)^2 window only, as CenterNet does.
    """
    boxes = torch.nan_to_num(boxes_norm.float())
    row, col = gt_cells(boxes, grid)
    radius = gaussian_radius(boxes[:, 3] * grid, boxes[:, 2] * grid, min_overlap).floor().clamp(min=0)
    sigma = (2 * radius + 1) / 6
    coords = torch.arange(grid, device=boxes.device, dtype=boxes.dtype)
    dy = coords.view(1, grid, 1) - row.view(-1, 1, 1)
    dx = coords.view(1, 1, grid) - col.view(-1, 1, 1)
    r, s = radius.view(-1, 1, 1), sigma.view(-1, 1, 1)
    heat = torch.exp(-(dx ** 2 + dy ** 2) / (2 * s ** 2))
    inside = (dx.abs() <= r) & (dy.abs() <= r) & valid.to(torch.bool).view(-1, 1, 1)
    return torch.where(inside, heat, torch.zeros_like(heat))


def focal_heatmap_loss(score_logits: torch.Tensor, gt_heatmap: torch.Tensor,
                       alpha: float = 2.0, beta: float = 4.0, normaliser: torch.Tensor | None = None) -> torch.Tensor:
    """CenterNet focal loss (alpha 2, beta 4), summed over cells and divided by the number of peaks.

    Computed from logits with ``logsigmoid`` so saturated scores give finite losses.
    """
    prob = score_logits.sigmoid()
    pos = gt_heatmap.eq(1).to(score_logits.dtype)
    pos_term = F.logsigmoid(score_logits) * (1 - prob) ** alpha * pos
    neg_term = F.logsigmoid(-score_logits) * prob ** alpha * (1 - gt_heatmap) ** beta * (1 - pos)
    peaks = pos.sum() if normaliser is None else normaliser.to(pos.dtype)
    return -(pos_term.sum() + neg_term.sum()) / peaks.clamp(min=1.0)


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([x, y, x + w, y + h], dim=-1)


def generalized_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Elementwise GIoU of two (N,4) xyxy box sets (1 for identical boxes, down to -1)."""
    wh = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    union = area_a + area_b - inter
    hull_wh = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).clamp(min=0)
    hull = hull_wh[:, 0] * hull_wh[:, 1]
    iou = inter / (union + eps)
    return iou - (hull - union) / (hull + eps)


def boxes_at_cells(offset: torch.Tensor, size: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """Predicted xywh box of cell (row, col) per batch item: cx=(j+ox)/G, cy=(i+oy)/G, w, h."""
    grid = offset.shape[-1]
    idx = torch.arange(offset.shape[0], device=offset.device)
    off, wh = offset[idx, :, row, col], size[idx, :, row, col]
    cx = (col.to(off.dtype) + off[:, 0]) / grid
    cy = (row.to(off.dtype) + off[:, 1]) / grid
    return torch.stack([cx - wh[:, 0] / 2, cy - wh[:, 1] / 2, wh[:, 0], wh[:, 1]], dim=-1)


def inside_token_mask(boxes_norm: torch.Tensor, grid: int) -> torch.Tensor:
    """(B,G*G) True for tokens whose cell centre lies inside the box; the centre cell always counts."""
    boxes = torch.nan_to_num(boxes_norm)
    centres = (torch.arange(grid, device=boxes.device, dtype=boxes.dtype) + 0.5) / grid
    x0, y0 = boxes[:, 0:1], boxes[:, 1:2]
    in_x = (centres >= x0) & (centres <= x0 + boxes[:, 2:3])
    in_y = (centres >= y0) & (centres <= y0 + boxes[:, 3:4])
    mask = in_y[:, :, None] & in_x[:, None, :]
    row, col = gt_cells(boxes, grid)
    mask[torch.arange(len(boxes), device=boxes.device), row, col] = True
    return mask.flatten(1)


def correlation_margin_loss(tokens: torch.Tensor, text_embed: torch.Tensor, inside_mask: torch.Tensor,
                            k: int = 10, c: float = 1.0, use_log: bool = False,
                            normaliser: torch.Tensor | None = None) -> torch.Tensor:
    """L_CM: push the K most text-like background tokens below the target's mean correlation.

    rho_x = <v_x, u> (both L2-normalised); rho_pos = mean of rho_x over tokens inside the GT box;
    Delta_x = rho_pos - rho_x for background tokens; with e_x = -c * Delta_x * |Delta_x| over the K
    largest e_x (the hardest negatives):

    - ``use_log=False`` (DEFAULT, the reference code): mean_K exp(e_x);
    - ``use_log=True`` (the paper's log-sum-exp): logsumexp_K(e_x) - log K = log(mean_K exp(e_x)),
      the log of the default (same minimisers; the constant log K only keeps a zero margin at 0).

    Items with no inside or no background token are skipped; the result is the mean over the rest
    (0 when none remain), or their sum / ``normaliser`` (the global count, see ``loss_counts``).
    """
    rho = (tokens @ text_embed.unsqueeze(-1)).squeeze(-1)
    inside = inside_mask.to(torch.bool)
    usable = inside.any(1) & (~inside).any(1)
    if not usable.any():
        return tokens.sum() * 0.0
    rho, inside = rho[usable], inside[usable]
    rho_pos = (rho * inside).sum(1, keepdim=True) / inside.sum(1, keepdim=True)
    delta = rho_pos - rho
    exponent = (-c * delta * delta.abs()).masked_fill(inside, float("-inf"))
    top, _ = exponent.topk(min(k, exponent.shape[1]), dim=1)
    keep = torch.isfinite(top)
    count = keep.sum(1).to(top.dtype)
    if use_log:
        per_item = torch.logsumexp(top.masked_fill(~keep, float("-inf")), dim=1) - count.log()
    else:
        per_item = torch.where(keep, top.exp(), torch.zeros_like(top)).sum(1) / count
    return per_item.mean() if normaliser is None else per_item.sum() / normaliser.to(per_item.dtype).clamp(min=1.0)


def loss_counts(targets: Mapping[str, torch.Tensor], grid: int, weights: LossWeights) -> torch.Tensor:
    """(3,) float64 normalisers of a batch: heatmap peaks, positive items, items L_CM can use.

    The loss is not a mean over items (focal divides by the batch's peaks, box terms by its
    positives), so the mean of micro-batch losses is not the loss of their union. Summing these
    counts over micro-batches and ranks and passing the sum to ``mvlm_loss(counts=...)`` makes the
    parts add up to exactly the global batch's loss: gradient accumulation and data-parallel
    training then compute the same gradient as one big batch.
    """
    positive = targets["positive"].to(torch.bool)
    boxes = torch.nan_to_num(targets["boxes"].to(torch.float32))
    peaks = gaussian_heatmap(boxes, grid, positive, weights.min_overlap).eq(1).sum()
    inside = inside_token_mask(boxes[positive], grid)
    usable = (inside.any(1) & (~inside).any(1)).sum()
    return torch.stack([peaks, positive.sum(), usable]).to(torch.float64)


def mvlm_loss(outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
              weights: LossWeights | Mapping | None = None,
              counts: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Total MVLM loss and its parts (floats, for logging).

    ``counts``: global normalisers from ``loss_counts`` (summed over the micro-batches of a step);
    then every term is this batch's sum / the global count, and the parts of all micro-batches add up.

    targets: ``boxes`` (B,4) normalised xywh (ignored where not positive, may be NaN there) and
    ``positive`` (B,) bool. Box (L1 on xyxy + GIoU) and L_CM terms use positive items only.
    """
    w = weights if isinstance(weights, LossWeights) else packaged_weights(weights)
    score = outputs["score_map"]
    grid = score.shape[-1]
    positive = targets["positive"].to(torch.bool)
    boxes = torch.nan_to_num(targets["boxes"].to(score.dtype))
    heat = gaussian_heatmap(boxes, grid, positive, w.min_overlap)
    n_peaks, n_pos, n_cm = (None, None, None) if counts is None else counts.to(score.device).unbind(0)
    focal = focal_heatmap_loss(score, heat, normaliser=n_peaks)
    zero = score.sum() * 0.0
    l1 = giou = cm = zero
    if positive.any():
        row, col = gt_cells(boxes[positive], grid)
        pred = boxes_at_cells(outputs["offset"][positive], outputs["size"][positive], row, col)
        pred_xyxy, gt_xyxy = xywh_to_xyxy(pred), xywh_to_xyxy(boxes[positive])
        giou_terms = 1 - generalized_iou(pred_xyxy, gt_xyxy)
        if counts is None:
            l1, giou = F.l1_loss(pred_xyxy, gt_xyxy), giou_terms.mean()
        else:
            n = n_pos.to(score.dtype).clamp(min=1.0)
            l1 = F.l1_loss(pred_xyxy, gt_xyxy, reduction="sum") / (4 * n)
            giou = giou_terms.sum() / n
        if w.cm > 0:
            inside = inside_token_mask(boxes[positive], grid)
            cm = correlation_margin_loss(outputs["tokens"][positive], outputs["text_embed"][positive],
                                         inside, w.cm_k, w.cm_c, w.cm_use_log, normaliser=n_cm)
    total = w.focal * focal + w.l1 * l1 + w.giou * giou + w.cm * cm
    parts = {"total": total, "focal": focal, "l1": l1, "giou": giou, "cm": cm}
    return total, {name: float(value.detach()) for name, value in parts.items()}


__all__ = ["LossWeights", "gaussian_radius", "gaussian_heatmap", "gt_cells", "focal_heatmap_loss",
           "generalized_iou", "xywh_to_xyxy", "boxes_at_cells", "inside_token_mask",
           "correlation_margin_loss", "loss_counts", "mvlm_loss"]
