"""MGIT loader.

Layout: frames ``data/<split>/<seq>/frame_<seq>/*.jpg`` (ordered by frame number),
``attribute/groundtruth/<seq>.txt`` (x,y,w,h), ``attribute/absent/<seq>.txt`` (1 = absent; required
when the ``attribute/absent`` folder exists), ``attribute/{shotcut,restart}`` (not used here),
sentences in ``mgit_nlp/<seq>.xlsx``.

The xlsx column layout is not published. What is known: the public MGIT/VLT toolkits read the
first sheet with a header row and take column index 14 of the LAST row as the sequence's sentence.
Assumption this loader makes (and the test fixture follows):
- the sentence column is the header named ``description``, ``sentence``, ``nlp`` or ``text``
  (case-insensitive), otherwise column index 14;
- if a header beginning with ``start`` exists (e.g. ``start_frame``), every row with a sentence
  and a start frame is a time-stamped description (MGIT's action / activity grains). Its start
  value is a frame NUMBER as in the frame file names; the earliest row gives the first sentence
  and each later start becomes a QuerySwitch (the target stays the same, its description changes);
- without such columns, the last row's sentence (the whole-video grain) is the only query, as in
  the public toolkits.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from langtrack_ros.data.loaders.common import (
    check_count, frame_number, require_dir, select, sorted_frames, valid_boxes,
)
from langtrack_ros.data.sequence import DatasetError, QuerySwitch, Sequence, parse_boxes, parse_flags

SPLITS = ("train", "val", "test")
SENTENCE_HEADERS = ("description", "sentence", "nlp", "text")
SENTENCE_COLUMN = 14


def load_mgit(root: str | Path, split: str | None = None,
              sequences: list[str] | None = None) -> list[Sequence]:
    root = require_dir(Path(root), "MGIT root")
    folders = _sequence_folders(root, split)
    return [_load_sequence(root, folders[n]) for n in select(folders, sequences, root)]


def _sequence_folders(root: Path, split: str | None) -> dict[str, Path]:
    data = require_dir(root / "data", "MGIT data")
    if split is not None and split not in SPLITS:
        raise DatasetError(f"MGIT split must be one of {SPLITS}, got {split!r}")
    splits = [require_dir(data / split, f"MGIT {split}")] if split else \
        [data / s for s in SPLITS if (data / s).is_dir()]
    found: dict[str, Path] = {}
    for split_dir in splits:
        for seq in sorted(p for p in split_dir.iterdir() if (p / f"frame_{p.name}").is_dir()):
            found.setdefault(seq.name, seq)
    if not found:
        raise DatasetError(f"no MGIT sequences (data/<split>/<seq>/frame_<seq>/) under {root}")
    return found


def _load_sequence(root: Path, folder: Path) -> Sequence:
    name = folder.name
    frames = sorted_frames(folder / f"frame_{name}")
    gt = root / "attribute" / "groundtruth" / f"{name}.txt"
    boxes = parse_boxes(gt)
    check_count(gt, len(boxes), len(frames))
    queries = read_mgit_sentences(root / "mgit_nlp" / f"{name}.xlsx", frames)
    return Sequence(
        name=name,
        frames=frames,
        boxes=boxes,
        visible=valid_boxes(boxes) & ~_absent(root, name, len(frames)),
        sentence=queries[0].sentence,
        switches=queries[1:],
        dataset="mgit",
    )


def _absent(root: Path, name: str, n: int) -> np.ndarray:
    absent_dir = root / "attribute" / "absent"
    if not absent_dir.is_dir():
        return np.zeros(n, dtype=bool)
    path = absent_dir / f"{name}.txt"
    flags = parse_flags(path)
    check_count(path, len(flags), n, "absent flags")
    return flags


def read_mgit_sentences(path: Path, frames: list[Path]) -> list[QuerySwitch]:
    """All queries of one sequence, the first at frame 0 (see the module docstring for the layout)."""
    rows = _read_rows(path)
    header = [str(h).strip().lower() if h is not None else "" for h in rows[0]]
    col = _sentence_column(header, path)
    start = _column(header, "start")
    if start is None:
        return [QuerySwitch(0, _last_sentence(rows[1:], col, path))]
    index_of = {frame_number(p): i for i, p in enumerate(frames)}
    timed = []
    for rowno, row in enumerate(rows[1:], 2):
        text = _cell(row, col)
        if text and _cell(row, start):
            timed.append((_frame_index(row[start], index_of, path, rowno), text))
    if not timed:
        raise DatasetError(f"{path}: no row has both a sentence and a start frame")
    timed.sort(key=lambda t: t[0])
    first = QuerySwitch(0, timed[0][1])
    return [first] + [QuerySwitch(i, s) for i, s in timed[1:] if i > 0]


def _read_rows(path: Path) -> list[tuple]:
    if not path.is_file():
        raise DatasetError(f"missing MGIT sentence file {path}")
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a broken file
        raise DatasetError(f"{path}: not a readable xlsx file ({exc})") from exc
    rows = [tuple(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    if len(rows) < 2:
        raise DatasetError(f"{path}: expected a header row and at least one sentence row")
    return rows


def _sentence_column(header: list[str], path: Path) -> int:
    for i, h in enumerate(header):
        if h in SENTENCE_HEADERS:
            return i
    if len(header) > SENTENCE_COLUMN:
        return SENTENCE_COLUMN
    raise DatasetError(
        f"{path}: no sentence column (header {SENTENCE_HEADERS} or column {SENTENCE_COLUMN + 1})")


def _column(header: list[str], word: str) -> int | None:
    return next((i for i, h in enumerate(header) if h.startswith(word)), None)


def _cell(row: tuple, col: int) -> str:
    value = row[col] if col < len(row) else None
    return "" if value is None else str(value).strip()


def _last_sentence(rows: list[tuple], col: int, path: Path) -> str:
    texts = [_cell(r, col) for r in rows if _cell(r, col)]
    if not texts:
        raise DatasetError(f"{path}: sentence column {col + 1} is empty")
    return texts[-1]


def _frame_index(value, index_of: dict, path: Path, rowno: int) -> int:
    """Map a start frame number to its position among the frames; errors name file and row."""
    try:
        number = int(float(str(value).strip()))
    except ValueError as exc:
        raise DatasetError(f"{path}:row {rowno}: start frame {value!r} is not a number") from exc
    if number not in index_of:
        raise DatasetError(f"{path}:row {rowno}: start frame {number} has no frame file")
    return index_of[number]
