"""Pick the fastest backend that works here: TensorRT, then ONNX Runtime, then torch.

``make_backend("auto", ...)`` tries them in that order and logs which one it chose and why each
faster one was skipped (no tensorrt package, no GPU, export failed, ...), because "why is my
robot slow" usually means a backend silently fell back. The ONNX file is exported once per
weights file: it is cached in ``cache_dir`` (default ``~/.cache/langtrack``; TensorRT engines go
beside it), named after the weights' sha256, and re-exported when its recorded hash is stale,
when its bytes no longer match their content hash, or after a burst of NaN outputs
(:mod:`cache_guard`). A model file that is not a langtrack model (corrupt, foreign, truncated)
raises :class:`ModelFileError`, a ValueError the CLI reports in one line.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from langtrack_ros import model_hash
from langtrack_ros.inference import cache_guard
from langtrack_ros.inference.engine_cache import PRECISIONS
from langtrack_ros.model_hash import sha256_file

log = logging.getLogger(__name__)

KINDS = ("auto", "tensorrt", "onnxruntime", "torch")
AUTO_ORDER = ("tensorrt", "onnxruntime", "torch")


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here; the message says why."""


class ModelFileError(ValueError):
    """The model file itself is unusable (not a langtrack model, damaged); says which file and why."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/langtrack`` (~/.cache/langtrack): models/ may be read-only or under git."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "langtrack"


def onnx_weights_sha256(onnx_path: Path) -> str | None:
    """The weights hash recorded in an export's metadata (None when unreadable)."""
    import onnx

    try:
        proto = onnx.load(str(onnx_path), load_external_data=False)
    except Exception:  # a truncated or foreign file is simply not a valid cache entry
        return None
    return {p.key: p.value for p in proto.metadata_props}.get("weights_sha256")


def cached_onnx(model_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The MVLM ONNX export of ``model_path`` (a .safetensors checkpoint), exported if missing or stale."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model checkpoint not found: {model_path}")
    digest = sha256_file(model_path)
    target = cache_target(model_path, cache_dir, digest)
    if target.exists() and not target.is_file():
        raise BackendUnavailable(f"ONNX cache path {target} exists and is not a file: remove it or set another cache")
    if target.is_file():
        recorded = onnx_weights_sha256(target)
        ok, why = cache_guard.intact(target)
        if recorded == digest and ok:
            log.debug("reusing ONNX export %s", target)
            return target
        why = why if recorded == digest else f"it records weights sha256 {recorded}, the checkpoint has {digest}"
        log.warning("re-exporting %s: %s", target, why)
    else:
        log.info("exporting %s to ONNX at %s", model_path, target)
    from langtrack_ros.inference.onnx_export import export_mvlm
    from langtrack_ros.model_files import load_model

    cache_guard.evict(target)
    export_mvlm(load_model(model_path), target, weights_sha256=digest)
    cache_guard.record_hash(target)
    return target


def cache_target(model_path: Path, cache_dir=None, digest: str | None = None) -> Path:
    """Where the ONNX export of ``model_path`` is cached (named after the weights' sha256)."""
    digest = digest or sha256_file(model_path)
    return Path(cache_dir or default_cache_dir()) / f"{model_path.stem}-{digest[:16]}.onnx"


def check_model_file(path: Path) -> None:
    """Cheap, torch-free check that a .safetensors file is a complete langtrack model file (its
    header parses, names the format and fits in the file); ModelFileError otherwise."""
    import json
    import struct

    if path.suffix != ".safetensors":
        return
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length)) if length < 100_000_000 else None
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        raise ModelFileError(f"{path}: not a safetensors model file (unreadable header)") from None
    fmt = (header.get("__metadata__") or {}).get("langtrack_format")
    if not fmt:
        raise ModelFileError(f"{path}: a safetensors file but not a langtrack model (no langtrack_format)")
    if path.stat().st_size < 8 + length + end:
        raise ModelFileError(f"{path}: truncated ({path.stat().st_size} bytes, the header needs {8 + length + end})")


def make_backend(kind: str = "auto", model_path: str | Path = "", precision: str = "fp32",
                 cache_dir: str | Path | None = None, threads: int = 1, device: int = 0):
    """A Backend for ``model_path`` (.safetensors checkpoint, or an .onnx export for the ONNX backends).

    ``kind="auto"`` falls back tensorrt -> onnxruntime -> torch; an explicit kind raises
    :class:`BackendUnavailable` with the reason when it cannot run. The returned backend has a
    ``skipped`` dict: backend name -> why it was not used.
    """
    if kind not in KINDS:
        raise ValueError(f"backend must be one of {KINDS}, got {kind!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file not found: {model_path}")
    check_model_file(model_path)
    try:  # before any backend: damaged weights must never look like "this backend cannot run"
        model_hash.verify(model_path)
    except model_hash.ModelHashError as exc:
        raise ModelFileError(str(exc)) from None
    skipped: dict[str, str] = {}
    for name in AUTO_ORDER if kind == "auto" else (kind,):
        try:
            backend = _BUILDERS[name](model_path, precision, cache_dir, threads, device)
        except BackendUnavailable as exc:
            skipped[name] = str(exc)
        except Exception as exc:  # an exporter or runtime failure: record it and try the next one
            skipped[name] = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, ValueError):  # CheckpointError, invalid ONNX: the file, not this machine,
                # so no other backend is tried (it would run the same bad file or hide the reason)
                raise ModelFileError(f"model file {model_path} cannot be used: {skipped[name]}") from None
        else:
            backend.skipped = skipped
            _log_choice(name, skipped)
            return backend
        if kind != "auto":
            break
    why = "; ".join(f"{k}: {v}" for k, v in skipped.items())
    raise BackendUnavailable(f"backend {kind!r} cannot run: {why}" if kind != "auto" else f"no backend can run: {why}")


def _log_choice(name: str, skipped: dict[str, str]) -> None:
    why = "; ".join(f"{k} skipped: {v}" for k, v in skipped.items())
    log.info("inference backend: %s%s", name, f" ({why})" if why else "")


def _onnx_for(model_path: Path, cache_dir) -> Path:
    return model_path if model_path.suffix == ".onnx" else cached_onnx(model_path, cache_dir)


def _tensorrt(model_path, precision, cache_dir, threads, device):
    if importlib.util.find_spec("tensorrt") is None:
        raise BackendUnavailable("the tensorrt Python package is not installed")
    if importlib.util.find_spec("torch") is None:
        raise BackendUnavailable("torch (with CUDA) is needed for TensorRT buffers and is not installed")
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("no CUDA GPU visible to torch")
    from langtrack_ros.inference.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(_onnx_for(model_path, cache_dir), precision=precision,
                           cache_dir=cache_dir or default_cache_dir(), device=device)


def _onnxruntime(model_path, precision, cache_dir, threads, device):
    if importlib.util.find_spec("onnxruntime") is None:
        raise BackendUnavailable("the onnxruntime package is not installed")
    from langtrack_ros.inference.ort_backend import OrtBackend

    if precision != "fp32":
        log.info("precision %s applies to TensorRT only; onnxruntime runs the fp32 graph", precision)
    if model_path.suffix == ".onnx":
        return OrtBackend(model_path, threads=threads)
    return cache_guard.NanGuard(lambda: OrtBackend(cached_onnx(model_path, cache_dir), threads=threads),
                                cache_target(model_path, cache_dir))


def _torch(model_path, precision, cache_dir, threads, device):
    if model_path.suffix == ".onnx":
        raise BackendUnavailable(f"{model_path} is an ONNX file; the torch backend needs the .safetensors checkpoint")
    if importlib.util.find_spec("torch") is None:
        raise BackendUnavailable("torch is not installed")
    import torch

    from langtrack_ros.inference.torch_backend import TorchBackend
    from langtrack_ros.model_files import load_model

    return TorchBackend(load_model(model_path), device=f"cuda:{device}" if torch.cuda.is_available() else "cpu")


_BUILDERS = {"tensorrt": _tensorrt, "onnxruntime": _onnxruntime, "torch": _torch}
