"""Metrics under every convention against hand-computed cases, event metrics, and got10k itself."""
import numpy as np
import pytest

from langtrack_ros.evaluation import events, metrics
from langtrack_ros.evaluation.metrics import average_scores, score_sequence

NAN4 = [np.nan] * 4
GT4 = np.array([[0, 0, 10, 10]] * 4, float)

# Case A, all frames visible. Per frame vs GT [0,0,10,10]:
#   f0 [20,20,10,10]: IoU 0,   centre error sqrt(20^2+20^2)=28.28, normalized 2.83, centre outside GT
#   f1 [0,0,10,10]:   IoU 1,   error 0,   normalized 0,    inside
#   f2 [5,0,10,10]:   IoU 50/150 = 1/3, error 5, normalized 0.5, inside (centre x 9.5 <= 10)
#   f3 [0,0,10,5]:    IoU 50/100 = 0.5, error 2.5, normalized 0.25, inside
PRED_A = np.array([[20, 20, 10, 10], [0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 5]], float)
# 21 bins (IoU > t): t=0..0.30 (7 bins) pass 3 of 4 frames; t=0.35..0.45 (3) pass 2 (IoU 0.5 is not > 0.5);
# t=0.5..0.95 (10) pass 1; t=1 passes none -> (7*3 + 3*2 + 10*1) / 4 / 21 = 9.25 / 21.
AUC21_A = 9.25 / 21
# 101 bins (mgit): frame IoU 1 passes 100 bins, 1/3 passes 34 (t=0..0.33), 0.5 passes 50, 0 passes none.
AUC101_A = (100 + 34 + 50) / 4 / 101


@pytest.mark.parametrize(
    "name, auc, pre, npre",
    [
        ("pytracking", AUC21_A, 0.75, 0.25),  # NPRE@0.20: only f1
        ("lasot_matlab", AUC21_A, 0.75, 0.25),
        ("tnl2k_matlab", AUC21_A, 0.75, 0.25),
        # got10k NPRE = mean of the 51-bin curve over 0..0.5 (<=): f1 passes 51, f3 (0.25) 26, f2 (0.5) 1.
        ("got10k", AUC21_A, 0.75, (51 + 26 + 1) / 204),
        # mgit PRE: errors < 20 -> 3/4; NPRE: centre inside GT box in f1, f2, f3.
        ("mgit", AUC101_A, 0.75, 0.75),
    ],
)
def test_case_a_honest(name, auc, pre, npre):
    s = score_sequence(PRED_A, GT4, None, name, "honest")
    assert s.auc == pytest.approx(auc, abs=1e-12)
    assert s.pre == pytest.approx(pre, abs=1e-12)
    assert s.npre == pytest.approx(npre, abs=1e-12)
    assert (s.n_frames, s.n_counted) == (4, 4)


@pytest.mark.parametrize(
    "name, auc, pre, npre",
    [
        # frame 0 := GT: IoUs 1, 1, 1/3, 0.5 -> (7*4 + 3*3 + 10*2) / 4 / 21 ; errors all <= 20.
        ("pytracking", 14.25 / 21, 1.0, 0.5),
        ("got10k", 14.25 / 21, 1.0, (51 + 51 + 26 + 1) / 204),
        ("lasot_matlab", 14.25 / 21, 1.0, 0.5),
        ("mgit", AUC101_A, 0.75, 0.75),  # the MGIT toolkit never overwrites frame 1
    ],
)
def test_case_a_toolkit_mode(name, auc, pre, npre):
    s = score_sequence(PRED_A, GT4, None, name, "toolkit")
    assert (s.auc, s.pre, s.npre) == pytest.approx((auc, pre, npre), abs=1e-12)


# Case B: frame 2 invisible (GT still given), frame 3 prediction NaN (tracker failure).
#   f0 [1,0,10,10]: IoU 90/110 = 0.818, error 1, normalized 0.1 ; f1 [5,0,10,10]: IoU 1/3, error 5
#   f2 [0,0,10,10]: IoU 1 but invisible ; f3 NaN
PRED_B = np.array([[1, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 10], NAN4], float)
VIS_B = np.array([True, True, False, True])


@pytest.mark.parametrize(
    "name, auc, pre, npre, counted",
    [
        # invisible -> failure, NaN -> failure: IoUs .818, .333, F, F:
        # t=0..0.30 (7 bins) 2/4, t=0.35..0.80 (10) 1/4 -> (14 + 10) / 4 / 21 = 6/21 ; errors 1, 5 -> PRE 2/4;
        # NPRE@0.2: only f0 (0.1).
        ("pytracking", 6 / 21, 0.5, 0.25, 4),
        # NaN -> previous prediction (f2's box, IoU 1 in f3); f2 still a failure: IoUs .818, .333, F, 1:
        # (7*3 + 10*2 + 3*1) / 4 / 21 = 11/21 ; errors 1, 5, inf, 0 -> 3/4 ; NPRE@0.2: f0, f3 -> 2/4.
        ("lasot_matlab", 11 / 21, 0.75, 0.5, 4),
        ("tnl2k_matlab", 11 / 21, 0.75, 0.5, 4),
        # visibility ignored (f2 scored: IoU 1), NaN -> failure: IoUs .818, .333, 1, F -> 11/21 ; PRE 3/4 ;
        # NPRE mean curve: f0 (0.1) passes 41 of 51 bins, f1 (0.5) 1, f2 (0) 51 -> 93/204.
        ("got10k", 11 / 21, 0.75, 93 / 204, 4),
        # f2 dropped (3 frames counted), NaN -> failure: IoU .818 passes 82 of 101 bins, 1/3 passes 34 ->
        # 116/3/101 ; PRE: 1, 5 < 20 -> 2/3 ; centres of f0, f1 inside the GT box -> 2/3.
        ("mgit", 116 / 303, 2 / 3, 2 / 3, 3),
    ],
)
def test_case_b_invisible_and_failed_frames(name, auc, pre, npre, counted):
    s = score_sequence(PRED_B, GT4, VIS_B, name, "honest")
    assert (s.auc, s.pre, s.npre) == pytest.approx((auc, pre, npre), abs=1e-12)
    assert s.n_counted == counted


def test_case_b_toolkit_overwrites_first_frame():
    # pytracking, toolkit mode: f0 := GT -> IoUs 1, .333, F, F -> (7*2 + 13*1) / 4 / 21
    s = score_sequence(PRED_B, GT4, VIS_B, "pytracking", "toolkit")
    assert s.auc == pytest.approx(6.75 / 21, abs=1e-12)


def test_precision_boundary_strictness():
    # one frame, centre error exactly 20 px: "<=" (got10k) counts it, "<" (mgit) does not.
    pred, gt = np.array([[20.0, 0, 10, 10]]), np.array([[0.0, 0, 10, 10]])
    assert score_sequence(pred, gt, None, "got10k").pre == 1.0
    assert score_sequence(pred, gt, None, "mgit").pre == 0.0


def test_zero_size_prediction_pytracking_uses_previous():
    # f1 has w = 0: pytracking substitutes f0's box (IoU 1); got10k keeps it (IoU 0).
    pred = np.array([[0, 0, 10, 10], [0, 0, 0, 10]], float)
    gt = np.array([[0, 0, 10, 10]] * 2, float)
    assert score_sequence(pred, gt, None, "pytracking").success_curve[10] == 1.0
    assert score_sequence(pred, gt, None, "got10k").success_curve[10] == 0.5


def test_unknown_ground_truth_dropped_or_failed():
    # f1 GT NaN: got10k drops it (1 of 1 frames perfect), pytracking counts a failure (1 of 2).
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    gt = np.array([[0, 0, 10, 10], NAN4], float)
    assert score_sequence(pred, gt, None, "got10k").pre == 1.0
    assert score_sequence(pred, gt, None, "pytracking").pre == 0.5


def test_mgit_image_correction_and_nonzero_npre_average():
    # The MGIT toolkit moves a negative x to 0 keeping w ([-5,0,10,10] -> [0,0,10,10], IoU 1) and cuts w at
    # the right edge ([95,0,10,10] -> w 5). Unclipped, [-5,0,10,10] has IoU 50/150 = 1/3.
    pred, gt = np.array([[-5.0, 0, 10, 10]]), np.array([[0.0, 0, 10, 10]])
    s = score_sequence(pred, gt, None, "mgit", image_size=(100, 100))
    assert s.success_curve[99] == 1.0 and s.success_curve[100] == 0.0
    raw = score_sequence(pred, gt, None, "mgit")
    assert raw.success_curve[33] == 1.0 and raw.success_curve[34] == 0.0
    cut = metrics.prepare_predictions([[95.0, 0, 10, 10]], gt, metrics.CONVENTIONS["mgit"], "honest", (100, 100))
    np.testing.assert_allclose(cut, [[95, 0, 5, 10]])
    miss = score_sequence(np.array([[50.0, 50, 10, 10]]), gt, None, "mgit")
    assert miss.npre == 0.0 and s.npre == 1.0
    avg = average_scores([s, miss], "mgit")
    assert avg.npre == 1.0  # the toolkit averages only non-zero sequence scores
    assert avg.auc == pytest.approx((s.auc + miss.auc) / 2)


def test_average_over_sequences_and_errors():
    a = score_sequence(PRED_A, GT4, None, "got10k")
    b = score_sequence(GT4, GT4, None, "got10k")
    avg = average_scores([a, b], "got10k")
    assert avg.auc == pytest.approx((a.auc + b.auc) / 2)
    assert avg.pre == pytest.approx((0.75 + 1.0) / 2)
    assert avg.n_sequences == 2
    with pytest.raises(ValueError, match="mode"):
        score_sequence(PRED_A, GT4, None, "got10k", "cheat")
    with pytest.raises(ValueError, match="unknown convention"):
        score_sequence(PRED_A, GT4, None, "vot")
    with pytest.raises(ValueError, match="predictions"):
        score_sequence(PRED_A[:2], GT4, None, "got10k")


@pytest.mark.parametrize("mode", ["honest", "toolkit"])
def test_agrees_with_got10k_toolkit(mode):
    from got10k.utils.metrics import center_error, rect_iou

    rng = np.random.default_rng(0)
    for _ in range(5):
        n = 200
        gt = np.c_[rng.uniform(0, 300, (n, 2)), rng.uniform(5, 80, (n, 2))]
        pred = gt + rng.normal(0, 12, (n, 4))
        pred[:, 2:] = np.abs(pred[:, 2:]) + 1
        boxes = pred.copy()
        if mode == "toolkit":
            boxes[0] = gt[0]
        ious, errs = rect_iou(boxes, gt.copy()), center_error(boxes, gt)
        succ = (ious[:, None] > np.linspace(0, 1, 21)[None]).mean(0)
        prec = (errs[:, None] <= np.arange(51)[None]).mean(0)
        ours = score_sequence(pred, gt, None, "got10k", mode)
        np.testing.assert_allclose(ours.success_curve, succ, atol=1e-9)
        np.testing.assert_allclose(ours.precision_curve, prec, atol=1e-9)
        assert abs(ours.auc - succ.mean()) < 1e-9
        assert abs(ours.pre - prec[20]) < 1e-9


# ---- event metrics -------------------------------------------------------------------------------


def test_reacquisition_delays():
    # visible: T T F F T T T F T T ; IoU > 0.5 at frames 0, 6, 9.
    # re-entry at 4 -> first IoU > 0.5 at 6 -> delay 2 ; re-entry at 8 -> 9 -> delay 1.
    visible = np.array([1, 1, 0, 0, 1, 1, 1, 0, 1, 1], bool)
    ious = np.array([0.9, 0.2, 0, 0, 0.1, 0.5, 0.7, 0, 0.3, 0.8])
    assert events.reacquisition_delays(ious, visible, 0.5) == [2, 1]
    # a lower threshold: frame 5 (0.5) passes 0.4 -> delay 1
    assert events.reacquisition_delays(ious, visible, 0.4) == [1, 1]


def test_reacquisition_censored_when_never():
    # re-entry at 2, but IoU never exceeds 0.5 before the target leaves again at 4 -> censored (None)
    visible = np.array([1, 0, 1, 1, 0, 1], bool)
    ious = np.array([0.9, 0, 0.1, 0.2, 0.9, 0.1])
    assert events.reacquisition_delays(ious, visible) == [None, None]


def test_lock_delays_and_summary():
    # switches at 2 and 6 in 10 frames; IoU > 0.5 first at 4 (delay 2) and never after 6 (censored)
    ious = np.array([0.9, 0.9, 0.1, 0.2, 0.6, 0.9, 0.0, 0.1, 0.2, 0.3])
    assert events.lock_delays(ious, [2, 6]) == [2, None]
    visible = np.ones(10, bool)
    s = events.event_metrics(ious, visible, [2, 6], iou_threshold=0.5, lock_window=5)
    assert s["switches"] == 2 and s["switches_locked_within_window"] == 0.5
    assert s["lock_delays"] == [2, None] and s["mean_lock_delay"] == 2.0
    assert s["reentries"] == 0 and s["reacquired_fraction"] is None
    # a delay equal to the window is not "within" it: window 2 -> delay 2 does not count
    assert events.event_metrics(ious, visible, [2, 6], lock_window=2)["switches_locked_within_window"] == 0.0


def test_event_ious_from_boxes():
    gt = np.array([[0, 0, 10, 10]] * 3, float)
    pred = np.array([[0, 0, 10, 10], NAN4, [5, 0, 10, 10]], float)
    np.testing.assert_allclose(events.frame_ious(pred, gt), [1.0, 0.0, 1 / 3])
