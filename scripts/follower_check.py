"""Experiment: would a real-image box tracker (NanoTrack v2) as MVLM's follower help on real clips?

Not part of the product; its numbers are in docs/PRIORS.md ("A real-image box tracker as the
follower"). NanoTrack's ONNX files come from the GitHub snapshot HonglinChu/SiamTrackers
(``NanoTrack/models/nanotrackv2/``, Apache-2.0) and are not committed. The Siamese tracking step
(crops with context 0.5, cosine window 0.49, scale/aspect penalty 0.15, size rate 0.385) follows
NanoTrack's published configv2.yaml.

    python scripts/follower_check.py --nanotrack DIR --root data/real_val \\
        [--synth-val DIR --synth-val-hard DIR]      # synth folders from `langtrack synth --split val ...`

Each tracker is also a factory for ``langtrack eval --tracker scripts/follower_check.py:NAME``
(with NANOTRACK_DIR set): ``nano_gt`` (NanoTrack given the true first box), ``handover``
(NanoTrack follows MVLM's first confident box; MVLM's global search takes over after 3 low
scores), ``refine`` (MVLM decides every frame; NanoTrack's box replaces MVLM's while they overlap),
``candidate`` (NanoTrack's box is one more gate candidate with the fused scores of the candidates
it overlaps).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from langtrack_ros.tracking.box_ops import iou_matrix
from langtrack_ros.tracking.priors.fusion import Candidates
from langtrack_ros.tracking.result import SearchMode, TrackResult

EXEMPLAR, INSTANCE, STRIDE, GRID = 127, 255, 16, 16
WINDOW_INFLUENCE, PENALTY_K, SIZE_RATE, CONTEXT = 0.49, 0.15, 0.385, 0.5


def _session(path: Path, dynamic: bool = False):
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    if dynamic:  # the published backbone is fixed to 255x255; the template needs 127x127
        for value in (*model.graph.input, *model.graph.output):
            dims = value.type.tensor_type.shape.dim
            dims[2].dim_param, dims[3].dim_param = "h", "w"
        del model.graph.value_info[:]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _crop(bgr: np.ndarray, centre, out: int, side: float, fill) -> np.ndarray:
    """Square ``side`` around ``centre`` resized to ``out``, padded with the image mean."""
    s = out / side
    warp = np.array([[s, 0, out / 2 - s * centre[0]], [0, s, out / 2 - s * centre[1]]], np.float32)
    return cv2.warpAffine(bgr, warp, (out, out), borderMode=cv2.BORDER_CONSTANT,
                          borderValue=tuple(float(v) for v in fill))


class NanoTrack:
    """Siamese box follower: template from the first box, then one search crop per frame."""

    def __init__(self, folder: Path):
        self.backbone = _session(folder / "nanotrack_backbone_sim.onnx", dynamic=True)
        self.head = _session(folder / "nanotrack_head_sim.onnx")
        hann = np.hanning(GRID)
        self.window = np.outer(hann, hann).ravel()
        offsets = STRIDE * (np.arange(GRID) - GRID // 2)
        self.px, self.py = (a.ravel().astype(np.float64) for a in np.meshgrid(offsets, offsets))

    def _features(self, patch: np.ndarray) -> np.ndarray:
        return self.backbone.run(None, {"input": patch.transpose(2, 0, 1)[None].astype(np.float32)})[0]

    def _context_side(self) -> float:
        pad = CONTEXT * self.size.sum()
        return float(np.sqrt((self.size[0] + pad) * (self.size[1] + pad)))

    def init(self, bgr: np.ndarray, box) -> None:
        x, y, w, h = box
        self.centre, self.size = np.array([x + w / 2, y + h / 2]), np.array([w, h], float)
        self.fill = bgr.reshape(-1, 3).mean(0)
        self.template = self._features(_crop(bgr, self.centre, EXEMPLAR, self._context_side(), self.fill))

    def track(self, bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """(box [x, y, w, h], score of the chosen cell)."""
        side = self._context_side()
        scale = EXEMPLAR / side
        search = self._features(_crop(bgr, self.centre, INSTANCE, round(side * INSTANCE / EXEMPLAR), self.fill))
        cls, loc = self.head.run(None, {"input1": self.template, "input2": search})
        e = np.exp(cls[0] - cls[0].max(0, keepdims=True))
        score = (e[1] / e.sum(0)).ravel()
        left, top, right, bottom = loc[0].reshape(4, -1)
        cx, cy = self.px + (right - left) / 2, self.py + (bottom - top) / 2
        bw, bh = left + right, top + bottom
        penalty = np.exp(-(self._change(bw, bh, scale) - 1) * PENALTY_K)
        chosen = int(np.argmax(penalty * score * (1 - WINDOW_INFLUENCE) + self.window * WINDOW_INFLUENCE))
        rate = penalty[chosen] * score[chosen] * SIZE_RATE
        height, width = bgr.shape[:2]
        self.centre = np.clip(self.centre + [cx[chosen] / scale, cy[chosen] / scale], 0, [width, height])
        self.size = np.clip(self.size * (1 - rate) + np.array([bw[chosen], bh[chosen]]) / scale * rate,
                            10, [width, height])
        return self.box(), float(score[chosen])

    def _change(self, bw, bh, scale) -> np.ndarray:
        """Scale change times aspect change of each cell's box against the current size (>= 1)."""
        def padded(w, h):
            pad = (w + h) / 2
            return np.sqrt((w + pad) * (h + pad))
        w, h = self.size * scale
        s = padded(bw, bh) / padded(w, h)
        r = (w / h) / (bw / np.maximum(bh, 1e-6))
        return np.maximum(s, 1 / s) * np.maximum(r, 1 / r)

    def box(self) -> np.ndarray:
        return np.array([*(self.centre - self.size / 2), *self.size])


def _iou(a, b) -> float:
    return float(iou_matrix(np.asarray(a)[None], np.asarray(b)[None])[0, 0])


def _folder() -> Path:
    folder = os.environ.get("NANOTRACK_DIR", "")
    if not folder:
        raise ValueError("set NANOTRACK_DIR to the folder holding the NanoTrack v2 ONNX files")
    return Path(folder)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.float32)


class NanoFromTruth:
    """NanoTrack alone, given the true first box (a box-initialised reference like CSRT)."""

    name, needs_box = "nano_gt", True

    def __init__(self):
        self.nano, self.pending = NanoTrack(_folder()), None

    def set_query(self, text, init_box=None):
        self.pending = np.asarray(init_box, float)

    def step(self, rgb):
        if self.pending is not None:
            box, self.pending = self.pending, None
            self.nano.init(_bgr(rgb), box)
            return TrackResult(box=box.copy(), kappa=1.0, mode=SearchMode.ROI, found=True)
        box, score = self.nano.track(_bgr(rgb))
        return TrackResult(box=box, kappa=score, mode=SearchMode.ROI, found=True)


class _WithMVLM:
    needs_box = False

    def __init__(self):
        from langtrack_ros.builder import load_tracker

        self.mvlm, self.nano, self.following = load_tracker(backend="onnxruntime"), NanoTrack(_folder()), False

    def set_query(self, text, init_box=None):
        self.mvlm.set_query(text)
        self.following = False


class Handover(_WithMVLM):
    name = "handover"

    def __init__(self, low: float = 0.5, patience: int = 3):
        super().__init__()
        self.low, self.patience, self.bad = low, patience, 0

    def step(self, rgb):
        if self.following:
            box, score = self.nano.track(_bgr(rgb))
            self.bad = self.bad + 1 if score < self.low else 0
            if self.bad < self.patience:
                return TrackResult(box=box, kappa=score, mode=SearchMode.ROI, found=True)
            self.following, self.mvlm._force_global = False, True
        result = self.mvlm.step(rgb)
        if result.found:
            self.nano.init(_bgr(rgb), result.box)
            self.following, self.bad = True, 0
        return result


class Refine(_WithMVLM):
    name = "refine"

    def step(self, rgb):
        result = self.mvlm.step(rgb)
        if not self.following:
            if result.found:
                self.nano.init(_bgr(rgb), result.box)
                self.following = True
            return result
        box, score = self.nano.track(_bgr(rgb))
        if _iou(box, result.box) > 0.2 or (not result.found and score >= 0.3):
            result.box = box
        elif result.found:
            self.nano.init(_bgr(rgb), result.box)
        else:
            self.following = False
        return result


class _FollowerCandidate:
    """Stands in for the tracker's PriorFusion: the priors' candidates plus NanoTrack's box, which
    takes the best fused scores of the candidates it overlaps (IoU > 0.5), else MVLM's own."""

    active = True

    def __init__(self, priors, owner):
        self.priors, self.owner = priors, owner

    def set_query(self, text):
        return self.priors.set_query(text) if self.priors is not None else None

    def fuse(self, image, t, mode, boxes, l, s, out):
        from langtrack_ros.tracking.box_ops import box_average
        from langtrack_ros.tracking.priors.fusion import sample_map

        c = self.priors.fuse(image, t, mode, boxes, l, s, out) if self.priors is not None and self.priors.active \
            else Candidates(boxes, l, s, np.zeros(len(l)))
        self.owner.frame = _bgr(image)
        if not self.owner.following:
            return c
        box, _ = self.owner.nano.track(self.owner.frame)
        b = t.box_to_patch(box[None])
        overlap = iou_matrix(c.boxes, b)[:, 0] > 0.5
        lb = c.l[overlap].max(keepdims=True) + 1e-3 if overlap.any() else sample_map(out["score_map"], b)
        sb = c.s[overlap].max(keepdims=True) if overlap.any() else box_average(out["corr_map"], b)
        return Candidates(np.concatenate([c.boxes, b]), np.concatenate([c.l, lb]), np.concatenate([c.s, sb]),
                          np.concatenate([c.prior, [0.0]]))


class Candidate(_WithMVLM):
    name = "candidate"

    def __init__(self):
        super().__init__()
        self.mvlm.priors = _FollowerCandidate(self.mvlm.priors, self)
        self.frame = None

    def step(self, rgb):
        result = self.mvlm.step(rgb)
        box = result.box / self.mvlm._zoom  # the working frame NanoTrack runs on
        if result.found and (not self.following or _iou(box, self.nano.box()) < 0.5):
            self.nano.init(self.frame, box)
            self.following = True
        return result


def nano_gt():
    return NanoFromTruth()


def handover():
    return Handover()


def refine():
    return Refine()


def candidate():
    return Candidate()


def main() -> None:
    from langtrack_ros.cli import main as langtrack

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nanotrack", required=True, help="folder with nanotrack_{backbone,head}_sim.onnx (v2)")
    parser.add_argument("--root", required=True, help="real validation clips (OTB99-LANG layout)")
    parser.add_argument("--synth-val", help="synth val folder")
    parser.add_argument("--synth-val-hard", help="synth val_hard folder")
    parser.add_argument("--out", default="runs/follower_check")
    args = parser.parse_args()
    os.environ["NANOTRACK_DIR"] = str(Path(args.nanotrack).resolve())
    sets = [("otb99lang", args.root)] + [("synth", d) for d in (args.synth_val, args.synth_val_hard) if d]
    for name in ("nano_gt", "handover", "refine", "candidate"):
        for dataset, root in sets if name != "nano_gt" else sets[:1]:
            langtrack(["eval", "--dataset", dataset, "--root", root, "--tracker", f"{__file__}:{name}",
                       "--out", f"{args.out}/{name}", "--no-progress"])


if __name__ == "__main__":
    main()
