"""One Sequence abstraction for every dataset: frames, boxes, visibility, sentences, query switches.

Boxes are ``[x, y, w, h]`` in image pixels (float), one row per frame, for the target that the
*current* sentence names: after a query switch the rows describe the new target. Rows are NaN
where no ground truth exists. ``visible[i]`` is False when the target is fully occluded,
out of view or absent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence as Seq

import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file (and line)."""


@dataclass(frozen=True)
class QuerySwitch:
    """From ``frame`` (0-based) on, the target is the one ``sentence`` describes."""

    frame: int
    sentence: str


@dataclass(frozen=True)
class ExtraTarget:
    """Another object of one frame, its box (x, y, w, h pixels) and a sentence that names only it:
    a training target beside the tracked one (a second description, or a sure detection)."""

    frame: int
    box: tuple[float, float, float, float]
    sentence: str


@dataclass
class Sequence:
    name: str
    frames: list[Path]
    boxes: np.ndarray  # (N, 4) float64 xywh, NaN where unknown
    visible: np.ndarray  # (N,) bool
    sentence: str  # the query from frame 0
    switches: list[QuerySwitch] = field(default_factory=list)  # later queries, sorted by frame
    dataset: str = ""
    image_reader: Callable[[Path], np.ndarray] | None = None  # default: cv2 read -> RGB
    extras: list[ExtraTarget] = field(default_factory=list)  # other objects to train on (never evaluated)

    def __post_init__(self):
        n = len(self.frames)
        if n == 0:
            raise DatasetError(f"sequence {self.name!r} has no frames")
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.visible = np.asarray(self.visible, dtype=bool).reshape(-1)
        if len(self.boxes) != n or len(self.visible) != n:
            raise DatasetError(
                f"sequence {self.name!r}: {n} frames but {len(self.boxes)} boxes / {len(self.visible)} visibility flags"
            )
        self.switches = sorted(self.switches, key=lambda s: s.frame)

    def __len__(self) -> int:
        return len(self.frames)

    def image(self, index: int) -> np.ndarray:
        """Frame ``index`` as an RGB uint8 array (H, W, 3)."""
        if self.image_reader is not None:
            return self.image_reader(self.frames[index])
        return read_rgb(self.frames[index])

    def queries(self) -> list[QuerySwitch]:
        """All queries including the first one (frame 0)."""
        return [QuerySwitch(0, self.sentence), *self.switches]

    def query_at(self, index: int) -> str:
        text = self.sentence
        for sw in self.switches:
            if sw.frame <= index:
                text = sw.sentence
        return text


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def parse_boxes(path: Path, expected: int | None = None) -> np.ndarray:
    """Read ``x,y,w,h`` rows separated by commas, tabs or spaces; 'NaN' allowed. Errors name file:line."""
    if not path.is_file():
        raise DatasetError(f"missing ground-truth file {path}")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = [p for p in line.replace(",", " ").replace("\t", " ").split() if p]
        try:
            values = [float(p) for p in parts]
        except ValueError as exc:
            raise DatasetError(f"{path}:{lineno}: not a number in {line!r}") from exc
        if len(values) != 4:
            raise DatasetError(f"{path}:{lineno}: expected 4 values x,y,w,h, got {len(values)}")
        rows.append(values)
    if not rows:
        raise DatasetError(f"{path}: no boxes")
    boxes = np.array(rows, dtype=np.float64)
    if expected is not None and len(boxes) != expected:
        raise DatasetError(f"{path}: {len(boxes)} boxes for {expected} frames")
    return boxes


def parse_flags(path: Path, expected: int | None = None) -> np.ndarray:
    """Read 0/1 flags separated by commas or whitespace/newlines. Errors name the file and line."""
    if not path.is_file():
        raise DatasetError(f"missing flag file {path}")
    flags = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        for p in line.replace(",", " ").split():
            if p not in ("0", "1"):
                raise DatasetError(f"{path}:{lineno}: expected 0 or 1, got {p!r}")
            flags.append(p == "1")
    arr = np.array(flags, dtype=bool)
    if expected is not None and len(arr) != expected:
        raise DatasetError(f"{path}: {len(arr)} flags for {expected} frames")
    return arr


def list_images(folder: Path, exts: Seq[str] = (".jpg", ".jpeg", ".png", ".bmp")) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"missing image folder {folder}")
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)
    if not frames:
        raise DatasetError(f"no images in {folder}")
    return frames
