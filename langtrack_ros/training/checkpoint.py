"""Resumable training state, with no pickle anywhere (model files: langtrack_ros/model_files.py).

- A training checkpoint is a folder ``<run_dir>/checkpoints/step_XXXXXXXX/`` holding
  ``model.safetensors`` (weights), ``optimizer.safetensors`` (optimizer and torch RNG tensors)
  and ``state.json`` (step, optimizer scalars, python/numpy RNG states, metrics). The folder
  is written under a temporary name in the same parent and renamed with ``os.replace``, so a
  crash mid-write never leaves a checkpoint that looks complete.
- Damage after writing (a flipped bit on disk, a bad copy) is caught on load, not by a NaN hours
  later: checkpoint folders carry a ``manifest.json`` with the sha256 of each file.
  ``restore_latest`` falls back to the newest checkpoint that passes, saying which ones it
  skipped and why.
"""
from __future__ import annotations

import json
import logging
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from langtrack_ros.files import WriteError, write_error
from langtrack_ros.model_files import (  # noqa: F401 - model files are part of a checkpoint's API
    CheckpointError, FORMAT, _atomic_save_file, _plain_state, load_model, load_state_checked,
    model_config_from_metadata, model_train_info, read_model_file, save_model, tensors_sha256,
)

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
CHECKPOINT_DIR = "checkpoints"
STEP_PREFIX = "step_"


# ----------------------------------------------------------------------------- training state

def rng_states() -> tuple[dict, dict[str, torch.Tensor]]:
    """python/numpy RNG states as JSON-able values; torch's RNG state as a uint8 tensor."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    json_part = {"python": [version, list(internal), gauss],
                 "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    return json_part, {"rng.torch": torch.get_rng_state()}


def set_rng_states(json_part: dict, tensors: dict[str, torch.Tensor]) -> None:
    version, internal, gauss = json_part["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = json_part["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])


def _split_optimizer_state(state: dict) -> tuple[dict, dict[str, torch.Tensor]]:
    """optimizer.state_dict() -> (JSON scalars, flat tensors named ``optim.<param>.<name>``)."""
    tensors, scalars = {}, {}
    for pid, pstate in state["state"].items():
        for name, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{name}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return {"param_groups": state["param_groups"], "scalars": scalars}, tensors


def _join_optimizer_state(json_part: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, values in json_part["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else dict(g) for g in json_part["param_groups"]]
    return {"state": state, "param_groups": groups}


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"{STEP_PREFIX}{step:08d}"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (step, folder), oldest first; temporary folders are ignored."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        digits = p.name[len(STEP_PREFIX):]
        if p.is_dir() and p.name.startswith(STEP_PREFIX) and digits.isdigit():
            out.append((int(digits), p))
    return sorted(out)


def save_training_state(run_dir: str | Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        extra: dict | None = None, keep: int = 3) -> Path:
    """Write checkpoint ``step`` atomically (temp folder + os.replace); keep the newest ``keep``.

    ``extra`` is JSON-able scalar state (metrics, counters); RNG states are captured here.
    """
    final = checkpoint_dir(run_dir, step)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as exc:
        raise write_error(exc, final) from None
    try:
        rng_json, rng_tensors = rng_states()
        optim_json, optim_tensors = _split_optimizer_state(optimizer.state_dict())
        save_file(_plain_state(model), str(tmp / "model.safetensors"))
        save_file({**optim_tensors, **rng_tensors}, str(tmp / "optimizer.safetensors"))
        state = {"step": int(step), "optimizer": optim_json, "rng": rng_json, "extra": extra or {}}
        (tmp / "state.json").write_text(json.dumps(state))
        _write_manifest(tmp)
        _replace_dir(tmp, final)
    except BaseException as exc:  # disk full, read-only: nothing half-written, older checkpoints kept
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (OSError, SafetensorError)) and not isinstance(exc, WriteError):
            raise write_error(exc, final) from None
        raise
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; an existing ``dst`` (same step saved twice) is swapped out first."""
    if dst.exists():
        trash = dst.with_name(f".{dst.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(dst, trash)
        os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(src, dst)


CHECKPOINT_FILES = ("model.safetensors", "optimizer.safetensors", "state.json")


def _write_manifest(folder: Path) -> None:
    from langtrack_ros.model_hash import sha256_file

    sums = {name: sha256_file(folder / name) for name in CHECKPOINT_FILES}
    (folder / MANIFEST).write_text(json.dumps({"sha256": sums}, indent=1))


def verify_checkpoint(folder: str | Path) -> None:
    """Raise CheckpointError naming the file if the folder is incomplete or a file's bytes changed
    since it was written (checkpoints from before manifests only get the completeness check)."""
    from langtrack_ros.model_hash import sha256_file

    folder = Path(folder)
    missing = [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"{folder}: training checkpoint incomplete: missing {missing}")
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return
    try:
        sums = json.loads(manifest.read_text())["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{manifest}: unreadable manifest ({exc})") from exc
    for name in CHECKPOINT_FILES:
        if sums.get(name) != sha256_file(folder / name):
            raise CheckpointError(f"{folder / name}: content does not match its sha256 in {MANIFEST}: damaged")


def load_training_state(folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore weights, optimizer and RNG states from a checkpoint folder; returns the state JSON.
    The folder is verified first, so a damaged checkpoint never touches ``model``."""
    folder = Path(folder)
    verify_checkpoint(folder)
    files = [folder / name for name in CHECKPOINT_FILES]
    try:
        weights = load_file(str(files[0]))
        optim_tensors = load_file(str(files[1]))
        state = json.loads(files[2].read_text())
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{folder}: unreadable training checkpoint ({exc})") from exc
    bad = sorted(k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if bad:
        raise CheckpointError(f"{files[0]}: non-finite weights in {bad[:5]}{' ...' if len(bad) > 5 else ''}")
    load_state_checked(model, weights, files[0])
    try:
        optimizer.load_state_dict(_join_optimizer_state(state["optimizer"], optim_tensors))
        set_rng_states(state["rng"], optim_tensors)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{folder}: optimizer/RNG state does not fit this run ({exc})") from exc
    return state


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def restore_latest(run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
    """``(folder, state)`` of the newest checkpoint that loads, or None when there is none.

    A damaged newest checkpoint (killed disk, flipped bytes) is skipped with a warning and the
    previous one is used: losing ``save_every`` steps beats losing the run. If every checkpoint
    is damaged the error lists why each failed and what to do.
    """
    found = list_checkpoints(run_dir)
    failures = []
    for _, folder in reversed(found):
        try:
            verify_checkpoint(folder)
            return folder, load_training_state(folder, model, optimizer)
        except (CheckpointError, FileNotFoundError) as exc:
            log.warning("--resume: skipping damaged checkpoint %s: %s", folder.name, exc)
            failures.append(f"{folder.name}: {exc}")
    if failures:
        raise CheckpointError(f"--resume: no usable checkpoint in {Path(run_dir) / CHECKPOINT_DIR} ("
                              + "; ".join(failures) + "). Move that folder away and start without --resume, "
                              "or restore a checkpoint from a backup")
    return None
