"""Where is the true target on VLT's maps, frame by frame, and what beats it?

Runs the VLT tracker (config/vlt_tracker.yaml) on one LaSOT-layout sequence with the true first
box and, before each step, reads the middle pyramid crop's maps at the true target's centre: its
cls and score beside the peak's. A target lost "by position" shows its cls falling as it moves off
the crop centre; one lost to a look-alike keeps its cls and loses on score (window, centerness).
The truck2 figures of config/ablation_vlt.yaml's centre-jitter note came from this.

    python scripts/vlt_target_response.py data/real_corpus/vehicle/truck2 --frames 14 [--model M]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def target_response(tracker, image: np.ndarray, true_box) -> dict:
    """The maps of the crop around the tracker's last box: cls / score at the map point nearest the
    true box's centre, the peak cls and score, and both positions in patch pixels."""
    res = tracker._respond(image, (1.0,))[0]
    centre = np.asarray(true_box[:2], float) + np.asarray(true_box[2:], float) / 2
    px, py = (centre[0] - res.t.x0) / res.t.scale, (centre[1] - res.t.y0) / res.t.scale
    j, i = int(np.argmin(np.abs(res.points - px))), int(np.argmin(np.abs(res.points - py)))
    pi, pj = np.unravel_index(int(np.argmax(res.score)), res.score.shape)
    return {"target_px": (px, py), "cls_at_target": float(res.cls[i, j]), "score_at_target": float(res.score[i, j]),
            "peak_px": (float(res.points[pj]), float(res.points[pi])), "peak_cls": float(res.cls[pi, pj]),
            "peak_score": float(res.score[pi, pj])}


def main() -> None:
    from langtrack_ros.vlt.tracker import load_vlt_tracker

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sequence", type=Path, help="a LaSOT-layout sequence folder (groundtruth.txt, nlp.txt, img/)")
    ap.add_argument("--frames", type=int, default=14)
    ap.add_argument("--model", help="VLT model file (default: config/vlt_tracker.yaml's)")
    args = ap.parse_args()
    gt = np.loadtxt(args.sequence / "groundtruth.txt", delimiter=",", ndmin=2)
    images = sorted((args.sequence / "img").glob("*.jpg"))
    tracker = load_vlt_tracker(args.model)
    tracker.set_query((args.sequence / "nlp.txt").read_text().strip(), gt[0])
    print("| frame | target (patch px) | cls at target | score at target | peak (patch px) | peak cls | peak score |")
    print("|---|---|---|---|---|---|---|")
    for f in range(min(args.frames, len(images), len(gt))):
        image = cv2.cvtColor(cv2.imread(str(images[f])), cv2.COLOR_BGR2RGB)
        if f > 0 and np.all(np.isfinite(gt[f])):
            r = target_response(tracker, image, gt[f])
            print(f"| {f} | ({r['target_px'][0]:.0f}, {r['target_px'][1]:.0f}) | {r['cls_at_target']:.2f} | "
                  f"{r['score_at_target']:.3f} | ({r['peak_px'][0]:.0f}, {r['peak_px'][1]:.0f}) | "
                  f"{r['peak_cls']:.2f} | {r['peak_score']:.3f} |")
        tracker.step(image)


if __name__ == "__main__":
    main()
