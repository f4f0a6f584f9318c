"""Run any tracker (set_query / step) over sequences, score it, and write the standard outputs.

One tracker run is scored twice, ``honest`` (nothing overwritten) and ``toolkit`` (frame 1 = GT
where the convention does so), because template-free tracking grounds the target in exactly the
frame the toolkits overwrite (EVAL.md). The requested mode is the headline of the summary line.

A tracker that raises on a frame does not stop the evaluation: the frame gets a NaN box (scored
as a failure) and the error is logged and counted in the report.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Union

import numpy as np

from langtrack_ros.config import ConfigError, from_dict, load_merged
from langtrack_ros.data.sequence import QuerySwitch, Sequence
from langtrack_ros.evaluation import events, metrics
from langtrack_ros.tracking.result import Tracker, TrackResult

log = logging.getLogger(__name__)

TrackerOrFactory = Union[Tracker, Callable[[], Tracker]]


@dataclass
class EventSettings:
    iou_threshold: float  # a frame is "on target" when IoU > this
    lock_window: int  # a query switch counts as locked when the delay is < this many frames


@dataclass
class EvalSettings:
    """``config/eval.yaml``, the one table of evaluation defaults (no defaults here)."""

    mode: str
    conventions: dict  # dataset -> default convention
    events: EventSettings
    plots: bool
    reference: dict  # dataset -> {tracker: [PRE, AUC]} published numbers

    def convention_for(self, dataset: str) -> str:
        """The convention config/eval.yaml names for ``dataset``; none named is a ConfigError."""
        if dataset not in self.conventions:
            raise ConfigError(f"eval.yaml conventions has no default for dataset {dataset!r} "
                              f"(has {sorted(self.conventions)}); add one or pass --convention")
        return self.conventions[dataset]


def load_settings(path: str | Path | None = None) -> EvalSettings:
    """config/eval.yaml with the user's file ``path`` (if any) merged over it once."""
    return from_dict(EvalSettings, load_merged("eval", path, "langtrack_eval"), str(path or "config/eval.yaml"))


@dataclass
class SequenceRun:
    """What a tracker produced on one sequence, frame by frame."""

    name: str
    boxes: np.ndarray  # (N, 4) xywh, NaN where the tracker failed or had no box
    kappa: np.ndarray  # (N,)
    search_mode: list[str]
    found: np.ndarray  # (N,) bool
    seconds: np.ndarray  # (N,) time spent in step()
    errors: list[tuple[int, str]] = field(default_factory=list)
    image_size: tuple[int, int] | None = None  # (W, H)

    @property
    def fps(self) -> float:
        total = float(np.nansum(self.seconds))
        return len(self.boxes) / total if total > 0 else float("nan")


def truncate(seq: Sequence, max_frames: int | None) -> Sequence:
    """The first ``max_frames`` frames of ``seq`` (switches after the cut are dropped)."""
    if not max_frames or max_frames >= len(seq):
        return seq
    n = int(max_frames)
    return Sequence(seq.name, seq.frames[:n], seq.boxes[:n], seq.visible[:n], seq.sentence,
                    [s for s in seq.switches if s.frame < n], seq.dataset, seq.image_reader)


def run_sequence(tracker: Tracker, seq: Sequence,
                 on_frame: Callable[[int, np.ndarray, TrackResult | None], None] | None = None) -> SequenceRun:
    """Drive ``tracker`` through ``seq``: set_query at frame 0 and at every switch, step every frame.

    ``on_frame(i, image, result)`` sees every frame (result None when the tracker gave none), so a
    progress bar or a video writer can follow the run without a second loop.
    """
    n = len(seq)
    run = SequenceRun(seq.name, np.full((n, 4), np.nan), np.full(n, np.nan), [""] * n, np.zeros(n, bool),
                      np.full(n, np.nan))
    if hasattr(tracker, "bind_sequence"):
        tracker.bind_sequence(seq)
    starts = {q.frame: q for q in seq.queries()}
    pending: QuerySwitch | None = None
    for i in range(n):
        image = seq.image(i)
        run.image_size = run.image_size or (image.shape[1], image.shape[0])
        pending = starts.get(i, pending)
        if pending is not None:
            pending = _start_query(tracker, seq, i, pending, run)
        result = _step(tracker, image, i, run) if pending is None else None
        if on_frame:
            on_frame(i, image, result)
    return run


def _start_query(tracker: Tracker, seq: Sequence, i: int, query: QuerySwitch, run: SequenceRun):
    """Give the query; a box-initialised tracker waits for the first frame with a ground-truth box."""
    init_box = None
    if tracker.needs_box:
        box = seq.boxes[i]
        if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
            return query
        init_box = box.copy()
        if i != query.frame:
            log.info("%s: query of frame %d initialised at frame %d (first ground-truth box)", seq.name,
                     query.frame, i)
    try:
        tracker.set_query(query.sentence, init_box=init_box)
    except Exception as exc:  # noqa: BLE001 - any tracker failure is recorded, not fatal
        # no stepping on a query the tracker refused: it would track the previous target's state
        _record_error(run, i, f"set_query: {exc!r}")
        return query
    return None


def _step(tracker: Tracker, image: np.ndarray, i: int, run: SequenceRun) -> TrackResult | None:
    t0 = time.perf_counter()
    try:
        result = tracker.step(image)
    except Exception as exc:  # noqa: BLE001 - any tracker failure is recorded, not fatal
        run.seconds[i] = time.perf_counter() - t0
        _record_error(run, i, f"step: {exc!r}")
        return None
    run.seconds[i] = time.perf_counter() - t0
    run.boxes[i] = np.asarray(result.box, dtype=np.float64).reshape(4)
    run.kappa[i] = float(result.kappa)
    run.search_mode[i] = getattr(result.mode, "value", str(result.mode))
    run.found[i] = bool(result.found)
    return result


def _record_error(run: SequenceRun, i: int, message: str) -> None:
    log.warning("%s frame %d: tracker failed (%s); frame scored as a failure", run.name, i, message)
    run.errors.append((i, message))


def score_run(run: SequenceRun, seq: Sequence, convention: metrics.Convention,
              settings: EventSettings) -> dict:
    """Scores of one run in both modes, plus its event metrics."""
    scores = {m: metrics.score_sequence(run.boxes, seq.boxes, seq.visible, convention, m, run.image_size)
              for m in metrics.MODES}
    ious = events.frame_ious(run.boxes, seq.boxes)
    ev = events.event_metrics(ious, seq.visible, [s.frame for s in seq.switches], settings.iou_threshold,
                              settings.lock_window)
    return {"scores": scores, "events": ev}


def evaluate(tracker: TrackerOrFactory, sequences: Iterable[Sequence], convention: str | metrics.Convention,
             mode: str = "honest", out_dir: str | Path | None = None, *, dataset: str = "",
             tracker_name: str | None = None, max_frames: int | None = None,
             settings: EvalSettings | None = None, progress: bool = True) -> dict:
    """Run, score, write predictions and reports under ``out_dir/<tracker>/``; return the report dict.

    ``tracker`` is a Tracker (reused for every sequence; set_query resets it) or a factory called
    once per sequence.
    """
    from tqdm import tqdm

    from langtrack_ros.evaluation import report

    if mode not in metrics.MODES:
        raise ValueError(f"mode must be one of {metrics.MODES}, got {mode!r}")
    conv = metrics.get_convention(convention)
    settings = settings or load_settings()
    seqs = [truncate(s, max_frames) for s in sequences]
    if not seqs:
        raise ValueError("no sequences to evaluate")
    make = (lambda: tracker) if hasattr(tracker, "step") else tracker
    first = make()
    name = tracker_name or getattr(first, "name", None) or "tracker"
    target = Path(out_dir) / name if out_dir is not None else None
    per_seq = []
    # disable=None: tqdm hides itself when stderr is not a terminal (logs stay readable)
    bar = tqdm(total=sum(len(s) for s in seqs), unit="frame", disable=None if progress else True, leave=False)
    for k, seq in enumerate(seqs):
        bar.set_description(seq.name)
        run = run_sequence(first if k == 0 else make(), seq, on_frame=lambda *_: bar.update(1))
        scored = score_run(run, seq, conv, settings.events)
        per_seq.append((seq, run, scored))
        if target is not None:
            report.write_predictions(target, run)
        head = scored["scores"][mode]
        tqdm.write(f"{seq.name}: AUC={head.auc:.3f} PRE@20={head.pre:.3f} NPRE={head.npre:.3f} "
                   f"fps={run.fps:.1f} ({mode}, {conv.name})")
    bar.close()
    result = report.build_report(per_seq, conv, mode, name, dataset, settings)
    if target is not None:
        report.write_reports(result, target, plots=settings.plots)
    return result
