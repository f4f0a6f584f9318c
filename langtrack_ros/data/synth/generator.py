"""LangTrack-Synth sequences: ``generate_sequence(seed, split)`` -> frames, boxes, flags, sentences.

``seed`` is the sequence index inside a split; the RNG seed is ``split.seed_start + seed`` (ranges
in ``config/synth.yaml`` never overlap, so splits are disjoint). Planning a sequence is cheap (a
few ms); frames are rendered on demand by compositing cached sprites over a background plate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from langtrack_ros.data.sequence import QuerySwitch, Sequence

from .language import describe, negative_sentence
from .planner import build_scene
from .scene import Scene, SceneObject
from .settings import SynthConfig

MAX_ATTEMPTS = 25


@lru_cache(maxsize=1)
def default_config() -> SynthConfig:
    return SynthConfig.load()


@dataclass
class SynthSequence:
    """A generated sequence. ``boxes`` (N, 4) xywh are NaN where the target is out of view."""

    name: str
    split: str
    index: int
    width: int
    height: int
    scene: Scene
    boxes: np.ndarray
    full_occlusion: np.ndarray  # (N,) bool
    out_of_view: np.ndarray  # (N,) bool
    target_ids: np.ndarray  # (N,) int: object the active query names
    sentence: str
    switches: list[QuerySwitch] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def visible(self) -> np.ndarray:
        return ~(self.full_occlusion | self.out_of_view)

    @property
    def objects(self) -> list[SceneObject]:
        return self.scene.objects

    @property
    def category(self) -> str:
        return self.objects[int(self.target_ids[0])].category

    @property
    def frames(self) -> "FrameList":
        return FrameList(self)

    def render(self, index: int, skip: tuple[int, ...] = ()) -> np.ndarray:
        return render_frame(self, index, skip)

    def negative_sentence(self, rng: np.random.Generator) -> str:
        """A sentence naming an object that is not in this scene."""
        return negative_sentence(self.objects, rng)

    def to_sequence(self) -> Sequence:
        """The common Sequence, reading its images by rendering from memory."""
        paths = [Path(self.name) / f"{i + 1:08d}.jpg" for i in range(len(self))]
        lookup = {p: i for i, p in enumerate(paths)}
        return Sequence(
            name=self.name, frames=paths, boxes=self.boxes.copy(), visible=self.visible, sentence=self.sentence,
            switches=list(self.switches), dataset="synth", image_reader=lambda p: self.render(lookup[Path(p)]),
        )


class FrameList:
    """Lazy list of rendered RGB frames."""

    def __init__(self, seq: SynthSequence):
        self.seq = seq

    def __len__(self) -> int:
        return len(self.seq)

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.seq.render(i % len(self))

    def __iter__(self):
        return (self.seq.render(i) for i in range(len(self)))


def generate_sequence(seed: int, split: str = "train", cfg: SynthConfig | None = None,
                      length: int | None = None) -> SynthSequence:
    """Sequence number ``seed`` of ``split``; ``length`` overrides the split's frame-count range."""
    cfg = cfg or default_config()
    spec = cfg.split(split)
    if not 0 <= seed < spec.count:
        raise ValueError(f"synth split {split!r} has sequences 0..{spec.count - 1}, got seed {seed}")
    if length is not None and length < 2:
        raise ValueError(f"synth sequence length must be >= 2, got {length}")
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([spec.seed_start + seed, attempt])
        n = int(length or rng.integers(spec.length[0], spec.length[1] + 1))
        scene = build_scene(rng, cfg, spec.difficulty, n)
        sentences = query_sentences(scene, n, rng, spec.difficulty.p_extra_relation)
        if sentences is None:
            continue
        target_ids = np.zeros(n, int)
        for frame, obj in scene.queries:
            target_ids[frame:] = obj
        boxes, full, oov = ground_truth(scene, target_ids, cfg)
        if not any(full[f] or oov[f] for f, _ in scene.queries):  # each query starts on a visible target
            break
    else:
        raise RuntimeError(f"synth {split} #{seed}: no valid scene (unambiguous, visible at each query) "
                           f"in {MAX_ATTEMPTS} attempts")
    switches = [QuerySwitch(f, s) for (f, _), s in zip(scene.queries[1:], sentences[1:])]
    return SynthSequence(f"{split}-{seed:07d}", split, seed, cfg.width, cfg.height, scene, boxes, full, oov,
                         target_ids, sentences[0], switches)


def query_sentences(scene: Scene, n: int, rng, p_extra: float) -> list[str] | None:
    """One unambiguous sentence per query (over the frames it is in force), or None."""
    bounds = [f for f, _ in scene.queries[1:]] + [n]
    out = []
    for (start, obj), stop in zip(scene.queries, bounds):
        text = describe(scene.objects[obj], scene.objects, start, stop, rng, p_extra)
        if text is None or text in out:
            return None
        out.append(text)
    return out


def ground_truth(scene: Scene, target_ids: np.ndarray, cfg: SynthConfig):
    """Boxes of the target's pixels inside the image, and full-occlusion / out-of-view flags."""
    n = len(target_ids)
    boxes = np.full((n, 4), np.nan)
    full, oov = np.zeros(n, bool), np.zeros(n, bool)
    for t in range(n):
        target = scene.objects[int(target_ids[t])]
        above = [o for o in scene.objects if o.depth > target.depth]
        box, in_frac, vis_frac = target_pixels(target, above, t, cfg.width, cfg.height)
        oov[t] = in_frac < cfg.out_of_view_min_fraction
        if not oov[t]:
            boxes[t] = box
            full[t] = vis_frac < cfg.full_occlusion_max_visible
    return boxes, full, oov


def object_mask(obj: SceneObject, t: int, W: int, H: int):
    """(mask inside the image, (x0, y0) of that mask, total mask pixels) of ``obj`` in frame ``t``."""
    x0, y0, w, h = obj.rect(t)
    mask = obj.sprite(w, h)[1] > 0.5
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return None, (cx0, cy0), int(mask.sum())
    return mask[cy0 - y0: cy1 - y0, cx0 - x0: cx1 - x0], (cx0, cy0), int(mask.sum())


def target_pixels(target: SceneObject, above: list[SceneObject], t: int, W: int, H: int):
    """Tight box of the in-image target mask, fraction in the image, fraction not covered."""
    mask, (mx, my), total = object_mask(target, t, W, H)
    if mask is None or total == 0 or not mask.any():
        return None, 0.0, 0.0
    ys, xs = np.nonzero(mask)
    box = np.array([mx + xs.min(), my + ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
    covered = np.zeros_like(mask)
    mh, mw = mask.shape
    for o in above:
        omask, (ox, oy), _ = object_mask(o, t, W, H)
        if omask is None:
            continue
        ax0, ay0 = max(mx, ox), max(my, oy)
        ax1, ay1 = min(mx + mw, ox + omask.shape[1]), min(my + mh, oy + omask.shape[0])
        if ax1 > ax0 and ay1 > ay0:
            covered[ay0 - my: ay1 - my, ax0 - mx: ax1 - mx] |= omask[ay0 - oy: ay1 - oy, ax0 - ox: ax1 - ox]
    inside = int(mask.sum())
    return box, inside / total, int((mask & ~covered).sum()) / inside


def render_frame(seq: SynthSequence, index: int, skip: tuple[int, ...] = ()) -> np.ndarray:
    """Frame ``index`` as RGB uint8 (H, W, 3); objects with ids in ``skip`` are left out."""
    scene, W, H = seq.scene, seq.width, seq.height
    ox, oy = (int(v) for v in scene.pan[index])
    img = scene.background[oy: oy + H, ox: ox + W].copy()
    for obj in sorted(scene.objects, key=lambda o: o.depth):
        if obj.id in skip:
            continue
        x0, y0, w, h = obj.rect(index)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        rgb, alpha = obj.sprite(w, h)
        sl = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
        region = img[cy0:cy1, cx0:cx1].astype(np.float32)
        a = alpha[sl][..., None]
        img[cy0:cy1, cx0:cx1] = (region + a * (rgb[sl] - region) + 0.5).astype(np.uint8)
    return img
