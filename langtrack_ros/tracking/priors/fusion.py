"""Real-world priors as MVLM candidates: detector boxes, ImageNet class evidence, colour, space.

MVLM's own candidates (one per grid cell) know only what LangTrack-Synth taught them. The priors
add what pretrained real-image networks know, WITHOUT replacing the gate: for every candidate b
(grid cells + detector boxes + ImageNet evidence blobs, all in the search patch)

    e(b)      = max(detector score of the query's classes at b, mean ImageNet class-group probability in b)
    prior(b)  = e(b) * colour factor * spatial factor            (factors 1 when the sentence has no such word)
    l(b)      = (1 - beta) * l_MVLM(b) + beta * prior(b)        classification score
    s(b)      = (1 - beta) * s_MVLM(b) + beta * prior(b)        vision-language correlation

where beta = priors.weight * min(1, max_b e(b) / 0.5): a frame where the priors see nothing of
the named category leaves MVLM's scores as they are (scaling them down would only shrink the
margins the gate reads). The unchanged MVLM gate (margins, kappa_vlm, EWMA memory, tau) chooses among them, so the
ROI/global switching works as the paper says. l_MVLM(b) of a non-grid box is the score map at its
centre; s_MVLM(b) is the exact box average of the correlation map. A sentence with no category
word uses MVLM's own l(b) as e(b) (colour/spatial words still re-rank); a sentence the tables do
not know at all leaves MVLM alone.
"""
from __future__ import annotations

import logging
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from langtrack_ros.config import ConfigError
from langtrack_ros.tracking.box_ops import box_average, intersection_matrix, iou_matrix
from langtrack_ros.tracking.geometry import PatchTransform, warp
from langtrack_ros.tracking.priors import appearance, crops, faces, pose, relations, ssd
from langtrack_ros.tracking.priors.lexicon import Lexicon, QueryPrior
from langtrack_ros.tracking.priors.memory import AppearanceMemory
from langtrack_ros.tracking.priors.motion import MotionEvidence
from langtrack_ros.tracking.priors.schedule import NetOutputs, PriorSchedule
from langtrack_ros.tracking.result import SearchMode

log = logging.getLogger(__name__)


@dataclass
class PriorSettings:
    """The ``priors`` section of config/priors.yaml (no defaults here: the YAML is the table)."""

    enabled: bool
    head_noun: bool
    weight: float
    detector: str
    coco_detector: str
    prefer_coco: bool
    imagenet: str
    detector_min_score: float
    detector_nms_iou: float
    detector_top_k: int
    imagenet_size_global: int
    imagenet_size_roi: int
    imagenet_min_prob: float
    query_heads: bool
    imagenet_in_roi: bool
    imagenet_in_global: bool
    evidence_full: float
    detector_iou_ramp: list
    blob_rel: float
    max_blobs: int
    plausible_rel: float
    colour_inner: float
    colour_weight: float
    colour_full: float
    colour_relative: bool
    words_alone: bool
    spatial_weight: float
    spatial_middle: str
    threads: int
    parallel: bool
    roi_every: int
    carry_min_kappa: float
    part_context: float
    person_aspect: float
    part_inside: float
    part_inside_min_size: float
    memory_weight: float
    memory_min_kappa: float
    memory_rate: float
    memory_top_k: int
    motion: bool
    motion_weight: float
    motion_side: int
    motion_min_inliers: int
    motion_diff: float
    motion_max_fraction: float
    motion_min_area: int
    motion_max_regions: int
    motion_below: float
    motion_boxes: bool
    motion_in_global: bool
    crops: bool
    crops_top_k: int
    crops_size: int
    crops_context: float
    crops_weight: float
    crops_below: float
    crops_small: float
    crops_in_roi: bool
    face_detector: str
    face_min_score: float
    face_context: float
    face_top_k: int
    pose_model: str
    pose_min_presence: float
    pose_min_visibility: float
    pose_context: float
    pose_top_k: int
    relation_weight: float
    tiles: int
    tiles_overlap: float
    tiles_below: float

    def __post_init__(self):
        if isinstance(self.roi_every, bool) or not isinstance(self.roi_every, int) or self.roi_every < 1:
            raise ConfigError(f"priors.roi_every must be an integer >= 1, got {self.roi_every!r}")
        for name in ("weight", "detector_min_score", "detector_nms_iou", "imagenet_min_prob",
                     "colour_weight", "spatial_weight", "memory_weight", "memory_rate", "motion_weight",
                     "motion_max_fraction", "motion_below", "crops_weight", "crops_below", "crops_small",
                     "part_inside", "part_inside_min_size", "face_min_score", "relation_weight", "tiles_below",
                     "pose_min_presence", "pose_min_visibility"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"priors.{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.colour_full <= 1.0 or not 0.0 < self.evidence_full <= 1.0:
            raise ConfigError(f"priors.colour_full and priors.evidence_full must be in (0, 1], got "
                              f"{self.colour_full}, {self.evidence_full}")
        lo_hi = self.detector_iou_ramp
        if len(lo_hi) != 2 or not 0.0 <= lo_hi[0] < lo_hi[1] <= 1.0:
            raise ConfigError(f"priors.detector_iou_ramp must be [lo, hi] with 0 <= lo < hi <= 1, got {lo_hi}")
        if self.spatial_middle not in ("image", "boxes"):
            raise ConfigError(f"priors.spatial_middle must be image or boxes, got {self.spatial_middle!r}")
        if self.tiles < 0 or self.tiles == 1 or not 0.0 <= self.tiles_overlap < 1.0:
            raise ConfigError(f"priors.tiles must be 0 (off) or >= 2 and tiles_overlap in [0, 1), got {self.tiles}, "
                              f"{self.tiles_overlap}")
        if not self.face_context >= 1.0 or self.face_top_k < 0:
            raise ConfigError(f"priors.face_context must be >= 1 and face_top_k >= 0, got {self.face_context}, "
                              f"{self.face_top_k}")
        if not self.pose_context >= 1.0 or self.pose_top_k < 0:
            raise ConfigError(f"priors.pose_context must be >= 1 and pose_top_k >= 0, got {self.pose_context}, "
                              f"{self.pose_top_k}")
        if not self.part_context >= 1.0:
            raise ConfigError(f"priors.part_context must be >= 1, got {self.part_context}")
        if self.motion_side < 32 or self.motion_min_inliers < 3 or self.motion_diff <= 0:
            raise ConfigError(f"priors.motion_side >= 32, motion_min_inliers >= 3 and motion_diff > 0 needed, got "
                              f"{self.motion_side}, {self.motion_min_inliers}, {self.motion_diff}")
        if self.crops_top_k < 1 or self.crops_size < 32 or self.crops_size % 32 or self.crops_context < 1.0:
            raise ConfigError(f"priors.crops_top_k >= 1, crops_size a multiple of 32 and crops_context >= 1 "
                              f"needed, got {self.crops_top_k}, {self.crops_size}, {self.crops_context}")
        for name in ("imagenet_size_global", "imagenet_size_roi"):
            if getattr(self, name) < 32 or getattr(self, name) % 32:
                raise ConfigError(f"priors.{name} must be a multiple of 32, got {getattr(self, name)}")


@dataclass
class Candidates:
    boxes: np.ndarray  # (N, 4) normalised to the search patch
    l: np.ndarray  # fused classification score
    s: np.ndarray  # fused correlation score
    prior: np.ndarray  # prior(b), for inspection


class PriorFusion:
    """Per-query prior state and the per-frame fusion (see the module docstring)."""

    def __init__(self, settings: PriorSettings, lexicon: Lexicon, detector=None, imagenet=None, coco=None, face=None,
                 pose=None):
        self.cfg, self.lexicon = settings, lexicon
        self.detector, self.imagenet, self.coco, self.face, self.pose = detector, imagenet, coco, face, pose
        self.query: QueryPrior | None = None
        self._det_name = "detector"  # which detector serves the query: "detector" (Open Images) or "coco"
        self._det_classes: list[int] = []
        self._imagenet_classes = np.zeros(0, dtype=int)
        self._related_det: tuple[str, list[int]] = ("detector", [])  # who finds the objects of a relation
        self._last_raw = None  # (detector name, frame, raw outputs) of the last global detector run
        self.schedule = PriorSchedule(settings.roi_every, settings.carry_min_kappa)
        self.memory = AppearanceMemory(settings.memory_min_kappa, settings.memory_rate, settings.colour_inner)
        c = settings
        self.motion = MotionEvidence(c.motion_side, c.motion_min_inliers, c.motion_diff, c.motion_max_fraction,
                                     c.motion_min_area, c.motion_max_regions) if c.motion else None
        self.crops = crops.CropEvidence(imagenet, c.crops_size, c.crops_context) if c.crops and imagenet else None
        self._camera: tuple[np.ndarray, float] | None = None
        self._pool: ThreadPoolExecutor | None = None  # the prior nets' worker (``parallel``), made on first use
        self._pending: tuple[tuple, Future] | None = None  # (what it was started for, its outputs)

    def camera_frame(self, frame: np.ndarray, zoom: float) -> None:
        """The camera's frame before the tracker downscaled it (``zoom`` camera pixels per working
        pixel: a number or per axis x, y, x, y): candidate crops are cut from it (crops.py), where a
        small target still has pixels."""
        self._camera = (frame, zoom)

    # --- query -----------------------------------------------------------------------------
    def set_query(self, text: str) -> QueryPrior:
        self.settle()
        return self._apply_query(text)

    def _apply_query(self, text: str) -> QueryPrior:
        """set_query without waiting for the worker (a prior model failing on the worker re-applies
        the query from there)."""
        q = self.lexicon.parse(text)
        self.query = q
        self.schedule.reset()
        self.memory.reset()
        if self.motion is not None:
            self.motion.reset()
        cat = q.category
        self._det_name, self._det_classes = self._query_detector(cat)
        labels = getattr(getattr(self, self._det_name), "labels", [])
        imagenet = cat.imagenet if cat and self.imagenet and not q.part else ()  # no ImageNet class is a face
        self._imagenet_classes = np.asarray(imagenet, dtype=int)
        related = q.relation is not None and self.cfg.relation_weight > 0
        self._related_det = self._query_detector(q.relation[1]) if related else ("detector", [])
        self._keep_heads()
        if q.head is not None:
            log.info("query %r: head noun %r is not in the prior tables (or is a part of something they cannot "
                     "cut it from); its category is left to MVLM", text, q.head)
        if not q.known:
            log.info("query %r: no category, colour or spatial word the priors know; plain MVLM", text)
        else:
            log.info("query %r: category %s%s (%s classes %s, %d ImageNet classes), colour %s, spatial %s, relation %s",
                     text, cat.name if cat else None, f" (part: {q.part.name})" if q.part else "", self._det_name,
                     [labels[i] for i in self._det_classes], len(self._imagenet_classes), q.colour, _spatial_words(q),
                     _relation_words(q))
        return q

    def _keep_heads(self) -> None:
        """``query_heads``: each SSD computes only the classes this query reads from it (the target's
        and the relation's; prior_models.SSDDetector.keep_classes), else all of them."""
        for name in ("detector", "coco"):
            net = getattr(self, name)
            if net is None or not hasattr(net, "keep_classes"):
                continue
            wanted = [c for det, classes in ((self._det_name, self._det_classes), self._related_det)
                      if det == name for c in classes]
            net.keep_classes(wanted if self.cfg.query_heads and wanted else None)

    def wait_heads(self) -> None:
        """Block until the SSDs compute only this query's classes (the cut is built on a worker;
        until then they compute every class, with the same answers): benchmarks time the steady state."""
        for net in (self.detector, self.coco):
            getattr(net, "wait_cut", lambda: None)()

    def _query_detector(self, cat) -> tuple[str, list[int]]:
        """The detector (attribute name) and its class indices for a category: the Open Images SSD
        when it knows the category, else the COCO SSD (the other way round with ``prefer_coco``)."""
        order = [("detector", "detector"), ("coco", "coco")]
        for name, field in (order[::-1] if self.cfg.prefer_coco else order):
            labels = getattr(getattr(self, name), "labels", [])
            classes = [labels.index(c) for c in (getattr(cat, field) if cat else ()) if c in labels]
            if classes:
                return name, classes
        return "detector", []

    @property
    def active(self) -> bool:
        """Something to add: evidence of the named category, or (``words_alone``) a colour/spatial
        word to check against MVLM's own candidates."""
        q = self.query
        if not (self.cfg.enabled and self.cfg.weight > 0 and q is not None):
            return False
        words = (q.colour is not None and self.cfg.colour_weight > 0) or \
            (q.spatial is not None and self.cfg.spatial_weight > 0)
        return self.has_category_evidence or (words and self.cfg.words_alone)

    @property
    def has_category_evidence(self) -> bool:
        return bool(self._det_classes) or len(self._imagenet_classes) > 0

    # --- per frame -------------------------------------------------------------------------
    def prefetch(self, image: np.ndarray, t: PatchTransform, mode: SearchMode, anchor: np.ndarray | None) -> None:
        """Start this frame's prior networks on a worker thread (``priors.parallel``), so they run
        while MVLM's own network runs on the caller's thread: their inputs (the frame, the search
        patch, the last box) are known before MVLM answers, and both release the GIL inside ONNX
        Runtime, so on a 2-core robot CPU a frame costs the longer of the two instead of their sum.
        ``fuse`` then takes the outputs; the answer is the same as running them there. Frames where
        the schedule carries the last outputs instead (a template match) stay on the caller's thread."""
        if not self.cfg.parallel or not self.active or not self.schedule.due(mode):
            return
        self.settle()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="prior-nets")
            weakref.finalize(self, self._pool.shutdown, wait=False)
        anchor = None if anchor is None else np.array(anchor, dtype=np.float64)
        self._pending = ((image, t, mode), self._pool.submit(self._nets, image, t, mode, anchor))

    def schedule_state(self) -> dict:
        """What the ROI schedule carries (schedule.py), to put back after a look that changes nothing
        (the tracker's global re-check): the frames after it then run exactly as without the look."""
        return dict(vars(self.schedule))

    def restore_schedule(self, state: dict) -> None:
        vars(self.schedule).update(state)

    def settle(self) -> None:
        """Wait for a started run whose frame was never fused (MVLM's network failed on it) and drop
        it: the schedule counts it as run, nothing else is kept."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending[1].result()

    def _frame_nets(self, image, t: PatchTransform, mode, anchor) -> NetOutputs:
        """This frame's prior net outputs: from the worker when ``prefetch`` started them for this
        very frame and patch, else computed here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            nets = pending[1].result()
            started = pending[0]
            if started[0] is image and started[1] == t and started[2] is mode:
                return nets
        return self._nets(image, t, mode, anchor)

    def fuse(self, image: np.ndarray, t: PatchTransform, mode: SearchMode, boxes: np.ndarray,
             l: np.ndarray, s: np.ndarray, out: dict, anchor: np.ndarray | None = None) -> Candidates:
        """MVLM grid candidates (boxes, l, s) + prior candidates -> fused candidates. ``anchor``:
        the tracker's last box in image pixels (where a part target's owner is)."""
        nets = self._frame_nets(image, t, mode, anchor)
        det_boxes, det_p, cam = nets.det_boxes, nets.det_p, nets.cam
        mot_boxes, mot_p = self._moving(image, t, mode)
        extra = [det_boxes] + ([self._blobs(cam)] if cam is not None else []) + \
            ([mot_boxes] if self.cfg.motion_boxes else [])
        extra = np.concatenate(extra)
        all_boxes = np.concatenate([boxes, extra])
        l_m = np.concatenate([l, sample_map(out["score_map"], extra)])
        s_m = np.concatenate([s, box_average(out["corr_map"], extra) if len(extra) else np.zeros(0)])
        evidence = self._evidence(all_boxes, det_boxes, det_p, cam, l_m)
        evidence = self._with_motion(evidence, all_boxes, mot_boxes, mot_p)
        evidence = self._with_crops(evidence, all_boxes, l_m, image, t, mode)
        spatial = self._spatial(all_boxes, evidence, mode, t, image.shape[1])
        spatial = spatial * self._relation(image, t, all_boxes, nets.related)
        prior = evidence * self._colour(image, t, all_boxes) * spatial
        prior = prior * self._remembered(image, t, all_boxes, prior)
        beta = self.cfg.weight * min(1.0, float(evidence.max(initial=0.0)) / self.cfg.evidence_full)
        return Candidates(all_boxes, (1 - beta) * l_m + beta * prior, (1 - beta) * s_m + beta * prior, prior)

    def _nets(self, image, t: PatchTransform, mode, anchor) -> NetOutputs:
        """The prior networks' outputs for this frame: run now, or carried from their last run
        (schedule.py: every frame in global search, one ROI frame in ``roi_every``)."""
        if self.schedule.due(mode):
            return self.schedule.store(NetOutputs(t, *self._detections(image, t, mode, anchor),
                                                  self._class_map(image, t, mode), self._related(image, t, mode)),
                                       mode, image, anchor)
        nets = self.schedule.carried(t, image)
        if not self._imagenet_wanted(mode):
            nets.cam = None
        return nets

    def _imagenet_wanted(self, mode) -> bool:
        """For a category with detector classes, ImageNet evidence only where configured (it costs
        about as much as the detector); for the others it is the only class evidence."""
        if not self._det_classes:
            return True
        return self.cfg.imagenet_in_roi if mode is SearchMode.ROI else self.cfg.imagenet_in_global

    def _detections(self, image, t: PatchTransform, mode, anchor=None) -> tuple[np.ndarray, np.ndarray]:
        """Detector boxes of the query's classes in the search region (patch-normalised) and scores;
        for a part target, the part's region of each owner box."""
        if getattr(self, self._det_name) is None or not self._det_classes:
            return np.zeros((0, 4)), np.zeros(0)
        region = self._detector_region(t, anchor)
        raw = self._run(self._det_name, warp(image, region) if mode is SearchMode.ROI else
                        cv2.resize(image, (ssd.INPUT, ssd.INPUT), interpolation=cv2.INTER_AREA))
        if raw is None:
            return np.zeros((0, 4)), np.zeros(0)
        if mode is SearchMode.GLOBAL:
            self._last_raw = (self._det_name, image, raw)
        boxes, p = self._decoded(raw, self._det_classes, image, t, None if mode is SearchMode.GLOBAL else region)
        if mode is SearchMode.GLOBAL and self.cfg.tiles and p.max(initial=0.0) < self.cfg.tiles_below:
            boxes, p = self._tiled(image, t, boxes, p)
        if not self.query.part:
            return boxes, p
        parts, placed = self._faces(image, t, part_boxes(boxes, self.query.part.region, self.cfg.person_aspect))
        parts, p = self._poses(image, t, mode, boxes, parts, p, placed)
        return self._anchor_face(image, t, mode, parts, p, anchor)

    def _decoded(self, raw, classes, image, t: PatchTransform, region) -> tuple[np.ndarray, np.ndarray]:
        """Detector outputs -> patch-normalised boxes of ``classes`` and scores, thresholded and NMSed;
        ``region``: where the detector looked (None: the whole frame, resized like its training data)."""
        boxes, p = ssd.decode(raw[0], raw[1], classes)
        if region is None:
            h, w = image.shape[:2]
            boxes = t.box_to_patch(boxes * np.array([w, h, w, h]))
        else:
            boxes = t.box_to_patch(region.box_to_image(boxes))
        ok = (p >= self.cfg.detector_min_score) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        boxes, p = boxes[ok], p[ok]
        keep = ssd.nms(boxes, p, self.cfg.detector_nms_iou, self.cfg.detector_top_k)
        return boxes[keep], p[keep]

    def _tiled(self, image, t: PatchTransform, boxes, p) -> tuple[np.ndarray, np.ndarray]:
        """Global search that found nothing sure in the whole frame: the detector again on square
        tiles (``tiles`` across the longer side, ``tiles_overlap``), each resized to its input, so
        a target a few pixels large in the 300 px view of the whole frame has more pixels."""
        h, w = image.shape[:2]
        side = (1 + self.cfg.tiles_overlap) * max(w, h) / self.cfg.tiles
        found_b, found_p = [boxes], [p]
        for x0 in _tile_starts(w, side, max(w, h), self.cfg.tiles):
            for y0 in _tile_starts(h, side, max(w, h), self.cfg.tiles):
                region = PatchTransform(x0, y0, side / ssd.INPUT, ssd.INPUT)
                raw = self._run(self._det_name, warp(image, region))
                if raw is None:
                    return boxes, p
                b, q = self._decoded(raw, self._det_classes, image, t, region)
                found_b.append(b)
                found_p.append(q)
        boxes, p = np.concatenate(found_b), np.concatenate(found_p)
        keep = ssd.nms(boxes, p, self.cfg.detector_nms_iou, self.cfg.detector_top_k)
        return boxes[keep], p[keep]

    def _related(self, image, t: PatchTransform, mode) -> np.ndarray:
        """Global search only: the objects the sentence relates the target to (patch-normalised),
        from the detector that knows their category; its run of this frame is reused when the
        target's detector is the same one."""
        name, classes = self._related_det
        if mode is not SearchMode.GLOBAL or not classes or getattr(self, name) is None:
            return np.zeros((0, 4))
        last = self._last_raw
        if last is not None and last[0] == name and last[1] is image:
            raw = last[2]
        else:
            raw = self._run(name, cv2.resize(image, (ssd.INPUT, ssd.INPUT), interpolation=cv2.INTER_AREA))
        if raw is None:
            return np.zeros((0, 4))
        return self._decoded(raw, classes, image, t, None)[0]

    def _faces(self, image, t: PatchTransform, parts) -> tuple[np.ndarray, np.ndarray]:
        """Face and head targets: each of the ``face_top_k`` best part boxes moves onto the face
        BlazeFace finds around it (faces.py); the others keep their geometry. Also returns which
        boxes a face placed."""
        placed = np.zeros(len(parts), dtype=bool)
        name = self.query.part.name
        if self.face is None or name not in ("face", "head"):
            return parts, placed
        parts = parts.copy()
        for i in range(min(self.cfg.face_top_k, len(parts))):
            found = self._face_near(image, t.box_to_image(parts[i]))
            if found is not None:
                parts[i], placed[i] = t.box_to_patch(faces.as_part(found[0], name)), True
        return parts, placed

    def _poses(self, image, t: PatchTransform, mode, owners, parts, p, placed) -> tuple[np.ndarray, np.ndarray]:
        """Body parts by pose (pose.py): each of the ``pose_top_k`` best owners (person boxes) that no
        face placed gets BlazePose on a crop around it (in the ROI, where one person is followed, only
        the best one); its part box moves onto the landmarks, and a second side (the other hand, arm
        or foot) joins as a candidate with the owner's score."""
        if self.pose is None or self.query.part.name not in pose.GROUPS:
            return parts, p
        top_k = 1 if mode is SearchMode.ROI else self.cfg.pose_top_k
        parts, p, extra, extra_p = parts.copy(), p.copy(), [], []
        for i in range(min(top_k, len(owners))):
            if placed[i]:
                continue
            found = self._pose_parts(image, t.box_to_image(owners[i]))
            if found:
                parts[i] = t.box_to_patch(found[0])
                extra += [t.box_to_patch(b) for b in found[1:]]
                extra_p += [p[i]] * (len(found) - 1)
        return self._with_extra(parts, p, extra, extra_p)

    def _with_extra(self, parts, p, extra: list, extra_p: list) -> tuple[np.ndarray, np.ndarray]:
        """Part boxes with ``extra`` candidates joined (NMS and top k as for detections)."""
        if not extra:
            return parts, p
        parts, p = np.concatenate([parts, np.reshape(extra, (-1, 4))]), np.concatenate([p, extra_p])
        keep = ssd.nms(parts, p, self.cfg.detector_nms_iou, self.cfg.detector_top_k)
        return parts[keep], p[keep]

    def _pose_parts(self, image, owner_img) -> list[np.ndarray]:
        """The query's part boxes (image pixels) from BlazePose around one person box; [] when it
        finds no person there or failed (``_run`` switched it off)."""
        if owner_img[2] <= 0 or owner_img[3] <= 0:
            return []
        crop, crop_at = faces.crop_square(image, owner_img, self.cfg.pose_context, pose.INPUT)
        raw = self._run("pose", crop)
        decoded = None if raw is None else pose.decode(raw, crop_at, self.cfg.pose_min_presence)
        if decoded is None:
            return []
        return pose.part_boxes(self.query.part.name, *decoded, owner_img, self.cfg.pose_min_visibility)

    def _anchor_face(self, image, t: PatchTransform, mode, parts, p, anchor) -> tuple[np.ndarray, np.ndarray]:
        """Face and head targets in ROI mode: a face around the last box joins the candidates (a
        close-up face whose person the detector missed)."""
        name = self.query.part.name
        if self.face is None or name not in ("face", "head") or mode is not SearchMode.ROI or anchor is None:
            return parts, p
        found = self._face_near(image, np.asarray(anchor, dtype=np.float64))
        if found is None:
            return parts, p
        return self._with_extra(parts, p, [t.box_to_patch(faces.as_part(found[0], name))], [found[1]])

    def _face_near(self, image, box_img):
        """The best face around an image-pixel box, or None (also when the face model failed: ``_run``
        switches it off with one warning, as any prior model)."""
        if self.face is None or box_img[2] <= 0 or box_img[3] <= 0:
            return None
        crop, crop_at = faces.crop_square(image, box_img, self.cfg.face_context)
        raw = self._run("face", crop)
        return None if raw is None else faces.best_face(raw, crop_at, self.cfg.face_min_score)

    def _detector_region(self, t: PatchTransform, anchor) -> PatchTransform:
        """In ROI mode the detector sees MVLM's square region; for a part target (a face) the square
        ``part_context`` times the side of the owner (the person) that the last part box implies."""
        side, cx, cy = t.scale * t.size, t.x0 + t.scale * t.size / 2, t.y0 + t.scale * t.size / 2
        if self.query.part is not None and anchor is not None:
            owner = owner_boxes(np.asarray(anchor, dtype=np.float64)[None], self.query.part.region)[0]
            side = self.cfg.part_context * max(owner[2], owner[3])
            cx, cy = owner[0] + owner[2] / 2, owner[1] + owner[3] / 2
        return PatchTransform(cx - side / 2, cy - side / 2, side / ssd.INPUT, ssd.INPUT)

    def _run(self, which: str, patch: np.ndarray):
        """Run a prior model; one that fails at run time is switched off with one warning (the
        tracker keeps serving with plain MVLM for what it covered)."""
        try:
            return getattr(self, which)(patch)
        except Exception as exc:  # onnxruntime raises its own types; any failure means the same here
            log.warning("prior model %s failed (%s: %s); switched off for this tracker", which,
                        type(exc).__name__, exc)
            setattr(self, which, None)
            self._apply_query(self.query.text)
            return None

    def _class_map(self, image, t: PatchTransform, mode) -> np.ndarray | None:
        """(S, S) probability of the query's ImageNet class group over the search patch, or None."""
        if self.imagenet is None or not len(self._imagenet_classes):
            return None
        if not self._imagenet_wanted(mode):
            return None
        n = self.cfg.imagenet_size_global if mode is SearchMode.GLOBAL else self.cfg.imagenet_size_roi
        logits = self._run("imagenet", warp(image, PatchTransform(t.x0, t.y0, t.scale * t.size / n, n)))
        if logits is None:
            return None
        logits = logits - logits.max(axis=0, keepdims=True)
        prob = np.exp(logits)
        group = prob[self._imagenet_classes].sum(axis=0) / prob.sum(axis=0)
        return cv2.resize(group.astype(np.float32), (t.size, t.size), interpolation=cv2.INTER_LINEAR)

    def _blobs(self, cam: np.ndarray) -> np.ndarray:
        """Boxes around connected regions of high class probability (normalised), at most 4."""
        peak = float(cam.max())
        if peak < self.cfg.imagenet_min_prob:
            return np.zeros((0, 4))
        n, _, stats, _ = cv2.connectedComponentsWithStats((cam >= self.cfg.blob_rel * peak).astype(np.uint8))
        stats = sorted(stats[1:], key=lambda r: -r[cv2.CC_STAT_AREA])[:self.cfg.max_blobs]
        return np.array([[x, y, w, h] for x, y, w, h, _ in stats], dtype=np.float64).reshape(-1, 4) / cam.shape[0]

    def _evidence(self, boxes, det_boxes, det_p, cam, l_m) -> np.ndarray:
        if not self.has_category_evidence:
            return np.clip(l_m, 0.0, 1.0)
        e = np.zeros(len(boxes))
        if len(det_boxes):  # a box overlapping a detection (IoU ramp lo -> hi) takes its score
            lo, hi = self.cfg.detector_iou_ramp
            overlap = np.clip((iou_matrix(boxes, det_boxes) - lo) / (hi - lo), 0.0, 1.0)
            e = np.maximum(e, (overlap * det_p[None]).max(axis=1))
            if self.query.part is not None and self.cfg.part_inside > 0:
                e = np.maximum(e, (inside_part(boxes, det_boxes, self.cfg.part_inside,
                                                 self.cfg.part_inside_min_size) * det_p[None]).max(axis=1))
        if cam is not None:
            e = np.maximum(e, patch_box_mean(cam, boxes))
        return e

    def _moving(self, image, t: PatchTransform, mode) -> tuple[np.ndarray, np.ndarray]:
        """Moving regions (motion.py) whose centres are in the search patch: patch-normalised boxes,
        scores. Measured on every frame the priors see (the previous frame is always the last one);
        used in global search only with ``motion_in_global``."""
        if self.motion is None:
            return np.zeros((0, 4)), np.zeros(0)
        moving = self.motion.update(image)
        if mode is SearchMode.GLOBAL and not self.cfg.motion_in_global:
            return np.zeros((0, 4)), np.zeros(0)
        boxes = t.box_to_patch(moving.boxes).reshape(-1, 4)
        centre = boxes[:, :2] + boxes[:, 2:] / 2
        inside = ((centre >= 0) & (centre <= 1)).all(axis=1)
        return boxes[inside], moving.scores[inside]

    def _with_motion(self, evidence, boxes, mot_boxes, mot_p) -> np.ndarray:
        """Motion fills in where the class evidence is weak: when no candidate reaches
        ``motion_below``, e(b) = max(e(b), motion_weight * motion score of the overlapping moving
        region (same IoU ramp as a detection)). A frame whose named category the nets see keeps
        their evidence, so a moving bystander cannot outrank a detected target."""
        if not len(mot_boxes) or evidence.max(initial=0.0) >= self.cfg.motion_below:
            return evidence
        lo, hi = self.cfg.detector_iou_ramp
        overlap = np.clip((iou_matrix(boxes, mot_boxes) - lo) / (hi - lo), 0.0, 1.0)
        return np.maximum(evidence, self.cfg.motion_weight * (overlap * mot_p[None]).max(axis=1))

    def _with_crops(self, evidence, boxes, l_m, image, t: PatchTransform, mode) -> np.ndarray:
        """Crop evidence (crops.py) for the ``crops_top_k`` best small candidates (under ``crops_small``
        of the frame's area; by max(MVLM score, evidence), after NMS) in frames where no candidate's
        evidence reaches ``crops_below``: e(b) = max(e(b), crops_weight * crop probability). Large
        candidates keep their evidence: the whole-patch nets see them, and a crop of part of a large
        object would lend the object's class to a box of the wrong size. In ROI search only with
        ``crops_in_roi`` (there a same-class distractor raised by its crop can take over the track)."""
        if self.crops is None or self.imagenet is None or not len(self._imagenet_classes) or not len(boxes):
            return evidence
        if mode is SearchMode.ROI and not self.cfg.crops_in_roi:
            return evidence
        if evidence.max(initial=0.0) >= self.cfg.crops_below:
            return evidence
        h, w = image.shape[:2]
        img = t.box_to_image(boxes)
        small = img[:, 2] * img[:, 3] < self.cfg.crops_small * h * w
        if not small.any():
            return evidence
        frame, zoom = self._camera if self._camera is not None else (image, 1.0)
        zoom = np.broadcast_to(np.asarray(zoom, dtype=np.float64), (4,))  # camera px per working px: x, y, x, y
        if abs(frame.shape[1] / zoom[0] - w) > 1 or abs(frame.shape[0] / zoom[1] - h) > 1:  # not this frame's
            frame, zoom = image, np.ones(4)
        top = crops.pick(boxes, np.where(small, np.maximum(l_m, evidence), np.nan), self.cfg.crops_top_k)
        try:
            p = self.crops.evidence(frame, img[top] * zoom, self._imagenet_classes)
        except Exception as exc:  # onnxruntime raises its own types; any failure means the same here
            log.warning("crop evidence failed (%s: %s); switched off for this tracker", type(exc).__name__, exc)
            self.crops = None
            return evidence
        out = evidence.copy()
        out[top] = np.maximum(out[top], self.cfg.crops_weight * p)
        return out

    def _colour(self, image, t: PatchTransform, boxes) -> np.ndarray:
        q, w = self.query, self.cfg.colour_weight
        if q.colour is None or w == 0:
            return np.ones(len(boxes))
        owner = owner_boxes(boxes, q.part.region) if q.part and q.colour_region is not None else boxes
        match = self._colour_fit(image, t, owner, q.colour, q.colour_region)
        if self.cfg.colour_relative and match.max() > 0:  # what no candidate shows cannot rank them
            match = match / match.max()
        return (1 - w) + w * match

    def _colour_fit(self, image, t: PatchTransform, boxes, colour: str, region) -> np.ndarray:
        """(N,) in [0, 1]: how much of each box shows ``colour``, full at ``colour_full``; on the box's
        ``region`` when given (a garment), else on the box's centre part (``colour_inner``)."""
        where = sub_boxes(boxes, region) if region is not None else boxes
        frac = appearance.colour_fractions(image, t.box_to_image(where), colour, self.lexicon,
                                           0.0 if region is not None else self.cfg.colour_inner)
        return np.clip(frac / self.cfg.colour_full, 0.0, 1.0)

    def observe(self, image: np.ndarray, box: np.ndarray, kappa: float, found: bool) -> None:
        """The tracker's answer of this frame (image pixels): confident ones feed the memory; an
        unsure one makes the prior nets run on the next frame."""
        self.schedule.observe(kappa, found)
        if self.cfg.memory_weight > 0:
            self.memory.observe(image, box, kappa, found)

    def _remembered(self, image, t: PatchTransform, boxes, prior) -> np.ndarray:
        """Factor (1 - w) + w * similarity to the remembered appearance, for the ``memory_top_k``
        best candidates by prior; the others keep (1 - w). 1 everywhere while nothing is remembered."""
        w = self.cfg.memory_weight
        if self.memory.hist is None or w == 0 or not len(boxes):
            return np.ones(len(boxes))
        top = np.argsort(-prior)[:self.cfg.memory_top_k]
        sim = np.zeros(len(boxes))
        sim[top] = self.memory.similarity(image, t.box_to_image(boxes[top]))
        return (1 - w) + w * sim

    def _relation(self, image, t: PatchTransform, boxes, related) -> np.ndarray:
        """Factor (1 - w) + w * how well each candidate stands in the sentence's relation to the
        objects found (relations.py), each object counted as far as it shows the colour the sentence
        gives it; 1 when none was found (nothing to relate to says nothing)."""
        w = self.cfg.relation_weight
        if self.query.relation is None or w == 0 or not len(related):
            return np.ones(len(boxes))
        kind, other = self.query.relation
        return (1 - w) + w * relations.match(kind, boxes, related, same_kind=other is self.query.category,
                                             weights=self._object_colour(image, t, related))

    def _object_colour(self, image, t: PatchTransform, objects) -> np.ndarray | None:
        """(M,) in [0, 1]: how much each object of the relation shows its colour ("the man in red":
        on the whole box; "in the red shirt": on that part's region), relative to the best one, as
        for the target's own colour. None: the sentence gives the object no colour."""
        if self.query.relation_colour is None:
            return None
        fit = self._colour_fit(image, t, objects, *self.query.relation_colour)
        return fit / fit.max() if fit.max() > 0 else np.ones(len(objects))  # none shows it: it says nothing

    def _spatial(self, boxes, evidence, mode, t: PatchTransform, image_w: int) -> np.ndarray:
        """Spatial words rank candidates in global search only: in an ROI crop 'left' means nothing.
        "In the middle" is the image's centre column (``spatial_middle: image``) or the median of
        the plausible candidates (``boxes``: one object proposed three times pulls it to itself)."""
        q, w = self.query, self.cfg.spatial_weight
        if q.spatial is None or w == 0 or mode is not SearchMode.GLOBAL or not len(boxes):
            return np.ones(len(boxes))
        plausible = evidence >= self.cfg.plausible_rel * evidence.max()
        middle_x = t.box_to_patch(np.array([image_w / 2, 0.0, 0.0, 0.0]))[0] \
            if self.cfg.spatial_middle == "image" else None
        return (1 - w) + w * appearance.spatial_rank(boxes, q.spatial, plausible, q.spatial_order, q.spatial_also,
                                                     middle_x)


def _spatial_words(q) -> str | None:
    """The spatial words as understood, for the log: "left", "bottom+left", "left #2"."""
    if q.spatial is None:
        return None
    return q.spatial + (f"+{q.spatial_also}" if q.spatial_also else "") + (f" #{q.spatial_order}" if q.spatial_order > 1 else "")


def _relation_words(q: QueryPrior) -> str | None:
    """The relation as the log line shows it: "near person (red)"."""
    if q.relation is None:
        return None
    return f"{q.relation[0]} {q.relation[1].name}" + (f" ({q.relation_colour[0]})" if q.relation_colour else "")


def _tile_starts(length: float, side: float, longer: float, tiles: int) -> np.ndarray:
    """Start coordinates of the tiles along one image axis: ``tiles`` along the longer axis, in
    proportion along the other; a tile longer than the axis is centred on it."""
    k = max(1, round(length / longer * tiles))
    return np.linspace(0.0, length - side, k) if k > 1 and length > side else np.array([(length - side) / 2])


def sub_boxes(boxes: np.ndarray, region) -> np.ndarray:
    """The ``region`` [x0, y0, x1, y1] (fractions) of each xywh box."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = region
    return np.stack([b[:, 0] + x0 * b[:, 2], b[:, 1] + y0 * b[:, 3], (x1 - x0) * b[:, 2], (y1 - y0) * b[:, 3]], axis=1)


def part_boxes(owners: np.ndarray, region, full_aspect: float) -> np.ndarray:
    """The part ``region`` of each owner box, for owners seen only in part: a box less tall (h/w)
    than a whole upright person (``full_aspect``) is taken as its top part (a head-and-shoulders
    shot), so the region's vertical fractions stretch by full_aspect / (h/w), clipped to the box."""
    b = np.asarray(owners, dtype=np.float64).reshape(-1, 4)
    if full_aspect <= 0:
        return sub_boxes(b, region)
    stretch = np.maximum(1.0, full_aspect * b[:, 2] / np.maximum(b[:, 3], 1e-9))
    x0, y0, x1, y1 = region
    top, bottom = np.minimum(y0 * stretch, 0.95), np.minimum(y1 * stretch, 1.0)
    return np.stack([b[:, 0] + x0 * b[:, 2], b[:, 1] + top * b[:, 3], (x1 - x0) * b[:, 2],
                     (bottom - top) * b[:, 3]], axis=1)


def inside_part(boxes: np.ndarray, parts: np.ndarray, min_inside: float, min_size: float) -> np.ndarray:
    """(N, M): 1 where candidate n lies at least ``min_inside`` of its area inside part box m and
    has at least ``min_size`` of its area (no speck), else 0. A part box is the part's place in a person box by the
    body's proportions; the network's own face box is usually tighter and placed better, but its
    IoU with the geometric box can stay under the ramp and lose the detection's evidence."""
    a = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(parts, dtype=np.float64).reshape(-1, 4)
    inter = intersection_matrix(a, b)
    area_a, area_b = (a[:, 2] * a[:, 3])[:, None], (b[:, 2] * b[:, 3])[None]
    ok = (inter >= min_inside * area_a) & (area_a >= min_size * area_b) & (area_a > 0)
    return ok.astype(np.float64)


def owner_boxes(parts: np.ndarray, region) -> np.ndarray:
    """Inverse of :func:`sub_boxes`: the owner box whose ``region`` is each part box."""
    b = np.asarray(parts, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = region
    w, h = b[:, 2] / (x1 - x0), b[:, 3] / (y1 - y0)
    return np.stack([b[:, 0] - x0 * w, b[:, 1] - y0 * h, w, h], axis=1)


def sample_map(grid: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Value of a (G, G) map at each normalised box centre (the cell containing it)."""
    g = grid.shape[-1]
    if not len(boxes):
        return np.zeros(0)
    cx = np.clip(((boxes[:, 0] + boxes[:, 2] / 2) * g).astype(int), 0, g - 1)
    cy = np.clip(((boxes[:, 1] + boxes[:, 3] / 2) * g).astype(int), 0, g - 1)
    return np.asarray(grid, dtype=np.float64).reshape(g, g)[cy, cx]


def patch_box_mean(prob: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mean of an (S, S) map over the part of each normalised box inside the patch (>= one pixel)."""
    size = prob.shape[0]
    table = cv2.integral(prob.astype(np.float64))
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * size
    x0 = np.clip(np.floor(b[:, 0]), 0, size - 1).astype(int)
    y0 = np.clip(np.floor(b[:, 1]), 0, size - 1).astype(int)
    x1 = np.maximum(np.clip(np.ceil(b[:, 0] + b[:, 2]), 0, size), x0 + 1).astype(int)
    y1 = np.maximum(np.clip(np.ceil(b[:, 1] + b[:, 3]), 0, size), y0 + 1).astype(int)
    return (table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]) / ((x1 - x0) * (y1 - y0))
