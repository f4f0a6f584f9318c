"""Run a tracker over one sequence while recording an annotated video (demo and `track`)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from langtrack_ros.data.sequence import Sequence
from langtrack_ros.evaluation import harness, metrics
from langtrack_ros.adapters.overlay import VideoWriter, annotate
from langtrack_ros.files import write_image


def track_and_record(tracker, seq: Sequence, out: Path, fps: float, snapshot: tuple[int, ...] = ()) -> harness.SequenceRun:
    """Track ``seq`` frame by frame (harness rules), write ``<out>/<seq>.mp4`` and, when frames are
    named in ``snapshot``, ``snapshot.png``: those annotated frames side by side in a 2-column grid."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shots: dict[int, np.ndarray] = {}
    with VideoWriter(out / f"{seq.name}.mp4", fps) as video:
        def record(i: int, image: np.ndarray, result) -> None:
            frame = annotate(image, result, seq.query_at(i), seq.boxes[i], i)
            video.write(frame)
            if i in snapshot:
                shots[i] = frame

        run = harness.run_sequence(tracker, seq, on_frame=record)
    if shots:
        write_image(out / "snapshot.png", cv2.cvtColor(grid([shots[i] for i in sorted(shots)]), cv2.COLOR_RGB2BGR))
    from langtrack_ros.evaluation.report import write_predictions

    write_predictions(out, run)
    return run


def grid(frames: list[np.ndarray], cols: int = 2) -> np.ndarray:
    blank = np.zeros_like(frames[0])
    frames = frames + [blank] * (-len(frames) % cols)
    rows = [np.hstack(frames[r:r + cols]) for r in range(0, len(frames), cols)]
    return np.vstack(rows)


def print_scores(run: harness.SequenceRun, seq: Sequence) -> dict:
    """Print AUC / PRE@20 in honest and toolkit modes and the query-switch lock delays."""
    settings = harness.load_settings()
    conv = metrics.get_convention(settings.convention_for("synth"))
    scored = harness.score_run(run, seq, conv, settings.events)
    for mode, score in scored["scores"].items():
        print(f"{mode:>7} ({conv.name}): AUC={score.auc:.3f} PRE@20={score.pre:.3f}")
    ev = scored["events"]
    print("query-switch lock delays (frames):", ev.get("lock_delays"),
          "| re-acquisition delays:", ev.get("reacquisition_delays"), f"| fps={run.fps:.1f}")
    return scored
