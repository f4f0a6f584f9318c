"""Issue 14, item 3: a global search that finds nothing sure in the whole frame runs the detector
again on tiles, so a target too small for the 300 px view of the whole frame is still found."""
import dataclasses

import numpy as np
import pytest

from langtrack_ros.builder import build_priors
from langtrack_ros.config import ConfigError
from langtrack_ros.paths import config_file, models_dir
from langtrack_ros.inference.prior_models import load_priors
from langtrack_ros.tracking.geometry import PatchTransform
from langtrack_ros.tracking.priors.fusion import PriorFusion, _tile_starts
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.tracking.result import SearchMode
from test_priors import FakeDetector


class NearSighted(FakeDetector):
    """The fake detector, blind to a green square under ``min_side`` pixels of its 300 px input."""

    def __init__(self, min_side=8):
        super().__init__("Person")
        self.min_side = min_side

    def __call__(self, patch):
        green = (patch[..., 1] > 200) & (patch[..., 0] < 60)
        if green.any() and np.ptp(np.nonzero(green)[1]) + 1 < self.min_side:
            patch = np.zeros_like(patch)
        return super().__call__(patch)


def _fusion(tiles, detector):
    cfg = dataclasses.replace(build_priors("all").cfg, tiles=tiles)
    fusion = PriorFusion(cfg, Lexicon.load(config_file("priors")), detector, None)
    fusion.set_query("the person walking")
    return fusion


def _wide_frame(side):
    image = np.zeros((360, 640, 3), np.uint8)
    image[200:200 + side, 500:500 + side] = (0, 255, 0)
    return image


T = PatchTransform(0.0, -140.0, 5.0, 128)  # the 640 x 360 frame letterboxed into a 128 patch


def test_tiles_cover_the_longer_axis_and_centre_on_the_shorter():
    np.testing.assert_allclose(_tile_starts(640, 400, 640, 2), [0, 240])
    np.testing.assert_allclose(_tile_starts(360, 400, 640, 2), [-20])
    np.testing.assert_allclose(_tile_starts(360, 1.25 * 640 / 3, 640, 3), [0, 360 - 1.25 * 640 / 3])


def test_a_target_too_small_for_the_whole_frame_is_found_on_a_tile():
    detector = NearSighted()
    boxes, p = _fusion(0, detector)._detections(_wide_frame(12), T, SearchMode.GLOBAL)
    assert len(boxes) == 0 and detector.calls == 1  # 12 px -> 5.6 px in the whole frame: not seen
    detector = NearSighted()
    boxes, p = _fusion(2, detector)._detections(_wide_frame(12), T, SearchMode.GLOBAL)
    assert detector.calls == 1 + 2 and len(boxes) == 1  # 2 x 1 tiles of 400 px: 9 px, seen
    np.testing.assert_allclose(T.box_to_image(boxes[0]), [500, 200, 12, 12], atol=1.5)


def test_tiles_run_neither_when_the_whole_frame_is_sure_nor_inside_the_roi():
    detector = NearSighted()
    fusion = _fusion(2, detector)
    assert len(fusion._detections(_wide_frame(40), T, SearchMode.GLOBAL)[0]) == 1 and detector.calls == 1
    fusion._detections(_wide_frame(12), PatchTransform(440.0, 150.0, 1.0, 128), SearchMode.ROI)
    assert detector.calls == 2


@pytest.mark.parametrize("bad", ["tiles: 1", "tiles: -2", "tiles_overlap: 1.0", "tiles_below: 2"])
def test_bad_tile_settings_name_the_key(tmp_path, bad):
    key = bad.split(":")[0]
    text = config_file("priors").read_text()
    line = next(x for x in text.splitlines() if x.strip().startswith(key + ":"))
    (tmp_path / "priors.yaml").write_text(text.replace(line, "  " + bad))
    with pytest.raises(ConfigError, match=key.split("_")[0]):
        load_priors(tmp_path / "priors.yaml", models_dir() / "priors")
