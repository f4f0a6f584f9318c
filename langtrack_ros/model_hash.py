"""Content hashes of model files, checked before any backend runs them (no torch needed).

Why: a flipped byte inside the weights leaves a model file that loads, runs and tracks wrong,
and a backend chain (``--backend auto``) would even hide it behind a fallback. So every model
file carries the hash of its own content, written by whatever wrote the file:

- ``.safetensors`` (MVLM, VLT): ``tensors_sha256`` in the metadata, the sha256 over names,
  dtypes, shapes and bytes of the tensors in name order (the same value ``model_files.
  tensors_sha256`` computes from torch tensors; here it is read straight from the file), and
  ``config_sha256`` of the network config stored beside them;
- ``.onnx`` (exports, the priors in models/priors/): ``<file>.sha256`` beside it (the
  convention of the cached exports in inference/cache_guard.py).

:func:`verify` refuses a mismatch with one line naming the file, and accepts a file without a
hash only with a warning naming it and the command that adds the hash (``langtrack model-hash``).
A file that passed is remembered by (path, size, mtime), so loading it again costs nothing.
"""
from __future__ import annotations

import hashlib
import json
import logging
import struct
from pathlib import Path

log = logging.getLogger(__name__)
ADD_HASH_COMMAND = "langtrack model-hash"
HASH_KEY = "tensors_sha256"
CONFIG_KEY = "config_sha256"
# safetensors dtype codes -> the dtype names torch prints (tensors_sha256 hashes str(tensor.dtype))
TORCH_DTYPES = {"F64": "torch.float64", "F32": "torch.float32", "F16": "torch.float16", "BF16": "torch.bfloat16",
                "I64": "torch.int64", "I32": "torch.int32", "I16": "torch.int16", "I8": "torch.int8",
                "U8": "torch.uint8", "U16": "torch.uint16", "U32": "torch.uint32", "U64": "torch.uint64",
                "BOOL": "torch.bool", "F8_E4M3": "torch.float8_e4m3fn", "F8_E5M2": "torch.float8_e5m2"}
_verified: dict[tuple, str] = {}


class ModelHashError(ValueError):
    """The file's content does not match its recorded hash, or its layout cannot be hashed."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_header(path: Path) -> tuple[dict, int]:
    """(header JSON, offset of the data) of a safetensors file; ModelHashError when unreadable."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > 100_000_000:
                raise ValueError(f"header length {length}")
            header = json.loads(f.read(length))
        if not isinstance(header, dict):
            raise ValueError("header is not a mapping")
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ModelHashError(f"{path}: not a safetensors file (unreadable header: {exc})") from None
    return header, 8 + length


def config_sha256(config: str) -> str:
    """Hash of the network config JSON in a model file's metadata: a flipped digit there would load
    the same tensors into a different network (max_text_tokens, thresholds) without any error."""
    return hashlib.sha256(config.encode()).hexdigest()


def safetensors_hash(path: str | Path) -> tuple[str | None, str]:
    """(recorded tensors_sha256 or None, the one computed from the file's bytes). A recorded
    ``config_sha256`` that does not match the config metadata raises ModelHashError."""
    path = Path(path)
    header, base = read_header(path)
    meta = header.get("__metadata__") or {}
    recorded = meta.get(HASH_KEY)
    if CONFIG_KEY in meta and meta[CONFIG_KEY] != config_sha256(str(meta.get("config", ""))):
        raise ModelHashError(f"{path}: its config metadata does not match its recorded sha256: the file is damaged; "
                             "copy it again or re-export it")
    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        for name in sorted(k for k in header if k != "__metadata__"):
            try:
                info = header[name]
                dtype, shape = TORCH_DTYPES[info["dtype"]], tuple(int(d) for d in info["shape"])
                start, end = (int(v) for v in info["data_offsets"])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ModelHashError(f"{path}: tensor {name!r} has an unreadable entry ({exc!r})") from None
            if not 0 <= start <= end or base + end > size:
                raise ModelHashError(f"{path}: tensor {name!r} lies outside the file (truncated or damaged)")
            digest.update(f"{name}|{dtype}|{shape}|".encode())
            f.seek(base + start)
            digest.update(f.read(end - start))
    return recorded, digest.hexdigest()


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def record_sidecar(path: str | Path) -> Path:
    """Write ``<file>.sha256`` for an ONNX file (atomically: temp name + rename)."""
    from langtrack_ros.files import atomic_write_text

    path = Path(path)
    atomic_write_text(sidecar(path), sha256_file(path) + "\n")
    return sidecar(path)


def onnx_hash(path: str | Path) -> tuple[str | None, str]:
    path = Path(path)
    side = sidecar(path)
    words = side.read_text().split() if side.is_file() else []
    return (words[0] if words else None), sha256_file(path)


def verify(path: str | Path) -> bool:
    """Check a model file against its recorded hash. True: it matches; False: it has no hash
    (accepted with one warning naming the file and the command that adds it). A mismatch raises
    ModelHashError naming the file. Other suffixes (TensorRT engines: own cache) are not checked."""
    path = Path(path)
    if path.suffix not in (".safetensors", ".onnx"):
        return True
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return _verified[key] == "ok"
    recorded, actual = safetensors_hash(path) if path.suffix == ".safetensors" else onnx_hash(path)
    if recorded is None:
        log.warning("%s carries no content hash, so damage to it cannot be detected: add one with `%s %s`",
                    path, ADD_HASH_COMMAND, path)
    elif recorded != actual:
        raise ModelHashError(f"{path}: content does not match its recorded sha256 ({actual[:12]}... vs "
                             f"{recorded[:12]}...): the file is damaged; copy it again or re-export it")
    _verified[key] = "ok" if recorded else "unhashed"
    return recorded is not None
