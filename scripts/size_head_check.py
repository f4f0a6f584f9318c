"""Does the size head give real targets their shape? Aspect-ratio error of the network's box at the
target, with the search placed on the ground truth (so losing the target does not enter).

For every frame: an ROI crop (factor 4) centred on the true box, one network forward, the box of
the grid cell holding the true centre, and |ln(w/h predicted) - ln(w/h true)|. Prints the median
per sequence and overall for each model, side by side.

    python scripts/size_head_check.py --root ../shared/data/real --models models/mvlm_default.safetensors \
        git:840aa53:models/mvlm_default.safetensors
"""
from __future__ import annotations

import argparse

import numpy as np

from langtrack_ros.commands.ablation import _model_path
from langtrack_ros.data.loaders import load_dataset
from langtrack_ros.inference.backends import make_backend
from langtrack_ros.tracking.box_ops import candidate_boxes
from langtrack_ros.tracking.geometry import roi_crop
from langtrack_ros.tracking.text_encoder import TextEncoder
from langtrack_ros.tracking.tracker import patch_tensor


def aspect_errors(backend, encoder, seq, step: int) -> list[float]:
    tokens, mask = encoder.encode(seq.sentence)
    tokens, mask = np.asarray(tokens, np.float32)[None], np.asarray(mask, bool)[None]
    errors = []
    for i in range(0, len(seq), step):
        box = seq.boxes[i]
        if not (seq.visible[i] and np.all(np.isfinite(box)) and box[2] > 1 and box[3] > 1):
            continue
        patch, t = roi_crop(seq.image(i), box, 4.0, backend.search_size)
        out = backend.run(patch_tensor(patch), tokens, mask)
        g = out["score_map"].shape[-1]
        cx, cy = t.box_to_patch(box)[:2] + t.box_to_patch(box)[2:] / 2
        cell = min(int(cy * g), g - 1) * g + min(int(cx * g), g - 1)
        pred = candidate_boxes(out["offset"], out["size"])[cell]
        errors.append(abs(np.log(pred[2] / pred[3]) - np.log(box[2] / box[3])))
    return errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="OTB99-LANG-layout folder")
    ap.add_argument("--models", nargs="+", required=True, help="model files or git:REV:PATH")
    ap.add_argument("--step", type=int, default=2, help="every N-th frame")
    args = ap.parse_args()
    seqs = load_dataset("otb99lang", args.root)
    encoder = TextEncoder()
    print("| model | " + " | ".join(s.name for s in seqs) + " | all |")
    print("|---|" + "---|" * (len(seqs) + 1))
    for spec in args.models:
        backend = make_backend("onnxruntime", _model_path(spec, "runs/size_check"), threads=1)
        per = [aspect_errors(backend, encoder, s, args.step) for s in seqs]
        cells = [f"{np.median(e):.2f}" for e in per] + [f"{np.median(sum(per, [])):.2f}"]
        print(f"| {spec} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
