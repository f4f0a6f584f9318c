"""Helpers every loader shares: sentences, numbered frames, box validity, sequence selection.

Each helper raises DatasetError naming the file (and line) at fault, so a broken dataset is
reported at load time instead of silently producing an empty or shortened evaluation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from langtrack_ros.data.sequence import DatasetError, list_images


def read_sentence(path: Path) -> str:
    """The first non-empty line of a one-sentence file (nlp.txt, language.txt, OTB query)."""
    if not path.is_file():
        raise DatasetError(f"missing sentence file {path}")
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        if line.strip():
            return line.strip()
    raise DatasetError(f"{path}: empty sentence file")


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """True where a box is a real box: finite with positive width and height.

    Datasets mark absence with NaN or 0,0,0,0 rows, so such rows can never count as visible.
    """
    finite = np.isfinite(boxes).all(axis=1)
    with np.errstate(invalid="ignore"):
        return finite & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def frame_number(path: Path) -> int | None:
    """The integer in a frame's file name (``0012.jpg`` -> 12), None when it is not a number."""
    stem = path.stem
    digits = stem.rsplit("_", 1)[-1]
    return int(digits) if digits.isdigit() else None


def numbered_frames(folder: Path) -> dict[int, Path]:
    """Images of ``folder`` keyed by the number in their name; duplicates or non-numbers are errors."""
    frames: dict[int, Path] = {}
    for path in list_images(folder):
        number = frame_number(path)
        if number is None:
            raise DatasetError(f"{path}: frame file name is not a number")
        if number in frames:
            raise DatasetError(f"{path}: frame number {number} also used by {frames[number].name}")
        frames[number] = path
    return frames


def sorted_frames(folder: Path) -> list[Path]:
    """Images sorted by frame number when every name is a number, else by name."""
    images = list_images(folder)
    numbers = [frame_number(p) for p in images]
    if all(n is not None for n in numbers):
        return [p for _, p in sorted(zip(numbers, images))]
    return images


def select(names: Iterable[str], wanted: list[str] | None, where: Path) -> list[str]:
    """Filter ``names`` to ``wanted`` (keeping its order); unknown or no names are errors."""
    names = sorted(set(names))
    if not names:
        raise DatasetError(f"no sequences found under {where}")
    if wanted is None:
        return names
    missing = [w for w in wanted if w not in names]
    if missing:
        raise DatasetError(f"sequences {missing} not found under {where}")
    if not wanted:
        raise DatasetError(f"empty sequence filter for {where}")
    return list(dict.fromkeys(wanted))


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"missing {what} folder {path}")
    return path


def check_count(path: Path, found: int, frames: int, what: str = "boxes") -> None:
    """Frame count and annotation count must agree; the message names the annotation file."""
    if found != frames:
        raise DatasetError(f"{path}: {found} {what} for {frames} frames")


def index_by_name(folders, empty_message: str) -> dict[str, Path]:
    """``name -> folder``; a name found twice or no folder at all is a DatasetError."""
    found: dict[str, Path] = {}
    for folder in folders:
        if folder.name in found:
            raise DatasetError(f"sequence name {folder.name!r} appears twice: {found[folder.name]} and {folder}")
        found[folder.name] = folder
    if not found:
        raise DatasetError(empty_message)
    return found
