"""Ground truth for a replayed bag: a text file (one ``x,y,w,h`` line per image, in bag order,
NaN or an empty line where unknown) or a topic in the bag (langtrack_msgs/TrackedTarget or
vision_msgs/Detection2DArray, matched to images by header stamp). Scored with the project's
metrics (got10k convention, honest mode), so replay numbers read like `langtrack eval` ones."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from langtrack_ros.evaluation import metrics


def read_gt_file(path: str | Path, frames: int) -> np.ndarray:
    """(frames, 4) boxes; ValueError naming the file when the line count or a value is wrong."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts:
            rows.append([np.nan] * 4)
            continue
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"ground truth {path}:{n}: not numbers: {line!r}") from None
        if len(values) != 4:
            raise ValueError(f"ground truth {path}:{n}: expected x,y,w,h, got {len(values)} values")
        rows.append(values)
    if len(rows) != frames:
        raise ValueError(f"ground truth {path} has {len(rows)} lines for {frames} images in the bag")
    return np.array(rows, float).reshape(-1, 4)


def box_of(msg) -> list[float]:
    """x,y,w,h of a TrackedTarget (found) or of the first detection of a Detection2DArray."""
    if hasattr(msg, "detections"):
        if not msg.detections:
            return [np.nan] * 4
        b = msg.detections[0].bbox
        return [b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y]
    return [msg.x, msg.y, msg.width, msg.height] if msg.found else [np.nan] * 4


def gt_from_topic(stamps: list[tuple[int, int]], messages: dict) -> np.ndarray:
    return np.array([box_of(messages[s]) if s in messages else [np.nan] * 4 for s in stamps], float).reshape(-1, 4)


def score_against(boxes: np.ndarray, stamps, gt_file=None, gt_messages: dict | None = None,
                  convention: str = "got10k") -> dict:
    """AUC, PRE@20 and the number of frames with ground truth."""
    gt = read_gt_file(gt_file, len(boxes)) if gt_file else gt_from_topic(stamps, gt_messages or {})
    score = metrics.score_sequence(boxes, gt, None, convention, "honest")
    return {"convention": score.convention, "auc": score.auc, "pre": score.pre,
            "frames_with_gt": int((~np.isnan(gt).any(1)).sum())}
