"""Our own event metrics: how fast a tracker gets the target back, and how fast it follows a new query.

Toolkit curves average over frames and hide these moments, yet they are what language-only
tracking is about (EVAL.md): a target re-entering the view has to be found again from the
sentence, and a new sentence has to move the box to another object.

Delays count frames from the event frame: 0 means the box is right (IoU > threshold) on the very
frame the target re-entered or the query changed. An event whose target is never got back within
its window (until the target leaves again, the next query switch or the end) is censored: ``None``.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .metrics import iou


def frame_ious(pred, gt) -> np.ndarray:
    """Raw per-frame IoU, nothing overwritten; unknown boxes (NaN) give 0."""
    return np.nan_to_num(iou(np.asarray(pred, float), np.asarray(gt, float)), nan=0.0)


def _first_hit(ious: np.ndarray, start: int, stop: int, threshold: float) -> int | None:
    hits = np.flatnonzero(ious[start:stop] > threshold)
    return int(hits[0]) if hits.size else None


def reentry_frames(visible: np.ndarray) -> list[int]:
    """Frames where the target becomes visible after at least one invisible frame."""
    v = np.asarray(visible, bool)
    return [int(i) for i in np.flatnonzero(v[1:] & ~v[:-1]) + 1]


def reacquisition_delays(ious, visible, threshold: float = 0.5, switches: Iterable[int] = ()) -> list[int | None]:
    """Frames from each re-entry until IoU > threshold, searched until the target leaves again."""
    ious, visible = np.asarray(ious, float), np.asarray(visible, bool)
    cuts = sorted(set(switches))
    delays = []
    for start in reentry_frames(visible):
        gone = np.flatnonzero(~visible[start:])
        stop = start + int(gone[0]) if gone.size else len(visible)
        stop = min([stop] + [c for c in cuts if c > start])
        delays.append(_first_hit(ious, start, stop, threshold))
    return delays


def lock_delays(ious, switch_frames: Iterable[int], threshold: float = 0.5) -> list[int | None]:
    """Frames from each query switch until IoU > threshold on the new target (until the next switch)."""
    ious = np.asarray(ious, float)
    frames = sorted(int(f) for f in switch_frames)
    ends = frames[1:] + [len(ious)]
    return [_first_hit(ious, s, e, threshold) for s, e in zip(frames, ends)]


def _mean(values: list[int | None]) -> float | None:
    done = [v for v in values if v is not None]
    return float(np.mean(done)) if done else None


def _fraction(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def event_metrics(ious, visible, switch_frames: Iterable[int] = (), iou_threshold: float = 0.5,
                  lock_window: int = 5) -> dict:
    """Re-acquisition and query-switch lock-on statistics of one sequence.

    A switch is "locked within the window" when its delay is < ``lock_window``, i.e. the box is
    right within the first ``lock_window`` frames of the new query. Means are over uncensored events.
    """
    switch_frames = list(switch_frames)
    reacq = reacquisition_delays(ious, visible, iou_threshold, switch_frames)
    locks = lock_delays(ious, switch_frames, iou_threshold)
    return {
        "iou_threshold": iou_threshold,
        "lock_window": lock_window,
        "reentries": len(reacq),
        "reacquisition_delays": reacq,
        "reacquired_fraction": _fraction([d is not None for d in reacq]),
        "mean_reacquisition_delay": _mean(reacq),
        "switches": len(locks),
        "lock_delays": locks,
        "switches_locked_within_window": _fraction([d is not None and d < lock_window for d in locks]),
        "mean_lock_delay": _mean(locks),
    }


def pool_events(per_sequence: list[dict]) -> dict:
    """Pool event statistics over sequences (every event weighs the same)."""
    if not per_sequence:
        return {}
    reacq = [d for s in per_sequence for d in s["reacquisition_delays"]]
    locks = [d for s in per_sequence for d in s["lock_delays"]]
    window = per_sequence[0]["lock_window"]
    return {
        "iou_threshold": per_sequence[0]["iou_threshold"],
        "lock_window": window,
        "reentries": len(reacq),
        "reacquired_fraction": _fraction([d is not None for d in reacq]),
        "mean_reacquisition_delay": _mean(reacq),
        "switches": len(locks),
        "switches_locked_within_window": _fraction([d is not None and d < window for d in locks]),
        "mean_lock_delay": _mean(locks),
    }
