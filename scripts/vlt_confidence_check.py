"""Does a tracker's confidence (kappa: VLT's peak cls) tell tracked frames from lost ones?

Reads the predictions and per-frame meta files that ``langtrack eval`` (or ``vlt-ablation``)
writes (``<run>/<seq>.txt``, ``<run>/<seq>_meta.csv``), the ground truth of a LaSOT-layout corpus,
and prints, per run, the share of tracked frames (IoU > 0.5) and of lost frames (IoU < 0.05)
whose kappa is below each threshold: the signal a wide search for a lost target
(config/vlt_tracker.yaml ``redetect_below``) needs. Frame 0 (the given box) is left out.

    python scripts/vlt_confidence_check.py --root data/real_corpus runs/vlt_ablation/real-val/V2
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from langtrack_ros.evaluation.metrics import iou

THRESHOLDS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def kappas_by_state(run: Path, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """kappa on the tracked and on the lost frames of every sequence of ``run``."""
    tracked, lost = [], []
    for pred in sorted(run.glob("*.txt")):
        gts, meta = list(root.glob(f"*/{pred.stem}/groundtruth.txt")), pred.with_name(f"{pred.stem}_meta.csv")
        if not gts or not meta.exists():
            continue
        boxes = np.loadtxt(pred, delimiter=",", ndmin=2)
        kappa = np.array([float(r["kappa"]) for r in csv.DictReader(meta.open())])
        gt = np.loadtxt(gts[0], delimiter=",", ndmin=2)
        n = min(len(gt), len(boxes), len(kappa))
        overlap = iou(boxes[1:n], gt[1:n])
        tracked.append(kappa[1:n][overlap > 0.5])
        lost.append(kappa[1:n][overlap < 0.05])
    return np.concatenate(tracked or [np.empty(0)]), np.concatenate(lost or [np.empty(0)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="folders of one tracker's eval output")
    ap.add_argument("--root", type=Path, default=Path("data/real_corpus"), help="the corpus (ground truth)")
    args = ap.parse_args()
    print("| run | tracked frames | lost frames | " + " | ".join(f"kappa < {t}: tracked / lost" for t in THRESHOLDS) + " |")
    print("|---" * (3 + len(THRESHOLDS)) + "|")
    for run in args.runs:
        tracked, lost = kappas_by_state(run, args.root)
        share = lambda k, t: f"{100 * np.mean(k < t):.1f} %" if len(k) else "n/a"  # noqa: E731
        print(f"| {run} | {len(tracked)} | {len(lost)} | "
              + " | ".join(f"{share(tracked, t)} / {share(lost, t)}" for t in THRESHOLDS) + " |")


if __name__ == "__main__":
    main()
