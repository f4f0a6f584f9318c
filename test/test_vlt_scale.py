"""VLT tracker scale_mode: the SiamFC-style pyramid follows a target that grows or shrinks where a box
head with only a size prior (what our trained head learned, docs/RESULTS_VLT.md) keeps the first size."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from langtrack_ros.config import ConfigError
from langtrack_ros.vlt.tracker import VLTTracker, load_vlt_settings, pick_scale

CFG = SimpleNamespace(score_size=9, search_size=72, stride=8, template_size=36, language=False)


class SizePriorMatcher:
    """Stands in for the network with the response a Siamese matcher gives: the cls peak sits on the
    bright square and is highest when the square fills the crop as the template did (side S / 4);
    the ltrb head puts the centre right but always answers the template size (a pure size prior)."""

    cfg = CFG

    def eval(self):
        return self

    def template_kernels(self, *args):
        return [], None

    def track(self, search, kernels, vec, arch):
        outs = [self.track_one(crop.mean(0).numpy()) for crop in search]  # the pyramid comes as one batch
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}

    def track_one(self, img):
        a_ref = CFG.search_size / 4.0
        side = np.sqrt(img.sum())
        ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
        bx, by = (img * xs).sum() / img.sum(), (img * ys).sum() / img.sum()
        g = CFG.score_size
        pts = (CFG.search_size - 1) / 2.0 + (np.arange(g) - (g - 1) / 2.0) * CFG.stride
        dx, dy = np.broadcast_arrays(bx - pts[None, :], by - pts[:, None])
        height = 0.9 * np.exp(-(((side / a_ref) - 1.0) / 0.1) ** 2)
        prob = np.clip(height * np.exp(-(dx**2 + dy**2) / (2 * CFG.stride**2)), 1e-4, 1 - 1e-4)
        cls = np.stack([np.zeros((g, g)), np.log(prob / (1 - prob))])[None]
        ltrb = np.stack([a_ref / 2 - dx, a_ref / 2 - dy, a_ref / 2 + dx, a_ref / 2 + dy])[None]
        t = lambda a: torch.tensor(np.asarray(a, np.float32))  # noqa: E731
        return {"cls": t(cls), "cen": t(np.full((1, 1, g, g), 4.0)), "ltrb": t(ltrb)}


def run_square(scale_mode: str, growth: float, frames: int = 15) -> float:
    """Final tracked side / true side for a square that changes size by ``growth`` per frame."""
    tracker = VLTTracker(SizePriorMatcher(), None, load_vlt_settings(scale_mode=scale_mode, lr=0.33,
                                                                    scale_step=1.04, scale_penalty=0.97,
                                                                    scale_lr=1.0))
    side = 30.0
    for k in range(frames):
        img = np.zeros((240, 240, 3), np.uint8)
        lo, hi = int(round(120 - side / 2)), int(round(120 + side / 2))
        img[lo:hi, lo:hi] = 255
        if k == 0:
            tracker.set_query("", np.array([lo, lo, hi - lo, hi - lo], float))
        box = tracker.step(img).box
        true = hi - lo
        side *= growth
    assert abs(box[0] + box[2] / 2 - 120) < 3 and abs(box[1] + box[3] / 2 - 120) < 3  # centre held
    return float(np.sqrt(box[2] * box[3]) / true)


@pytest.mark.parametrize("growth", [1.03, 1 / 1.03])
def test_pyramid_follows_the_size_that_a_size_prior_head_misses(growth):
    assert abs(run_square("pyramid", growth) - 1.0) < 0.1
    assert abs(run_square("head", growth) - 1.0) > 0.25


def test_pick_scale_prefers_no_change_on_a_near_tie_and_settings_are_checked():
    scales = (1 / 1.04, 1.0, 1.04)
    assert pick_scale([0.5, 0.5, 0.51], scales, 0.97) == 1
    assert pick_scale([0.5, 0.5, 0.6], scales, 0.97) == 2
    assert pick_scale([0.7, 0.5, 0.6], scales, 0.97) == 0
    with pytest.raises(ConfigError, match="scale_mode"):
        load_vlt_settings(scale_mode="both")
    with pytest.raises(ConfigError, match="scale_penalty"):
        load_vlt_settings(scale_penalty=0.0)
