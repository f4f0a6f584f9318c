"""``langtrack model-hash``: add the content hash to model files written before it existed.

    langtrack model-hash                       # every model file shipped in models/
    langtrack model-hash run/model.safetensors other.onnx

A ``.safetensors`` model (MVLM, VLT) is re-saved with ``tensors_sha256`` in its metadata; its
tensors are compared bitwise with the original before the new file replaces it. An ``.onnx``
file (priors, exports) gets ``<file>.sha256`` beside it. A file whose recorded hash no longer
matches is refused (it is damaged: a new hash would hide that). Training and ``langtrack
export`` write the hash themselves; this command is for older files and for files dropped in
by hand (run it again after replacing models/*.safetensors).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("langtrack.model_hash")


def register(subparsers) -> None:
    parser = subparsers.add_parser("model-hash", help="add the content hash to model files that have none",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="model files (.safetensors, .onnx); default: all in models/")
    parser.set_defaults(func=run)


def shipped_model_files() -> list[Path]:
    from langtrack_ros.paths import models_dir

    root = models_dir()
    return sorted(root.rglob("*.safetensors")) + sorted(root.rglob("*.onnx"))


def add_hash(path: Path) -> str:
    """'added' or 'present'; ValueError (damaged, not a model file) naming the file."""
    from langtrack_ros import model_hash

    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix == ".onnx":
        recorded, actual = model_hash.onnx_hash(path)
        if recorded is None:
            model_hash.record_sidecar(path)
            return "added"
        if recorded != actual:
            raise model_hash.ModelHashError(f"{path}: content does not match {model_hash.sidecar(path).name}: "
                                            "damaged; refusing to record a new hash")
        return "present"
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: not a model file (.safetensors or .onnx)")
    from langtrack_ros.model_files import add_hash as add_tensors_hash

    return "added" if add_tensors_hash(path) else "present"


def run(args) -> int:
    files = [Path(f) for f in args.files] or shipped_model_files()
    for path in files:
        print(f"{path}: {'content hash added' if add_hash(path) == 'added' else 'hash present and correct'}")
    return 0
