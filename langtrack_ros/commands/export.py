"""``langtrack export``: write the deployable files for a robot (ONNX, optionally a TensorRT engine).

    langtrack export --model models/mvlm_default.safetensors --out DIR [--text-encoder]
                     [--engine --precision fp16]

Writes ``DIR/<model>.onnx`` (verified against torch, max abs diff printed), with
``--text-encoder`` also ``DIR/text_encoder.onnx`` + ``DIR/text_encoder.tokenizer.json`` (so
queries can be encoded without torch), and with ``--engine`` a TensorRT engine cached in DIR
under a name that encodes model hash, TensorRT version, GPU, precision and input shapes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export the model (and text encoder) to ONNX / TensorRT",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model checkpoint (default: the tracker config's model)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--text-encoder", action="store_true",
                        help="also export the model's text encoder (MiniLM, or its CLIP/SigLIP text tower)")
    parser.add_argument("--engine", action="store_true", help="also build the TensorRT engine (needs a GPU)")
    parser.add_argument("--precision", choices=("fp32", "fp16"), default=None,
                        help="TensorRT engine precision (default: precision in config/tracker.yaml)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's, 17)")
    parser.set_defaults(func=run)


def default_model_path() -> Path:
    from langtrack_ros.builder import model_file
    from langtrack_ros.tracking.tracker import load_settings

    return model_file(load_settings())


def run(args) -> int:
    from langtrack_ros.model_hash import sha256_file
    from langtrack_ros.inference.onnx_export import DEFAULT_OPSET, export_mvlm, export_text_encoder
    from langtrack_ros.tracking.tracker import load_settings
    from langtrack_ros.model_files import load_model

    model_path = Path(args.model) if args.model else default_model_path()
    out = Path(args.out)
    opset = args.opset or DEFAULT_OPSET
    onnx_path = out / f"{model_path.stem}.onnx"
    model = load_model(model_path)
    report = export_mvlm(model, onnx_path, weights_sha256=sha256_file(model_path), opset=opset)
    print(f"{onnx_path}: opset {opset}, onnxruntime vs torch max abs diff {report.worst:.2e} "
          f"(content hash in {onnx_path.name}.sha256)")
    if args.text_encoder:
        from langtrack_ros.tracking.text_encoder import build_text_encoder

        max_tokens = min(load_settings().max_query_tokens, model.cfg.max_text_tokens)
        encoder = None if model.cfg.text_encoder == "minilm" else build_text_encoder(model.cfg, max_tokens)
        text = export_text_encoder(out / "text_encoder.onnx", max_tokens=max_tokens, opset=opset, encoder=encoder)
        print(f"{text.path}: text encoder, onnxruntime vs torch max abs diff {text.worst:.2e}")
    if args.engine:
        from langtrack_ros.inference.backends import BackendUnavailable, make_backend

        precision = args.precision or load_settings().precision
        try:
            engine = make_backend("tensorrt", onnx_path, precision=precision, cache_dir=out)
        except BackendUnavailable as exc:
            print(f"error: no TensorRT engine written: {exc}", file=sys.stderr)
            return 2
        print(f"{engine.engine_path}: TensorRT engine ({precision})")
    return 0
