"""MVLMTracker on a fake backend (answers known by construction), image input, config, torch backend."""
import numpy as np
import pytest

from packaged import mvlm_config, reference_gate, search_config
from fake_mvlm import PATCH, PEAK, FakeBackend, FakeEncoder, scene
from langtrack_ros.config import ConfigError
from langtrack_ros.tracking.images import ImageError, to_rgb_uint8
from langtrack_ros.tracking.result import Event, SearchMode
from langtrack_ros.tracking.text_encoder import QueryError
from langtrack_ros.tracking.tracker import MVLMTracker, hann_window, load_settings

GATE = reference_gate()


def make_tracker(backend=None, **search):
    backend = backend or FakeBackend()
    return MVLMTracker(backend, FakeEncoder(), GATE, search_config(**search)), backend


def moving_target(n=6, step=6):
    return [scene(squares=[("red", 60 + k * step, 70 + k * step // 2, 32)]) for k in range(n)]


def test_first_frame_global_then_roi_and_the_box_follows_the_target():
    tracker, _ = make_tracker()
    tracker.set_query("red ball")
    results = [tracker.step(frame) for frame in moving_target()]
    assert [r.mode for r in results] == [SearchMode.GLOBAL] + [SearchMode.ROI] * 5
    assert all(r.found for r in results) and not any(r.events for r in results)
    for k, r in enumerate(results):
        np.testing.assert_allclose(r.box, [60 + 6 * k, 70 + 3 * k, 32, 32], atol=2.5)


def test_nan_output_is_reported_not_found_and_tracking_goes_on(caplog):
    tracker, backend = make_tracker()
    tracker.set_query("red ball")
    frames = moving_target(4)
    good = tracker.step(frames[0])
    backend.nan_next = True
    bad = tracker.step(frames[1])
    assert not bad.found and Event.LOST in bad.events
    np.testing.assert_array_equal(bad.box, good.box)
    assert "NaN" in caplog.text
    relocalized = tracker.step(frames[2])
    assert relocalized.mode is SearchMode.GLOBAL and relocalized.found
    assert set(relocalized.events) == {Event.RELOCALIZED, Event.RECOVERED}
    assert tracker.step(frames[3]).mode is SearchMode.ROI


def test_nan_on_the_first_frame_gives_a_zero_box():
    tracker, backend = make_tracker()
    tracker.set_query("red ball")
    backend.nan_next = True
    result = tracker.step(moving_target(1)[0])
    assert not result.found
    np.testing.assert_array_equal(result.box, np.zeros(4))


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_rejected_and_the_previous_query_kept(query):
    tracker, _ = make_tracker()
    tracker.set_query("red ball")
    frames = moving_target(3)
    tracker.step(frames[0])
    with pytest.raises(QueryError):
        tracker.set_query(query)
    assert tracker.query == "red ball"
    result = tracker.step(frames[1])
    assert result.mode is SearchMode.ROI and result.found and not result.events


def test_step_before_any_query_says_what_is_missing():
    tracker, _ = make_tracker()
    with pytest.raises(RuntimeError, match="set_query"):
        tracker.step(scene())


def test_letterbox_padding_is_never_the_answer():
    tracker, _ = make_tracker(FakeBackend(peak_at_padding=True))  # top-left cell lies in the padding
    tracker.set_query("red ball")
    result = tracker.step(scene(h=200, w=320, squares=[("red", 150, 90, 30)]))
    np.testing.assert_allclose(result.box, [150, 90, 30, 30], atol=2.5)


class FixedMaps:
    """Backend with a corner peak (l = 0.9) and a centre peak (l = 0.8), whatever the patch."""

    name, search_size, template_size = "fixed", 128, None

    def run(self, search, text_tokens, text_mask):
        score = np.full((8, 8), 0.05, np.float32)
        score[0, 7], score[4, 4] = 0.9, 0.8
        return {"score_map": score, "offset": np.full((2, 8, 8), 0.5, np.float32),
                "size": np.full((2, 8, 8), 0.1, np.float32), "corr_map": np.zeros((8, 8), np.float32)}


def test_hann_window_in_roi_mode_only():
    tracker, _ = make_tracker(FixedMaps(), mode="roi", roi_window=1.0)
    tracker.set_query("red ball")
    image = scene(h=640, w=640)
    first = tracker.step(image)  # global, no window: the higher corner peak wins
    assert first.mode is SearchMode.GLOBAL and first.box[0] > 500 and first.box[1] < 80
    second = tracker.step(image)  # ROI with a full window: the centre peak wins
    assert second.mode is SearchMode.ROI and second.score == pytest.approx(0.8)
    assert hann_window(8).reshape(8, 8)[0, 0] > 0  # border cells stay selectable


def test_global_mode_searches_globally_every_frame():
    tracker, _ = make_tracker(mode="global")
    tracker.set_query("red ball")
    results = [tracker.step(f) for f in moving_target(3)]
    assert tracker.name == "mvlm-global"
    assert all(r.mode is SearchMode.GLOBAL and r.found and not r.events for r in results)


def test_roi_mode_never_relocalizes():
    tracker, _ = make_tracker(mode="roi")
    tracker.set_query("red ball")
    tracker.step(scene(squares=[("red", 100, 80, 30)]))
    ambiguous = tracker.step(scene(squares=[("red", 100, 80, 30), ("red", 60, 60, 20)]))
    assert ambiguous.found and ambiguous.mode is SearchMode.ROI
    assert tracker.next_mode is SearchMode.ROI


class ShadedPeaks(FakeBackend):
    """l(b) and the correlation of a square scale with its red level: a dim red square is a weaker
    match than a bright one."""

    def run(self, search, text_tokens, text_mask, template=None):
        self._patch = search[0].transpose(1, 2, 0)
        return super().run(search, text_tokens, text_mask, template)

    def _maps(self, squares):
        out = super()._maps(squares)
        g = out["score_map"].shape[0]
        for x, y, w, h in squares:
            cx, cy = x + w / 2, y + h / 2
            i, j = min(int(cy // PATCH), g - 1), min(int(cx // PATCH), g - 1)
            shade = self._patch[int(cy), int(cx), 0]
            out["score_map"][i, j] = PEAK * shade
            centres = (np.arange(g) + 0.5) * PATCH
            rows, cols = (centres >= y) & (centres <= y + h), (centres >= x) & (centres <= x + w)
            out["corr_map"][np.ix_(rows, cols)] *= shade
        return out


def decoy_then_target(n):
    """A dim red square alone, then a bright red one appears far outside its ROI."""
    frames = []
    for k in range(n):
        image = scene()
        image[30:62, 30:62] = (200, 0, 0)
        if k >= 2:
            image[160:192, 240:272] = (255, 0, 0)
        frames.append(image)
    return frames


def test_recheck_looks_globally_every_n_roi_frames_and_keeps_a_lone_target():
    tracker, backend = make_tracker(recheck_every=2)
    tracker.set_query("red ball")
    results = [tracker.step(f) for f in moving_target(7)]
    assert [r.mode for r in results] == [SearchMode.GLOBAL] + [SearchMode.ROI] * 6
    assert all(r.found and not r.events for r in results)
    assert len(backend.patches) == 7 + 3  # one global look after the 2nd, 4th and 6th ROI frame
    for k, r in enumerate(results):
        np.testing.assert_allclose(r.box, [60 + 6 * k, 70 + 3 * k, 32, 32], atol=2.5)  # the ROI answers


@pytest.mark.parametrize("every, margin, confirm, switched", [
    (0, 0.1, 1, False), (2, 0.1, 1, True), (2, 0.5, 1, False), (2, 0.1, 2, True), (2, 0.1, 9, False)])
def test_recheck_leaves_the_followed_target_only_for_a_clearly_better_one(every, margin, confirm, switched):
    tracker, _ = make_tracker(ShadedPeaks(), recheck_every=every, recheck_margin=margin, recheck_confirm=confirm)
    tracker.set_query("red ball")
    results = [tracker.step(f) for f in decoy_then_target(6)]
    np.testing.assert_allclose(results[1].box, [30, 30, 32, 32], atol=3)  # the dim one, alone, is followed
    assert all(r.found for r in results)
    last = results[-1].box
    expected = [240, 160, 32, 32] if switched else [30, 30, 32, 32]
    np.testing.assert_allclose(last, expected, atol=4)


def test_recheck_settings_are_checked():
    with pytest.raises(ConfigError, match="recheck_every"):
        search_config(recheck_every=-1)
    with pytest.raises(ConfigError, match="recheck_margin"):
        search_config(recheck_margin="much")
    with pytest.raises(ConfigError, match="recheck_confirm"):
        search_config(recheck_confirm=0)


def test_box_language_mode_crops_a_template_once():
    tracker, backend = make_tracker(FakeBackend(template_size=64))
    tracker = MVLMTracker(backend, FakeEncoder(), GATE, search_config(), box_language=True)
    assert tracker.needs_box
    with pytest.raises(ValueError, match="init_box"):
        tracker.set_query("red ball")
    frames = moving_target(3)
    tracker.set_query("red ball", init_box=[60, 70, 32, 32])
    first = tracker.step(frames[0])
    np.testing.assert_allclose(first.box, [60, 70, 32, 32])
    second = tracker.step(frames[1])
    assert second.mode is SearchMode.ROI and second.found
    template = backend.templates[-1]
    assert template.shape == (1, 3, 64, 64) and template[0, 0].max() > 0.9  # the red target


def test_box_language_needs_a_model_with_template_tokens():
    with pytest.raises(ValueError, match="template"):
        MVLMTracker(FakeBackend(), FakeEncoder(), GATE, search_config(), box_language=True)


# --- images ---------------------------------------------------------------------------------------

def test_grayscale_16bit_rgba_and_float_images_are_accepted():
    rgb = scene(squares=[("red", 100, 80, 30)])
    gray = rgb[..., 0]
    assert to_rgb_uint8(gray).shape == (240, 320, 3)
    np.testing.assert_array_equal(to_rgb_uint8(rgb.astype(np.uint16) * 257), rgb)
    np.testing.assert_array_equal(to_rgb_uint8(np.dstack([rgb, np.full(gray.shape, 7, np.uint8)])), rgb)
    np.testing.assert_array_equal(to_rgb_uint8(rgb / 255.0), rgb)
    tracker, _ = make_tracker()
    tracker.set_query("red ball")
    for image in (gray[..., None], rgb.astype(np.uint16) * 257, np.dstack([rgb, rgb[..., :1]])):
        assert tracker.step(image).box.shape == (4,)
    tracker.set_query("red ball")
    assert tracker.step(np.dstack([rgb, rgb[..., :1]])).found


@pytest.mark.parametrize("image, message", [
    (np.zeros((0, 10, 3), np.uint8), "zero size"),
    (np.zeros((4, 0), np.uint8), "zero size"),
    (np.zeros((2, 2, 2, 3), np.uint8), "shape"),
    (np.zeros((4, 4, 5), np.uint8), "channels"),
    (np.full((4, 4, 3), np.nan), "NaN"),
    (np.full((4, 4, 3), 300, np.int32), "outside 0..255"),
    ([[1, 2], [3, 4]], "numpy array"),
])
def test_unusable_images_are_rejected_with_a_reason(image, message):
    with pytest.raises(ImageError, match=message):
        to_rgb_uint8(image)
    tracker, _ = make_tracker()
    tracker.set_query("red ball")
    with pytest.raises(ImageError):
        tracker.step(image)


# --- config ---------------------------------------------------------------------------------------

def test_tracker_yaml_loads_with_the_paper_names():
    from langtrack_ros.config import load_section
    from langtrack_ros.paths import config_file

    raw = load_section(config_file("tracker"), "langtrack_tracker")
    settings = load_settings()
    assert settings.gate.lam == pytest.approx(raw["gate"]["lambda"]) and settings.gate.tau == raw["gate"]["tau"]
    assert settings.search.roi_factor == pytest.approx(raw["search"]["roi_factor"])
    assert settings.search.mode == "gated"


def test_bad_search_mode_and_unknown_keys_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="mode"):
        search_config(mode="sometimes")
    bad = tmp_path / "t.yaml"
    bad.write_text("langtrack_tracker:\n  ros__parameters:\n    gate: {tua: 0.1}\n")
    with pytest.raises(ConfigError, match="tua"):
        load_settings(bad)


# --- torch backend and the factory, on a tiny untrained real network ------------------------------

@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from langtrack_ros.training.checkpoint import save_model
    from langtrack_ros.tracking.network import MVLM

    torch.manual_seed(0)
    cfg = mvlm_config(search_size=64, width=32, depth=1, heads=2, tokenizer="patch", head_channels=8)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_model(MVLM(cfg, pretrained_tokenizer=False), cfg, path)


def test_torch_backend_returns_probabilities_and_maps_without_batch(tiny_model_file):
    from langtrack_ros.inference.torch_backend import TorchBackend
    from langtrack_ros.model_files import load_model

    backend = TorchBackend(load_model(tiny_model_file))
    out = backend.run(np.random.default_rng(0).random((1, 3, 64, 64), np.float32),
                      np.zeros((1, 5, 384), np.float32), np.ones((1, 5), bool))
    assert backend.search_size == 64 and backend.template_size is None
    assert out["score_map"].shape == (4, 4) and out["offset"].shape == (2, 4, 4)
    assert out["size"].shape == (2, 4, 4) and out["corr_map"].shape == (4, 4)
    assert 0.0 < out["score_map"].min() and out["score_map"].max() < 1.0


def test_load_tracker_runs_end_to_end_with_overrides(tiny_model_file):
    from langtrack_ros.builder import load_tracker

    tracker = load_tracker(tiny_model_file, backend="torch", search="global", **{"lambda": 0.7})
    assert tracker.name == "mvlm-global" and tracker.gate_cfg.lam == pytest.approx(0.7)
    tracker.set_query("the red square on the left")
    result = tracker.step(scene(squares=[("red", 100, 80, 30)]))
    assert result.mode is SearchMode.GLOBAL and np.isfinite(result.box).all() and -1 <= result.kappa <= 1
    with pytest.raises(ConfigError, match="unknown tracker override"):
        load_tracker(tiny_model_file, backend=FakeBackend(), taw=0.2)
