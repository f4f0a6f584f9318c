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
    """mp4 (mp4v) writer that takes RGB frames and opens lazily at the first frame's size.

    Written under a temporary name and renamed on a clean close, after checking that the file
    holds every frame: OpenCV's writer only prints warnings when the disk fills up, so a failed
    video would otherwise look like a result. Leaving the block with an error removes it."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps, self._writer, self._tmp, self.frames = Path(path), float(fps), None, None, 0

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            self._open(rgb.shape[1], rgb.shape[0])
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def _open(self, w: int, h: int) -> None:
        import os
        import tempfile

        from langtrack_ros.files import write_error

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
            os.close(fd)
        except OSError as exc:
            raise write_error(exc, self.path) from None
        self._tmp = Path(tmp)
        self._writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        if not self._writer.isOpened():
            self._discard()
            raise _video_error(self.path, "OpenCV cannot open a video writer")

    def close(self) -> None:
        """Finish the file and rename it into place; WriteError if it does not hold every frame."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        why = _mp4_incomplete(self._tmp)
        if why:
            self._discard()
            raise _video_error(self.path, f"{why}, {self.frames} frames lost")
        self._tmp.replace(self.path)
        self._tmp = None

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        else:
            self._discard()


def _mp4_incomplete(path: Path) -> str:
    """Why an mp4 is not whole ("" when it is): its top-level boxes must tile the file and include
    the index (``moov``, written last, so a full disk loses it first). Read without decoding, so
    no FFmpeg warnings reach the output."""
    import struct

    size, seen, at = path.stat().st_size, set(), 0
    with open(path, "rb") as f:
        while at < size:
            f.seek(at)
            head = f.read(16)
            if len(head) < 8:
                return f"cut inside a box header at byte {at}"
            length, kind = struct.unpack(">I4s", head[:8])
            if length == 1 and len(head) == 16:
                length = struct.unpack(">Q", head[8:])[0]
            if length < 8 or at + length > size:
                return f"box {kind!r} at byte {at} runs past the end of the file"
            seen.add(kind)
            at += length
    return "" if b"moov" in seen else "no index (moov box): the file was cut"


def _video_error(path: Path, why: str):
    """WriteError for a failed video: ENOSPC when the disk is full, else EIO, with OpenCV's view."""
    import errno
    import os

    from langtrack_ros.files import WriteError

    try:
        stats = os.statvfs(path.parent)
        full = stats.f_bavail * stats.f_frsize < 1 << 20
    except OSError:
        full = False
    code = errno.ENOSPC if full else errno.EIO
    return WriteError(code, f"{os.strerror(code)}: video not written ({why})", str(path))
