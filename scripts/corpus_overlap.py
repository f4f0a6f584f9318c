"""Find the same clip under another name: compare frames of a built corpus with reference clips.

Every frame becomes a 16x16 grey thumbnail (mean-removed, unit norm, so brightness and size do
not matter); two frames "match" when their thumbnails' distance is under ``--threshold``, and
identical files (sha256) always match. A corpus sequence whose frames match a reference clip, or
another corpus sequence, in more than ``--min-share`` of its sampled frames is reported.
Used for datasets/real_corpus.yaml: the reference clips are shared/data/real (reporting
only, never train on them).

    python scripts/corpus_overlap.py --corpus /work/data/real_corpus --reference ../shared/data/real
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

SIDE = 16


def thumb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    if img is None:
        raise SystemExit(f"corpus_overlap: cannot decode {path}")
    v = cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    v -= v.mean()
    return v / (np.linalg.norm(v) + 1e-6)


def clips(root: Path, step: int) -> dict[str, list[Path]]:
    """``name -> frames`` for every folder of images under ``root`` (LaSOT ``img`` or OTB ``img``)."""
    found: dict[str, list[Path]] = {}
    for img_dir in sorted(root.rglob("img")):
        frames = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if frames:
            found[img_dir.parent.name] = frames[::step]
    return found


def describe(named: dict[str, list[Path]]):
    names, vecs, hashes = [], [], []
    for name, frames in named.items():
        for f in frames:
            names.append(name)
            vecs.append(thumb(f))
            hashes.append(hashlib.sha256(f.read_bytes()).hexdigest())
    return np.array(names), np.stack(vecs), hashes


def nearest(a: np.ndarray, b: np.ndarray,
            exclude_same: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest row of ``b`` for each row of ``a`` (unit vectors)."""
    sim = a @ b.T
    if exclude_same is not None:
        sim[exclude_same] = -2.0
    idx = sim.argmax(axis=1)
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * sim[np.arange(len(a)), idx])), idx


def report(corpus: Path, reference: Path, step: int, threshold: float, min_share: float) -> list[str]:
    cn, cv, ch = describe(clips(corpus, step))
    rn, rv, rh = describe(clips(reference, 1))
    lines = [f"{len(cv)} corpus frames (every {step}th) against {len(rv)} reference frames "
             f"({', '.join(sorted(set(rn)))}); thumbnail distance threshold {threshold}"]
    exact = set(ch) & set(rh)
    lines.append(f"identical files shared with the reference clips: {len(exact)}")
    dist, idx = nearest(cv, rv)
    lines.append(f"closest corpus frame to any reference frame: distance {dist.min():.3f} "
                 f"({cn[dist.argmin()]} vs {rn[idx[dist.argmin()]]})")
    flagged = []
    for name in dict.fromkeys(cn):
        mine = cn == name
        share_ref = float((dist[mine] < threshold).mean())
        d_self, i_self = nearest(cv[mine], cv, exclude_same=np.broadcast_to(mine, (mine.sum(), len(cv))))
        close = d_self < threshold
        share_self = float(close.mean())
        if share_ref > min_share:
            flagged.append(f"{name}: {share_ref:.0%} of frames match reference clip "
                           f"{rn[idx[mine][dist[mine].argmin()]]}")
        if share_self > min_share:
            other = cn[i_self[close]]
            flagged.append(f"{name}: {share_self:.0%} of frames match corpus sequence "
                           f"{max(set(other), key=list(other).count)}")
    lines += flagged or ["no corpus sequence matches a reference clip or another corpus sequence"]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--step", type=int, default=5, help="compare every n-th corpus frame")
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--min-share", type=float, default=0.2)
    args = ap.parse_args(argv)
    lines = report(args.corpus, args.reference, args.step, args.threshold, args.min_share)
    print("\n".join(lines))
    return 1 if any("match reference clip" in ln for ln in lines) else 0  # within-corpus: a report


if __name__ == "__main__":
    sys.exit(main())
