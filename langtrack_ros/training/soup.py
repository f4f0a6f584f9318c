"""Model soups (Wortsman et al., ICML 2022): the uniform weight average of networks fine-tuned
from one initialisation, with different sample orders (``data.seed``) or settings.

Why: a 500-step fine-tune on real video moves the real val score by up to 9 AUC from one
sample order to the next (docs/EVALUATION.md). Networks fine-tuned from the same weights stay
in one basin, so their average is a network too, and it keeps what the draws agree on instead
of betting on one draw. It costs nothing at run time: one file, the same network.

Averaged only: files of one format and network config, with equal integer tensors (counters,
index buffers), whose weights are close enough to have come from one initialisation
(MAX_DISTANCE). Floating-point tensors, BatchNorm statistics included, are averaged as they
are. Where the ingredients' training settings differ, the soup's summary lists the keys.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from langtrack_ros import model_files
from langtrack_ros.config import flatten, load_merged
from langtrack_ros.model_hash import read_header, sha256_file

LOG = logging.getLogger(__name__)

# Training-config keys not reported as differences between ingredients: the sample order (recorded
# per ingredient as data_seed) and where things were on the machine that trained them (paths,
# logging, checkpoints, threads), which says nothing about the weights.
FREE_KEYS = ("data.seed", "model.init", "threads")
FREE_PREFIXES = ("logging.", "checkpoint.")
# Relative L2 distance between the weights of two ingredients above which they cannot share an
# initialisation. Measured on the MVLM files (frozen MobileNetV2 stem included): 500-step real-video
# fine-tunes of one model, any data.seed or p_extra, 0.03-0.04 apart; the L_CM-free twin, trained
# from its own synthetic ancestor, 0.26 from all of them.
MAX_DISTANCE = 0.15


def _format_of(path: Path) -> str:
    """The file's ``langtrack_format`` (mvlm-1, vlt-1), read without loading its tensors."""
    return (read_header(path)[0].get("__metadata__") or {}).get("langtrack_format", "")


def _flat(train_config: dict) -> dict:
    """Dotted training-config keys, data sources without their ``root`` (a path on the machine)."""
    flat = flatten(train_config)
    return {k: [{kk: vv for kk, vv in x.items() if kk != "root"} for x in v]
            if isinstance(v, list) and all(isinstance(x, dict) for x in v) else v for k, v in flat.items()}


def recipe_differences(a: dict, b: dict, defaults: dict | None = None) -> list[str]:
    """Training-config keys in which two ingredients differ beyond FREE_KEYS. A key only one of
    them has (added to the trainer after the other was trained) is compared with its value in
    ``defaults`` (config/train_mvlm.yaml), and skipped if that has none either."""
    fa, fb, fd = _flat(a), _flat(b), _flat(defaults or {})
    keys = {k for k in set(fa) | set(fb) if (k in fa and k in fb) or k in fd}
    return sorted(k for k in keys if fa.get(k, fd.get(k)) != fb.get(k, fd.get(k)) and k not in FREE_KEYS
                  and not k.startswith(FREE_PREFIXES))


def _recipe_notes(paths: list[Path], infos: list[dict], fmt: str) -> list[list[str]]:
    """Per ingredient, the training settings in which it differs from the first (logged)."""
    defaults = load_merged("train_mvlm") if fmt == model_files.FORMAT else {}
    notes = [recipe_differences(infos[0].get("train_config", {}), i.get("train_config", {}), defaults) for i in infos]
    for path, diff in zip(paths[1:], notes[1:]):
        if diff:
            LOG.info("%s: trained with other settings than %s: %s", path, paths[0], ", ".join(diff))
    return notes


def _check_one_init(paths: list[Path], tensors: list[dict]) -> None:
    """Refuse files whose weights are too far apart to share an initialisation (their average
    would be no network at all): the relative L2 distance of each to the first."""
    def flat(t: dict) -> torch.Tensor:
        return torch.cat([v.reshape(-1).double() for _, v in sorted(t.items()) if v.is_floating_point()])

    first = flat(tensors[0])
    for path, t in zip(paths[1:], tensors[1:]):
        distance = float((flat(t) - first).norm() / first.norm().clamp_min(1e-12))
        if distance > MAX_DISTANCE:
            raise ValueError(f"{path}: its weights are {distance:.2f} (relative L2) from {paths[0]}'s, more than "
                             f"{MAX_DISTANCE}: they were not fine-tuned from one initialisation, so their average "
                             "is not a model")


def _average(paths: list[Path], tensors: list[dict]) -> dict[str, torch.Tensor]:
    soup = {}
    for name, first in tensors[0].items():
        if first.is_floating_point():
            soup[name] = torch.stack([t[name] for t in tensors]).mean(0)
        elif all(torch.equal(t[name], first) for t in tensors[1:]):
            soup[name] = first.clone()
        else:
            raise ValueError(f"integer tensor {name} differs between {paths[0]} and another file: cannot average")
    return soup


def uniform_soup(paths: list[str | Path], out: str | Path) -> Path:
    """Write the uniform average of ``paths`` to ``out``; its training summary lists the ingredients."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise ValueError("a soup needs at least two model files")
    fmt = _format_of(paths[0]) if paths[0].is_file() else model_files.FORMAT
    loaded = [model_files.read_model_file(p, fmt) for p in paths]
    for path, (tensors, meta) in zip(paths[1:], loaded[1:]):
        if meta["config"] != loaded[0][1]["config"] or tensors.keys() != loaded[0][0].keys():
            raise ValueError(f"{path}: another network than {paths[0]} (config or tensor names differ)")
    infos = [json.loads(meta.get("train") or "{}") for _, meta in loaded]
    notes = _recipe_notes(paths, infos, fmt)
    _check_one_init(paths, [t for t, _ in loaded])
    soup = _average(paths, [t for t, _ in loaded])
    info = {**infos[0], "val": {}, "wall_s": round(sum(i.get("wall_s", 0.0) for i in infos), 1),
            "skipped_steps": sum(i.get("skipped_steps", 0) for i in infos),
            "soup": [{"file": p.name, "sha256": sha256_file(p),
                      "data_seed": i.get("train_config", {}).get("data", {}).get("seed"), "steps": i.get("steps"),
                      "differs_in": {k: _flat(i.get("train_config", {})).get(k) for k in note},
                      "val": i.get("val", {})} for p, i, note in zip(paths, infos, notes)]}
    return model_files.save_tensors(soup, loaded[0][1]["config"], out, info, fmt)
