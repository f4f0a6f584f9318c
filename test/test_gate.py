"""The MVLM gate on hand-built maps whose answer is known (tracking/gate.py + the tracker's memory)."""
import numpy as np
import pytest

from packaged import reference_gate, search_config, tracker_yaml
from fake_mvlm import FakeBackend, FakeEncoder, scene
from langtrack_ros.config import ConfigError
from langtrack_ros.tracking.box_ops import box_average, candidate_boxes, iou_matrix
from langtrack_ros.tracking.gate import GateConfig, confidence, gate, kappa_mem, runner_up
from langtrack_ros.tracking.result import Event, SearchMode
from langtrack_ros.tracking.tracker import MVLMTracker

G = 8
CFG = reference_gate()


def maps_with_peaks(peaks, side=3):
    """Score and correlation maps with a ``side`` x ``side`` target centred on each (row, col)."""
    score = np.full((G, G), 0.05)
    corr = np.zeros((G, G))
    for i, j in peaks:
        score[i, j] = 0.9
        corr[max(i - side // 2, 0):i + side // 2 + 1, max(j - side // 2, 0):j + side // 2 + 1] = 0.8
    offset = np.full((2, G, G), 0.5)
    size = np.full((2, G, G), side / G)
    return score, corr, offset, size


def run_gate(peaks, cfg=CFG, memory=None):
    score, corr, offset, size = maps_with_peaks(peaks)
    boxes = candidate_boxes(offset, size)
    l, s = score.reshape(-1), box_average(corr, boxes)
    prev = np.full(len(boxes), np.nan) if memory is None else memory
    conf = confidence(s, l, iou_matrix(boxes, boxes), prev, cfg)
    return conf, gate(conf.kappa_mvlm, l, cfg.tau)


def test_one_clear_peak_is_confident():
    conf, (best, found) = run_gate([(3, 4)])
    assert found and best == 3 * G + 4
    assert conf.d_corr[best] == pytest.approx(np.tanh(0.8))  # runner-up: a far cell with s = 0
    assert conf.kappa_mvlm[best] == pytest.approx(np.tanh(0.8))  # no memory: kappa_mem = kappa_vlm


def test_two_equal_peaks_far_apart_are_ambiguous():
    conf, (best, found) = run_gate([(1, 1), (6, 6)])
    assert not found
    assert best in (1 * G + 1, 6 * G + 6)  # best l overall, flagged low-confidence
    assert conf.kappa_vlm[best] == pytest.approx(0.0)
    assert (conf.kappa_mvlm < CFG.tau).all()


def test_alpha_mixes_the_classification_margin():
    cfg = reference_gate(alpha=0.25, omega=0.0)
    conf, (best, _) = run_gate([(3, 4)], cfg)
    expected = 0.25 * np.tanh(0.8) + 0.75 * np.tanh(0.9 - 0.05)
    assert conf.kappa_vlm[best] == pytest.approx(expected)


def test_margin_scale_sharpens_the_margin():
    cfg = reference_gate(margin_scale=3.0)
    conf, (best, _) = run_gate([(3, 4)], cfg)
    assert conf.d_corr[best] == pytest.approx(np.tanh(3.0 * 0.8))


def test_runner_up_without_competitors_is_the_minimum():
    values = np.array([0.2, 0.9, -0.3])
    competitors = np.array([[False, True, False], [False, False, False], [True, True, False]])
    np.testing.assert_allclose(runner_up(values, competitors), [0.9, -0.3, 0.9])


def test_memory_is_an_ewma_and_fresh_candidates_start_at_kappa_vlm():
    kv = np.array([0.5, 0.5])
    km = kappa_mem(kv, np.array([-0.5, np.nan]), lam=0.4)
    np.testing.assert_allclose(km, [0.6 * 0.5 + 0.4 * -0.5, 0.5])


def test_low_memory_can_veto_a_confident_frame():
    prev = np.full(G * G, np.nan)
    prev[3 * G + 4] = -1.0
    cfg = reference_gate(tau=0.3, omega=0.8, lam=0.9)
    conf, (_, found) = run_gate([(3, 4)], cfg, prev)
    kv = np.tanh(0.8)
    km = 0.1 * kv + 0.9 * -1.0
    assert conf.kappa_mvlm[3 * G + 4] == pytest.approx(0.2 * kv + 0.8 * km)
    assert not found


def test_gate_config_reads_the_paper_name_lambda_and_rejects_unknown_keys():
    assert GateConfig.from_params({**tracker_yaml()["gate"], "lambda": 0.3, "tau": 0.0}).lam == 0.3
    with pytest.raises(ConfigError, match="unknown"):
        GateConfig.from_params({**tracker_yaml()["gate"], "kappa": 1.0})


def test_gate_config_has_no_code_defaults_a_missing_key_is_named():
    with pytest.raises(ConfigError, match=r"missing key\(s\) \['alpha', 'lam'"):
        GateConfig.from_params({"tau": 0.1, "omega": 0.4, "psi_out": 0.0, "margin_scale": 1.0, "memory_iou": 0.5})


# --- through the tracker: search mode and memory in image coordinates --------------------------

def target_cell(patch):
    """Grid cell (row, col) holding the centre of the red pixels of a search patch."""
    rows, cols = np.nonzero((patch[..., 0] > 200) & (patch[..., 1] < 60))
    return int(rows.mean() // 16), int(cols.mean() // 16)


def make_tracker(**search):
    backend = FakeBackend()
    tracker = MVLMTracker(backend, FakeEncoder(), CFG, search_config(**search))
    return tracker, backend


def test_confident_frame_sends_the_next_to_roi():
    tracker, _ = make_tracker()
    tracker.set_query("red car")
    first = tracker.step(scene(squares=[("red", 100, 80, 30)]))
    assert first.found and first.mode is SearchMode.GLOBAL
    assert tracker.next_mode is SearchMode.ROI
    assert tracker.step(scene(squares=[("red", 104, 82, 30)])).mode is SearchMode.ROI


def test_ambiguous_distractor_sends_the_next_to_global():
    tracker, _ = make_tracker()
    tracker.set_query("red car")
    twins = scene(squares=[("red", 30, 30, 30), ("red", 250, 180, 30)])
    first = tracker.step(twins)
    assert not first.found and first.kappa == pytest.approx(0.0)
    assert tracker.next_mode is SearchMode.GLOBAL
    second = tracker.step(twins)
    assert second.mode is SearchMode.GLOBAL and Event.RELOCALIZED in second.events


@pytest.mark.parametrize("omega, found", [(0.4, True), (0.0, False)])
def test_memory_carries_the_target_through_a_momentary_distractor(omega, found):
    cfg = reference_gate(omega=omega)
    tracker = MVLMTracker(FakeBackend(), FakeEncoder(), cfg, search_config())
    tracker.set_query("red car")
    tracker.step(scene(squares=[("red", 100, 80, 30)]))
    result = tracker.step(scene(squares=[("red", 102, 80, 30), ("red", 40, 40, 30)]))
    assert result.d_corr == pytest.approx(0.0)  # this frame alone is ambiguous
    assert result.found is found
    assert (Event.LOST in result.events) is not found


def test_query_change_forces_global_and_resets_memory():
    tracker, _ = make_tracker()
    tracker.set_query("red car")
    image = scene(squares=[("red", 100, 80, 30), ("blue", 220, 150, 30)])
    tracker.step(image)
    tracker.step(image)
    assert tracker.next_mode is SearchMode.ROI and tracker.memory is not None
    tracker.set_query("blue car")
    assert tracker.memory is None and tracker.next_mode is SearchMode.GLOBAL
    result = tracker.step(image)
    assert result.mode is SearchMode.GLOBAL and Event.QUERY_CHANGED in result.events
    np.testing.assert_allclose(result.box, [220, 150, 30, 30], atol=2)
    fresh_kappa_vlm = result.kappa  # memory was reset: kappa_mvlm == kappa_vlm of this frame
    assert tracker.memory.kappa_mem == pytest.approx(fresh_kappa_vlm)


def test_memory_follows_the_target_in_image_coordinates_when_the_crop_moves():
    tracker, backend = make_tracker()
    tracker.set_query("red car")
    backend.corr = 0.3
    first = tracker.step(scene(squares=[("red", 60, 60, 30)]))  # global: target off-centre in the patch
    backend.corr = 0.8
    second = tracker.step(scene(squares=[("red", 64, 62, 30)]))  # ROI crop: target near the patch centre
    assert target_cell(backend.patches[0]) != target_cell(backend.patches[1])  # moved on the grid ...
    assert first.kappa == pytest.approx(np.tanh(0.3)) and second.mode is SearchMode.ROI
    kv = np.tanh(0.8)
    inherited = (1 - CFG.lam) * kv + CFG.lam * first.kappa
    assert tracker.memory.kappa_mem == pytest.approx(inherited)  # ... yet it kept its memory
    assert second.kappa == pytest.approx((1 - CFG.omega) * kv + CFG.omega * inherited)


def test_a_candidate_away_from_the_remembered_box_starts_fresh():
    tracker, backend = make_tracker()
    tracker.set_query("red car")
    backend.corr = 0.3
    tracker.step(scene(squares=[("red", 60, 60, 30)]))
    backend.corr = 0.8
    jumped = tracker.step(scene(squares=[("red", 100, 95, 30)]))  # inside the ROI, no overlap with the memory
    assert jumped.kappa == pytest.approx(np.tanh(0.8))  # kappa_mvlm == kappa_vlm: nothing inherited
    assert tracker.memory.kappa_mem == pytest.approx(np.tanh(0.8))


@pytest.mark.parametrize("params", [{"alpha": 5}, {"omega": -3}, {"lambda": 2}, {"tau": "0.1"}, {"margin_scale": 0}])
def test_gate_values_outside_the_papers_ranges_are_rejected(params):
    from langtrack_ros.config import ConfigError

    with pytest.raises(ConfigError):
        GateConfig.from_params({**tracker_yaml()["gate"], **params})


def test_integer_gate_values_from_yaml_or_ros_are_accepted_as_floats():
    cfg = GateConfig.from_params({**tracker_yaml()["gate"], "tau": 0, "alpha": 1, "lambda": 0})
    assert (cfg.tau, cfg.alpha, cfg.lam) == (0.0, 1.0, 0.0) and isinstance(cfg.tau, float)
