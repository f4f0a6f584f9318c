"""Training samples for MVLM: ROI crops, letterboxed whole frames and negatives, from any Sequence.

Why three kinds (MVLM.md, "reference defect to fix"): the reference trained on target-centred
crops only but searches whole images in global mode. We train on what the tracker will see:
ROI crops (factor 4, centre and scale jitter), whole frames letterboxed exactly as the tracker
letterboxes them, and negatives where the described target is absent (the score map must stay
low so the gate can say "lost").

Determinism: sample ``index`` is a pure function of ``(seed, index)`` (its own
``np.random.default_rng([seed, index])``), and step ``k`` uses indices ``k*B .. k*B+B-1``, so a
resumed run sees exactly the data an uninterrupted run would have seen, with any worker count.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from langtrack_ros.config import ConfigError, from_dict, merge, to_dict
from langtrack_ros.data.sequence import Sequence
from langtrack_ros.tracking.geometry import letterbox, roi_crop, roi_transform, warp


@dataclass
class SamplingConfig:
    """How one training sample is cut from a frame (values come from config/train_mvlm.yaml, which
    is the only table of defaults). The patch side is not a setting: it is the model's
    ``search_size``, given to :class:`MVLMSamples` by the trainer."""

    p_roi: float  # kinds: ROI crop / whole frame / negative (normalised to sum 1)
    p_whole: float
    p_negative: float
    neg_absent: float  # negative kinds (relative weights, among those a sequence can give):
    neg_sentence: float  # absent-target frame / sentence naming an absent object / crop away
    neg_away: float  # from the target
    max_away_overlap: float  # "away" crops show at most this fraction of the target's area
    roi_factor: float
    center_jitter: float  # max centre shift = center_jitter * sqrt(w*h) / 2 (target stays within
    scale_jitter: float  # center_jitter / (2 * roi_factor) of the patch centre)
    p_extra: float  # a positive of a sequence with Sequence.extras is one of those objects instead of its target
    p_flip: float  # horizontal flip; swaps "left" and "right" in the sentence
    brightness: float  # brightness/contrast only: hue carries colour words and must not change
    p_stretch: float  # ROI crops stretched anisotropically: teaches the size head non-square targets
    max_stretch: float  # aspect change of a stretched crop is log-uniform in [1/max, max]
    contrast: float
    max_attempts: int  # draws of another sequence when the chosen one cannot give the kind
    samples_per_sequence: int  # consecutive samples cut from one sequence (making one costs ~80 ms)


@dataclass
class SourceConfig:
    """One data source: synthetic sequences made on the fly, or a real dataset via the loaders.

    An entry of ``data.sources`` / ``data.val_sources`` names only what it needs; the rest comes
    from ``data.source_defaults`` of the same training YAML (:func:`resolve_sources`).
    """

    kind: str  # "synth" | "dataset"
    weight: float
    split: str
    num_sequences: int  # synth: seeds seed_offset .. seed_offset + num_sequences - 1
    seed_offset: int
    name: str  # dataset: loader name (load_dataset)
    root: str  # dataset: folder


def resolve_sources(data, where: str) -> None:
    """Fill every entry of ``data.sources`` and ``data.val_sources`` (a DataSection) from
    ``data.source_defaults``, in place: each becomes a complete SourceConfig mapping; an unknown
    key raises naming the entry and ``where``."""
    defaults = to_dict(from_dict(SourceConfig, data.source_defaults, f"{where}:data.source_defaults"))
    for name in ("sources", "val_sources"):
        entries = []
        for i, entry in enumerate(getattr(data, name)):
            label = f"{where}:data.{name}[{i}]"
            entries.append(to_dict(from_dict(SourceConfig, merge(defaults, entry, label), label)))
        setattr(data, name, entries)


class SequenceSource:
    """Indexable pool of sequences with a sampling weight.

    ``negative_sentence(i, rng)``, when given, names an object that is NOT in sequence ``i``.
    """

    def __init__(self, name: str, weight: float, count: int, get: Callable[[int], Sequence],
                 negative_sentence: Callable[[int, np.random.Generator], str | None] | None = None):
        if count <= 0:
            raise ConfigError(f"data source {name!r} has no sequences")
        self.name, self.weight, self.count, self._get = name, float(weight), count, get
        self.negative_sentence = negative_sentence

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Sequence:
        return self._get(i)


def list_source(sequences: list[Sequence], weight: float = 1.0, name: str = "list",
                negative_sentence=None) -> SequenceSource:
    """A source over sequences already in memory (real-data loaders, tests)."""
    return SequenceSource(name, weight, len(sequences), sequences.__getitem__, negative_sentence)


def _lru(fn: Callable[[int], object], size: int) -> Callable[[int], object]:
    cache: OrderedDict[int, object] = OrderedDict()

    def get(i: int):
        if i in cache:
            cache.move_to_end(i)
            return cache[i]
        cache[i] = seq = fn(i)
        if len(cache) > size:
            cache.popitem(last=False)
        return seq

    return get


class ConfiguredSource(SequenceSource):
    """A source made from its SourceConfig (synth generator or dataset loader).

    It pickles as its config, so spawned loader workers rebuild it instead of copying caches.
    """

    def __init__(self, cfg: SourceConfig, cache_size: int = 64):
        self.cfg, self.cache_size = cfg, cache_size
        if cfg.kind == "synth":
            from langtrack_ros.data.synth import generate_sequence

            synth = _lru(lambda i: generate_sequence(cfg.seed_offset + i, cfg.split), cache_size)
            super().__init__(f"synth:{cfg.split}", cfg.weight, cfg.num_sequences,
                             lambda i: synth(i).to_sequence(), lambda i, rng: synth(i).negative_sentence(rng))
        elif cfg.kind == "dataset":
            from langtrack_ros.data.loaders import load_dataset

            sequences = load_dataset(cfg.name, cfg.root, split=cfg.split or None)
            super().__init__(f"{cfg.name}:{cfg.split}", cfg.weight, len(sequences), sequences.__getitem__)
        else:
            raise ConfigError(f"data source kind must be 'synth' or 'dataset', got {cfg.kind!r}")

    def __getstate__(self) -> dict:
        return {"cfg": self.cfg, "cache_size": self.cache_size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["cfg"], state["cache_size"])


def build_source(cfg: SourceConfig, cache_size: int = 64) -> SequenceSource:
    return ConfiguredSource(cfg, cache_size)


_LEFT_RIGHT = re.compile(r"\b(left|right)", re.IGNORECASE)


def swap_left_right(sentence: str) -> str:
    """Mirror a sentence for a horizontally flipped image: left <-> right (leftmost, Right-hand ...)."""
    def swap(m: re.Match) -> str:
        word = m.group(1)
        new = "right" if word.lower() == "left" else "left"
        if word.isupper():
            return new.upper()
        return new.capitalize() if word[0].isupper() else new

    return _LEFT_RIGHT.sub(swap, sentence)


def color_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float, contrast: float) -> np.ndarray:
    """Scale contrast about the grey mean and brightness, the same for all channels: hue is unchanged."""
    img = image.astype(np.float32)
    c = 1.0 + rng.uniform(-contrast, contrast)
    b = 1.0 + rng.uniform(-brightness, brightness)
    img = ((img - img.mean()) * c + img.mean()) * b
    return np.clip(img, 0, 255).astype(np.uint8)


def stretch(patch: np.ndarray, box: np.ndarray | None, aspect: float):
    """Stretch a square patch about its centre so that width/height changes by ``aspect`` (area kept).

    Synthetic objects are mostly square; without this the size head learns near-square boxes and
    real people (tall) and cars (wide) come out wrong. Only ROI crops are stretched: a letterboxed
    whole frame must keep the tracker's exact geometry. The patch border is the patch mean.
    """
    s = patch.shape[0]
    sx, sy = np.sqrt(aspect), 1.0 / np.sqrt(aspect)
    c = (s - 1) / 2.0
    matrix = np.array([[sx, 0.0, c - sx * c], [0.0, sy, c - sy * c]])
    border = tuple(float(v) for v in patch.reshape(-1, patch.shape[-1]).mean(0))
    out = cv2.warpAffine(patch, matrix, (s, s), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    if box is None:
        return out, None
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    w, h = box[2] * sx, box[3] * sy
    cx, cy = 0.5 + (cx - 0.5) * sx, 0.5 + (cy - 0.5) * sy
    return out, np.array([cx - w / 2, cy - h / 2, w, h], dtype=np.float32)


def jitter_box(box: np.ndarray, rng: np.random.Generator, center_jitter: float, scale_jitter: float) -> np.ndarray:
    """OSTrack-style jitter: log-normal size, uniform centre shift within center_jitter * sqrt(area) / 2."""
    size = box[2:] * np.exp(rng.normal(0.0, scale_jitter, 2))
    centre = box[:2] + box[2:] / 2 + np.sqrt(max(size.prod(), 1.0)) * center_jitter * (rng.random(2) - 0.5)
    return np.concatenate([centre - size / 2, size])


def _valid_box(box: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0)


def _positive_frames(seq: Sequence) -> np.ndarray:
    """Frames where the target is visible with a usable box."""
    b = seq.boxes
    return np.flatnonzero(seq.visible & np.all(np.isfinite(b), axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0))


class MVLMSamples(torch.utils.data.Dataset):
    """Map-style dataset: ``ds[index]`` is a dict: search (S,S,3) uint8, box (4,) normalised xywh in the
    patch (zeros for negatives), positive, sentence, kind, and for inspection sequence, frame and the
    PatchTransform from patch to (unflipped) image."""

    def __init__(self, sources: list[SequenceSource], cfg: SamplingConfig, seed: int, search_size: int):
        weights = np.array([s.weight for s in sources], dtype=np.float64)
        if not sources or np.any(weights < 0) or weights.sum() <= 0:
            raise ConfigError(f"data sources need non-negative weights with a positive sum, got {weights.tolist()}")
        kinds = np.array([cfg.p_roi, cfg.p_whole, cfg.p_negative], dtype=np.float64)
        if np.any(kinds < 0) or kinds.sum() <= 0:
            raise ConfigError(f"sampling p_roi/p_whole/p_negative must be >= 0 with a positive sum, got {kinds}")
        self.sources, self.cfg, self.seed = sources, cfg, int(seed)
        self.search_size = int(search_size)  # the model's search input side
        self.source_p = weights / weights.sum()
        self.kind_p = kinds / kinds.sum()

    def __len__(self) -> int:
        return 2**62  # indices are drawn by step; the dataset is unbounded

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index)])
        group_rng = np.random.default_rng([self.seed, int(index) // max(self.cfg.samples_per_sequence, 1), 1])
        kind = ("roi", "whole", "negative")[rng.choice(3, p=self.kind_p)]
        for attempt in range(self.cfg.max_attempts):
            pick = group_rng if attempt == 0 else rng  # the group shares its first sequence
            source = self.sources[pick.choice(len(self.sources), p=self.source_p)]
            i = int(pick.integers(len(source)))
            seq = source[i]
            sample = self._negative(source, i, seq, rng) if kind == "negative" else self._positive(seq, kind, rng)
            if sample is not None:
                return self._augment(sample, rng)
        raise RuntimeError(f"no {kind} sample in {self.cfg.max_attempts} draws from {[s.name for s in self.sources]}: "
                           f"do their sequences have frames with a visible target and a valid box?")

    def _positive(self, seq: Sequence, kind: str, rng: np.random.Generator) -> dict | None:
        """The tracked target on a frame where it is visible, or (``p_extra``) another object of the
        scene with its own sentence (a second description, a sure detection): the same view of a
        frame, a different sentence and box, so the words decide, not the scene."""
        if self.cfg.p_extra > 0 and seq.extras and rng.random() < self.cfg.p_extra:  # 0: the old draws exactly
            extra = seq.extras[int(rng.integers(len(seq.extras)))]
            i, box, sentence = extra.frame, np.asarray(extra.box, dtype=np.float64), extra.sentence
        else:
            frames = _positive_frames(seq)
            if len(frames) == 0:
                return None
            i = int(frames[rng.integers(len(frames))])
            box, sentence = seq.boxes[i], seq.query_at(i)
        patch, t = self._view(seq.image(i), box, kind == "roi", rng)
        return {"search": patch, "box": t.box_to_patch(box), "positive": True, "sentence": sentence,
                "kind": kind, "sequence": seq.name, "frame": i, "transform": t}

    def _negative(self, source: SequenceSource, index: int, seq: Sequence, rng: np.random.Generator) -> dict | None:
        """One of three negatives, among those this sequence can give (weights neg_absent/sentence/away):
        a frame where the target is absent; a sentence naming an object not in the scene; an ROI crop
        of the frame away from the target (what the tracker sees after the target moved out of its ROI).
        """
        absent, visible = np.flatnonzero(~seq.visible), _positive_frames(seq)
        c = self.cfg
        weights = np.array([c.neg_absent * (len(absent) > 0), c.neg_sentence * (source.negative_sentence is not None),
                            c.neg_away * (len(visible) > 0)], dtype=np.float64)
        if weights.sum() <= 0:
            return None
        kind = ("absent", "sentence", "away")[rng.choice(3, p=weights / weights.sum())]
        frames = absent if kind == "absent" else visible if kind == "away" else np.arange(len(seq))
        i = int(frames[rng.integers(len(frames))])
        sentence = source.negative_sentence(index, rng) if kind == "sentence" else seq.query_at(i)
        image = seq.image(i)
        if kind == "away":
            view = self._away_crop(image, seq.boxes[i], rng)
        else:
            roi = rng.random() < self.kind_p[0] / max(self.kind_p[0] + self.kind_p[1], 1e-9)
            box = seq.boxes[i] if _valid_box(seq.boxes[i]) else self._nearest_box(seq, i, image, rng)
            view = self._view(image, box, roi, rng)
        if view is None or not sentence:
            return None
        return {"search": view[0], "box": np.zeros(4), "positive": False, "sentence": sentence,
                "kind": f"negative_{kind}", "sequence": seq.name, "frame": i, "transform": view[1]}

    def _away_crop(self, image: np.ndarray, box: np.ndarray, rng: np.random.Generator, tries: int = 5):
        """An ROI-sized crop elsewhere in the frame that shows at most max_away_overlap of the target."""
        c, (h, w) = self.cfg, image.shape[:2]
        size = box[2:] * np.exp(rng.normal(0.0, c.scale_jitter, 2))
        for _ in range(tries):
            centre = rng.uniform([0.0, 0.0], [w, h])
            t = roi_transform(np.concatenate([centre - size / 2, size]), c.roi_factor, self.search_size)
            inside = t.box_to_patch(box)
            x0, y0 = np.clip(inside[:2], 0, 1)
            x1, y1 = np.clip(inside[:2] + inside[2:], 0, 1)
            if (x1 - x0) * (y1 - y0) <= c.max_away_overlap * inside[2] * inside[3]:
                return warp(image, t), t
        return None

    @staticmethod
    def _nearest_box(seq: Sequence, i: int, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Where the tracker would still be looking: the closest known box, else a random region."""
        known = np.flatnonzero(np.all(np.isfinite(seq.boxes), axis=1) & (seq.boxes[:, 2] > 0) & (seq.boxes[:, 3] > 0))
        if len(known):
            return seq.boxes[known[np.argmin(np.abs(known - i))]]
        h, w = image.shape[:2]
        side = max(min(h, w) / 8.0, 4.0)
        return np.array([rng.uniform(0, w - side), rng.uniform(0, h - side), side, side])

    def _view(self, image: np.ndarray, box: np.ndarray, roi: bool, rng: np.random.Generator):
        c = self.cfg
        if roi:
            return roi_crop(image, jitter_box(np.asarray(box, float), rng, c.center_jitter, c.scale_jitter),
                            c.roi_factor, self.search_size)
        return letterbox(image, self.search_size)

    def _augment(self, sample: dict, rng: np.random.Generator) -> dict:
        c = self.cfg
        flip = rng.random() < c.p_flip
        patch = color_jitter(sample["search"], rng, c.brightness, c.contrast)
        box = np.asarray(sample["box"], dtype=np.float32)
        if c.p_stretch > 0 and sample["kind"] in ("roi", "negative_away") and rng.random() < c.p_stretch:
            aspect = float(np.exp(rng.uniform(-1.0, 1.0) * np.log(c.max_stretch)))
            patch, box = stretch(patch, box if sample["positive"] else None, aspect)
            box = np.zeros(4, np.float32) if box is None else box
            sample["transform"] = None  # no longer a similarity transform of the image
            sample["stretch"] = aspect
        if flip:
            patch = patch[:, ::-1]
            sample["sentence"] = swap_left_right(sample["sentence"])
            if sample["positive"]:
                box = np.array([1.0 - box[0] - box[2], box[1], box[2], box[3]], dtype=np.float32)
        sample.update(search=np.ascontiguousarray(patch), box=box)
        return sample


class StepBatches(torch.utils.data.Sampler):
    """Batches of sample indices for steps ``start .. stop-1``: step k -> [k*B, (k+1)*B)."""

    def __init__(self, start: int, stop: int, batch_size: int):
        self.start, self.stop, self.batch_size = start, stop, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for k in range(self.start, self.stop):
            yield list(range(k * self.batch_size, (k + 1) * self.batch_size))

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)


def collate_images(samples: list[dict]) -> dict:
    """Stack a batch (runs in the loader workers); text is encoded later by TextFeatureCache."""
    search = torch.from_numpy(np.stack([s["search"] for s in samples])).permute(0, 3, 1, 2).float().div_(255.0)
    return {
        "search": search,
        "boxes": torch.from_numpy(np.stack([s["box"] for s in samples]).astype(np.float32)),
        "positive": torch.tensor([bool(s["positive"]) for s in samples]),
        "sentences": [s["sentence"] for s in samples],
        "kinds": [s["kind"] for s in samples],
    }


class TextFeatureCache:
    """Frozen-encoder token features per distinct sentence, encoded once, padded per batch.

    The encoder's ``encode_batch`` encodes every sentence on its own before padding, so a
    sentence's features never depend on which sentences share its batch: resume stays bitwise exact.
    """

    def __init__(self, encoder, max_entries: int = 100_000):
        self.encoder, self.max_entries = encoder, max_entries
        self._cache: dict[str, torch.Tensor] = {}

    def _encode_missing(self, sentences: list[str]) -> dict[str, torch.Tensor]:
        missing = sorted({s for s in sentences if s not in self._cache})
        if not missing:
            return {}
        tokens, mask = self.encoder.encode_batch(missing)
        found = {s: torch.from_numpy(np.array(tokens[b][np.asarray(mask[b], dtype=bool)], dtype=np.float32))
                 for b, s in enumerate(missing)}
        if len(self._cache) + len(found) <= self.max_entries:
            self._cache.update(found)
        return found

    def __call__(self, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        found = self._encode_missing(sentences)
        feats = [self._cache.get(s, found.get(s)) for s in sentences]
        length = max(f.shape[0] for f in feats)
        tokens = torch.zeros(len(feats), length, feats[0].shape[1])
        mask = torch.zeros(len(feats), length, dtype=torch.bool)
        for b, f in enumerate(feats):
            tokens[b, : f.shape[0]] = f
            mask[b, : f.shape[0]] = True
        return tokens, mask


def fixed_batches(dataset, count: int, batch_size: int, collate=collate_images) -> list[dict]:
    """A fixed list of batches (validation): samples 0 .. count-1 of ``dataset``."""
    return [collate([dataset[j] for j in range(i, min(i + batch_size, count))])
            for i in range(0, count, batch_size)]
