"""Annotated tracking video: what a person looks at to judge a run.

Green box: confident (ROI search next); red: low confidence (global relocalization next); thin
white: ground truth when known. A red frame border flashes on relocalizations and a magenta one
on query changes, so the gate's decisions can be seen at playback speed.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from langtrack_ros.tracking.result import Event, TrackResult

FOUND, LOST, GT = (40, 220, 40), (235, 50, 40), (255, 255, 255)
FLASH = {Event.RELOCALIZED: (235, 50, 40), Event.QUERY_CHANGED: (230, 40, 230)}


def _rect(img: np.ndarray, box, colour, thickness: int) -> None:
    if box is None or not np.all(np.isfinite(box)):
        return
    x, y, w, h = (int(round(float(v))) for v in box)
    cv2.rectangle(img, (x, y), (x + w, y + h), colour, thickness, cv2.LINE_AA)


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour, scale: float = 0.45) -> None:
    """Text on a dark box, so it stays readable over any background."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = org
    cv2.rectangle(img, (x - 3, y - h - 4), (x + w + 3, y + base + 2), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def annotate(rgb: np.ndarray, result: TrackResult | None, query: str, gt_box=None, frame: int | None = None) -> np.ndarray:
    """A copy of ``rgb`` with prediction, ground truth, kappa, search mode and event flashes."""
    out = rgb.copy()
    _rect(out, gt_box, GT, 1)
    if result is not None:
        colour = FOUND if result.found else LOST
        _rect(out, result.box, colour, 2)
        label = f"kappa={result.kappa:+.2f} {result.mode.value}" + ("" if result.found else " (low conf.)")
        _text(out, label, (6, out.shape[0] - 8), colour)
        for event, flash in FLASH.items():
            if event in result.events:
                cv2.rectangle(out, (0, 0), (out.shape[1] - 1, out.shape[0] - 1), flash, 6)
                _text(out, event.value.upper(), (out.shape[1] - 130, 40), flash)
    prefix = f"#{frame + 1} " if frame is not None else ""
    _text(out, f"{prefix}{query[:60]}", (6, 18), (255, 255, 255))
    return out


class VideoWriter:
    """mp4 (mp4v) writer that takes RGB frames and opens lazily at the first frame's size."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps, self._writer = Path(path), float(fps), None

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            h, w = rgb.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"cannot open video writer for {self.path}")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
