"""Give frames nobody described a sentence from the priors (class, colour, position).

For every sequence of a built real corpus (scripts/build_real_corpus.py), every ``--every``-th
frame with a box (frame 1 excluded: it has the human sentence in nlp.txt) gets a sentence from
langtrack_ros/tracking/priors/describe.py, written to ``<seq>/priors_sentences.txt`` as
``<1-based frame>,<sentence>`` lines (a new file, written whole then renamed; nothing else in the
folder changes). These are "priors-generated" in datasets/real_corpus.yaml; the human sentences
stay in nlp.txt.

    python scripts/priors_sentences.py --corpus /work/data/real_corpus --every 50
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import yaml
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langtrack_ros.config import from_dict, read_yaml  # noqa: E402
from langtrack_ros.data.loaders.lasot import load_lasot  # noqa: E402
from langtrack_ros.inference.prior_models import SSDDetector  # noqa: E402
from langtrack_ros.tracking.priors.describe import describe  # noqa: E402
from langtrack_ros.tracking.priors.fusion import PriorSettings  # noqa: E402
from langtrack_ros.tracking.priors.lexicon import Lexicon  # noqa: E402

OUT_FILE = "priors_sentences.txt"


def categories(manifest: Path) -> dict[str, str]:
    return {r["name"]: r["category"] for r in yaml.safe_load(manifest.read_text())["sequences"]}


def sequence_sentences(seq, category, lexicon, detector, settings, every: int) -> tuple[list[str], int]:
    """``<frame>,<sentence>`` lines for one sequence and how many nouns came from the detector."""
    lines, from_detector = [], 0
    frames = [i for i in range(every, len(seq), every) if seq.visible[i]]
    for i in frames:
        image = cv2.cvtColor(cv2.imread(str(seq.frames[i])), cv2.COLOR_BGR2RGB)
        d = describe(image, seq.boxes[i], category, lexicon, detector, settings)
        lines.append(f"{i + 1},{d.sentence}")
        from_detector += d.noun_from == "detector"
    return lines, from_detector


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, default=ROOT / "datasets" / "real_corpus.yaml")
    ap.add_argument("--priors", type=Path, default=ROOT / "config" / "priors.yaml")
    ap.add_argument("--models", type=Path, default=ROOT / "models" / "priors")
    ap.add_argument("--every", type=int, default=50, help="describe every n-th frame")
    ap.add_argument("--force", action="store_true", help="also redo sequences that have the file")
    args = ap.parse_args(argv)
    data = read_yaml(args.priors)
    settings = from_dict(PriorSettings, data.get("priors"), f"{args.priors}: priors")
    lexicon = Lexicon(data, str(args.priors))
    detector = SSDDetector(args.models / settings.detector, threads=1)
    cats = categories(args.manifest)
    total = det = 0
    for seq in tqdm(load_lasot(args.corpus), desc="sequences", unit="seq", disable=None):
        folder = seq.frames[0].parent.parent
        if (folder / OUT_FILE).is_file() and not args.force:
            continue  # never rewrite a file others may be reading
        lines, from_det = sequence_sentences(seq, cats[seq.name], lexicon, detector, settings, args.every)
        tmp = folder / (OUT_FILE + ".tmp")
        tmp.write_text("".join(f"{ln}\n" for ln in lines))
        tmp.replace(folder / OUT_FILE)
        total += len(lines)
        det += from_det
    print(f"{total} priors-generated sentences (every {args.every}th frame with a box); "
          f"noun from the detector in {det}, from the sequence category in {total - det}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
