"""Give the training sequences more targets: objects the COCO detector is sure of, each named by a
sentence that only it fits.

A real training sequence has one described target, so the network sees one sentence per scene and
can learn the scene instead of the words. Every ``--every``-th frame of each TRAIN sequence of a
built real corpus (scripts/build_real_corpus.py; the val split in testing_set.txt is never read) is
run through the COCO SSD on the whole frame; a detection becomes an extra target when it is sure
(score >= ``--min-score``), big enough to see (shorter side >= ``--min-side`` px), and the only one
of its class in the frame (no other box of that class above ``--rival-score``), so "the dog on the
left" names exactly it whatever the colour and place words say; only classes the SSD rarely
confuses on these clips (``--classes``: a look at the first run's targets found frisbees, teddy bears,
umbrellas and birds that were not there, so those are left out). Its sentence comes from
tracking/priors/describe.py (noun, measured colour, place in the frame). Written to
``<seq>/detected_objects.txt`` as ``<1-based frame>,<x>,<y>,<w>,<h>,<sentence>`` lines (the
other_queries.txt format; the lasot loader reads both as Sequence.extras); a new file is written whole
then renamed. These are "detector-generated" in datasets/real_corpus.yaml.

    python scripts/detected_objects.py --corpus /work/data/real_corpus --every 5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langtrack_ros.config import from_dict, read_yaml  # noqa: E402
from langtrack_ros.data.loaders.lasot import EXTRA_FILES, load_lasot  # noqa: E402
from langtrack_ros.inference.prior_models import SSDDetector  # noqa: E402
from langtrack_ros.tracking.priors.describe import detect_all, dominant_colour, position_words, sentence  # noqa: E402
from langtrack_ros.tracking.priors.fusion import PriorSettings  # noqa: E402
from langtrack_ros.tracking.priors.lexicon import Lexicon  # noqa: E402

OUT_FILE = EXTRA_FILES[1]
# COCO label -> the noun a person would say
NOUNS = {"sports ball": "ball", "dining table": "table", "cell phone": "phone", "potted plant": "plant",
         "fire hydrant": "hydrant", "wine glass": "glass", "baseball glove": "glove", "tennis racket": "racket",
         "hair drier": "hair dryer", "motorcycle": "motorbike", "parking meter": "parking meter"}


def frame_objects(image, detector, lexicon, settings, args) -> list[tuple[np.ndarray, str, str]]:
    """(box in pixels, sentence, COCO class) of each sure, visible detection alone of its class."""
    boxes, scores, names = detect_all(image, detector, args.rival_score, settings.detector_nms_iou, 50)
    out = []
    h, w = image.shape[:2]
    for box, score, name in zip(boxes, scores, names):
        alone = sum(n == name for n in names) == 1
        if name not in args.classes.split(",") or score < args.min_score or not alone or min(box[2], box[3]) < args.min_side or box[2] * box[3] > 0.8 * w * h:
            continue
        noun = NOUNS.get(name, name)
        colour = dominant_colour(image, box, lexicon, settings.colour_inner, settings.colour_full)
        out.append((box, sentence(noun, colour, position_words(box, w, h)), name))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--priors", type=Path, default=ROOT / "config" / "priors.yaml")
    ap.add_argument("--detector", type=Path, default=ROOT / "models" / "priors" / "ssd_mobilenetv2_coco.onnx",
                    help="the float COCO SSD (its boxes are the int8 copy's reference)")
    ap.add_argument("--every", type=int, default=5, help="look at every n-th frame")
    ap.add_argument("--min-score", type=float, default=0.75)
    ap.add_argument("--rival-score", type=float, default=0.3, help="another box of the class above this: not alone")
    ap.add_argument("--min-side", type=float, default=12.0, help="pixels")
    ap.add_argument("--classes", default="person,bicycle,car,motorcycle,bus,truck,boat,dog,cat,horse",
                    help="COCO classes that may become targets")
    ap.add_argument("--force", action="store_true", help="also redo sequences that have the file")
    args = ap.parse_args(argv)
    data = read_yaml(args.priors)
    settings = from_dict(PriorSettings, data.get("priors"), f"{args.priors}: priors")
    lexicon = Lexicon(data, str(args.priors))
    detector = SSDDetector(args.detector, threads=2)
    total, nouns = 0, {}  # COCO class -> targets
    for seq in tqdm(load_lasot(args.corpus, split="train"), desc="train sequences", unit="seq", disable=None):
        folder = seq.frames[0].parent.parent
        if (folder / OUT_FILE).is_file() and not args.force:
            continue  # never rewrite a file others may be reading
        lines = []
        for i in range(0, len(seq), args.every):
            for box, text, name in frame_objects(seq.image(i), detector, lexicon, settings, args):
                lines.append(f"{i + 1},{box[0]:.1f},{box[1]:.1f},{box[2]:.1f},{box[3]:.1f},{text}")
                nouns[name] = nouns.get(name, 0) + 1
        tmp = folder / (OUT_FILE + ".tmp")
        tmp.write_text("".join(f"{ln}\n" for ln in lines))
        tmp.replace(folder / OUT_FILE)
        total += len(lines)
    top = ", ".join(f"{k} {v}" for k, v in sorted(nouns.items(), key=lambda kv: -kv[1])[:15])
    print(f"{total} detector-generated targets (every {args.every}th frame of the train split); classes: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
