"""Template/search training pairs for VLT, cut from the same sequence sources MVLM trains on.

Pair ``index`` is a pure function of ``(seed, index)`` (as ``training/sampling.py``'s samples), so
step k of a resumed run sees the same batch as step k of an uninterrupted one. Both frames come
from one query segment of one sequence (a query switch changes the target) and show the target.
The template is a ``template_factor`` context crop centred on the box; the search is a jittered
``search_factor`` crop. ``p_no_sentence`` drops the sentence (the template embedding is used
instead, counted in the log) so the substitute path is trained as it is used. ``p_negative`` makes
a pair negative (DaSiamRPN's semantic negatives, Zhu et al., ECCV 2018): the search crop is cut
around the target of another sequence, so every score-map point is background (``present`` False)
and the network learns that an object at the crop centre is not the target unless it matches the
template and the sentence. ``p_distractor`` centres the search crop on another object of the same
scene (a sequence's ``extras``: the corpus's detected objects and second descriptions) at the
target's scale: the look-alike sits where the tracker expects the target, and the target is
labelled wherever it is in the crop (a negative when it is outside). ``p_gray`` turns both crops
of a pair to grey (SiamRPN++'s GRAY augmentation): real benchmarks hold greyscale clips (OTB Car4,
David), and a network that only saw colour keys on hue it will not get there. Validation pairs are
never negative, distractor-centred or grey (their peak-hit rate stays a rate).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from langtrack_ros.config import ConfigError
from langtrack_ros.tracking.box_ops import iou_matrix
from langtrack_ros.tracking.geometry import roi_crop
from langtrack_ros.training.sampling import (SequenceSource, _positive_frames, color_jitter, jitter_box,
                                             swap_left_right)


DISTRACTOR_MAX_IOU = 0.1  # p_distractor: extras overlapping the target more than this are the target's own boxes


@dataclass
class PairSamplingConfig:
    """``sampling`` of config/train_vlt.yaml (the one table). The crop sides are not settings: they
    are the model's template_size / search_size, given to :class:`VLTPairs`."""

    template_factor: float  # template side = factor * sqrt(w*h) (SiamCAR context ~ 2x)
    search_factor: float  # search side = factor * sqrt(w*h)
    max_gap: int  # frames between template and search
    center_jitter: float  # search-crop centre shift (sampling.jitter_box)
    scale_jitter: float
    p_flip: float
    brightness: float
    contrast: float
    p_no_sentence: float  # pairs trained with the template embedding instead of the sentence
    p_negative: float  # pairs whose search crop shows another sequence's target (no target: all background)
    p_distractor: float  # pairs (of sequences with extras) whose search crop is centred on another object of the scene
    p_gray: float  # pairs whose template and search crops are both turned to grey
    max_attempts: int
    pairs_per_sequence: int  # consecutive pairs cut from one sequence (a synthetic one costs ~80 ms)


class VLTPairs(torch.utils.data.Dataset):
    """Pairs for training, or (``training`` False) fixed validation pairs: no negatives, distractor
    crops or grey pairs there, whatever the sampling settings say."""

    def __init__(self, sources: list[SequenceSource], cfg: PairSamplingConfig, seed: int,
                 template_size: int, search_size: int, training: bool = True):
        weights = np.array([s.weight for s in sources], dtype=np.float64)
        if not sources or np.any(weights < 0) or weights.sum() <= 0:
            raise ConfigError(f"data sources need non-negative weights with a positive sum, got {weights.tolist()}")
        self.sources, self.cfg, self.seed = sources, cfg, int(seed)
        self.template_size, self.search_size = int(template_size), int(search_size)  # the model's input sides
        self.source_p = weights / weights.sum()
        self.p_negative = float(cfg.p_negative) if training else 0.0
        self.p_distractor = float(cfg.p_distractor) if training else 0.0
        self.p_gray = float(cfg.p_gray) if training else 0.0
        if not 0.0 <= self.p_negative < 1.0 or not 0.0 <= self.p_distractor <= 1.0 or not 0.0 <= self.p_gray <= 1.0:
            raise ConfigError(f"sampling.p_negative must be in [0, 1), p_distractor and p_gray in [0, 1], got "
                              f"{cfg.p_negative!r}, {cfg.p_distractor!r}, {cfg.p_gray!r}")

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index)])
        group = np.random.default_rng([self.seed, int(index) // max(self.cfg.pairs_per_sequence, 1), 1])
        for attempt in range(self.cfg.max_attempts):
            pick = group if attempt == 0 else rng  # the group shares its first sequence
            source = self.sources[pick.choice(len(self.sources), p=self.source_p)]
            seq_index = int(pick.integers(len(source)))
            seq, pair = source[seq_index], None
            if self.p_distractor > 0 and rng.random() < self.p_distractor:  # drawn only when on: old draws kept
                pair = self._distractor_pair(seq, rng)
            pair = pair or self._pair(seq, rng)
            if pair is not None:
                if rng.random() < self.cfg.p_no_sentence:
                    pair["sentence"] = ""
                # drawn only when negatives are on, so a recipe without them samples exactly as before
                if self.p_negative > 0 and rng.random() < self.p_negative:
                    self._make_negative(pair, (id(source), seq_index), rng)
                return self._augment(pair, rng)
        raise RuntimeError(f"no template/search pair in {self.cfg.max_attempts} draws from "
                           f"{[s.name for s in self.sources]}: do their sequences show the target?")

    def _pair(self, seq, rng: np.random.Generator) -> dict | None:
        frames = _positive_frames(seq)
        if len(frames) == 0:
            return None
        t = int(frames[rng.integers(len(frames))])
        sentence = seq.query_at(t)
        near = [int(f) for f in frames if abs(int(f) - t) <= self.cfg.max_gap and seq.query_at(int(f)) == sentence]
        s = near[rng.integers(len(near))]
        search, st = self._search(seq.image(s), seq.boxes[s], rng)
        return {**self._template(seq, t), "search": search, "box": st.box_to_patch(seq.boxes[s]),
                "sentence": sentence or ""}

    def _template(self, seq, t: int) -> dict:
        template, tt = roi_crop(seq.image(t), seq.boxes[t], self.cfg.template_factor, self.template_size)
        return {"template": template, "template_box": tt.box_to_patch(seq.boxes[t])}

    def _search(self, image: np.ndarray, box, rng: np.random.Generator):
        """The jittered ``search_factor`` crop around ``box`` and its transform."""
        c = self.cfg
        box = jitter_box(np.asarray(box, float), rng, c.center_jitter, c.scale_jitter)
        return roi_crop(image, box, c.search_factor, self.search_size)

    def _distractor_pair(self, seq, rng: np.random.Generator) -> dict | None:
        """Template of the target near an extra object's frame; search crop centred on that object at
        the target's scale; the target labelled if its centre is in the crop, else a negative pair."""
        frames = _positive_frames(seq)
        others = [e for e in seq.extras if not _overlaps_target(seq, e)]
        if not others or len(frames) == 0:
            return None
        extra = others[int(rng.integers(len(others)))]
        f = int(extra.frame)
        near = frames[(np.abs(frames - f) <= self.cfg.max_gap)]
        near = [int(t) for t in near if seq.query_at(int(t)) == seq.query_at(f)]
        if not near:
            return None
        t = near[int(rng.integers(len(near)))]
        target_here = f in frames
        size = np.asarray(seq.boxes[f if target_here else t], float)[2:]
        ex = np.asarray(extra.box, float)
        centre = ex[:2] + ex[2:] / 2
        search, st = self._search(seq.image(f), np.concatenate([centre - size / 2, size]), rng)
        pair = {**self._template(seq, t), "search": search, "box": np.zeros(4), "present": False,
                "sentence": seq.query_at(t) or ""}
        if target_here:
            box = np.asarray(st.box_to_patch(seq.boxes[f]), float)
            mid = box[:2] + box[2:] / 2
            if np.all((mid > 0) & (mid < 1)):
                pair["box"], pair["present"] = box, True
        return pair

    def _make_negative(self, pair: dict, own: tuple, rng: np.random.Generator) -> None:
        """Replace the search crop by one around another sequence's target; left positive when the
        draw finds no other sequence (a one-sequence source) so no pair is ever mislabelled."""
        for _ in range(self.cfg.max_attempts):
            source = self.sources[rng.choice(len(self.sources), p=self.source_p)]
            index = int(rng.integers(len(source)))
            if (id(source), index) == own:
                continue
            seq = source[index]
            frames = _positive_frames(seq)
            if len(frames) == 0:
                continue
            f = int(frames[rng.integers(len(frames))])
            pair["search"], _ = self._search(seq.image(f), seq.boxes[f], rng)
            pair["box"], pair["present"] = np.zeros(4), False
            return

    def _augment(self, sample: dict, rng: np.random.Generator) -> dict:
        c = self.cfg
        for key in ("template", "search"):
            sample[key] = color_jitter(sample[key], rng, c.brightness, c.contrast)
        if self.p_gray > 0 and rng.random() < self.p_gray:  # drawn only when on: old draws kept
            for key in ("template", "search"):
                sample[key] = grey(sample[key])
        if rng.random() < c.p_flip:
            for key, box in (("template", "template_box"), ("search", "box")):
                sample[key] = np.ascontiguousarray(sample[key][:, ::-1])
                b = sample[box]
                sample[box] = np.array([1.0 - b[0] - b[2], b[1], b[2], b[3]])
            sample["sentence"] = swap_left_right(sample["sentence"])
        for box in ("template_box", "box"):
            sample[box] = np.asarray(sample[box], dtype=np.float32)
        return sample


def grey(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 image as three equal channels of its luma (what a greyscale clip's frames decode to)."""
    return np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


def _overlaps_target(seq, extra) -> bool:
    """Does an extra object overlap the target on its frame (IoU >= DISTRACTOR_MAX_IOU)? Most corpus
    extras do (a part target's owner, a second box of the same thing): no look-alike to train on."""
    target = np.asarray(seq.boxes[int(extra.frame)], float)
    if not np.all(np.isfinite(target)):
        return False
    return float(iou_matrix(target[None], np.asarray(extra.box, float)[None])[0, 0]) >= DISTRACTOR_MAX_IOU


def _images(samples: list[dict], key: str) -> torch.Tensor:
    return torch.from_numpy(np.stack([s[key] for s in samples])).permute(0, 3, 1, 2).float().div_(255.0)


def collate_pairs(samples: list[dict]) -> dict:
    return {"template": _images(samples, "template"), "search": _images(samples, "search"),
            "template_boxes": torch.from_numpy(np.stack([s["template_box"] for s in samples])),
            "boxes": torch.from_numpy(np.stack([s["box"] for s in samples])),
            "present": torch.tensor([bool(s.get("present", True)) for s in samples]),
            "sentences": [s["sentence"] for s in samples]}


class SentenceVectors:
    """Pooled sentence vectors through the shared TextFeatureCache; "" -> no sentence (mask False)."""

    def __init__(self, cache):
        self.cache = cache

    def __call__(self, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        from langtrack_ros.vlt.model import language_vector

        has = torch.tensor([bool(s.strip()) for s in sentences])
        real = [s for s in sentences if s.strip()]
        out = torch.zeros(len(sentences), self.cache.encoder.dim)  # the encoder's, never a guessed 384
        if real:
            tokens, mask = self.cache(real)
            out[has] = language_vector(tokens, mask)
        return out, has
