"""How far does a target move between frames, in units of its size?

A Siamese tracker's search crop is centred on the last box, and its network learned the target's
offset from the crop centre only within the training jitter (config/train_vlt.yaml
``sampling.center_jitter``: within +-center_jitter/2 x sqrt(w h)). This prints, per split of a
LaSOT-layout corpus (``testing_set.txt`` names the val/test sequences), the share of frame-to-frame
centre moves whose larger axis exceeds 0.5 and 1.0 x sqrt(w h) of the earlier box, per sequence and
on average, and their 95th percentile: the numbers behind the centre-jitter note of
config/ablation_vlt.yaml.

    python scripts/corpus_motion.py --root data/real_corpus --max-frames 300
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

LIMITS = (0.5, 1.0)


def relative_moves(boxes: np.ndarray) -> np.ndarray:
    """Larger-axis centre move between consecutive frames over sqrt(w h) of the earlier box; pairs
    with an empty box (target absent) are skipped."""
    boxes = np.asarray(boxes, float)
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    valid = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    both = valid[1:] & valid[:-1]
    size = np.sqrt(np.maximum(boxes[:-1, 2] * boxes[:-1, 3], 1.0))
    return (np.abs(np.diff(centre, axis=0)).max(1) / size)[both]


def corpus_motion(root: Path, max_frames: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """{"val" | "train": {sequence: its relative moves}} over the first ``max_frames`` frames (0 = all)."""
    marker = root / "testing_set.txt"
    val = set(marker.read_text().split()) if marker.exists() else set()
    out: dict[str, dict[str, np.ndarray]] = {"val": {}, "train": {}}
    for gt in sorted(root.glob("*/*/groundtruth.txt")):
        boxes = np.loadtxt(gt, delimiter=",", ndmin=2)
        if max_frames:
            boxes = boxes[:max_frames]
        name = gt.parent.name
        out["val" if name in val else "train"][name] = relative_moves(boxes)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("data/real_corpus"), help="LaSOT-layout corpus")
    ap.add_argument("--max-frames", type=int, default=0, help="first N frames of each sequence (0 = all)")
    ap.add_argument("--top", type=int, default=8, help="sequences listed per split, fastest first")
    args = ap.parse_args()
    heads = " | ".join(f"> {t} sqrt(wh)" for t in LIMITS)
    for split, seqs in corpus_motion(args.root, args.max_frames).items():
        if not seqs:
            continue
        shares = {n: [float(np.mean(m > t)) if len(m) else 0.0 for t in LIMITS] for n, m in seqs.items()}
        mean = np.mean(list(shares.values()), axis=0)
        print(f"\n{split}: {len(seqs)} sequences, mean share of moves " +
              ", ".join(f"> {t}: {100 * v:.1f} %" for t, v in zip(LIMITS, mean)))
        print(f"| sequence | {heads} | p95 |\n|---|" + "---|" * (len(LIMITS) + 1))
        for name in sorted(seqs, key=lambda n: -shares[n][0])[:args.top]:
            p95 = float(np.percentile(seqs[name], 95)) if len(seqs[name]) else 0.0
            print(f"| {name} | " + " | ".join(f"{100 * v:.1f} %" for v in shares[name]) + f" | {p95:.2f} |")


if __name__ == "__main__":
    main()
