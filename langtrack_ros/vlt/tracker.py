"""VLTTracker: SiamCAR-style inference with a template and (optionally) a sentence (VLT.md).

Per frame: a ``search_factor`` crop around the last box -> cls x centerness x scale/ratio change
penalty, blended with a Hann window, maps upsampled (bicubic) for a finer peak, box from the ltrb
distances at the peak. The size comes from ``scale_mode``: ``head`` = the ltrb size at the peak with
learning rate ``lr * penalty * cls``; ``pyramid`` = SiamFC-style: the search region at 3 scales
(``scale_step``; one batched forward), the scale with the highest peak (others damped by
``scale_penalty``) wins and the size moves towards it with ``scale_lr * cls`` (our box head learned a
size prior, docs/RESULTS_VLT.md).
With ``redetect_below`` > 0, a frame whose peak cls falls below it marks the target lost, and the
next frames search a ``redetect_factor`` times wider region at the same pixel scale (the network is
fully convolutional: a larger input gives a larger score map) without the Hann window and without
a size update; the box moves only to a sure peak there, until the peak is sure again (DaSiamRPN's local-to-global search). It needs a cls
that drops when the target is gone: trained with negative pairs (vlt/data.py ``p_negative``).
With ``distractor_weight`` > 0 (DaSiamRPN's distractor-aware scoring), each frame's other strong
peaks (local maxima of cls x centerness at least ``distractor_thr`` x the target's, more than
``distractor_dist`` cells away, at most ``distractor_max``) become distractor kernels, cut out of that
frame's search features; the next frame's cls loses ``distractor_weight`` x their score-weighted mean
response, so a look-alike next to the target no longer wins on the Hann window's pull alone.
The first box comes from the user (``set_query(text, init_box)``) or, with ``first_box="mvlm"``,
from MVLM's language-only grounding on the first frame, so VLT runs from text alone.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from langtrack_ros.config import ConfigError, from_dict, load_merged
from langtrack_ros.paths import config_file, models_dir
from langtrack_ros.tracking.geometry import PatchTransform, roi_crop
from langtrack_ros.tracking.images import to_rgb_uint8
from langtrack_ros.tracking.result import SearchMode, TrackResult
from langtrack_ros.tracking.tracker import clip_box, hann_window, patch_tensor

log = logging.getLogger(__name__)
FIRST_BOX = ("user", "mvlm")
SCALE_MODES = ("head", "pyramid")
VELOCITY_KEEP = 0.5  # motion_lead: weight of the previous velocity in its running average


@dataclass
class VLTTrackerConfig:
    """config/vlt_tracker.yaml (the one table of its defaults)."""

    model: str  # "" = models/vlt/ablation/vlt_symmetric.safetensors (V2, the best on the real val split)
    penalty_k: float  # scale/ratio change penalty (reference LaSOT 0.04, OTB 0.2)
    window_influence: float  # Hann window blend (LaSOT 0.3, OTB 0.45)
    lr: float  # size learning rate of the box head (LaSOT 0.33, OTB 0.35); scale_mode head
    scale_mode: str  # head: size from the ltrb head | pyramid: SiamFC-style 3-scale search
    scale_step: float  # pyramid: search regions at side x {1/step, 1, step}
    scale_penalty: float  # pyramid: peak multiplier of the two changed scales (<= 1 favours no change)
    scale_lr: float  # pyramid: size learning rate (times cls at the peak)
    upsample: int  # score map upsampling factor for the peak
    template_factor: float  # as in training (config/train_vlt.yaml sampling)
    search_factor: float
    language: bool  # False: the sentence is ignored (template embedding), the "no language" ablation
    first_box: str  # user: init_box from the caller | mvlm: MVLM's language-only first-frame box
    motion_lead: float  # search crop centred this many smoothed frame-to-frame displacements ahead (0 = at the last box)
    redetect_below: float  # peak cls below which the target counts as lost (0 = never: always the local search)
    redetect_factor: float  # a lost target's search region side, times the usual one (same pixel scale)
    distractor_weight: float  # share of the distractors' mean response taken off cls (0 = off)
    distractor_thr: float  # a distractor's peak must reach this share of the target's (cls x centerness)
    distractor_max: int  # at most this many distractors per frame, the strongest
    distractor_dist: float  # and lie more than this many score-map cells from the target's peak
    threads: int

    def __post_init__(self):
        if self.scale_mode not in SCALE_MODES:
            raise ConfigError(f"vlt tracker scale_mode must be one of {SCALE_MODES}, got {self.scale_mode!r}")
        if not 1.0 <= float(self.scale_step) <= 2.0:
            raise ConfigError(f"vlt tracker scale_step must be in [1, 2], got {self.scale_step!r}")
        if not 0.0 < float(self.scale_penalty) <= 1.0 or not 0.0 <= float(self.scale_lr) <= 1.0:
            raise ConfigError("vlt tracker scale_penalty must be in (0, 1] and scale_lr in [0, 1], got "
                              f"{self.scale_penalty!r}, {self.scale_lr!r}")
        if self.first_box not in FIRST_BOX:
            raise ConfigError(f"vlt tracker first_box must be one of {FIRST_BOX}, got {self.first_box!r}")
        if not 0.0 <= float(self.redetect_below) < 1.0 or not 1.0 <= float(self.redetect_factor) <= 4.0:
            raise ConfigError("vlt tracker redetect_below must be in [0, 1) and redetect_factor in [1, 4], got "
                              f"{self.redetect_below!r}, {self.redetect_factor!r}")
        for name in ("penalty_k", "window_influence", "lr", "motion_lead"):
            if not 0.0 <= float(getattr(self, name)) <= 10.0:
                raise ConfigError(f"vlt tracker {name} must be in [0, 10], got {getattr(self, name)!r}")
        if not 0.0 <= float(self.distractor_weight) <= 2.0 or not 0.0 < float(self.distractor_thr) <= 1.0:
            raise ConfigError("vlt tracker distractor_weight must be in [0, 2] and distractor_thr in (0, 1], got "
                              f"{self.distractor_weight!r}, {self.distractor_thr!r}")
        if int(self.distractor_max) < 1 or float(self.distractor_dist) < 0.0:
            raise ConfigError("vlt tracker distractor_max must be >= 1 and distractor_dist >= 0, got "
                              f"{self.distractor_max!r}, {self.distractor_dist!r}")
        if int(self.upsample) < 1:
            raise ConfigError(f"vlt tracker upsample must be >= 1, got {self.upsample}")


def load_vlt_settings(path: str | Path | None = None, **overrides) -> VLTTrackerConfig:
    """config/vlt_tracker.yaml with the user's file ``path`` (if any) merged over it, then ``overrides``."""
    params = load_merged("vlt_tracker", path, "langtrack_vlt_tracker")
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(VLTTrackerConfig)})
    if unknown:
        raise ConfigError(f"unknown vlt tracker option(s) {unknown}")
    return from_dict(VLTTrackerConfig, {**params, **overrides}, str(path or config_file("vlt_tracker")))


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def pick_scale(peaks, scales, scale_penalty: float) -> int:
    """Index of the winning pyramid scale: the highest peak, every scale other than 1 damped by
    ``scale_penalty`` so that a near-tie keeps the size (SiamFC)."""
    damped = [p * (1.0 if abs(s - 1.0) < 1e-9 else scale_penalty) for p, s in zip(peaks, scales)]
    return int(np.argmax(damped))


@dataclass
class _Response:
    """Upsampled maps of one search crop; sizes in patch pixels, ``tw``/``th`` the last box's."""

    t: PatchTransform
    points: np.ndarray  # patch pixel coordinate of each upsampled map index (both axes)
    cls: np.ndarray
    score: np.ndarray
    ltrb: tuple
    penalty: np.ndarray
    tw: float
    th: float
    peaks: np.ndarray | None  # cls x centerness before distractor suppression, score-map cells (None: distractors off)
    n: int  # this crop's index in the forward's batch (its search features)


class VLTTracker:
    def __init__(self, model, text_encoder, cfg: VLTTrackerConfig, arch=None, grounder=None):
        self.model, self.text_encoder, self.cfg, self.arch = model.eval(), text_encoder, cfg, arch
        self.grounder = grounder  # MVLM tracker for first_box="mvlm"
        self.needs_box = cfg.first_box == "user"
        self.name = "vlt" if cfg.language else "vlt-nolang"
        mc = model.cfg
        self.window = hann_window(mc.score_size * cfg.upsample)
        self.points = self._points(mc.search_size, mc.score_size)
        self.lost = False  # the last peak's cls was below redetect_below: search wide
        self.query: str | None = None
        self._pending_box = None
        self.box = None
        self.velocity = np.zeros(2)  # smoothed centre displacement per frame (pixels), for motion_lead
        self._kernels = self._vec = None
        self._features: list[list[torch.Tensor]] = []  # search features of the last frame's forwards
        self.distractors = None  # (kernels per level, D weights) from the last frame, or None
        self.batched = True  # pyramid crops in one forward; False only for the equality test and the bench

    def _points(self, side: int, cells: int) -> np.ndarray:
        """Patch pixel coordinate of each upsampled index of a ``cells`` map from a ``side`` input."""
        u = (np.arange(cells * self.cfg.upsample) + 0.5) / self.cfg.upsample - 0.5  # -> score-map cell
        return (side - 1) / 2.0 + (u - (cells - 1) / 2.0) * self.model.cfg.stride

    def set_query(self, text: str, init_box: np.ndarray | None = None) -> None:
        if self.needs_box:
            from langtrack_ros.tracking.tracker import MVLMTracker

            init_box = MVLMTracker._check_init_box(init_box)
        text = (text or "").strip()
        if not text and self.cfg.first_box == "mvlm":
            raise ValueError("first_box=mvlm needs a sentence to ground the target")
        if self.grounder is not None:
            self.grounder.set_query(text)
        self.query, self._pending_box, self.box = text, init_box, None

    def _sentence(self, n: int = 1):
        if not (self.cfg.language and self.model.cfg.language and self.query):
            return None, torch.zeros(n, dtype=torch.bool)
        tokens, mask = self.text_encoder.encode(self.query)
        vec = torch.from_numpy(np.asarray(tokens, np.float32)[np.asarray(mask, bool)].mean(0, keepdims=True))
        return vec, torch.ones(n, dtype=torch.bool)

    @torch.no_grad()
    def _initialise(self, image: np.ndarray, box: np.ndarray) -> TrackResult:
        box = clip_box(np.asarray(box, float), image.shape[:2])
        patch, t = roi_crop(image, box, self.cfg.template_factor, self.model.cfg.template_size)
        tbox = torch.tensor(t.box_to_patch(box), dtype=torch.float32)[None]
        lang, has = self._sentence()
        if not self.model.cfg.language:
            lang = has = None
        self._kernels, self._vec = self.model.template_kernels(torch.from_numpy(patch_tensor(patch)), tbox,
                                                               lang, has, self.arch)
        self.box, self.velocity, self.lost, self.distractors = box, np.zeros(2), False, None
        return TrackResult(box, kappa=1.0, score=1.0, mode=SearchMode.ROI, found=True)

    def step(self, image: np.ndarray) -> TrackResult:
        image = to_rgb_uint8(image)
        if self.query is None:
            raise RuntimeError("VLTTracker.step() before set_query()")
        if self.box is None:
            first = self._pending_box
            if first is None:
                first = self.grounder.step(image).box
            return self._initialise(image, first)
        return self._track(image)

    @torch.no_grad()
    def _respond(self, image: np.ndarray, sides, side_px: int | None = None) -> list[_Response]:
        """The model's maps for crops of ``search_factor * side`` around the last box, one per side.

        The pyramid's crops go through the network as one batch (BatchNorm is in eval mode, so every
        crop gets what it gets alone, up to float rounding: oneDNN picks other convolution kernels
        for a batch of 3, about 1e-6 apart); ``batched=False`` runs one forward per crop, the
        reference the equality test compares against. ``side_px``: the crops' pixel side (default the
        model's search_size; larger for the wide search of a lost target)."""
        mc, c = self.model.cfg, self.cfg
        centre = self.box.copy()
        centre[:2] += c.motion_lead * self.velocity  # a fast target stays inside the crop and near the window's peak
        crops = [roi_crop(image, centre, c.search_factor * s, side_px or mc.search_size) for s in sides]
        patches = [torch.from_numpy(patch_tensor(patch)) for patch, _ in crops]
        self._features = []
        outs = [self._forward(torch.cat(patches))] if self.batched else [self._forward(p) for p in patches]
        out = {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}
        points = self.points if side_px is None else self._points(side_px, out["cls"].shape[-1])
        return [self._maps(out, n, t, points) for n, (_, t) in enumerate(crops)]

    def _forward(self, search: torch.Tensor) -> dict:
        """One forward over a batch of search crops. The template kernels are shared, expanded along
        the batch (the depthwise correlation pairs kernel b with crop b); the language vector stays a
        batch of 1 that the ModaMixers broadcast: a Linear over 3 equal rows sums in another order
        than over 1 (gemm vs gemv) and would change the maps in the last float bits."""
        kernels = [k.expand(search.shape[0], *k.shape[1:]) for k in self._kernels]
        if self.cfg.distractor_weight <= 0:
            out = self.model.track(search, kernels, self._vec, self.arch)
            cls = out["cls"].softmax(1)[:, 1]
            return {"cls": cls, "cen": out["cen"].sigmoid()[:, 0], "ltrb": out["ltrb"]}
        features = self.model.search_features(search, self._vec, self.arch)
        self._features.append(features)
        out = self.model.heads(features, kernels)
        raw = out["cls"].softmax(1)[:, 1]
        cls = (raw - self.cfg.distractor_weight * self._distractor_response(features)).clamp(min=0.0)
        return {"cls": cls, "cen": out["cen"].sigmoid()[:, 0], "ltrb": out["ltrb"], "cls_raw": raw}

    def _distractor_response(self, features: list[torch.Tensor]) -> torch.Tensor | float:
        """(B, S, S) score-weighted mean cls of the last frame's distractor kernels on each crop (0 when
        there are none): every crop x distractor pair in one batch through the heads."""
        if self.distractors is None:
            return 0.0
        kernels, weights = self.distractors
        b, d = features[0].shape[0], len(weights)
        feats = [f.repeat_interleave(d, 0) for f in features]
        cls = self.model.heads(feats, [k.repeat(b, 1, 1, 1) for k in kernels])["cls"].softmax(1)[:, 1]
        cls = cls.reshape(b, d, *cls.shape[1:])
        return (cls * weights[None, :, None, None]).sum(1) / weights.sum()

    def _maps(self, out: dict, n: int, t: PatchTransform, points: np.ndarray) -> _Response:
        """Upsampled, penalised maps of crop ``n`` of a forward's (numpy) outputs."""
        c = self.cfg
        up = lambda m: cv2.resize(m, None, fx=c.upsample, fy=c.upsample, interpolation=cv2.INTER_CUBIC)  # noqa: E731
        cls, cen = np.clip(up(out["cls"][n]), 0.0, 1.0), np.clip(up(out["cen"][n]), 0.0, 1.0)  # bicubic overshoots
        l, tp, r, b = (up(m) for m in out["ltrb"][n])
        w, h = np.maximum(l + r, 1.0), np.maximum(tp + b, 1.0)
        tw, th = self.box[2] / t.scale, self.box[3] / t.scale
        s_c = _change(np.sqrt(w * h) / np.sqrt(tw * th))
        r_c = _change((tw / th) / (w / h))
        penalty = np.exp(-(r_c * s_c - 1.0) * c.penalty_k)
        peaks = out["cls_raw"][n] * out["cen"][n] if "cls_raw" in out else None  # only with distractors on
        return _Response(t, points, cls, penalty * cls * cen, (l, tp, r, b), penalty, tw, th, peaks, n)

    def _wide_side(self) -> int:
        """Input side of the wide search: redetect_factor x search_size, rounded to whole cell pairs
        so the map stays centred on the patch like the usual one."""
        mc, step = self.model.cfg, 2 * self.model.cfg.stride
        extra = mc.search_size * (self.cfg.redetect_factor - 1.0)
        return mc.search_size + step * int(round(extra / step))

    def _find_distractors(self, res: _Response, ci: float, cj: float) -> None:
        """The frame's distractors: local maxima of the unsuppressed peaks map that reach distractor_thr of
        the target's and lie over distractor_dist cells from it (``ci``, ``cj``: the target's peak in
        score-map cells); their kernels are the template-sized windows of this crop's search features
        whose correlation gives those cells."""
        c, peaks = self.cfg, res.peaks
        ti = min(max(int(round(ci)), 0), peaks.shape[0] - 1)
        tj = min(max(int(round(cj)), 0), peaks.shape[1] - 1)
        local_max = peaks >= cv2.dilate(peaks.astype(np.float32), np.ones((3, 3), np.uint8))
        ii, jj = np.nonzero(local_max & (peaks >= c.distractor_thr * max(float(peaks[ti, tj]), 1e-6)))
        far = np.hypot(ii - ci, jj - cj) > c.distractor_dist
        order = np.argsort(-peaks[ii[far], jj[far]], kind="stable")[:int(c.distractor_max)]
        ii, jj = ii[far][order], jj[far][order]
        if not len(ii):
            self.distractors = None
            return
        k = self.model.cfg.template_crop
        levels = [torch.cat(level) for level in zip(*self._features)]  # forwards -> one batch per level
        kernels = [torch.cat([f[res.n:res.n + 1, :, a:a + k, b:b + k] for a, b in zip(ii, jj)]) for f in levels]
        self.distractors = (kernels, torch.from_numpy(peaks[ii, jj].astype(np.float32)))

    def _track(self, image: np.ndarray) -> TrackResult:
        c = self.cfg
        wide = self.lost and c.redetect_below > 0
        if wide:
            side = self._wide_side()
            scales = (side / self.model.cfg.search_size,)
            res, window = self._respond(image, scales, side)[0], 0.0
        elif c.scale_mode == "pyramid":
            scales = (1.0 / c.scale_step, 1.0, c.scale_step)
            responses = self._respond(image, scales)
            k = pick_scale([float(r.score.max()) for r in responses], scales, c.scale_penalty)
            res, window = responses[k], c.window_influence
        else:
            res, window = self._respond(image, (1.0,))[0], c.window_influence
        pscore = res.score.reshape(-1) * (1 - window) + (self.window * window if window else 0.0)
        i, j = np.unravel_index(int(np.argmax(pscore)), res.score.shape)
        l, tp, r, b = (m[i, j] for m in res.ltrb)
        cx, cy = res.points[j] + (r - l) / 2.0, res.points[i] + (b - tp) / 2.0
        if wide:
            new_w, new_h = self.box[2], self.box[3]  # the size waits for a sure peak
        elif c.scale_mode == "pyramid":
            lr = float(res.cls[i, j] * c.scale_lr)
            grow = 1 - lr + lr * scales[k]
            new_w, new_h = self.box[2] * grow, self.box[3] * grow
        else:
            lr = float(res.penalty[i, j] * res.cls[i, j] * c.lr)
            new_w = (res.tw * (1 - lr) + max(l + r, 1.0) * lr) * res.t.scale
            new_h = (res.th * (1 - lr) + max(tp + b, 1.0) * lr) * res.t.scale
        ix, iy = res.t.x0 + cx * res.t.scale, res.t.y0 + cy * res.t.scale
        box = clip_box(np.array([ix - new_w / 2, iy - new_h / 2, new_w, new_h]), image.shape[:2])
        kappa = float(res.cls[i, j])
        if c.distractor_weight > 0:
            self._find_distractors(res, (i + 0.5) / c.upsample - 0.5, (j + 0.5) / c.upsample - 0.5)
        if wide and kappa < c.redetect_below:
            box = self.box.copy()  # an unsure peak in the wide region is as likely a distractor: stay
        if not np.isfinite(box).all():
            log.warning("non-finite VLT box; keeping the previous one")
            box = self.box.copy()
        moved = (box[:2] + box[2:] / 2) - (self.box[:2] + self.box[2:] / 2)
        self.velocity = VELOCITY_KEEP * self.velocity + (1 - VELOCITY_KEEP) * moved
        self.box = box
        self.lost = kappa < c.redetect_below
        return TrackResult(box, kappa=kappa, score=float(res.score[i, j]),
                           mode=SearchMode.GLOBAL if wide else SearchMode.ROI, found=not self.lost)


def load_vlt_tracker(model_path: str | Path | None = None, config_path: str | Path | None = None,
                     **overrides) -> VLTTracker:
    """Registry factory ``vlt``: model from config/vlt_tracker.yaml unless given; flat overrides."""
    from langtrack_ros.tracking.text_encoder import TextEncoder
    from langtrack_ros.vlt.train import load_vlt

    cfg = load_vlt_settings(config_path, **overrides)
    torch.set_num_threads(max(int(cfg.threads), 1))
    path = Path(model_path or cfg.model or models_dir() / "vlt" / "ablation" / "vlt_symmetric.safetensors")
    model = load_vlt(path)
    grounder = None
    if cfg.first_box == "mvlm":
        from langtrack_ros.builder import load_tracker

        grounder = load_tracker(backend="torch")
    encoder = TextEncoder(max_tokens=model.cfg.max_text_tokens)
    return VLTTracker(model, encoder, cfg, grounder=grounder)


def load_vlt_text_tracker(**options) -> VLTTracker:
    """Registry factory ``vlt-text``: first box from MVLM's language-only grounding."""
    return load_vlt_tracker(**{"first_box": "mvlm", **options})
