"""Int8 copies of the prior networks (models/priors/*_int8.onnx), made with ONNX Runtime's own tools.

Why: the prior nets cost two to six times MVLM's own step on a CPU (docs/BENCHMARKS.md); int8
convolutions (VNNI on x86, dot-product on ARM) run them in less time. Static quantization,
QDQ format, per-channel int8 weights, uint8 activations, ranges calibrated (MinMax) on frames of
the real corpus TRAIN split only (sequences not in data/real_corpus/testing_set.txt; never the
held-out test sequences nor shared/data/real). Each net sees what the tracker feeds it: the whole
frame resized (global search) and square crops around the target of side roi_factor * sqrt(w*h)
(ROI mode). The float files stay; config/priors.yaml selects which file runs.

    python scripts/quantize_priors.py --corpus data/real_corpus --out models/priors

Then ``--check``: agreement with the float net on held frames (the val split's first frames) and
the speed ratio, printed as a table (models/priors/README.md records the numbers).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# float file -> (int8 file, input sizes the tracker feeds it)
NETS = {
    "ssd_mobilenetv2_oidv4.onnx": ("ssd_mobilenetv2_oidv4_int8.onnx", (300,)),
    "ssd_mobilenetv2_coco.onnx": ("ssd_mobilenetv2_coco_int8.onnx", (300,)),
    "mobilenetv2_imagenet.onnx": ("mobilenetv2_imagenet_int8.onnx", (192, 256)),
}
# shipped: the two detectors. The ImageNet net's int8 copy disagreed too much (top-1 class equal at
# half the locations, class-group probability off by 0.35 at p90; models/priors/README.md), so the
# float one stays; ``--nets mobilenetv2_imagenet.onnx`` remakes it for that check.
SHIPPED = ("ssd_mobilenetv2_oidv4.onnx", "ssd_mobilenetv2_coco.onnx")
# sequences never used for anything but reporting (docs: HELPER_RULES / the project brief), lower case
NEVER = {"bird2", "football1", "human3", "jogging", "soccer", "woman", "faceocc1", "ball1", "ball2", "car1",
         "gull1", "animal3", "bmx3", "car16", "crossing", "couple", "motorrolling", "dog1", "car"}
ROI_FACTOR = 4.0  # config/tracker.yaml search.roi_factor


def sequences(corpus: Path, held: bool) -> list[Path]:
    """Corpus sequences of the train split (``held`` False) or of the val split (True), sorted."""
    val = set((corpus / "testing_set.txt").read_text().split())
    seqs = sorted(p.parent for p in corpus.glob("*/*/groundtruth.txt"))
    return [s for s in seqs if (s.name in val) == held and s.name.lower() not in NEVER]


def views(seq: Path, frames: int, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """RGB uint8 inputs from ``frames`` evenly spaced frames: the whole frame and a target crop."""
    images = sorted((seq / "img").glob("*.jpg"))
    boxes = np.loadtxt(seq / "groundtruth.txt", delimiter=",", ndmin=2)
    rng = np.random.default_rng(seed)
    out = []
    for i in np.linspace(0, min(len(images), len(boxes)) - 1, frames).astype(int):
        rgb = cv2.cvtColor(cv2.imread(str(images[i])), cv2.COLOR_BGR2RGB)
        size = int(rng.choice(sizes))
        out.append(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA))
        x, y, w, h = boxes[i]
        if w > 1 and h > 1:
            side = ROI_FACTOR * np.sqrt(w * h)
            cx, cy = x + w / 2, y + h / 2
            m = np.array([[size / side, 0, size / 2 - cx * size / side], [0, size / side, size / 2 - cy * size / side]])
            out.append(cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
    return out


def feed(net_file: str, rgb: np.ndarray) -> np.ndarray:
    """The float32 NCHW input the tracker's wrapper makes (inference/prior_models.py)."""
    from langtrack_ros.inference.prior_models import ImageNetEvidence

    if "imagenet" in net_file:
        x = (rgb.astype(np.float32) / 255.0 - ImageNetEvidence.MEAN) / ImageNetEvidence.STD
    else:
        x = rgb.astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


class Reader:
    """onnxruntime.quantization CalibrationDataReader over calibration views."""

    def __init__(self, name: str, net_file: str, images: list[np.ndarray]):
        self.items = iter([{name: feed(net_file, im)} for im in images])

    def get_next(self):
        return next(self.items, None)


def _opset(model) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def quantize(src: Path, dst: Path, images: list[np.ndarray]) -> None:
    import onnx
    import onnx.version_converter
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from langtrack_ros.model_hash import record_sidecar

    with tempfile.TemporaryDirectory() as tmp:
        pre, model = Path(tmp) / "pre.onnx", onnx.load(str(src))
        if _opset(model) < 13:  # per-channel DequantizeLinear (its axis attribute) needs opset 13
            model = onnx.version_converter.convert_version(model, 13)
        onnx.save(model, str(Path(tmp) / "src.onnx"))
        quant_pre_process(str(Path(tmp) / "src.onnx"), str(pre))  # folds the fp16 -> fp32 weight casts
        name = ort.InferenceSession(str(pre), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        quantize_static(str(pre), str(dst), Reader(name, src.name, images), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    record_sidecar(dst)  # the content hash checked whenever it is loaded (model_hash.verify)
    digest = hashlib.sha256(dst.read_bytes()).hexdigest()
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}) from {len(images)} views")


def _box_agreement(f, q, classes) -> tuple[float, float]:
    """Mean IoU of the int8 net's best box to the float net's (query classes) and the score change."""
    from langtrack_ros.tracking.box_ops import iou_matrix
    from langtrack_ros.tracking.priors import ssd

    bf, pf = ssd.decode(f[0], f[1], classes)
    bq, pq = ssd.decode(q[0], q[1], classes)
    i, j = int(np.argmax(pf)), int(np.argmax(pq))
    return float(iou_matrix(bq[j][None], bf[i][None])[0, 0]), float(abs(pq[j] - pf[i]))


# ImageNet class groups of config/priors.yaml the agreement is measured on (person, car, dog, bird)
GROUPS = {"person": [981, 982, 983], "car": [407, 436, 468, 511, 609, 627, 656, 661, 717, 751, 817],
          "dog": list(range(151, 269)), "bird": list(range(7, 25)) + list(range(80, 101)) + list(range(127, 147))}


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def check(models: Path, corpus: Path, frames: int, threads: int) -> None:
    """Agreement (held val frames, never calibrated on) and median latency, float vs int8."""
    from langtrack_ros.inference.prior_models import ImageNetEvidence, SSDDetector

    held = [v for s in sequences(corpus, held=True) for v in views(s, frames, (300,), seed=1)]
    print("| net | views | agreement | float ms | int8 ms | ratio |\n|---|---:|---|---:|---:|---:|")
    for src, (dst, sizes) in NETS.items():
        if not (models / dst).is_file():
            continue
        kind = ImageNetEvidence if "imagenet" in src else SSDDetector
        fnet, qnet = kind(models / src, threads), kind(models / dst, threads)
        if kind is SSDDetector:
            classes = [i for i, n in enumerate(fnet.labels) if n in ("Person", "person", "bird", "car", "Car")]
            pairs = [_box_agreement(fnet(v), qnet(v), classes) for v in held]
            top = [p for p, v in zip(pairs, held) if np.max(fnet(v)[1][:, classes]) > 0]  # float score > 0.5
            agree = (f"best box IoU median {np.median([p[0] for p in top]):.3f}, "
                     f"score |diff| median {np.median([p[1] for p in pairs]):.3f} p90 {np.percentile([p[1] for p in pairs], 90):.3f}"
                     f" ({len(top)} views with a float score > 0.5)")
        else:
            diffs, top1 = [], []
            for v in (cv2.resize(v, (sizes[0], sizes[0])) for v in held):
                pf, pq = _softmax(fnet(v)), _softmax(qnet(v))
                top1.append(np.mean(pf.argmax(0) == pq.argmax(0)))
                diffs += [np.abs(pf[g].sum(0) - pq[g].sum(0)).max() for g in GROUPS.values()]
            agree = (f"top-1 class equal at {100 * np.mean(top1):.0f}% of locations; class-group probability "
                     f"|diff| (max over the map) median {np.median(diffs):.3f} p90 {np.percentile(diffs, 90):.3f}")
        size = sizes[0]
        x = cv2.resize(held[0], (size, size))
        timing = []
        for net in (fnet, qnet):
            for _ in range(3):
                net(x)
            ts = []
            for _ in range(20):
                t0 = time.perf_counter()
                net(x)
                ts.append(time.perf_counter() - t0)
            timing.append(1000 * float(np.median(ts)))
        print(f"| {src} @{size} | {len(held)} | {agree} | {timing[0]:.1f} | {timing[1]:.1f} | {timing[1] / timing[0]:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="data/real_corpus", help="the real corpus (scripts/build_real_corpus.py)")
    parser.add_argument("--out", default="models/priors", help="folder of the float nets; the int8 ones go beside")
    parser.add_argument("--frames", type=int, default=4, help="frames per train sequence (two views each)")
    parser.add_argument("--nets", nargs="+", default=list(SHIPPED), choices=list(NETS), help="float files to quantize")
    parser.add_argument("--check", action="store_true", help="only compare float and int8 (held frames)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    corpus, out = Path(args.corpus), Path(args.out)
    if args.check:
        check(out, corpus, 2, args.threads)
        return 0
    train = sequences(corpus, held=False)
    print(f"calibration: {len(train)} train sequences: {' '.join(s.name for s in train)}")
    for src in args.nets:
        dst, sizes = NETS[src]
        images = [v for k, s in enumerate(train) for v in views(s, args.frames, sizes, seed=k)]
        quantize(out / src, out / dst, images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
