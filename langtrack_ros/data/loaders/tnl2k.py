"""TNL2K loader.

Layout: ``<root>/{train,test}/<seq>/imgs/`` (jpg and png mixed, ordered by sorted name),
``groundtruth.txt`` (x,y,w,h), ``language.txt``. The evaluation archive adds
``absent/<seq>.txt`` (1 = absent), looked up in the split folder and then at the root; when an
``absent`` folder exists its file for the sequence is required. ``root`` may also be a split
folder itself (one holding ``<seq>/imgs``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from langtrack_ros.data.loaders.common import (
    check_count, index_by_name, read_sentence, require_dir, select, sorted_frames, valid_boxes,
)
from langtrack_ros.data.sequence import DatasetError, Sequence, parse_boxes, parse_flags

SPLITS = ("train", "test")


def load_tnl2k(root: str | Path, split: str | None = None,
               sequences: list[str] | None = None) -> list[Sequence]:
    root = require_dir(Path(root), "TNL2K root")
    folders = _sequence_folders(root, split)
    return [_load_sequence(folders[n], root) for n in select(folders, sequences, root)]


def _sequence_folders(root: Path, split: str | None) -> dict[str, Path]:
    if split is not None and split not in SPLITS:
        raise DatasetError(f"TNL2K split must be one of {SPLITS}, got {split!r}")
    if _holds_sequences(root):
        split_dirs = [root]
    elif split is not None:
        split_dirs = [require_dir(root / split, f"TNL2K {split}")]
    else:
        split_dirs = [root / s for s in SPLITS if (root / s).is_dir()]
    folders = (seq for split_dir in split_dirs for seq in sorted(p for p in split_dir.iterdir() if (p / "imgs").is_dir()))
    return index_by_name(folders, f"no TNL2K sequences (<split>/<seq>/imgs/) under {root}")


def _holds_sequences(folder: Path) -> bool:
    return any((p / "imgs").is_dir() for p in folder.iterdir())


def _load_sequence(folder: Path, root: Path) -> Sequence:
    frames = sorted_frames(folder / "imgs")  # by frame number: unpadded names (1, 2, 10) stay in order
    gt = folder / "groundtruth.txt"
    boxes = parse_boxes(gt)
    check_count(gt, len(boxes), len(frames))
    visible = valid_boxes(boxes) & ~_absent(folder, root, len(frames))
    return Sequence(
        name=folder.name,
        frames=frames,
        boxes=boxes,
        visible=visible,
        sentence=read_sentence(folder / "language.txt"),
        dataset="tnl2k",
    )


def _absent(folder: Path, root: Path, n: int) -> np.ndarray:
    """Absent flags from ``absent/<seq>.txt``; all False when no ``absent`` folder exists."""
    absent_dirs = [d / "absent" for d in (folder.parent, root) if (d / "absent").is_dir()]
    if not absent_dirs:
        return np.zeros(n, dtype=bool)
    for absent_dir in absent_dirs:
        path = absent_dir / f"{folder.name}.txt"
        if path.is_file():
            flags = parse_flags(path)
            check_count(path, len(flags), n, "absent flags")
            return flags
    raise DatasetError(f"missing absent file {absent_dirs[0] / (folder.name + '.txt')}")
