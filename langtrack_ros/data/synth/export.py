"""Write LangTrack-Synth sequences in the LaSOT on-disk layout, plus ``query_switches.txt``.

``<out>/<class>/<class>-<id>/img/00000001.jpg``, ``groundtruth.txt`` (x,y,w,h per line; a frame
with the target out of view is ``0,0,0,0`` as in LaSOT), ``full_occlusion.txt`` and
``out_of_view.txt`` (one comma-separated line of 0/1), ``nlp.txt`` (the first sentence) and
``query_switches.txt`` (one line per switch: ``<1-based frame>,<sentence>``; split on the first
comma; the file exists only when the sequence has switches). <class> is the category of the first
target, <id> the sequence index in its split.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from .generator import SynthSequence


def sequence_dir(seq: SynthSequence, out_dir: Path) -> Path:
    return Path(out_dir) / seq.category / f"{seq.category}-{seq.index}"


def format_boxes(boxes: np.ndarray) -> str:
    """LaSOT ground truth: integer-valued x,y,w,h; unknown (out-of-view) rows become 0,0,0,0."""
    rows = []
    for b in boxes:
        rows.append("0,0,0,0" if not np.all(np.isfinite(b)) else ",".join(str(int(round(v))) for v in b))
    return "\n".join(rows) + "\n"


def format_flags(flags: np.ndarray) -> str:
    return ",".join("1" if f else "0" for f in flags) + "\n"


def write_sequence(seq: SynthSequence, out_dir: Path, jpeg_quality: int) -> Path:
    """Render and write one sequence; returns its folder."""
    folder = sequence_dir(seq, out_dir)
    img_dir = folder / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    for i in range(len(seq)):
        bgr = cv2.cvtColor(seq.render(i), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(img_dir / f"{i + 1:08d}.jpg"), bgr, params):
            raise OSError(f"cannot write {img_dir / f'{i + 1:08d}.jpg'}")
    (folder / "groundtruth.txt").write_text(format_boxes(seq.boxes))
    (folder / "full_occlusion.txt").write_text(format_flags(seq.full_occlusion))
    (folder / "out_of_view.txt").write_text(format_flags(seq.out_of_view))
    (folder / "nlp.txt").write_text(one_line(seq.sentence) + "\n")
    if seq.switches:
        lines = [f"{sw.frame + 1},{one_line(sw.sentence)}" for sw in seq.switches]
        (folder / "query_switches.txt").write_text("\n".join(lines) + "\n")
    return folder


def one_line(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"sentence spans lines, cannot export: {text!r}")
    return text


def export_lasot(sequences: Iterable[SynthSequence], out_dir: str | Path, jpeg_quality: int | None = None) -> list[Path]:
    """Write every sequence under ``out_dir`` in LaSOT layout; returns the sequence folders."""
    if jpeg_quality is None:
        from .generator import default_config

        jpeg_quality = default_config().jpeg_quality
    return [write_sequence(seq, Path(out_dir), jpeg_quality) for seq in sequences]
