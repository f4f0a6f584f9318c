"""VLT tracker distractor_weight (DaSiamRPN's distractor-aware scoring): a look-alike's peak is found
and its kernel cut from the right window of the search features; on the next frame cls drops most where
the look-alike is, so its share of the target's cls falls; the network's own cls is kept for the next search."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from langtrack_ros.config import ConfigError
from langtrack_ros.vlt.model import xcorr_depthwise
from langtrack_ros.vlt.tracker import VLTTracker, load_vlt_settings

# a 24-px box gives a 96-px search region (factor 4) on a 96-px patch: image px = patch px;
# features 12 x 12 (stride 8), kernel 4 x 4 -> a 9 x 9 score map whose centre cell is the crop centre
CFG = SimpleNamespace(score_size=9, search_size=96, stride=8, template_size=48, template_crop=4, language=False)
SIGMA = 60.0  # feature distance at which the stand-in's cls falls to exp(-1/2)


class PatchMatcher:
    """A stand-in whose features are 8 x 8 mean grey levels and whose cls is a Gaussian of the
    distance between a kernel and each window: the same kernel logic as the network, readable."""

    cfg = CFG

    def eval(self):
        return self

    def template_kernels(self, template, *args):
        f = self.search_features(template, None)[0]
        lo = (f.shape[-1] - CFG.template_crop) // 2
        return [f[:, :, lo:lo + CFG.template_crop, lo:lo + CFG.template_crop]], None

    def search_features(self, search, vec, arch=None):
        return [F.avg_pool2d(search.mean(1, keepdim=True), CFG.stride) * 255.0]

    def heads(self, features, kernels):
        f, k = features[0], kernels[0]
        ones = torch.ones_like(k)
        sq = xcorr_depthwise(f * f, ones) - 2 * xcorr_depthwise(f, k) + (k * k).sum((2, 3), keepdim=True)
        prob = (0.95 * torch.exp(-sq.clamp(min=0) / (2 * SIGMA**2 * CFG.template_crop**2))).clamp(1e-4, 1 - 1e-4)
        logit = torch.log(prob / (1 - prob))
        g = logit.shape[-1]
        return {"cls": torch.cat([torch.zeros_like(logit), logit], 1), "cen": torch.full_like(logit, 4.0),
                "ltrb": torch.full((f.shape[0], 4, g, g), 12.0)}

    def track(self, search, kernels, vec, arch=None):
        return self.heads(self.search_features(search, vec), kernels)


def scene(level_b: int = 215) -> np.ndarray:
    """The target (grey 255) at 200..224 and a look-alike (grey ``level_b``) 4 cells (32 px) right."""
    img = np.zeros((400, 400, 3), np.uint8)
    img[200:224, 200:224] = 255
    img[200:224, 232:256] = level_b
    return img


def tracker(weight: float) -> VLTTracker:
    cfg = load_vlt_settings(scale_mode="head", lr=0.0, distractor_weight=weight, distractor_thr=0.5,
                            distractor_max=3, distractor_dist=2.0)
    t = VLTTracker(PatchMatcher(), None, cfg)
    t.set_query("", np.array([200.0, 200.0, 24.0, 24.0]))
    return t


def cls_map(t: VLTTracker, img: np.ndarray, key: str = "cls") -> np.ndarray:
    """The stand-in's cls of one crop around the tracker's box (score-map cells)."""
    t._features = []
    crops = torch.from_numpy(np.ascontiguousarray(img[164:260, 164:260].transpose(2, 0, 1)[None] / 255.0)).float()
    return t._forward(crops)[key][0].numpy()


def test_the_look_alike_is_found_with_its_own_kernel():
    t = tracker(1.0)
    t.step(scene())
    t.step(scene())
    kernels, weights = t.distractors
    assert len(weights) == 1 and 0.5 < float(weights[0]) < 0.95  # one look-alike, weaker than the target
    assert float(kernels[0].mean()) == pytest.approx(215 * 9 / 16, rel=0.1)  # its grey, 3 x 3 of the 4 x 4 cells
    assert t.box[0] == pytest.approx(200, abs=2)  # the box stays on the target


def test_next_frame_cls_drops_on_the_look_alike_only():
    on, off = tracker(1.0), tracker(0.0)
    for t in (on, off):
        t.step(scene())
        t.step(scene())
    cls_on, cls_off = cls_map(on, scene()), cls_map(off, scene())
    raw_on = cls_map(on, scene(), "cls_raw")
    np.testing.assert_allclose(raw_on, cls_off, atol=1e-6)  # the network's own cls is untouched
    target, look_alike = (4, 4), (4, 8)  # score cells of the two windows
    # the look-alike matches its own kernel better than the target does: its share of the target's cls
    # falls from near 1 to near 0, and the Hann window's pull to the last box decides the rest
    assert cls_off[look_alike] > 0.8 * cls_off[target]
    assert cls_on[look_alike] < 0.1 * cls_on[target] and cls_on[target] > 0.05


def test_no_look_alike_no_distractors():
    t = tracker(1.0)
    t.step(scene(0))
    t.step(scene(0))
    assert t.distractors is None


@pytest.mark.parametrize("bad", [{"distractor_weight": -0.1}, {"distractor_weight": 3.0},
                                 {"distractor_thr": 0.0}, {"distractor_max": 0}, {"distractor_dist": -1.0}])
def test_bad_distractor_settings_are_refused(bad):
    with pytest.raises(ConfigError, match="distractor"):
        load_vlt_settings(**bad)
