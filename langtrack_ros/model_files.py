"""Model files: one safetensors file per trained network, with no pickle anywhere.

A model file's metadata holds ``langtrack_format`` (which network: ``mvlm-1``, ``vlt-1``), the
network config as JSON, a JSON training summary and the sha256 of its tensor data. Loading checks
all of them and says exactly what does not match (missing file, unreadable bytes, config keys,
tensor names/shapes, damaged data), so a bad copy is caught on load, not by a NaN hours later.

This is the one module that reads and writes model files: ``training/`` writes them (and keeps
its resumable checkpoints in training/checkpoint.py), ``inference/`` and the commands read them,
and the tracking core never needs either (test/test_import_graph.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from langtrack_ros import model_hash

FORMAT = "mvlm-1"


class CheckpointError(ValueError):
    """A checkpoint exists but cannot be used; the message names the file and what is wrong."""


def _plain_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """state_dict as independent contiguous CPU tensors (safetensors refuses shared storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of the tensors, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _atomic_save_file(tensors: dict, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file next to ``path`` under a temporary name, then rename it into place.
    A failed write (disk full, read-only) leaves nothing under either name and raises WriteError."""
    from langtrack_ros.files import atomic_path, write_error

    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except SafetensorError as exc:  # an IoError inside the Rust writer: name the file and errno
            raise write_error(exc, path) from None


def save_model(model: torch.nn.Module, cfg, path: str | Path, train_info: dict | None = None,
               fmt: str = FORMAT) -> Path:
    """Write the weights + config (+ training summary) as one safetensors file, atomically.

    ``fmt`` names the network the file is for (``mvlm-1``, ``vlt-1``): loading checks it.
    """
    return save_tensors(_plain_state(model), json.dumps(dataclasses.asdict(cfg), sort_keys=True), path,
                        train_info, fmt)


def save_tensors(tensors: dict[str, torch.Tensor], config: str, path: str | Path, train_info: dict | None = None,
                 fmt: str = FORMAT) -> Path:
    """Write named tensors with their network config (JSON text) as a model file, atomically:
    for weights made without a module at hand (an average of model files, training/soup.py)."""
    path = Path(path)
    metadata = {
        "langtrack_format": fmt,
        "config": config,
        "train": json.dumps(train_info or {}, sort_keys=True, default=str),
        "tensors_sha256": tensors_sha256(tensors),
        "config_sha256": model_hash.config_sha256(config),
    }
    _atomic_save_file(tensors, path, metadata)
    return path


def read_model_file(path: str | Path, fmt: str = FORMAT) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a model file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from exc
    if metadata.get("langtrack_format") != fmt:
        raise CheckpointError(f"{path}: langtrack_format is {metadata.get('langtrack_format')!r}, expected {fmt!r}")
    try:  # files written before the hash: accepted with a warning naming `langtrack model-hash`
        model_hash.verify(path)
    except model_hash.ModelHashError as exc:
        raise CheckpointError(str(exc)) from None
    return tensors, metadata


def add_hash(path: str | Path) -> bool:
    """Re-save a model file with ``tensors_sha256`` in its metadata, tensors unchanged (checked
    bitwise before the new file replaces the old one). False: it already had a correct hash."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors model file ({exc})") from exc
    if not metadata.get("langtrack_format"):
        raise CheckpointError(f"{path}: not a langtrack model file (no langtrack_format)")
    digest = tensors_sha256(tensors)
    recorded = metadata.get("tensors_sha256")
    config_hash = model_hash.config_sha256(metadata.get("config", ""))
    if recorded == digest and metadata.get("config_sha256") == config_hash:
        return False
    if recorded and recorded != digest or metadata.get("config_sha256", config_hash) != config_hash:
        raise CheckpointError(f"{path}: its recorded sha256 does not match its content: the file is "
                              "damaged; refusing to bless it with a new hash")
    from langtrack_ros.files import atomic_path

    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={**metadata, "tensors_sha256": digest, "config_sha256": config_hash})
        with safe_open(str(tmp), framework="pt") as f:
            again = {k: f.get_tensor(k) for k in f.keys()}
        same = again.keys() == tensors.keys() and all(
            again[k].dtype == tensors[k].dtype and again[k].shape == tensors[k].shape
            and torch.equal(again[k].reshape(-1).view(torch.uint8), tensors[k].reshape(-1).view(torch.uint8))
            for k in tensors)
        if not same or model_hash.safetensors_hash(tmp) != (digest, digest):
            raise CheckpointError(f"{path}: re-saved tensors differ from the original; file left unchanged")
    return True


def model_config_from_metadata(path: Path, metadata: dict[str, str]):
    """MVLMConfig from the file's metadata; keys that do not match the code's fields are listed.

    Keys MVLMConfig gained after the file was written are filled from the one documented table,
    ``network.KEYS_ADDED_AFTER_MVLM_1`` (logged); any other missing key is an error.
    """
    from langtrack_ros.tracking.network import MVLMConfig, fill_keys_added_later

    try:
        data = json.loads(metadata.get("config", ""))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: config metadata is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: config metadata is not a mapping")
    data = fill_keys_added_later(data, str(path))
    fields = {f.name for f in dataclasses.fields(MVLMConfig)}
    unknown, missing = sorted(set(data) - fields), sorted(fields - set(data))
    if unknown or missing:
        raise CheckpointError(f"{path}: checkpoint config does not match MVLMConfig: "
                              f"unknown keys {unknown}, missing keys {missing}")
    try:
        return MVLMConfig(**data)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid MVLMConfig in checkpoint: {exc}") from exc


def load_state_checked(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """load_state_dict(strict) with a message listing missing, unexpected and mis-shaped tensors."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in sorted(set(expected) & set(tensors)) if tensors[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(f"{path}: tensors do not match the model: missing {missing}, "
                              f"unexpected {unexpected}, shape mismatches {shapes}")
    model.load_state_dict(tensors, strict=True)


def load_model(path: str | Path, map_location: str | torch.device = "cpu"):
    """Build an MVLM from a model file (never unpickles). Returns it in eval mode."""
    from langtrack_ros.tracking.network import MVLM

    path = Path(path)
    tensors, metadata = read_model_file(path)
    model = MVLM(model_config_from_metadata(path, metadata), pretrained_tokenizer=False)
    load_state_checked(model, tensors, path)
    return model.to(map_location).eval()


def model_train_info(path: str | Path, fmt: str = FORMAT) -> dict:
    """The JSON training summary stored in a model file (for model cards)."""
    _, metadata = read_model_file(path, fmt)
    return json.loads(metadata.get("train") or "{}")
