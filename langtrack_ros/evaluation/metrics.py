"""Success / precision / normalized precision under each toolkit's convention (EVAL.md).

Toolkits disagree on details that move the numbers, so every detail is a named field of
:class:`Convention`, and every report names the convention it used. The five conventions were
read off the toolkits' sources:

- ``pytracking`` (OSTrack family): 21 IoU bins (>), 51 pixel bins (<=, PRE at 20 px),
  normalized error = centre offset / GT (w, h), value at 0.20; invalid or invisible frames are
  failures over the full length; first frame overwritten; w or h == 0 -> previous prediction.
- ``got10k`` (its OTB / LaSOT experiments): same bins; NaN ground truth rows dropped, visibility
  ignored (frames are scored as they are); normalized error divides by max(1, GT w, h) and the score
  is the MEAN of the 51-bin curve over 0..0.5.
- ``lasot_matlab`` / ``tnl2k_matlab``: same bins; absent frames are failures over the full
  length; NaN or w, h <= 0 predictions -> previous prediction; normalized precision at 0.20.
- ``mgit``: 101 IoU bins (>), 401 pixel bins 0..400 (strictly <, PRE at 20 px); absent and
  unknown frames removed (denominator shrinks); predictions clipped to the image; the first frame is
  NOT overwritten; "normalized precision" is the fraction of frames whose predicted centre lies in
  the GT box, averaged over sequences with a non-zero score (as the toolkit does).

Every toolkit uses the centre ``x + (w - 1) / 2``. Where a toolkit would raise on a NaN
prediction (pytracking), it is scored as a failure instead, so a frame on which a tracker crashed
counts against it rather than aborting the evaluation.

Mode ``toolkit`` overwrites the first prediction with the ground truth where the convention does;
mode ``honest`` never overwrites anything: template-free trackers ground the target from language
in exactly that frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np

MODES = ("honest", "toolkit")
_FAIL_IOU = -1.0  # an IoU no threshold accepts (thresholds start at 0 with ">")


@dataclass(frozen=True)
class Convention:
    """How one toolkit turns boxes into curves and scores.

    These are fixed definitions of published metric protocols, not settings: a number is only
    comparable with a paper's when it was computed exactly as that toolkit computes it, so no
    field may be tuned and none lives in config/*.yaml. Each protocol is one named constant in
    :data:`CONVENTIONS` that spells out every field (the dataclass has no defaults, so a protocol
    cannot silently inherit another's choice); config/eval.yaml only picks one per dataset.
    """

    name: str
    iou_thresholds: tuple  # success curve thresholds
    success_strict: bool  # True: IoU > t ; False: IoU >= t
    pixel_thresholds: tuple  # precision curve thresholds (pixels)
    precision_strict: bool  # True: error < t ; False: error <= t
    precision_at: float  # PRE is the curve value at this pixel threshold
    npre_kind: str  # "offset": centre offset / GT size ; "in_box": predicted centre inside GT box
    npre_thresholds: tuple  # normalized precision curve thresholds ("offset" only)
    npre_size_floor: float  # divide by max(floor, GT w|h) per axis (0: plain GT size)
    npre_score: str  # "at": curve value at npre_at ; "mean": mean of the curve
    npre_at: float
    npre_average_nonzero: bool  # average NPRE only over sequences with a non-zero score
    invisible: str  # invisible frames: "failure" (full denominator) | "drop" | "score"
    unknown_gt: str  # unknown GT rows: "failure" | "drop"
    nonpositive_gt_unknown: bool  # GT with w or h <= 0 is unknown (else: scored as it is)
    overwrite_first: bool  # toolkit mode: prediction of frame 0 := GT
    degenerate: str  # "keep" | "zero_to_previous" | "nonpositive_to_previous" (NaN too)
    centre_minus_one: bool  # centre = x + (w - 1) / 2 (else x + w / 2)
    clip_to_image: bool  # clip predictions to the image before scoring

    def __post_init__(self):
        _check(self.npre_kind, ("offset", "in_box"), "npre_kind")
        _check(self.npre_score, ("at", "mean"), "npre_score")
        _check(self.invisible, ("failure", "drop", "score"), "invisible")
        _check(self.unknown_gt, ("failure", "drop"), "unknown_gt")
        _check(self.degenerate, ("keep", "zero_to_previous", "nonpositive_to_previous"), "degenerate")


    @property
    def max_auc(self) -> float:
        """AUC of a perfect tracker: IoU 1 never passes "> 1.0", so 20/21 with 21 strict bins."""
        hits = [1.0 > t if self.success_strict else 1.0 >= t for t in self.iou_thresholds]
        return float(np.mean(hits))


def _check(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"Convention.{what} must be one of {allowed}, got {value!r}")


def _bins(start, stop, n):
    return tuple(float(v) for v in np.linspace(start, stop, n))


_IOU21 = _bins(0.0, 1.0, 21)
_PIX51 = tuple(float(v) for v in range(51))

_NPRE51 = _bins(0.0, 0.5, 51)

CONVENTIONS: dict[str, Convention] = {
    "pytracking": Convention(
        name="pytracking", iou_thresholds=_IOU21, success_strict=True, pixel_thresholds=_PIX51,
        precision_strict=False, precision_at=20.0, npre_kind="offset", npre_thresholds=_NPRE51,
        npre_size_floor=0.0, npre_score="at", npre_at=0.2, npre_average_nonzero=False,
        invisible="failure", unknown_gt="failure", nonpositive_gt_unknown=True, overwrite_first=True,
        degenerate="zero_to_previous", centre_minus_one=True, clip_to_image=False,
    ),
    "got10k": Convention(
        name="got10k", iou_thresholds=_IOU21, success_strict=True, pixel_thresholds=_PIX51,
        precision_strict=False, precision_at=20.0, npre_kind="offset", npre_thresholds=_NPRE51,
        npre_size_floor=1.0, npre_score="mean", npre_at=0.2, npre_average_nonzero=False,
        invisible="score", unknown_gt="drop", nonpositive_gt_unknown=False, overwrite_first=True,
        degenerate="keep", centre_minus_one=True, clip_to_image=False,
    ),
    "lasot_matlab": Convention(
        name="lasot_matlab", iou_thresholds=_IOU21, success_strict=True, pixel_thresholds=_PIX51,
        precision_strict=False, precision_at=20.0, npre_kind="offset", npre_thresholds=_NPRE51,
        npre_size_floor=0.0, npre_score="at", npre_at=0.2, npre_average_nonzero=False,
        invisible="failure", unknown_gt="failure", nonpositive_gt_unknown=True, overwrite_first=True,
        degenerate="nonpositive_to_previous", centre_minus_one=True, clip_to_image=False,
    ),
    "tnl2k_matlab": Convention(
        name="tnl2k_matlab", iou_thresholds=_IOU21, success_strict=True, pixel_thresholds=_PIX51,
        precision_strict=False, precision_at=20.0, npre_kind="offset", npre_thresholds=_NPRE51,
        npre_size_floor=0.0, npre_score="at", npre_at=0.2, npre_average_nonzero=False,
        invisible="failure", unknown_gt="failure", nonpositive_gt_unknown=True, overwrite_first=True,
        degenerate="nonpositive_to_previous", centre_minus_one=True, clip_to_image=False,
    ),
    "mgit": Convention(
        name="mgit", iou_thresholds=_bins(0.0, 1.0, 101), success_strict=True,
        pixel_thresholds=tuple(float(v) for v in range(401)), precision_strict=True, precision_at=20.0,
        npre_kind="in_box", npre_thresholds=(), npre_size_floor=0.0, npre_score="at", npre_at=0.2,
        npre_average_nonzero=True, invisible="drop", unknown_gt="drop", nonpositive_gt_unknown=False,
        overwrite_first=False, degenerate="keep", centre_minus_one=True, clip_to_image=True,
    ),
}


def get_convention(name: str | Convention) -> Convention:
    if isinstance(name, Convention):
        return name
    if name not in CONVENTIONS:
        raise ValueError(f"unknown convention {name!r}; known: {sorted(CONVENTIONS)}")
    return CONVENTIONS[name]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area IoU of xywh boxes (rows); 0 where the union is empty, NaN where an input is NaN."""
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    w = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    out[np.isnan(a).any(1) | np.isnan(b).any(1)] = np.nan
    return np.clip(out, 0.0, 1.0)


def centres(boxes: np.ndarray, minus_one: bool = True) -> np.ndarray:
    b = np.atleast_2d(np.asarray(boxes, float))
    return b[:, :2] + 0.5 * (b[:, 2:] - (1.0 if minus_one else 0.0))


def prepare_predictions(pred, gt, conv: Convention, mode: str, image_size=None) -> np.ndarray:
    """Apply the convention's prediction fixes: degenerate -> previous, frame-0 overwrite, clipping."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    pred = np.array(pred, dtype=float).reshape(-1, 4)
    gt = np.asarray(gt, dtype=float).reshape(-1, 4)
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predictions for {len(gt)} ground-truth frames")
    if conv.degenerate != "keep":
        for i in range(1, len(pred)):
            if _degenerate(pred[i], conv.degenerate) and not np.isnan(gt[i]).any():
                pred[i] = pred[i - 1]
    if mode == "toolkit" and conv.overwrite_first:
        pred[0] = gt[0]
    if conv.clip_to_image and image_size is not None:
        pred = _clip(pred, image_size)
    return pred


def _degenerate(box: np.ndarray, rule: str) -> bool:
    if rule == "zero_to_previous":
        return bool(box[2] == 0 or box[3] == 0)
    return bool(np.isnan(box).any() or box[2] <= 0 or box[3] <= 0)


def _clip(pred: np.ndarray, image_size) -> np.ndarray:
    """The MGIT toolkit's correction: a negative x, y moves to 0 (w, h kept), then w, h stop at the edge."""
    width, height = image_size
    out = pred.copy()
    out[:, 0] = np.maximum(out[:, 0], 0)
    out[:, 1] = np.maximum(out[:, 1], 0)
    out[:, 2] = np.minimum(out[:, 2], width - out[:, 0])
    out[:, 3] = np.minimum(out[:, 3], height - out[:, 1])
    return out


@dataclass
class FrameErrors:
    """Per-frame IoU, centre error and normalized error over the frames that count."""

    iou: np.ndarray
    centre_error: np.ndarray
    norm_error: np.ndarray  # "offset": normalized distance ; "in_box": 1.0 inside, 0.0 outside
    n_frames: int  # sequence length
    n_counted: int  # denominator after dropping


def frame_errors(pred, gt, visible, conv: Convention, mode: str = "honest", image_size=None) -> FrameErrors:
    """Per-frame errors with the convention's handling of invisible and unknown frames."""
    conv = get_convention(conv)
    gt = np.asarray(gt, dtype=float).reshape(-1, 4)
    visible = np.ones(len(gt), bool) if visible is None else np.asarray(visible, bool).reshape(-1)
    if len(visible) != len(gt):
        raise ValueError(f"{len(visible)} visibility flags for {len(gt)} ground-truth frames")
    pred = prepare_predictions(pred, gt, conv, mode, image_size)
    unknown = np.isnan(gt).any(1)
    if conv.nonpositive_gt_unknown:
        unknown |= ~(np.nan_to_num(gt[:, 2:], nan=0.0) > 0).all(1)
    failed, dropped = _classify(unknown, ~visible, conv)
    ious = np.nan_to_num(iou(pred, gt), nan=_FAIL_IOU)
    cp, cg = centres(pred, conv.centre_minus_one), centres(gt, conv.centre_minus_one)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.nan_to_num(np.linalg.norm(cp - cg, axis=1), nan=np.inf)
        norm = _norm_error(pred, gt, cp, cg, conv)
    ious[failed], err[failed] = _FAIL_IOU, np.inf
    norm[failed] = 0.0 if conv.npre_kind == "in_box" else np.inf
    keep = ~dropped
    return FrameErrors(ious[keep], err[keep], norm[keep], len(gt), int(keep.sum()))


def _classify(unknown: np.ndarray, invisible: np.ndarray, conv: Convention):
    """Which frames are forced failures and which are removed from the denominator."""
    failed = np.zeros_like(unknown)
    dropped = np.zeros_like(unknown)
    (dropped if conv.unknown_gt == "drop" else failed)[unknown] = True
    if conv.invisible == "drop":
        dropped |= invisible
    elif conv.invisible == "failure":
        failed |= invisible & ~dropped
    return failed & ~dropped, dropped


def _norm_error(pred, gt, cp, cg, conv: Convention) -> np.ndarray:
    if conv.npre_kind == "in_box":
        inside = (gt[:, :2] < cp) & (cp <= gt[:, :2] + gt[:, 2:])
        return inside.all(1).astype(float)
    size = np.maximum(gt[:, 2:], conv.npre_size_floor) if conv.npre_size_floor else gt[:, 2:]
    return np.nan_to_num(np.linalg.norm((cp - cg) / size, axis=1), nan=np.inf)


@dataclass
class Score:
    """Curves and scores of one sequence, or their average over sequences."""

    convention: str
    mode: str
    success_curve: np.ndarray
    precision_curve: np.ndarray
    npre_curve: np.ndarray  # empty for "in_box" conventions
    auc: float
    pre: float
    npre: float
    n_frames: int = 0
    n_counted: int = 0
    n_sequences: int = 1
    extra: dict = field(default_factory=dict)

    def as_dict(self, curves: bool = True) -> dict:
        out = {
            "convention": self.convention, "mode": self.mode, "auc": self.auc, "pre": self.pre,
            "npre": self.npre, "n_frames": self.n_frames, "n_counted": self.n_counted,
            "n_sequences": self.n_sequences, **self.extra,
        }
        if curves:
            out.update(success_curve=self.success_curve.tolist(), precision_curve=self.precision_curve.tolist(),
                       npre_curve=self.npre_curve.tolist())
        return out


def curve(values: np.ndarray, thresholds: Iterable[float], above: bool, strict: bool) -> np.ndarray:
    """Fraction of ``values`` passing each threshold; NaN when there are no values."""
    v = np.asarray(values, float)[:, None]
    t = np.asarray(tuple(thresholds), float)[None, :]
    if v.size == 0:
        return np.full(t.shape[1], np.nan)
    if above:
        hit = v > t if strict else v >= t
    else:
        hit = v < t if strict else v <= t
    return hit.mean(0)


def score_sequence(pred, gt, visible=None, convention="got10k", mode="honest", image_size=None) -> Score:
    """Success curve + AUC, precision curve + PRE@20 and normalized precision of one sequence."""
    conv = get_convention(convention)
    fe = frame_errors(pred, gt, visible, conv, mode, image_size)
    succ = curve(fe.iou, conv.iou_thresholds, above=True, strict=conv.success_strict)
    prec = curve(fe.centre_error, conv.pixel_thresholds, above=False, strict=conv.precision_strict)
    if conv.npre_kind == "in_box":
        ncurve = np.zeros(0)
        npre = float(fe.norm_error.mean()) if fe.n_counted else float("nan")
    else:
        ncurve = curve(fe.norm_error, conv.npre_thresholds, above=False, strict=conv.precision_strict)
        npre = _npre_from_curve(ncurve, conv)
    return Score(conv.name, mode, succ, prec, ncurve, float(np.mean(succ)), _at(prec, conv.pixel_thresholds,
                 conv.precision_at), npre, fe.n_frames, fe.n_counted)


def _at(curve_values: np.ndarray, thresholds, value: float) -> float:
    idx = int(np.argmin(np.abs(np.asarray(thresholds) - value)))
    if not np.isclose(thresholds[idx], value):
        raise ValueError(f"threshold {value} is not one of the curve's bins")
    return float(curve_values[idx])


def _npre_from_curve(ncurve: np.ndarray, conv: Convention) -> float:
    if conv.npre_score == "mean":
        return float(np.mean(ncurve))
    return _at(ncurve, conv.npre_thresholds, conv.npre_at)


def average_scores(scores: list[Score], convention="got10k") -> Score:
    """Average per-sequence curves over sequences (sequences with nothing to score are skipped)."""
    conv = get_convention(convention)
    if not scores:
        raise ValueError("no sequence scores to average")
    succ = _nanmean([s.success_curve for s in scores])
    prec = _nanmean([s.precision_curve for s in scores])
    ncurve = _nanmean([s.npre_curve for s in scores]) if conv.npre_kind == "offset" else np.zeros(0)
    if conv.npre_kind == "offset":
        npre = _npre_from_curve(ncurve, conv)
    else:
        values = np.array([s.npre for s in scores], float)
        if conv.npre_average_nonzero:
            values = values[np.nan_to_num(values) != 0]
        npre = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    out = Score(conv.name, scores[0].mode, succ, prec, ncurve, float(np.mean(succ)),
                _at(prec, conv.pixel_thresholds, conv.precision_at), npre)
    return replace(out, n_frames=sum(s.n_frames for s in scores), n_counted=sum(s.n_counted for s in scores),
                   n_sequences=len(scores))


def _nanmean(curves: list[np.ndarray]) -> np.ndarray:
    stack = np.stack(curves)
    valid = ~np.isnan(stack).all(1)
    if not valid.any():
        return np.full(stack.shape[1], np.nan)
    return stack[valid].mean(0)
