"""LaSOT loader, also used for LangTrack-Synth exports (same layout plus ``query_switches.txt``).

Layout: ``<root>/<class>/<class>-<id>/img/00000001.jpg``, ``groundtruth.txt`` (x,y,w,h),
``full_occlusion.txt`` and ``out_of_view.txt`` (one comma-separated line of 0/1), ``nlp.txt``.
Visible = not fully occluded, not out of view, and a real box (LaSOT writes 0,0,0,0 otherwise).
``query_switches.txt`` (our extension): one ``<1-based frame>,<sentence>`` line per switch.
``other_queries.txt`` and ``detected_objects.txt`` (the real corpus; scripts/detected_objects.py):
``<1-based frame>,<x>,<y>,<w>,<h>,<sentence>`` lines naming other objects, read as
``Sequence.extras`` (training targets; evaluation never reads them).
An optional ``<root>/testing_set.txt`` (one sequence name a line) defines the test split.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from langtrack_ros.data.loaders.common import (
    check_count, index_by_name, read_sentence, require_dir, select, sorted_frames, valid_boxes,
)
from langtrack_ros.data.sequence import DatasetError, ExtraTarget, QuerySwitch, Sequence, parse_boxes, parse_flags

SPLIT_FILE = "testing_set.txt"
EXTRA_FILES = ("other_queries.txt", "detected_objects.txt")


def load_lasot(root: str | Path, split: str | None = None, sequences: list[str] | None = None,
               dataset: str = "lasot") -> list[Sequence]:
    root = require_dir(Path(root), "LaSOT root")
    folders = _sequence_folders(root)
    names = _split_names(root, split, folders)
    return [load_lasot_sequence(folders[n], dataset) for n in select(names, sequences, root)]


def load_lasot_sequence(folder: Path, dataset: str = "lasot") -> Sequence:
    frames = sorted_frames(folder / "img")
    n = len(frames)
    boxes = parse_boxes(folder / "groundtruth.txt")
    check_count(folder / "groundtruth.txt", len(boxes), n)
    occluded = _flags(folder / "full_occlusion.txt", n)
    out_of_view = _flags(folder / "out_of_view.txt", n)
    return Sequence(
        name=folder.name,
        frames=frames,
        boxes=boxes,
        visible=~occluded & ~out_of_view & valid_boxes(boxes),
        sentence=read_sentence(folder / "nlp.txt"),
        switches=parse_switches(folder / "query_switches.txt", n),
        dataset=dataset,
        extras=[e for name in EXTRA_FILES for e in parse_extras(folder / name, n)],
    )


def _data_lines(path: Path):
    """(line number, line) of each non-empty line of an optional file; nothing when it is absent."""
    if path.is_file():
        for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if line.strip():
                yield lineno, line


def parse_switches(path: Path, n_frames: int) -> list[QuerySwitch]:
    """Read ``<1-based frame>,<sentence>`` lines (split on the first comma); absent file = none."""
    switches = []
    for lineno, line in _data_lines(path):
        frame, sep, sentence = line.partition(",")
        if not sep or not frame.strip().isdigit() or not sentence.strip():
            raise DatasetError(f"{path}:{lineno}: expected '<frame>,<sentence>', got {line!r}")
        index = int(frame) - 1
        if not 0 < index < n_frames:
            raise DatasetError(f"{path}:{lineno}: switch frame {index + 1} outside 2..{n_frames}")
        switches.append(QuerySwitch(index, sentence.strip()))
    return switches


def parse_extras(path: Path, n_frames: int) -> list[ExtraTarget]:
    """Read ``<1-based frame>,<x>,<y>,<w>,<h>,<sentence>`` lines; absent file = none."""
    extras = []
    for lineno, line in _data_lines(path):
        parts = line.split(",", 5)
        try:
            frame, box = int(parts[0]) - 1, tuple(float(v) for v in parts[1:5])
        except (ValueError, IndexError):
            frame, box = -1, ()
        if len(parts) < 6 or not parts[5].strip() or len(box) != 4 or not all(np.isfinite(box)) \
                or min(box[2:]) <= 0:
            raise DatasetError(f"{path}:{lineno}: expected '<frame>,<x>,<y>,<w>,<h>,<sentence>', got {line!r}")
        if not 0 <= frame < n_frames:
            raise DatasetError(f"{path}:{lineno}: frame {frame + 1} outside 1..{n_frames}")
        extras.append(ExtraTarget(frame, box, parts[5].strip()))
    return extras


def _flags(path: Path, n: int):
    flags = parse_flags(path)
    check_count(path, len(flags), n, "flags")
    return flags


def _sequence_folders(root: Path) -> dict[str, Path]:
    """``name -> folder`` for every ``<class>/<seq>/`` that has an ``img`` folder."""
    folders = (seq for cls in sorted(p for p in root.iterdir() if p.is_dir())
               for seq in sorted(p for p in cls.iterdir() if p.is_dir() and (p / "img").is_dir()))
    return index_by_name(folders, f"no LaSOT sequences (<class>/<seq>/img/) under {root}")


def _split_names(root: Path, split: str | None, folders: dict[str, Path]) -> list[str]:
    """All sequences, or the test / train part given by ``testing_set.txt``."""
    if split is None:
        return list(folders)
    path = root / SPLIT_FILE
    if split not in ("train", "test"):
        raise DatasetError(f"LaSOT split must be 'train' or 'test', got {split!r}")
    if not path.is_file():
        raise DatasetError(f"split {split!r} asked for but {path} is missing")
    listed = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    unknown = [n for n in listed if n not in folders]
    if unknown:
        raise DatasetError(f"{path}: sequences {unknown[:5]} not found under {root}")
    if split == "test":
        return listed
    return [n for n in folders if n not in set(listed)]
