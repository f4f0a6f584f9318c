"""Render a contact sheet of LangTrack-Synth sequences: frames with GT box, flags and the query.

Usage: python scripts/contact_sheet.py [--out docs/img/synth_contact_sheet.png] [--rows test:0 hard:0 ...]
Green box = visible target, orange = fully occluded (box where it hides), "OUT OF VIEW" = no box.
A frame where the query switches has a magenta border and shows the new sentence.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from langtrack_ros.data.synth import generate_sequence

CELL_W, CELL_H, COLS, HEADER = 288, 216, 5, 26
FONT = cv2.FONT_HERSHEY_SIMPLEX


def label(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45, colour=(255, 255, 255)) -> None:
    """Text with a dark backing box so it reads on any background."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    x, y = org
    cv2.rectangle(img, (x - 2, y - th - 3), (x + tw + 2, y + base), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), FONT, scale, colour, 1, cv2.LINE_AA)


def pick_frames(seq) -> list[int]:
    """Evenly spaced frames, always including each switch frame."""
    n = len(seq)
    picks = set(np.linspace(0, n - 1, COLS).round().astype(int).tolist())
    for sw in seq.switches:
        picks.discard(min(picks, key=lambda p: abs(p - sw.frame) if p else n))
        picks.add(sw.frame)
    return sorted(picks)


def cell(seq, i: int) -> np.ndarray:
    img = seq.render(i).copy()
    sx, sy = CELL_W / seq.width, CELL_H / seq.height
    img = cv2.resize(img, (CELL_W, CELL_H), interpolation=cv2.INTER_AREA)
    if seq.out_of_view[i]:
        label(img, "OUT OF VIEW", (6, CELL_H - 8), colour=(255, 80, 80))
    else:
        x, y, w, h = seq.boxes[i]
        colour = (255, 160, 0) if seq.full_occlusion[i] else (0, 255, 0)
        cv2.rectangle(img, (int(x * sx), int(y * sy)), (int((x + w) * sx), int((y + h) * sy)), colour, 2)
        if seq.full_occlusion[i]:
            label(img, "FULLY OCCLUDED", (6, CELL_H - 8), colour=(255, 160, 0))
    label(img, f"#{i + 1}", (6, 16))
    switch = [sw for sw in seq.switches if sw.frame == i]
    if switch:
        cv2.rectangle(img, (0, 0), (CELL_W - 1, CELL_H - 1), (255, 0, 255), 4)
        label(img, "switch: " + switch[0].sentence, (6, 34), 0.4, (255, 120, 255))
    return img


def row(seq) -> np.ndarray:
    header = np.full((HEADER, CELL_W * COLS, 3), 30, np.uint8)
    label(header, f"{seq.name}: \"{seq.sentence}\"", (6, 18), 0.5)
    cells = [cell(seq, i) for i in pick_frames(seq)]
    return np.vstack([header, np.hstack(cells)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/synth_contact_sheet.png")
    parser.add_argument("--rows", nargs="+", default=["test:0", "test:1", "test:3", "hard:0", "hard:1", "hard:2"],
                        help="split:index of each row")
    args = parser.parse_args()
    rows = []
    for spec in args.rows:
        split, index = spec.split(":")
        rows.append(row(generate_sequence(int(index), split)))
    sheet = np.vstack(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
