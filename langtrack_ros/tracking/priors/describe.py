"""Write a sentence for a known target box from what the priors can see: class, colour, position.

Used to give real training sequences sentences on frames nobody described (datasets/real_corpus.yaml
marks them "priors-generated"): the detector's class of the detection that overlaps the target
(Open Images name, or the sequence's category noun when nothing overlaps), the colour word of
config/priors.yaml that covers most of the box, and where the box sits in the frame. The words
are the ones the priors understand, so a generated sentence is one the tracker can ground.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from langtrack_ros.tracking.box_ops import iou_matrix
from langtrack_ros.tracking.priors import ssd
from langtrack_ros.tracking.priors.appearance import colour_fractions

# Open Images classes of the detector -> the noun a person would use
NOUNS = {"Stationary bicycle": "bicycle", "High heels": "shoe", "Footwear": "shoe", "Boot": "boot",
         "Coffee cup": "cup", "Cattle": "cow"}
# corpus category -> the detector classes that may name its targets (an octopus the detector
# calls "Person" keeps its category noun)
CATEGORY_CLASSES = {"person": {"Person"}, "vehicle": {"Car", "Vehicle", "Bicycle"},
                    "animal": {"Dog", "Cat", "Cattle"},
                    "small_object": {"Bottle", "Mug", "Coffee cup", "Box", "Book", "Camera", "Laptop",
                                     "Computer mouse", "Footwear", "Boot", "High heels"}}
# corpus category -> noun when the detector finds nothing on the target
CATEGORY_NOUNS = {"person": "person", "person_part": "head", "vehicle": "vehicle", "animal": "animal",
                  "small_object": "object", "other": "object"}


@dataclass
class Description:
    sentence: str
    noun: str
    noun_from: str            # "detector" or "category"
    colour: str | None
    position: str


def detect_all(image_rgb: np.ndarray, detector, min_score: float, nms_iou: float,
               top_k: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Detections of every class on the whole frame: boxes (N, 4) in pixels, scores, class names."""
    h, w = image_rgb.shape[:2]
    raw = detector(cv2.resize(image_rgb, (ssd.INPUT, ssd.INPUT), interpolation=cv2.INTER_AREA))
    boxes, scores = ssd.decode(raw[0], raw[1])
    scores = scores[:, 1:]  # index 0 is the background class
    cls = scores.argmax(axis=1)
    best = scores[np.arange(len(cls)), cls]
    ok = best >= min_score
    boxes, best, cls = boxes[ok] * np.array([w, h, w, h]), best[ok], cls[ok]
    keep = ssd.nms(boxes, best, nms_iou, top_k)
    return boxes[keep], best[keep], [detector.labels[c + 1] for c in cls[keep]]


def position_words(box: np.ndarray, width: int, height: int) -> str:
    """'on the left', 'in the middle', 'at the top right', ... from the box centre in thirds."""
    cx = (box[0] + box[2] / 2) / width
    cy = (box[1] + box[3] / 2) / height
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    if row and col:
        return f"at the {row} {col}"
    if row:
        return f"at the {row}"
    return f"on the {col}" if col else "in the middle"


def dominant_colour(image_rgb: np.ndarray, box: np.ndarray, lexicon, inner: float, full: float) -> str | None:
    """The colour word covering the largest share of the box, if it reaches ``full``."""
    words = [w for w in (*lexicon.colours, *lexicon.achromatic) if w not in ("gray", "silver")]
    shares = [float(colour_fractions(image_rgb, box[None], w, lexicon, inner)[0]) for w in words]
    best = int(np.argmax(shares))
    return words[best] if shares[best] >= full else None


def describe(image_rgb: np.ndarray, box, category: str, lexicon, detector, settings,
             min_iou: float = 0.5) -> Description:
    """A sentence for the target in ``box`` (x, y, w, h pixels) of one frame; the detector's class
    names it only when it fits the sequence's ``category`` (given by a person)."""
    box = np.asarray(box, dtype=np.float64)
    noun, noun_from = CATEGORY_NOUNS[category], "category"
    if detector is not None:
        boxes, _, names = detect_all(image_rgb, detector, settings.detector_min_score,
                                     settings.detector_nms_iou, settings.detector_top_k)
        allowed = [i for i, n in enumerate(names) if n in CATEGORY_CLASSES.get(category, ())]
        if allowed:
            iou = iou_matrix(boxes[allowed], box[None])[:, 0]
            if iou.max() >= min_iou:
                name = names[allowed[int(iou.argmax())]]
                noun, noun_from = NOUNS.get(name, name.lower()), "detector"
    colour = None  # skin is no colour a person would name a head or face by
    if category != "person_part":
        colour = dominant_colour(image_rgb, box, lexicon, settings.colour_inner, settings.colour_full)
    where = position_words(box, image_rgb.shape[1], image_rgb.shape[0])
    return Description(sentence(noun, colour, where), noun, noun_from, colour, where)


def sentence(noun: str, colour: str | None, where: str) -> str:
    """'the red car on the left', but 'the person in red on the left' (people wear colours)."""
    if colour is None:
        return f"the {noun} {where}"
    if noun == "person":
        return f"the person in {colour} {where}"
    return f"the {colour} {noun} {where}"
