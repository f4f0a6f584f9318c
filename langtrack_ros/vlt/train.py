"""VLT supernet and retrain stages on the shared trainer loop (``training/trainer.py``).

Supernet: every step draws a random path for each branch and random mixer choices from
``rng([seed, step])`` -- a pure function of the step, so kill-and-resume reproduces the
uninterrupted run. Retrain: the chosen architecture only, starting from the supernet's weights
for the units it uses (same parameter names).
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import torch

from langtrack_ros.config import from_dict
from langtrack_ros.training import checkpoint as ckpt
from langtrack_ros.training.sampling import SourceConfig, build_source
from langtrack_ros.training.trainer import Trainer, param_groups
from langtrack_ros.vlt.arch import Architecture
from langtrack_ros.vlt.config import VLT_FORMAT, StageConfig
from langtrack_ros.vlt.data import SentenceVectors, VLTPairs, collate_pairs
from langtrack_ros.vlt.loss import vlt_loss
from langtrack_ros.vlt.model import KEYS_ADDED_AFTER_VLT_1, VLTConfig, VLTNet, grid_points

LOG = logging.getLogger(__name__)
VAL_PATH_SEED = 12345  # the supernet's validation loss uses this one fixed random path


def load_vlt(path: str | Path) -> VLTNet:
    """A VLT model file -> VLTNet in eval mode (config from the file's metadata; never unpickles)."""
    path = Path(path)
    tensors, metadata = ckpt.read_model_file(path, VLT_FORMAT)
    try:
        data = json.loads(metadata.get("config", ""))
        cfg = from_dict(VLTConfig, fill_vlt_keys_added_later(data, str(path)), f"{path}: config")
    except (ValueError, TypeError) as exc:
        raise ckpt.CheckpointError(f"{path}: VLT config metadata unusable ({exc})") from exc
    cfg = dataclasses.replace(cfg, stage_channels=tuple(cfg.stage_channels), stage_blocks=tuple(cfg.stage_blocks))
    model = VLTNet(cfg)
    ckpt.load_state_checked(model, tensors, path)
    return model.eval()


def fill_vlt_keys_added_later(data, where: str):
    """A model file's config with the keys it predates (KEYS_ADDED_AFTER_VLT_1) filled, logged."""
    if not isinstance(data, dict):
        return data
    missing = {k: v for k, v in KEYS_ADDED_AFTER_VLT_1.items() if k not in data}
    if missing:
        LOG.info("%s: VLT config predates %s; using their vlt-1 values %s", where, sorted(missing), missing)
    return {**missing, **data}


def init_from(model: VLTNet, path: str | Path) -> int:
    """Copy the tensors of ``path`` that ``model`` has (same name and shape); returns how many."""
    tensors, _ = ckpt.read_model_file(path, VLT_FORMAT)
    own = model.state_dict()
    shared = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
    own.update(shared)
    model.load_state_dict(own)
    LOG.info("initialised %d of %d tensors from %s", len(shared), len(own), path)
    return len(shared)


def step_arch(seed: int, step: int, cfg: VLTConfig) -> Architecture:
    """The supernet path of training step ``step`` (template and search drawn independently)."""
    return Architecture.random(np.random.default_rng([seed, step, 7]), tuple(cfg.stage_blocks))


class VLTTrainer(Trainer):
    """Supernet (``cfg.model.architecture is None``) or retrain (fixed architecture) stage."""

    collate = staticmethod(collate_pairs)

    def __init__(self, cfg: StageConfig, run_dir, **kwargs):
        self.desc = f"train vlt {cfg.stage}"
        super().__init__(cfg, run_dir, **kwargs)
        self.vectors = SentenceVectors(self.text)
        self.points = grid_points(self.model_cfg)
        self.fixed_arch = self.model_cfg.arch()
        self.no_sentence = 0

    def _build_model(self):
        model = VLTNet(self.cfg.model, pretrained=True)  # ImageNet stem, if any; init_from may replace it
        if self.cfg.init:
            init_from(model, self.cfg.init)
        return self.cfg.model, model

    def _default_encoder(self):
        """VLT always uses the shared MiniLM encoder (its config names no text tower, unlike MVLM's)."""
        from langtrack_ros.tracking.text_encoder import TextEncoder

        return TextEncoder(max_tokens=self.model_cfg.max_text_tokens)

    def _build_optimizer(self) -> torch.optim.Optimizer:
        o = self.cfg.optim
        groups = param_groups(self.model, o)
        if o.kind == "sgd":
            return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        return torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)

    def _dataset(self, sources, source_cfgs: list[dict], seed: int, val: bool = False) -> VLTPairs:
        if sources is None:
            sources = [build_source(from_dict(SourceConfig, s), self.cfg.data.sequence_cache)
                       for s in source_cfgs if s["weight"] > 0]
        return VLTPairs(sources, self.cfg.sampling, seed, self.model_cfg.template_size, self.model_cfg.search_size,
                        training=not val)

    def _arch(self, step: int) -> Architecture:
        return self.fixed_arch or step_arch(self.cfg.seed, step, self.model_cfg)

    def _forward(self, batch: dict, arch: Architecture) -> dict:
        lang, has = self.vectors(batch["sentences"]) if self.model_cfg.language else (None, None)
        return self.model(batch["template"], batch["search"], batch["template_boxes"], lang, has, arch)

    def _train_step(self, batch: dict) -> dict | None:
        self.model.train()
        out = self._forward(batch, self._arch(self.step))
        loss, parts = vlt_loss(out, batch["boxes"], self.points, self.model_cfg.search_size, self.cfg.loss,
                               batch["present"])
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return self._skip(f"non-finite loss {parts}")
        loss.backward()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        max_norm = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            return self._skip(f"non-finite gradient norm {float(norm)}")
        self.optimizer.step()
        n_empty = sum(not s.strip() for s in batch["sentences"])
        self.no_sentence += n_empty
        parts.update(grad_norm=float(norm), no_sentence=float(n_empty))
        return parts

    @torch.no_grad()
    def validate(self) -> dict:
        """Loss parts and the rate of score peaks inside the target box on the fixed pairs."""
        self.model.eval()
        arch = self.fixed_arch or Architecture.random(np.random.default_rng(VAL_PATH_SEED),
                                                      tuple(self.model_cfg.stage_blocks))
        sums: dict[str, float] = {}
        hits = total = 0
        for batch in self.val_batches:
            out = self._forward(batch, arch)
            _, parts = vlt_loss(out, batch["boxes"], self.points, self.model_cfg.search_size, self.cfg.loss)
            n = len(batch["sentences"])
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * n
            hits += int(_peak_inside(out, batch["boxes"] * self.model_cfg.search_size, self.points).sum())
            total += n
        metrics = {f"loss_{k}": v / max(total, 1) for k, v in sums.items()}
        metrics["peak_hit_rate"] = hits / max(total, 1)
        return metrics

    def _export(self) -> Path:
        LOG.info("pairs trained with the template embedding (no sentence) in this process: %d", self.no_sentence)
        info = {"stage": self.cfg.stage, "steps": self.step, "wall_s": round(self.wall_s, 1),
                "skipped_steps": self.bad_steps, "val": self.metrics, "train_config": _plain(self.cfg)}
        path = ckpt.save_model(self.model, self.model_cfg, self.run_dir / "model.safetensors", info, VLT_FORMAT)
        if self.export:
            ckpt.save_model(self.model, self.model_cfg, self.export, info, VLT_FORMAT)
            LOG.info("exported model to %s", self.export)
        return path


def _plain(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=list))


def _peak_inside(out: dict, boxes_px: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    score = out["cls"].softmax(1)[:, 1].flatten(1)
    idx = score.argmax(1)
    g = len(points)
    px, py = points[idx % g], points[idx // g]
    x, y, w, h = boxes_px.unbind(-1)
    return (px >= x) & (px <= x + w) & (py >= y) & (py <= y + h)
