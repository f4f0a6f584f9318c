"""VLT tracker redetect_below: a target that leaves the local search region (a jump the Hann-windowed
crop cannot see) is found again by the wider search once the peak says it is lost; off, the box
stays where the target was. The wide search keeps the pixel scale (a larger input, a larger map)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from langtrack_ros.config import ConfigError
from langtrack_ros.tracking.result import SearchMode
from langtrack_ros.vlt.tracker import VLTTracker, load_vlt_settings

CFG = SimpleNamespace(score_size=9, search_size=72, stride=8, template_size=36, language=False)


class SpotMatcher:
    """A fully convolutional stand-in: a map of side/8 cells; cls is high on the cell over the bright
    square and near 0 where the crop shows none of it; ltrb answers the square's true extent."""

    cfg = CFG

    def __init__(self):
        self.crops = []  # input side of every crop the tracker sent

    def eval(self):
        return self

    def template_kernels(self, *args):
        return [], None

    def track(self, search, kernels, vec, arch):
        outs = [self.track_one(crop.mean(0).numpy()) for crop in search]
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}

    def track_one(self, img):
        n = img.shape[0]
        self.crops.append(n)
        g = n // CFG.stride
        pts = (n - 1) / 2.0 + (np.arange(g) - (g - 1) / 2.0) * CFG.stride
        mass = img.sum()
        ys, xs = np.mgrid[:n, :n]
        bx, by = ((img * xs).sum() / mass, (img * ys).sum() / mass) if mass else (n / 2, n / 2)
        dx, dy = np.broadcast_arrays(bx - pts[None, :], by - pts[:, None])
        prob = np.clip(0.95 * np.exp(-(dx**2 + dy**2) / (2 * CFG.stride**2)) * bool(mass), 1e-4, 1 - 1e-4)
        half = np.sqrt(mass) / 2 if mass else 10.0
        t = lambda a: torch.tensor(np.asarray(a, np.float32))[None]  # noqa: E731
        return {"cls": t(np.stack([np.zeros((g, g)), np.log(prob / (1 - prob))])),
                "cen": t(np.full((1, g, g), 4.0)), "ltrb": t(np.stack([half - dx, half - dy, half + dx, half + dy]))}


def frame(x: int, y: int, side: int = 20) -> np.ndarray:
    img = np.zeros((400, 400, 3), np.uint8)
    img[y:y + side, x:x + side] = 255
    return img


def run_jump(redetect_below: float) -> tuple[np.ndarray, list]:
    matcher = SpotMatcher()
    tracker = VLTTracker(matcher, None, load_vlt_settings(scale_mode="head", redetect_below=redetect_below,
                                                          redetect_factor=2.0, lr=0.0))
    tracker.set_query("", np.array([100.0, 100.0, 20.0, 20.0]))
    tracker.step(frame(100, 100))
    results = [tracker.step(frame(170, 100)) for _ in range(3)]  # jumped 70 px: outside the 80-px crop
    return results[-1].box, [(r.mode, r.found) for r in results], matcher.crops


def test_wide_search_finds_a_target_that_jumped_out_of_the_crop():
    box, modes, crops = run_jump(0.3)
    assert abs(box[0] - 170) < 4 and abs(box[1] - 100) < 4 and abs(box[2] - 20) < 1e-6
    assert modes[0] == (SearchMode.ROI, False) and modes[1][0] == SearchMode.GLOBAL
    assert crops[0] == 72 and 72 * 1.8 <= crops[1] <= 72 * 2  # about twice the side, whole cell pairs


def test_without_redetection_the_box_stays_behind():
    box, modes, crops = run_jump(0.0)
    assert abs(box[0] - 170) > 40 and set(crops) == {72}
    assert all(m == SearchMode.ROI for m, _ in modes)


def test_redetect_settings_are_checked():
    with pytest.raises(ConfigError, match="redetect"):
        load_vlt_settings(redetect_below=1.5)
    with pytest.raises(ConfigError, match="redetect"):
        load_vlt_settings(redetect_factor=0.5)


def test_a_lost_target_that_stays_gone_leaves_the_box_where_it_was():
    tracker = VLTTracker(SpotMatcher(), None, load_vlt_settings(scale_mode="head", redetect_below=0.3, lr=0.0))
    tracker.set_query("", np.array([100.0, 100.0, 20.0, 20.0]))
    tracker.step(frame(100, 100))
    blank = np.zeros((400, 400, 3), np.uint8)
    results = [tracker.step(blank) for _ in range(3)]
    assert all(not r.found for r in results)
    assert np.allclose(results[-1].box, results[0].box)  # no jump to an unsure peak in the wide region
