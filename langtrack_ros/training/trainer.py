"""MVLM trainer: AdamW + schedule, TensorBoard, atomic checkpoints, exact resume, NaN guard.

Exact resume (bitwise-equal weights on CPU) rests on three things:
- the data for step k is a pure function of (data seed, k) (see ``sampling.py``), and the loader
  has its own torch.Generator, so creating it does not consume the global torch RNG;
- the learning rate is a pure function of the step (no scheduler object to save);
- weights, AdamW moments and the python/numpy/torch RNG states are saved together.
SIGTERM or a first Ctrl-C finish the current step, write a checkpoint and stop; a second Ctrl-C
stops at once.

Under torchrun (``distributed.py``) the same loop runs data-parallel with DistributedDataParallel:
each rank takes its slice of every step's global batch, optionally in ``optim.accum_steps``
micro-batches, and the loss is normalised by the global batch's counts (``losses.loss_counts``) so
the step's gradient equals a single process's with the same global batch. Rank 0 alone writes the
run config, checkpoints, TensorBoard, the progress bar and the model; a stop request on any rank
stops every rank after the same step.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from langtrack_ros.config import ConfigError, diff_keys, from_dict, load_merged, load_section, merge, to_dict
from langtrack_ros.files import atomic_write_text, write_error
from langtrack_ros.training import checkpoint as ckpt
from langtrack_ros.training import distributed
from langtrack_ros.training.losses import LossWeights, loss_counts, mvlm_loss
from langtrack_ros.training.sampling import (MVLMSamples, SamplingConfig, SourceConfig, StepBatches,
                                             TextFeatureCache, build_source, collate_images, fixed_batches,
                                             resolve_sources)

LOG = logging.getLogger(__name__)
RUN_CONFIG = "train_config.yaml"
# Keys of run configs saved before they stopped being settings (the model's input sizes, derived
# from the model config): dropped, with a log line, when such a file is read or compared.
FORMER_SAMPLING_KEYS = ("search_size", "template_size")
PARTS = ("total", "focal", "l1", "giou", "cm")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class ModelSection:
    preset: str  # name in config/mvlm_model.yaml; "" = that file's default
    overrides: dict  # MVLMConfig fields to change
    pretrained_tokenizer: bool
    init: str  # fine-tune: start from this model file's weights (same preset), "" = fresh init


@dataclass
class DataSection:
    seed: int
    source_defaults: dict  # SourceConfig keys an entry of sources / val_sources leaves out
    sources: list  # SourceConfig mappings (complete once resolve_sources has run)
    val_sources: list
    val_samples: int
    num_workers: int
    sequence_cache: int


@dataclass
class OptimSection:
    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    betas: tuple
    grad_clip: float  # max global grad norm; 0 = off
    accum_steps: int  # micro-batches per rank per step (same global batch, less memory)
    frozen_prefixes: list  # parameters not trained at all
    slow_prefixes: list  # parameters trained at lr * slow_lr_mult
    slow_lr_mult: float
    schedule: str  # cosine | step | constant
    warmup_steps: int
    min_lr_ratio: float  # cosine floor
    milestones: list  # step schedule: fractions of steps
    gamma: float
    max_bad_steps: int  # non-finite loss/gradient steps tolerated before aborting


@dataclass
class CheckpointSection:
    every: int
    keep: int


@dataclass
class LoggingSection:
    every: int  # TensorBoard scalars every N steps
    val_every: int  # 0 = only at the end
    progress: bool


@dataclass
class TrainConfig:
    seed: int
    threads: int  # torch threads; 0 = leave torch's default
    device: str  # auto (cuda:<local rank> when available) | cpu | cuda
    precision: str  # fp32 | bf16 | fp16: autocast on CUDA (fp16 with a gradient scaler)
    model: ModelSection
    data: DataSection
    sampling: SamplingConfig
    optim: OptimSection
    loss: LossWeights
    checkpoint: CheckpointSection
    logging: LoggingSection


class TrainingError(RuntimeError):
    """Training cannot go on (too many non-finite steps)."""


@dataclass
class TrainResult:
    step: int
    completed: bool
    model_path: Path | None
    metrics: dict


def apply_overrides(data: dict, assignments: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings (value parsed as YAML; list items by index) to a nested dict."""
    for text in assignments or []:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {text!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", "") or exc).split())
            raise ConfigError(f"--set {key}: {value!r} is not a YAML value ({problem})") from None
        try:
            _assign(data, key, parsed)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise ConfigError(f"--set {key}: no such setting ({type(exc).__name__}: {exc})") from None
    return data


def _assign(data: dict, key: str, value) -> None:
    node, parts = data, key.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def load_train_config(path: str | Path | None, overrides: list[str] | None = None,
                      steps: int | None = None) -> TrainConfig:
    """TrainConfig from config/train_mvlm.yaml with the user's file ``path`` (if any; a run's saved
    config too) merged over it once, then ``--set`` overrides (+ ``--steps``); unknown keys raise
    ConfigError naming key and file."""
    where = str(path or "config/train_mvlm.yaml")
    user = drop_former_keys(load_section(path), where) if path is not None else {}
    data = apply_overrides(merge(load_merged("train_mvlm"), user, where), overrides or [])
    if steps is not None:
        data.setdefault("optim", {})["steps"] = int(steps)
    return make_train_config(data, where)


def drop_former_keys(data: dict, where: str) -> dict:
    """``data`` without FORMER_SAMPLING_KEYS (a run's saved config from before they left the settings)."""
    sampling = data.get("sampling")
    dropped = sorted(k for k in FORMER_SAMPLING_KEYS if isinstance(sampling, dict) and k in sampling)
    if dropped:
        LOG.info("%s: ignoring sampling.%s: the model's input sizes, no longer training settings", where, dropped)
        data = {**data, "sampling": {k: v for k, v in sampling.items() if k not in dropped}}
    return data


def make_train_config(data: dict, where: str = "TrainConfig") -> TrainConfig:
    cfg = from_dict(TrainConfig, data, where)
    resolve_sources(cfg.data, where)
    o = cfg.optim
    if o.steps <= 0 or o.batch_size <= 0 or o.lr <= 0:
        raise ConfigError(f"{where}: optim.steps, optim.batch_size and optim.lr must be > 0")
    if o.accum_steps < 1:
        raise ConfigError(f"{where}: optim.accum_steps must be >= 1, got {o.accum_steps}")
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"{where}: precision must be one of {sorted(PRECISIONS)}, got {cfg.precision!r}")
    if o.schedule not in ("cosine", "step", "constant"):
        raise ConfigError(f"{where}: optim.schedule must be cosine, step or constant, got {o.schedule!r}")
    if not cfg.data.sources:
        raise ConfigError(f"{where}: data.sources is empty")
    return cfg


def plain_config(cfg: TrainConfig) -> dict:
    """The config as plain YAML/JSON types (tuples become lists)."""
    return json.loads(json.dumps(to_dict(cfg)))


def lr_factor(step: int, o: OptimSection) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then cosine / step decay / constant."""
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.schedule == "cosine":
        progress = (step - o.warmup_steps) / max(o.steps - o.warmup_steps, 1)
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if o.schedule == "step":
        return o.gamma ** sum(step >= m * o.steps for m in o.milestones)
    return 1.0


def build_model_config(section: ModelSection):
    from langtrack_ros.tracking.network import MVLMConfig, load_mvlm_config

    base = to_dict(load_mvlm_config(section.preset or None))
    return from_dict(MVLMConfig, {**base, **section.overrides}, "model.overrides")


def init_weights(model: torch.nn.Module, path: str) -> None:
    """Fine-tuning: copy a trained model file's weights in (strict: the preset must match)."""
    tensors, meta = ckpt.read_model_file(path)
    saved = dataclasses.asdict(ckpt.model_config_from_metadata(Path(path), meta))
    wanted = dataclasses.asdict(model.cfg)
    diffs = sorted(k for k in wanted if saved.get(k) != wanted[k])
    if diffs:
        raise ckpt.CheckpointError(f"model.init {path}: its network differs from the configured one in "
                                   + ", ".join(f"{k} ({saved.get(k)!r} vs {wanted[k]!r})" for k in diffs))
    ckpt.load_state_checked(model, tensors, Path(path))
    LOG.info("model initialised from %s", path)


def param_groups(model: torch.nn.Module, o: OptimSection) -> list[dict]:
    """Main group + a slow group (pretrained tokenizer: lr x slow_lr_mult, as in the reference).

    Parameters under ``frozen_prefixes`` get requires_grad=False: freezing the pretrained stem
    skips its backward pass, the largest part of a CPU step.
    """
    slow, main = [], []
    for name, p in model.named_parameters():
        if any(name.startswith(pre) for pre in o.frozen_prefixes):
            p.requires_grad_(False)
        elif p.requires_grad:
            (slow if any(name.startswith(pre) for pre in o.slow_prefixes) else main).append(p)
    groups = [{"params": main, "lr_mult": 1.0}, {"params": slow, "lr_mult": o.slow_lr_mult}]
    return [g for g in groups if g["params"]]


class Trainer:
    """Train MVLM as ``cfg`` says into ``run_dir``; ``train()`` runs (or resumes) to ``cfg.optim.steps``.

    The loop, checkpoints, resume, signals, progress and TensorBoard are shared with VLT's supernet
    and retrain stages (``vlt/train.py``), which override the ``_build_*``, ``_dataset``,
    ``_train_step``, ``validate`` and ``_export`` hooks.
    """

    desc = "train mvlm"
    collate = staticmethod(collate_images)

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, resume: bool = False, text_encoder=None,
                 sources=None, val_sources=None, export: str | Path | None = None, on_progress=None):
        self.cfg, self.run_dir, self.export = cfg, Path(run_dir), export
        self.on_progress = on_progress  # callable(step, total, loss parts or None), e.g. a ROS progress topic
        self.dist = distributed.init_distributed(cfg.device)
        self.micro = distributed.check_divisible(cfg.optim.batch_size, self.dist.world, cfg.optim.accum_steps)
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._check_run_dir(resume)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.model_cfg, self.model = self._build_model()
        if getattr(cfg.model, "init", "") and not resume:
            init_weights(self.model, cfg.model.init)
        self.model.to(self.dist.device)  # before the optimizer: its state must live where the weights do
        self.optimizer = self._build_optimizer()
        self.step, self.bad_steps, self.wall_s, self.metrics = 0, 0, 0.0, {}
        self._scaler_state = None
        if resume:
            self._restore()
        self.ddp = self._wrap_ddp()
        self.amp = PRECISIONS[cfg.precision] if self.dist.device.type == "cuda" else None
        self.scaler = torch.amp.GradScaler("cuda") if self.amp is torch.float16 else None
        if self.scaler and self._scaler_state:
            self.scaler.load_state_dict(self._scaler_state)  # fp16 loss scale of the resumed run
        encoder = text_encoder or self._default_encoder()
        if getattr(encoder, "dim", self.model_cfg.text_dim) != self.model_cfg.text_dim:
            raise ConfigError(f"text encoder gives {encoder.dim}-d features but the model's text_dim is "
                              f"{self.model_cfg.text_dim}; fix text_dim in the preset")
        self.text = TextFeatureCache(encoder)
        self.train_set = self._dataset(sources, cfg.data.sources, cfg.data.seed)
        self.val_batches = self._val_batches(val_sources)
        self._stop = threading.Event()

    def _wrap_ddp(self):
        """DistributedDataParallel around the model under torchrun; the bare model otherwise."""
        if not self.dist.active:
            return self.model
        ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _build_model(self):
        """(model config, network); subclasses (VLT) build theirs here."""
        from langtrack_ros.tracking.network import MVLM

        model_cfg = build_model_config(self.cfg.model)
        return model_cfg, MVLM(model_cfg, pretrained_tokenizer=self.cfg.model.pretrained_tokenizer)

    def _build_optimizer(self) -> torch.optim.Optimizer:
        o = self.cfg.optim
        return torch.optim.AdamW(param_groups(self.model, o), lr=o.lr, betas=tuple(o.betas),
                                 weight_decay=o.weight_decay)

    def _check_run_dir(self, resume: bool) -> None:
        saved = self.run_dir / RUN_CONFIG
        current = plain_config(self.cfg)
        if resume and saved.is_file():
            previous = drop_former_keys(yaml.safe_load(saved.read_text()), str(saved))
            old_steps = previous.get("optim", {}).pop("steps", None)
            previous.get("optim", {}).pop("accum_steps", None)  # memory trade-off, same gradients
            # the resolved sources are compared; the table they were filled from is not (older runs lack it)
            previous.get("data", {}).pop("source_defaults", None)
            if old_steps != self.cfg.optim.steps:
                LOG.warning("--resume with optim.steps %s -> %d: the lr schedule changes from here on, so the "
                            "result differs from a run made with %d steps throughout",
                            old_steps, self.cfg.optim.steps, self.cfg.optim.steps)
            diffs = diff_keys(previous, {**current, "optim": {k: v for k, v in current["optim"].items()
                                                               if k not in ("steps", "accum_steps")},
                                         "data": {k: v for k, v in current["data"].items()
                                                  if k != "source_defaults"}})
            if diffs:
                raise ConfigError(f"--resume: config differs from the run's {saved}: " + "; ".join(diffs))
        elif not resume and ckpt.list_checkpoints(self.run_dir):
            raise ConfigError(f"{self.run_dir} already holds checkpoints: pass --resume or use a new --run-dir")
        atomic_write_text(saved, yaml.safe_dump(current, sort_keys=False))

    def _restore(self) -> None:
        restored = ckpt.restore_latest(self.run_dir, self.model, self.optimizer)  # skips damaged ones
        if restored is None:
            LOG.warning("--resume: no checkpoint in %s; starting from step 0", self.run_dir)
            return
        folder, state = restored
        extra = state["extra"]
        self.step, self.bad_steps = state["step"], extra.get("bad_steps", 0)
        self.wall_s, self.metrics = extra.get("wall_s", 0.0), extra.get("metrics", {})
        self._scaler_state = extra.get("grad_scaler")
        LOG.info("resumed from %s (step %d)", folder, self.step)

    def _default_encoder(self):
        from langtrack_ros.tracking.text_encoder import build_text_encoder

        return build_text_encoder(self.model_cfg)

    def _dataset(self, sources, source_cfgs: list[dict], seed: int, val: bool = False) -> MVLMSamples:
        if sources is None:
            sources = [build_source(from_dict(SourceConfig, s), self.cfg.data.sequence_cache)
                       for s in source_cfgs if s["weight"] > 0]
        return MVLMSamples(sources, self.cfg.sampling, seed, self.model_cfg.search_size)

    def _val_batches(self, val_sources) -> list[dict]:
        d = self.cfg.data
        if d.val_samples <= 0 or (val_sources is None and not d.val_sources):
            return []
        val_set = self._dataset(val_sources, d.val_sources, d.seed + 1, val=True)
        return fixed_batches(val_set, d.val_samples, self.cfg.optim.batch_size, self.collate)

    def request_stop(self) -> None:
        """Finish the current step, write a checkpoint and return (SIGTERM, first Ctrl-C)."""
        self._stop.set()

    def train(self) -> TrainResult:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        o, workers = self.cfg.optim, self.cfg.data.num_workers
        # spawn, not fork: a forked worker can inherit locks held by the tokenizer/OpenMP threads and hang
        loader = torch.utils.data.DataLoader(
            self.train_set, batch_sampler=self._batches(),
            collate_fn=self.collate, num_workers=workers, multiprocessing_context="spawn" if workers else None,
            generator=torch.Generator().manual_seed(self.cfg.seed), worker_init_fn=_worker_init)
        main = self.dist.is_main
        writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step or None) if main else _NullWriter()
        bar = tqdm(total=o.steps, initial=self.step, disable=not (self.cfg.logging.progress and main),
                   desc=self.desc)
        try:
            with _stop_signals(self.request_stop):
                self._loop(loader, writer, bar)
        finally:
            bar.close()
            writer.close()
        completed = self.step >= o.steps
        if not completed:
            LOG.warning("stopped at step %d of %d; continue with --resume", self.step, o.steps)
            return TrainResult(self.step, False, None, self.metrics)
        return TrainResult(self.step, True, self._export() if main else None, self.metrics)

    def _batches(self):
        o = self.cfg.optim
        if not self.dist.active:
            return StepBatches(self.step, o.steps, o.batch_size)
        return distributed.RankStepBatches(self.step, o.steps, o.batch_size, self.dist.rank, self.dist.world)

    def _loop(self, loader, writer, bar) -> None:
        cfg = self.cfg
        t_data = time.perf_counter()
        for batch in loader:
            t_step = time.perf_counter()
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.optim.lr * group["lr_mult"] * lr_factor(self.step, cfg.optim)
            parts = self._train_step(batch)
            self.step += 1
            now = time.perf_counter()
            self.wall_s += now - t_data
            self._log(writer, bar, parts, now - t_step, t_step - t_data)
            main = self.dist.is_main
            if main and cfg.logging.val_every and self.step % cfg.logging.val_every == 0 and self.step < cfg.optim.steps:
                self._validate(writer)
            last = self.step >= cfg.optim.steps
            if main and last and self.val_batches:
                self._validate(writer)
            every = cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0
            if main and (last or self._stop.is_set() or every):
                self.save_checkpoint()
            if self._stop.is_set():
                return
            t_data = time.perf_counter()

    def _train_step(self, batch: dict) -> dict | None:
        """One optimisation step; returns the loss parts, or None when the step was skipped (NaN/inf)."""
        self.model.train()
        if self.dist.active or self.cfg.optim.accum_steps > 1:
            return self._parallel_step(batch)
        loss, parts = self._loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return self._skip(f"non-finite loss {parts}")
        self._backward(loss)
        return self._apply_gradients(parts)

    def _loss(self, batch: dict, counts: torch.Tensor | None = None):
        """Forward (autocast on CUDA when configured) and the loss in float32."""
        dev = self.dist.device
        tokens, mask = self.text(batch["sentences"])
        with torch.autocast(dev.type, dtype=self.amp) if self.amp else nullcontext():
            out = self.ddp(batch["search"].to(dev, non_blocking=True), tokens.to(dev), mask.to(dev))
        out = {k: v.float() for k, v in out.items()}
        targets = {"boxes": batch["boxes"].to(dev), "positive": batch["positive"].to(dev)}
        if counts is None:
            return mvlm_loss(out, targets, self.cfg.loss)
        return mvlm_loss(out, targets, self.cfg.loss, counts=counts)

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def _parallel_step(self, batch: dict) -> dict | None:
        """Micro-batches of this rank's slice, normalised by the global batch's counts (see module doc).

        Every rank runs the same collectives whatever its loss: a non-finite loss shows up as a
        non-finite gradient norm, identical on all ranks after DDP's all-reduce, so all skip together.
        """
        micro = _split_batch(batch, self.cfg.optim.accum_steps)
        grid = self.model_cfg.grid
        counts = sum(loss_counts({"boxes": m["boxes"], "positive": m["positive"]}, grid, self.cfg.loss) for m in micro)
        self.dist.all_reduce_sum(counts)
        self.optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(len(PARTS) + 1, dtype=torch.float64)
        for i, m in enumerate(micro):
            last = i == len(micro) - 1
            with nullcontext() if last or not self.dist.active else self.ddp.no_sync():
                loss, parts = self._loss(m, counts)
                self._backward(loss * self.dist.world)  # DDP averages gradients over ranks; we want the sum
            sums[:-1] += torch.tensor([parts[k] for k in PARTS], dtype=torch.float64)
        sums[-1] = float(self._stop.is_set())
        self.dist.all_reduce_sum(sums)
        if sums[-1] > 0:
            self._stop.set()  # a stop request on any rank stops all ranks after this step
        return self._apply_gradients(dict(zip(PARTS, sums[:-1].tolist())))

    def _apply_gradients(self, parts: dict) -> dict | None:
        """Clip, check and apply the accumulated gradients (fp16: through the gradient scaler)."""
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        max_norm = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler:  # fp16 overflow: the scaler lowers its scale; not a broken step
                self.scaler.update()
                return None
            return self._skip(f"non-finite gradient norm {float(norm)} (loss parts {parts})")
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        parts["grad_norm"] = float(norm)
        return parts

    def _skip(self, why: str) -> None:
        self.bad_steps += 1
        LOG.warning("step %d skipped: %s (%d skipped so far)", self.step, why, self.bad_steps)
        if self.bad_steps > self.cfg.optim.max_bad_steps:
            raise TrainingError(f"{self.bad_steps} steps with non-finite loss/gradients "
                                f"(limit optim.max_bad_steps={self.cfg.optim.max_bad_steps}); aborting")
        return None

    def _log(self, writer, bar, parts: dict | None, step_s: float, data_s: float) -> None:
        bar.update(1)
        if self.on_progress is not None and self.dist.is_main:
            self.on_progress(self.step, self.cfg.optim.steps, parts)
        if parts is not None:
            bar.set_postfix(loss=f"{parts['total']:.3f}", refresh=False)
        if self.step % max(self.cfg.logging.every, 1) and self.step != self.cfg.optim.steps:
            return
        for name, value in (parts or {}).items():
            writer.add_scalar(f"train/{name}", value, self.step)
        writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.step)
        writer.add_scalar("train/skipped_steps", self.bad_steps, self.step)
        writer.add_scalar("time/step_s", step_s, self.step)
        writer.add_scalar("time/data_s", data_s, self.step)

    @torch.no_grad()
    def validate(self) -> dict:
        """Loss parts + cheap detection scores on the fixed validation batches."""
        self.model.eval()
        sums: dict[str, float] = {}
        hits = n_pos = 0
        pos_scores, neg_scores = [], []
        for batch in self.val_batches:
            tokens, mask = self.text(batch["sentences"])
            dev = self.dist.device
            out = {k: v.cpu() for k, v in self.model(batch["search"].to(dev), tokens.to(dev), mask.to(dev)).items()}
            _, parts = mvlm_loss(out, {"boxes": batch["boxes"], "positive": batch["positive"]}, self.cfg.loss)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(batch["sentences"])
            peak = out["score_map"].flatten(1).sigmoid().max(1)
            pos = batch["positive"]
            hits += int(_peak_inside(peak.indices, batch["boxes"], self.model_cfg.grid)[pos].sum())
            n_pos += int(pos.sum())
            pos_scores += peak.values[pos].tolist()
            neg_scores += peak.values[~pos].tolist()
        total = sum(len(b["sentences"]) for b in self.val_batches)
        metrics = {f"loss_{k}": v / total for k, v in sums.items()}
        metrics["peak_hit_rate"] = hits / max(n_pos, 1)
        metrics["score_positive"] = float(np.mean(pos_scores)) if pos_scores else float("nan")
        metrics["score_negative"] = float(np.mean(neg_scores)) if neg_scores else float("nan")
        return metrics

    def _validate(self, writer) -> None:
        self.metrics = self.validate()
        for k, v in self.metrics.items():
            writer.add_scalar(f"val/{k}", v, self.step)
        LOG.info("step %d validation: %s", self.step, ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items()))

    def save_checkpoint(self) -> Path:
        extra = {"bad_steps": self.bad_steps, "wall_s": self.wall_s, "metrics": self.metrics}
        if self.scaler:  # plain floats/ints: JSON in state.json
            extra["grad_scaler"] = {k: float(v) if isinstance(v, float) else v for k, v in self.scaler.state_dict().items()}
        try:
            return ckpt.save_training_state(self.run_dir, self.step, self.model, self.optimizer, extra,
                                            keep=self.cfg.checkpoint.keep)
        except OSError as exc:  # one line that also says what was kept and how to go on
            last = ckpt.latest_checkpoint(self.run_dir)
            raise write_error(exc, ckpt.checkpoint_dir(self.run_dir, self.step),
                              f"training stopped at step {self.step}, last good checkpoint "
                              f"{last.name if last else '(none)'} kept: free space, then train again with --resume"
                              ) from None

    def _export(self) -> Path:
        info = {"steps": self.step, "wall_s": round(self.wall_s, 1), "skipped_steps": self.bad_steps,
                "val": self.metrics, "train_config": plain_config(self.cfg)}
        path = ckpt.save_model(self.model, self.model_cfg, self.run_dir / "model.safetensors", info)
        if self.export:
            ckpt.save_model(self.model, self.model_cfg, self.export, info)
            LOG.info("exported model to %s", self.export)
        return path


def _split_batch(batch: dict, parts: int) -> list[dict]:
    """``parts`` equal micro-batches of a collated batch (tensors and lists alike)."""
    size = len(batch["sentences"]) // parts
    return [{k: v[i * size:(i + 1) * size] for k, v in batch.items()} for i in range(parts)]


class _NullWriter:
    """TensorBoard writer stand-in for ranks other than 0."""

    def add_scalar(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def _peak_inside(indices: torch.Tensor, boxes: torch.Tensor, grid: int) -> torch.Tensor:
    """Whether the centre of each peak cell lies inside its (normalised xywh) box."""
    cx = (indices % grid).float().add(0.5) / grid
    cy = (indices // grid).float().add(0.5) / grid
    x, y, w, h = boxes.unbind(-1)
    return (cx >= x) & (cx <= x + w) & (cy >= y) & (cy <= y + h)


def _worker_init(_worker_id: int) -> None:
    """Loader workers: one thread each, and deaf to SIGINT/SIGTERM.

    Ctrl-C or a group-wide SIGTERM reaches the workers too; the main process decides (finish the
    step, checkpoint) and then shuts them down, so a worker must not die first.
    """
    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


@contextmanager
def _stop_signals(request_stop):
    """SIGTERM / first SIGINT -> request_stop(); a second SIGINT raises KeyboardInterrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen = {"int": 0}

    def on_term(signum, frame):
        LOG.warning("signal %d: finishing this step, writing a checkpoint", signum)
        request_stop()

    def on_int(signum, frame):
        seen["int"] += 1
        if seen["int"] > 1:
            raise KeyboardInterrupt
        on_term(signum, frame)

    old = signal.signal(signal.SIGTERM, on_term), signal.signal(signal.SIGINT, on_int)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old[0])
        signal.signal(signal.SIGINT, old[1])
