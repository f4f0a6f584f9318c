"""OTB99-LANG loader (the layout of ``shared/data/real``).

Layout: ``OTB_videos/<Seq>/img/NNNN.jpg`` (Board uses 5 digits, so frames are matched by the
number in the name), ``groundtruth_rect.txt`` (comma or whitespace separated; multi-target
videos have ``groundtruth_rect.<k>.txt`` instead), sentences in ``OTB_query_{train,test}/<Seq>.txt``.
A sentence file named ``<Video>-<k>`` / ``<Video>_<k>`` / ``<Video>.<k>`` (Jogging, Skating2,
Human4) takes video ``<Video>`` and target ``groundtruth_rect.<k>.txt``.

Some OTB-100 videos have more images than annotated frames, or start later. The frame ranges
below are the official OTB-100 ones (benchmark site, as the got10k and pytracking toolkits
encode them): ``(first frame, last frame, frames omitted at the start)``; the ground-truth file
has one row per frame of ``first..last``. ``init_omit`` (Tiger1) drops leading frames *and*
their rows, as the official evaluation starts there. Every other video uses all of its images.
"""
from __future__ import annotations

import re
from pathlib import Path

from langtrack_ros.data.loaders.common import (
    check_count, numbered_frames, read_sentence, require_dir, select, valid_boxes,
)
from langtrack_ros.data.sequence import DatasetError, Sequence, parse_boxes

SPLITS = ("train", "test")

# video -> (first frame, last frame, init_omit), 1-based inclusive, from the OTB-100 table.
OTB_FRAME_RANGES: dict[str, tuple[int, int, int]] = {
    "BlurCar1": (247, 988, 0),
    "BlurCar3": (3, 359, 0),
    "BlurCar4": (18, 397, 0),
    "David": (300, 770, 0),
    "Diving": (1, 215, 0),
    "Football1": (1, 74, 0),
    "Freeman3": (1, 460, 0),
    "Freeman4": (1, 283, 0),
    "Tiger1": (1, 354, 5),
}

_TARGET_SUFFIX = re.compile(r"^(?P<video>.+?)[-_.](?P<k>\d)$")


def load_otb99lang(root: str | Path, split: str | None = None,
                   sequences: list[str] | None = None) -> list[Sequence]:
    root = require_dir(Path(root), "OTB99-LANG root")
    videos = require_dir(root / "OTB_videos", "OTB_videos")
    queries = _query_files(root, split)
    names = select(queries, sequences, root)
    return [_load_sequence(n, videos, queries[n]) for n in names]


def _query_files(root: Path, split: str | None) -> dict[str, Path]:
    if split is not None and split not in SPLITS:
        raise DatasetError(f"OTB99-LANG split must be one of {SPLITS}, got {split!r}")
    if split is not None:
        folders = [require_dir(root / f"OTB_query_{split}", f"OTB99-LANG {split} query")]
    else:
        folders = [root / f"OTB_query_{s}" for s in SPLITS if (root / f"OTB_query_{s}").is_dir()]
    if not folders:
        raise DatasetError(f"no OTB_query_train or OTB_query_test folder under {root}")
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.txt")):
            found.setdefault(path.stem, path)
    return found


def _load_sequence(name: str, videos: Path, query: Path) -> Sequence:
    video, target = _video_and_target(name, videos)
    folder = videos / video
    gt = _groundtruth_file(folder, target)
    boxes = parse_boxes(gt)
    frames = _frames(video, folder / "img", len(boxes), gt)
    omit = OTB_FRAME_RANGES.get(video, (0, 0, 0))[2]
    frames, boxes = frames[omit:], boxes[omit:]
    return Sequence(
        name=name,
        frames=frames,
        boxes=boxes,
        visible=valid_boxes(boxes),
        sentence=read_sentence(query),
        dataset="otb99lang",
    )


def _video_and_target(name: str, videos: Path) -> tuple[str, int | None]:
    """Video folder and target index for a sentence-file name."""
    if (videos / name).is_dir():
        return name, None
    match = _TARGET_SUFFIX.match(name)
    if match and (videos / match["video"]).is_dir():
        return match["video"], int(match["k"])
    raise DatasetError(f"missing video folder {videos / name} for sentence file {name}.txt")


def _groundtruth_file(folder: Path, target: int | None) -> Path:
    """``groundtruth_rect.txt``, or for multi-target videos the first non-empty numbered file."""
    if target is not None:
        return folder / f"groundtruth_rect.{target}.txt"
    plain = folder / "groundtruth_rect.txt"
    if plain.is_file():
        return plain
    numbered = sorted(folder.glob("groundtruth_rect.[0-9].txt"))
    for path in numbered:  # Human4's groundtruth_rect.1.txt is empty upstream
        if path.read_text().strip():
            return path
    raise DatasetError(f"missing ground-truth file {plain} (and no non-empty groundtruth_rect.<k>.txt)")


def _frames(video: str, img: Path, n_boxes: int, gt: Path) -> list[Path]:
    """The annotated frames: the official range for listed videos, otherwise every image."""
    by_number = numbered_frames(img)
    first, last, _ = OTB_FRAME_RANGES.get(video, (min(by_number), max(by_number), 0))
    missing = [k for k in range(first, last + 1) if k not in by_number]
    if missing:
        raise DatasetError(f"{img}: frames {missing[:5]} of {first}..{last} are missing")
    check_count(gt, n_boxes, last - first + 1)
    return [by_number[k] for k in range(first, last + 1)]
