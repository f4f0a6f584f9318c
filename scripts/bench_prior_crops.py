"""Cost of the crop evidence (tracking/priors/crops.py): ms per frame for k crops, batched vs one call each.

Real frames: the first ``--frames`` frames of a real-val sequence, the ground-truth box and k-1 shifted
copies as candidates (the cost does not depend on what the crops show). Prints a markdown table.
    python scripts/bench_prior_crops.py --seq data/real_corpus/animal/bird1
"""
import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from langtrack_ros.inference.prior_models import load_prior_models
from langtrack_ros.paths import models_dir
from langtrack_ros.tracking.priors.crops import CropEvidence


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seq", required=True)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    seq = Path(args.seq)
    gt = np.loadtxt(seq / "groundtruth.txt", delimiter=",")
    files = sorted((seq / "img").glob("*.jpg"))[:args.frames]
    frames = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    _, net = load_prior_models(models_dir() / "priors", "", "mobilenetv2_imagenet.onnx", args.threads)
    classes = np.arange(7, 25)
    print(f"{seq.name}: {frames[0].shape[1]}x{frames[0].shape[0]}, {len(frames)} frames, {args.threads} threads\n")
    print("| crop side | k | batched ms/frame (wall) | batched CPU ms/frame | one call per crop ms/frame (wall) |")
    print("|---|---|---|---|---|")
    for size in (96, 128):
        for k in (1, 2, 4):
            row = []
            for batched in (True, False):
                ev = CropEvidence(net, size, 1.5)
                ev.session = ev.session if batched else None
                ms, cpu = [], []
                for i, frame in enumerate(frames):
                    boxes = gt[i][None] + np.arange(k)[:, None] * np.array([gt[i][2], 0, 0, 0])
                    t, c = time.perf_counter(), time.process_time()
                    ev.evidence(frame, boxes, classes)
                    ms.append((time.perf_counter() - t) * 1000)
                    cpu.append((time.process_time() - c) * 1000)
                row += [f"{np.median(ms[1:]):.1f}"] + ([f"{np.median(cpu[1:]):.1f}"] if batched else [])
            print(f"| {size} | {k} | {' | '.join(row)} |")


if __name__ == "__main__":
    main()
