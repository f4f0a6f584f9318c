"""MVLM losses: heatmap targets, focal loss, box losses, L_CM on hand-built toy cases."""
import math

import pytest
import torch

from langtrack_ros.config import ConfigError
from langtrack_ros.training.losses import (
    boxes_at_cells, correlation_margin_loss, focal_heatmap_loss, gaussian_heatmap,
    gaussian_radius, generalized_iou, gt_cells, inside_token_mask, mvlm_loss, packaged_weights, xywh_to_xyxy)

G = 8


def test_gaussian_radius_matches_centernet_formula_by_hand():
    # h = w = 4 cells, min_overlap 0.7. Case 3: a = 2.8, b = -11.2, c = -4.8
    # -> (b + sqrt(b^2 - 4ac)) / 2 = (-11.2 + sqrt(125.44 + 53.76)) / 2 = 1.0933; cases 1, 2 are larger.
    r = gaussian_radius(torch.tensor([4.0]), torch.tensor([4.0]), 0.7)
    assert r.item() == pytest.approx(1.0933, abs=1e-3)


def test_heatmap_peak_at_gt_cell_and_zero_for_negatives():
    boxes = torch.tensor([[0.30, 0.55, 0.5, 0.5], [float("nan")] * 4])
    heat = gaussian_heatmap(boxes, G, torch.tensor([True, False]))
    # centre (0.55, 0.80) -> col floor(4.4) = 4, row floor(6.4) = 6
    assert heat[0, 6, 4] == 1.0
    assert int(heat[0].argmax()) == 6 * G + 4
    assert (heat[0] == 1.0).sum() == 1
    assert 0 < heat[0, 6, 5] < 1  # radius 1 for a 4x4-cell box: neighbours get Gaussian weight
    assert heat[0, 0, 0] == 0
    assert torch.all(heat[1] == 0)


def test_focal_loss_lower_for_matching_prediction():
    boxes = torch.tensor([[0.1, 0.1, 0.2, 0.2]])
    heat = gaussian_heatmap(boxes, G, torch.tensor([True]))
    row, col = gt_cells(boxes, G)
    good = torch.full((1, G, G), -6.0)
    good[0, row, col] = 4.0
    wrong = torch.full((1, G, G), -6.0)
    wrong[0, G - 1, G - 1] = 4.0
    assert focal_heatmap_loss(good, heat) < 0.1 < focal_heatmap_loss(wrong, heat)


def test_focal_loss_on_negative_frame_penalises_any_peak():
    heat = torch.zeros(1, G, G)
    quiet = torch.full((1, G, G), -6.0)
    loud = quiet.clone()
    loud[0, 3, 3] = 4.0
    assert focal_heatmap_loss(quiet, heat) < 1e-3 < focal_heatmap_loss(loud, heat)


def test_giou_identical_is_one_and_disjoint_by_hand():
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    assert generalized_iou(a, a).item() == pytest.approx(1.0)
    # disjoint unit squares 1 apart: IoU 0, hull 3, union 2 -> GIoU = -(3 - 2) / 3
    b = torch.tensor([[2.0, 0.0, 3.0, 1.0]])
    assert generalized_iou(a, b).item() == pytest.approx(-1 / 3, abs=1e-6)


def test_boxes_at_cells_decodes_offset_and_size():
    box = torch.tensor([[0.2, 0.3, 0.25, 0.1]])  # centre (0.325, 0.35) -> col 2.6, row 2.8 in cells
    row, col = gt_cells(box, G)
    offset = torch.zeros(1, 2, G, G)
    size = torch.zeros(1, 2, G, G)
    offset[0, :, row, col] = torch.tensor([[0.6], [0.8]])
    size[0, :, row, col] = torch.tensor([[0.25], [0.1]])
    assert torch.allclose(boxes_at_cells(offset, size, row, col), box, atol=1e-6)


def test_inside_mask_always_has_centre_cell():
    tiny = torch.tensor([[0.51, 0.51, 0.01, 0.01], [0.0, 0.0, 1.0, 1.0]])
    mask = inside_token_mask(tiny, G)
    assert mask[0].sum() == 1 and mask[0, 4 * G + 4]
    assert mask[1].all()


def _toy_tokens():
    u = torch.tensor([[1.0, 0.0]])
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]])  # target, background, background
    inside = torch.tensor([[True, False, False]])
    return tokens, u, inside


def test_lcm_exact_value_by_hand():
    tokens, u, inside = _toy_tokens()
    # rho = [1, 0, 0.6]; rho_pos = 1; Delta = [1, 0.4] -> exp(-1) = 0.36788, exp(-0.16) = 0.85214.
    # K=2: mean = 0.61001; K=1 keeps the hardest (Delta 0.4): 0.85214; log variant: log(0.61001).
    assert correlation_margin_loss(tokens, u, inside, k=2).item() == pytest.approx(0.61001, abs=1e-5)
    assert correlation_margin_loss(tokens, u, inside, k=1).item() == pytest.approx(0.85214, abs=1e-5)
    log_value = correlation_margin_loss(tokens, u, inside, k=2, use_log=True).item()
    assert log_value == pytest.approx(math.log(0.61001), abs=1e-5)


def test_lcm_larger_when_background_beats_target():
    u = torch.tensor([[1.0, 0.0]])
    inside = torch.tensor([[True, True, False, False]])
    aligned = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    s = math.sqrt(0.5)
    confused = torch.tensor([[[s, s], [s, -s], [1.0, 0.0], [0.0, 1.0]]])  # a background token beats the target
    for use_log in (False, True):
        good = correlation_margin_loss(aligned, u, inside, k=10, use_log=use_log)
        bad = correlation_margin_loss(confused, u, inside, k=10, use_log=use_log)
        assert good < bad
    # aligned: rho_pos = 1, background Delta = 1 and 2 -> (exp(-1) + exp(-4)) / 2
    expected = (math.exp(-1.0) + math.exp(-4.0)) / 2
    assert correlation_margin_loss(aligned, u, inside).item() == pytest.approx(expected, abs=1e-6)
    # confused, hardest negative only: Delta = sqrt(0.5) - 1 < 0 -> exp(+Delta^2) > 1
    assert correlation_margin_loss(confused, u, inside, k=1).item() > 1.0


def test_lcm_gradient_pushes_margin_up():
    tokens, u, inside = _toy_tokens()
    tokens = tokens.clone().requires_grad_(True)
    correlation_margin_loss(tokens, u, inside, k=2).backward()
    assert tokens.grad[0, 0, 0] < 0  # raising the target's alignment lowers the loss
    assert tokens.grad[0, 2, 0] > 0  # raising the hard negative's alignment raises it


def _outputs(boxes, positive, b=2, c=4):
    torch.manual_seed(0)
    score = torch.randn(b, G, G, requires_grad=True)
    tokens = torch.nn.functional.normalize(torch.randn(b, G * G, c), dim=-1)
    return {"score_map": score, "offset": torch.rand(b, 2, G, G), "size": torch.rand(b, 2, G, G),
            "tokens": tokens, "text_embed": torch.nn.functional.normalize(torch.randn(b, c), dim=-1)}


def test_mvlm_loss_negatives_have_only_focal_term():
    boxes = torch.full((2, 4), float("nan"))
    positive = torch.tensor([False, False])
    outputs = _outputs(boxes, positive)
    total, parts = mvlm_loss(outputs, {"boxes": boxes, "positive": positive})
    assert parts["l1"] == parts["giou"] == parts["cm"] == 0.0
    assert parts["total"] == pytest.approx(parts["focal"])
    total.backward()
    assert torch.isfinite(outputs["score_map"].grad).all()


def test_mvlm_loss_weights_and_perfect_box():
    box = torch.tensor([[0.2, 0.3, 0.25, 0.1], [float("nan")] * 4])
    positive = torch.tensor([True, False])
    outputs = _outputs(box, positive)
    row, col = gt_cells(box[:1], G)
    outputs["offset"][0, :, row, col] = torch.tensor([[0.6], [0.8]])
    outputs["size"][0, :, row, col] = torch.tensor([[0.25], [0.1]])
    _, parts = mvlm_loss(outputs, {"boxes": box, "positive": positive}, {"cm": 0.0})
    assert parts["l1"] == pytest.approx(0.0, abs=1e-6) and parts["giou"] == pytest.approx(0.0, abs=1e-4)
    assert parts["cm"] == 0.0
    _, with_cm = mvlm_loss(outputs, {"boxes": box, "positive": positive}, packaged_weights({"cm": 0.5}))
    assert with_cm["total"] == pytest.approx(with_cm["focal"] + 0.5 * with_cm["cm"], abs=1e-5)
    with pytest.raises(ConfigError):
        mvlm_loss(outputs, {"boxes": box, "positive": positive}, {"bogus": 1})


def test_xywh_to_xyxy():
    assert xywh_to_xyxy(torch.tensor([[1.0, 2.0, 3.0, 4.0]])).tolist() == [[1.0, 2.0, 4.0, 6.0]]
