"""MVLMTracker: language-only tracking with the MVLM confidence gate (shared/design/MVLM.md).

Per frame: crop the search image (ROI around the last confident box, or the whole image
letterboxed), run the network, turn every grid cell into a candidate box, score it with the gate
(``gate.py``) and pick the answer. The gate's verdict decides the NEXT frame's search: confident
-> ROI crop of ``roi_factor`` around the answer, not confident -> global relocalization.

Fixes over the reference code, deliberately: memory lives in image coordinates (the remembered
box and its kappa_mem; a candidate inherits it only if it overlaps that box in the image), the
Hann window is applied in ROI mode only, global search is letterboxed, and candidates whose centre
falls on letterbox padding (or off the image in an ROI crop) are never chosen.

``SearchConfig.mode`` selects the paper's ablations: "gated" (A4), "global" (A1: global search
every frame, no gate) and "roi" (A2/A3: ROI around the best-l box after the first frame, no gate,
never relocalizes). Without a gate every answer is reported as found.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol

import numpy as np

from langtrack_ros.config import ConfigError, from_dict, load_merged
from langtrack_ros.paths import config_file
from langtrack_ros.tracking.box_ops import box_average, candidate_boxes, iou_matrix
from langtrack_ros.tracking.gate import GateConfig, confidence, gate
from langtrack_ros.tracking.geometry import PatchTransform, letterbox, roi_crop
from langtrack_ros.tracking.images import to_rgb_uint8, working_frame
from langtrack_ros.tracking.result import Event, SearchMode, TrackResult

log = logging.getLogger(__name__)
SEARCH_MODES = ("gated", "global", "roi")
NODE = "langtrack_tracker"


@dataclass
class SearchConfig:
    """How frames are searched; the values live in config/tracker.yaml (``search:``)."""

    mode: str  # gated (A4) | global (A1) | roi (A2/A3)
    roi_factor: float  # ROI side = roi_factor * sqrt(w * h) of the last box
    roi_window: float  # Hann window influence on l(b) when choosing, ROI mode only (0 = none)
    template_factor: float  # box+language mode: template side = factor * sqrt(w * h)
    max_side: int  # frames are downscaled once to this longer side (images.working_frame); 0 = never
    recheck_every: int  # gated mode: after this many ROI frames in a row, one global re-check (0 = never)
    recheck_margin: float  # l(b) a re-check's answer must beat the followed target by to take its place
    recheck_confirm: int  # global looks in a row (consecutive frames) the same challenger must win to take over

    def __post_init__(self):
        if self.mode not in SEARCH_MODES:
            raise ConfigError(f"search.mode must be one of {SEARCH_MODES}, got {self.mode!r}")
        if not 0.0 <= self.roi_window <= 1.0:
            raise ConfigError(f"search.roi_window must be in [0, 1], got {self.roi_window}")
        if isinstance(self.max_side, bool) or not isinstance(self.max_side, int) or 0 < self.max_side < 64 \
                or self.max_side < 0:
            raise ConfigError(f"search.max_side must be 0 (never resize) or an integer >= 64, got {self.max_side!r}")
        if isinstance(self.recheck_every, bool) or not isinstance(self.recheck_every, int) or self.recheck_every < 0:
            raise ConfigError(f"search.recheck_every must be 0 (never) or an integer >= 1, got {self.recheck_every!r}")
        if isinstance(self.recheck_margin, bool) or not isinstance(self.recheck_margin, (int, float)) \
                or self.recheck_margin < 0:
            raise ConfigError(f"search.recheck_margin must be a number >= 0, got {self.recheck_margin!r}")
        if isinstance(self.recheck_confirm, bool) or not isinstance(self.recheck_confirm, int) or self.recheck_confirm < 1:
            raise ConfigError(f"search.recheck_confirm must be an integer >= 1, got {self.recheck_confirm!r}")
        for name in ("roi_factor", "template_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"search.{name} must be a number > 0, got {value!r}")


@dataclass
class TrackerSettings:
    """Everything in config/tracker.yaml (ROS parameters of the tracker node); no code defaults."""

    model: str  # "" = the embedded default models/mvlm_default.safetensors
    backend: str  # auto | tensorrt | onnxruntime | torch
    precision: str
    image_qos: str
    initial_query: str
    max_query_tokens: int
    threads: int  # CPU threads of the ONNX Runtime / torch backend
    gate: GateConfig
    search: SearchConfig


class Backend(Protocol):
    """What the tracker runs: torch, ONNX Runtime and TensorRT implement the same call."""

    name: str
    search_size: int

    def run(self, search: np.ndarray, text_tokens: np.ndarray, text_mask: np.ndarray) -> dict: ...


def load_settings(path: str | Path | None = None, node: str = NODE) -> TrackerSettings:
    """config/tracker.yaml with the user's file ``path`` merged over it once (a partial file only
    changes the keys it names; unknown keys raise). The gate section uses the paper's ``lambda``."""
    return settings_from(load_merged("tracker", path, node), str(path or config_file("tracker")))


def settings_from(params: Mapping, where: str) -> TrackerSettings:
    """TrackerSettings from a complete mapping (a merged file, or a node's current parameters)."""
    params = dict(params)
    params["gate"] = GateConfig.from_params(params.get("gate"), f"{where}: gate")
    return from_dict(TrackerSettings, params, where)


def hann(u: np.ndarray) -> np.ndarray:
    """1-D Hann window on [0, 1]."""
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * u))


def hann_window(g: int) -> np.ndarray:
    """(G*G,) separable Hann window that is non-zero on the border cells: cell i sits at (i+1)/(g+1)."""
    w = hann(np.arange(1, g + 1) / (g + 1))
    return np.outer(w, w).reshape(-1)


def inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Whether each point (x, y) lies in ``box`` [x, y, w, h] (edges included)."""
    x, y, w, h = box
    return (points[..., 0] >= x) & (points[..., 0] <= x + w) & (points[..., 1] >= y) & (points[..., 1] <= y + h)


def centres_on_image(boxes: np.ndarray, t: PatchTransform, image_hw: tuple[int, int]) -> np.ndarray:
    """Mask of normalised boxes whose centre shows image pixels (not letterbox or crop padding)."""
    return inside(boxes[:, :2] + boxes[:, 2:] / 2, t.image_area_in_patch(image_hw))


def clip_box(box: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Clip an xywh box to the image, keeping at least one pixel of width and height."""
    h, w = image_hw
    x1, y1 = np.clip(box[:2], 0, [w - 1, h - 1])
    x2, y2 = np.clip(box[:2] + box[2:], [x1 + 1, y1 + 1], [w, h])
    return np.array([x1, y1, max(x2 - x1, 1.0), max(y2 - y1, 1.0)])


def patch_tensor(patch: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 -> (1, 3, S, S) float32 in [0, 1]."""
    return (patch.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


def outputs_finite(out: dict) -> bool:
    return all(np.isfinite(out[k]).all() for k in ("score_map", "offset", "size", "corr_map"))


@dataclass
class Memory:
    """The tracked target's memory, in image pixels (it survives any crop)."""

    box: np.ndarray
    kappa_mem: float


class MVLMTracker:
    """Template-free MVLM tracker (``Tracker`` protocol of result.py); box+language on request."""

    def __init__(self, backend: Backend, text_encoder, gate_cfg: GateConfig | None = None,
                 search_cfg: SearchConfig | None = None, box_language: bool = False, priors=None):
        self.backend = backend
        self.priors = priors  # tracking.priors.fusion.PriorFusion or None (plain MVLM)
        self.text_encoder = text_encoder
        if gate_cfg is None or search_cfg is None:  # the defaults are config/tracker.yaml's, never code's
            settings = load_settings()
            gate_cfg, search_cfg = gate_cfg or settings.gate, search_cfg or settings.search
        self.gate_cfg, self.search_cfg = gate_cfg, search_cfg
        if box_language and getattr(backend, "template_size", None) is None:
            raise ValueError(f"box_language=True needs a model with template tokens; backend "
                             f"{getattr(backend, 'name', backend)!r} has none")
        self.needs_box = box_language
        mode = self.search_cfg.mode
        self.name = "mvlm" if mode == "gated" else f"mvlm-{mode}"
        self.query: str | None = None
        self.memory: Memory | None = None
        self._tokens = self._mask = self._template = self._init_box = None
        self._last_found: bool | None = None
        self._force_global = True
        self._roi_run = 0  # ROI frames in a row since the last global look (re-check schedule)
        self._challenger, self._wins = None, 0  # a re-check's winner off the followed target, and its wins
        self._query_changed = False
        self._zoom = 1.0  # camera pixels per working-frame pixel (boxes kept here are in working pixels)
        self._working_size: np.ndarray | None = None

    # --- query -----------------------------------------------------------------------------
    def set_query(self, text: str, init_box: np.ndarray | None = None) -> None:
        """New sentence: the next frame is searched globally and the memory starts empty.

        An empty or whitespace query raises ``QueryError`` (from the text encoder) and leaves the
        current query in place. ``init_box`` is used (and required) in box+language mode only.
        """
        box = self._check_init_box(init_box) if self.needs_box else None
        tokens, mask = self.text_encoder.encode(text)
        if self.priors is not None:
            self.priors.set_query(text)
        self._query_changed = self.query is not None
        self.query = text
        self._tokens = np.asarray(tokens, dtype=np.float32)[None]
        self._mask = np.asarray(mask, dtype=bool)[None]
        self._init_box, self._template = box, None
        self.memory, self._last_found = None, None
        self._force_global = True
        self._roi_run, self._challenger, self._wins = 0, None, 0

    @staticmethod
    def _check_init_box(init_box) -> np.ndarray:
        if init_box is None:
            raise ValueError("box+language mode: set_query needs init_box [x, y, w, h]")
        box = np.asarray(init_box, dtype=np.float64).reshape(-1)
        if box.size != 4 or not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"init_box must be 4 finite numbers [x, y, w, h] with w, h > 0, got {init_box!r}")
        return box

    @property
    def next_mode(self) -> SearchMode:
        """How the next frame will be searched."""
        if self._force_global or self.memory is None or self.search_cfg.mode == "global":
            return SearchMode.GLOBAL
        if self.search_cfg.mode == "roi" or self._last_found:
            return SearchMode.ROI
        return SearchMode.GLOBAL

    @property
    def _recheck_due(self) -> bool:
        every = self.search_cfg.recheck_every
        return self.search_cfg.mode == "gated" and every > 0 and self._roi_run >= every

    # --- per frame -------------------------------------------------------------------------
    def step(self, image: np.ndarray) -> TrackResult:
        camera = to_rgb_uint8(image)
        image = self._working(camera)
        if self.priors is not None:
            self.priors.camera_frame(camera, self._zoom)
        if self.query is None:
            raise RuntimeError("MVLMTracker.step() before set_query(): there is no target description")
        events = [Event.QUERY_CHANGED] if self._query_changed else []
        if self._init_box is not None:
            result = self._initialise_from_box(image)
        else:
            mode = self.next_mode
            if mode is SearchMode.GLOBAL and self._last_found is False and self.search_cfg.mode != "global":
                events.append(Event.RELOCALIZED)
            result = self._search(image, mode)
            self._roi_run = self._roi_run + 1 if mode is SearchMode.ROI else 0
            if result.found and self._recheck_due:
                result = self._recheck(image, result)
        events += self._transition_events(result.found)
        result.events = events
        self._query_changed = False
        self._last_found = result.found
        result.box = np.asarray(result.box, dtype=np.float64) * self._zoom  # back to camera pixels
        return result

    def _working(self, image: np.ndarray) -> np.ndarray:
        """Resolution-independent cost: one resize at the top (see images.working_frame). If the
        camera changes resolution mid-stream (same view), the remembered boxes are rescaled."""
        image, self._zoom = working_frame(image, self.search_cfg.max_side)
        hw = np.array(image.shape[1::-1] * 2, dtype=np.float64)  # (w, h, w, h)
        if self._working_size is not None and (hw != self._working_size).any() and self.memory is not None:
            self.memory.box *= hw / self._working_size
        self._working_size = hw
        return image

    def _transition_events(self, found: bool) -> list[Event]:
        if self._last_found is True and not found:
            return [Event.LOST]
        if self._last_found is False and found:
            return [Event.RECOVERED]
        return []

    def _initialise_from_box(self, image: np.ndarray) -> TrackResult:
        """Box+language first frame: crop the template once and report the given box."""
        box = clip_box(self._init_box / self._zoom, image.shape[:2])
        patch, _ = roi_crop(image, box, self.search_cfg.template_factor, self.backend.template_size)
        self._template = patch_tensor(patch)
        self._init_box = None
        self._remember(box, 1.0)
        return TrackResult(box, kappa=1.0, mode=SearchMode.ROI, found=True)

    def _search(self, image: np.ndarray, mode: SearchMode) -> TrackResult:
        out, t = self._forward(image, mode)
        if not outputs_finite(out):
            return self._not_finite(mode)
        return self._decide(out, t, image, mode)

    def _forward(self, image: np.ndarray, mode: SearchMode) -> tuple[dict, PatchTransform]:
        """The network on the ROI crop or the letterboxed frame, the prior nets started beside it."""
        size = self.backend.search_size
        if mode is SearchMode.GLOBAL:
            patch, t = letterbox(image, size)
        else:
            patch, t = roi_crop(image, self.memory.box, self.search_cfg.roi_factor, size)
        extra = {} if self._template is None else {"template": self._template}
        if self.priors is not None and self.priors.active:  # the prior nets run beside the network
            self.priors.prefetch(image, t, mode, None if self.memory is None else self.memory.box)
        return self.backend.run(patch_tensor(patch), self._tokens, self._mask, **extra), t

    def _not_finite(self, mode: SearchMode) -> TrackResult:
        """NaN/inf from the network: report not found, keep the last box, relocalize next frame."""
        log.warning("network output contains NaN or infinity; frame reported as not found")
        self._force_global = True
        box = np.zeros(4) if self.memory is None else self.memory.box.copy()
        return TrackResult(box, kappa=-1.0, d_corr=0.0, d_cls=0.0, score=0.0, mode=mode, found=False)

    def _decide(self, out: dict, t: PatchTransform, image: np.ndarray, mode: SearchMode) -> TrackResult:
        """Candidates -> confidence -> gate -> answer; remembers the answer for the next frame."""
        boxes_img, l, l_choice, conf = self._candidates(out, t, image, mode)
        if self.search_cfg.mode == "gated":
            best, found = gate(conf.kappa_mvlm, l_choice, self.gate_cfg.tau)
        else:
            best, found = int(np.argmax(l_choice)), True
        box = clip_box(boxes_img[best], image.shape[:2])
        self._remember(box, float(conf.kappa_mem[best]))
        if self.priors is not None and self.priors.active:
            self.priors.observe(image, box, float(conf.kappa_mvlm[best]), found)
        return TrackResult(box, kappa=float(conf.kappa_mvlm[best]), d_corr=float(conf.d_corr[best]),
                           d_cls=float(conf.d_cls[best]), score=float(l[best]), mode=mode, found=found)

    def _candidates(self, out: dict, t: PatchTransform, image: np.ndarray, mode: SearchMode):
        """(boxes in image pixels, l(b), l(b) as the choice sees it, confidence) of one search's candidates:
        the grid cells plus the priors' candidates, those centred off the image dropped."""
        boxes = candidate_boxes(out["offset"], out["size"])
        l = np.asarray(out["score_map"], dtype=np.float64).reshape(-1)
        s = box_average(out["corr_map"], boxes)
        window = self._window(mode, out["score_map"].shape[-1])
        if self.priors is not None and self.priors.active:  # real-world priors join as candidates
            anchor = None if self.memory is None else self.memory.box
            fused = self.priors.fuse(image, t, mode, boxes, l, s, out, anchor)
            window = np.concatenate([window, self._box_window(mode, fused.boxes[len(boxes):], len(window))])
            boxes, l, s = fused.boxes, fused.l, fused.s
        l_choice = l * window
        keep = centres_on_image(boxes, t, image.shape[:2])
        if not keep.any():
            keep[:] = True
        boxes, l, s, l_choice = boxes[keep], l[keep], s[keep], l_choice[keep]
        boxes_img = t.box_to_image(boxes)
        conf = confidence(s, l, iou_matrix(boxes, boxes), self._inherited(boxes_img), self.gate_cfg)
        return boxes_img, l, l_choice, conf

    def _recheck(self, image: np.ndarray, followed: TrackResult) -> TrackResult:
        """A global look after ``search.recheck_every`` confident ROI frames. Long-term trackers re-detect
        globally because an ROI search cannot see that it has settled on a look-alike (where the target
        was occluded) while the named target is elsewhere. The ROI answer stands unless ``_challenger_of``
        finds a better one; a look that keeps it leaves the prior nets' ROI schedule as it was, so the
        following frames run exactly as without the look."""
        self._roi_run = 0
        priors = self.priors if self.priors is not None and self.priors.active else None
        schedule = None if priors is None else priors.schedule_state()
        out, t = self._forward(image, SearchMode.GLOBAL)
        best = None
        if outputs_finite(out):
            boxes_img, l, l_choice, conf = self._candidates(out, t, image, SearchMode.GLOBAL)
            best = self._challenger_of(followed.box, boxes_img, l, l_choice, conf)
        elif priors is not None:
            priors.settle()
        if best is None:
            if priors is not None:
                priors.restore_schedule(schedule)
            return followed
        box = clip_box(boxes_img[best], image.shape[:2])
        self._remember(box, float(conf.kappa_mem[best]))
        return TrackResult(box, kappa=float(conf.kappa_mvlm[best]), d_corr=float(conf.d_corr[best]),
                           d_cls=float(conf.d_cls[best]), score=float(l[best]), mode=SearchMode.GLOBAL, found=True)

    def _challenger_of(self, followed: np.ndarray, boxes_img, l, l_choice, conf) -> int | None:
        """The global candidate that replaces the followed box, or None. It must be the gate's answer,
        lie off the followed box (centre outside it), beat the followed target's own global candidate
        (its centre inside the box; 0 where the global view has none) by ``recheck_margin`` in l(b),
        and do so in ``recheck_confirm`` looks in a row (the next frame looks again while it is
        pending) with its centre inside the previous look's winner: one look's winner among
        look-alikes is often chance."""
        best, found = gate(conf.kappa_mvlm, l_choice, self.gate_cfg.tau)
        centres = boxes_img[:, :2] + boxes_img[:, 2:] / 2
        on = inside(centres, followed)
        l_followed = float(l[on].max()) if on.any() else 0.0
        if not found or on[best] or l[best] < l_followed + self.search_cfg.recheck_margin:
            self._challenger, self._wins = None, 0
            return None
        repeat = self._challenger is not None and inside(centres[best], self._challenger)
        self._wins, self._challenger = (self._wins + 1 if repeat else 1), boxes_img[best]
        if self._wins < self.search_cfg.recheck_confirm:
            self._roi_run = self.search_cfg.recheck_every  # look again on the next frame
            return None
        self._challenger, self._wins = None, 0
        log.info("re-check: a global candidate beats the followed target by %.2f in l(b); switching",
                 l[best] - l_followed)
        return best

    def _window(self, mode: SearchMode, g: int) -> np.ndarray:
        """Multiplier of l(b) when choosing: the Hann window in ROI mode, never in global mode."""
        if mode is SearchMode.GLOBAL:
            return np.ones(g * g)
        w = self.search_cfg.roi_window
        return (1.0 - w) + w * hann_window(g)

    def _box_window(self, mode: SearchMode, boxes: np.ndarray, cells: int) -> np.ndarray:
        """The Hann window at the centres of non-grid candidates (continuous form of ``hann_window``)."""
        if mode is SearchMode.GLOBAL or not len(boxes):
            return np.ones(len(boxes))
        g = int(round(np.sqrt(cells)))
        centre = np.clip(boxes[:, :2] + boxes[:, 2:] / 2, 0.0, 1.0)
        window = hann((centre * g + 0.5) / (g + 1)).prod(axis=1)  # cell centres land where hann_window puts them
        w = self.search_cfg.roi_window
        return (1.0 - w) + w * window

    def _inherited(self, boxes_img: np.ndarray) -> np.ndarray:
        """kappa_mem_prev per candidate: the memory where it overlaps the remembered box, else NaN."""
        prev = np.full(len(boxes_img), np.nan)
        if self.memory is not None:
            overlap = iou_matrix(boxes_img, self.memory.box[None])[:, 0]
            prev[overlap > self.gate_cfg.memory_iou] = self.memory.kappa_mem
        return prev

    def _remember(self, box: np.ndarray, kappa_mem: float) -> None:
        self.memory = Memory(box.copy(), kappa_mem)
        self._force_global = False
