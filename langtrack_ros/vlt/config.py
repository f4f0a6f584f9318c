"""config/train_vlt.yaml as dataclasses: one file drives the three VLT stages.

``<run_dir>/supernet``, ``<run_dir>/search`` and ``<run_dir>/<retrain.name>`` are the stages'
folders; each stage finds the previous stage's output there. The supernet and retrain stages run
on the shared MVLM trainer loop with a :class:`StageConfig` (the fields that trainer reads).
None of these dataclasses has defaults: config/train_vlt.yaml is the one table, and a user's file
is merged over it once (:func:`load_vlt_config`), so a missing key or section is a ConfigError.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from langtrack_ros.config import ConfigError, from_dict, load_merged
from langtrack_ros.training.sampling import resolve_sources
from langtrack_ros.training.trainer import (CheckpointSection, DataSection, LoggingSection, OptimSection,
                                            apply_overrides)
from langtrack_ros.vlt.data import PairSamplingConfig
from langtrack_ros.vlt.loss import VLTLossWeights
from langtrack_ros.vlt.model import VLTConfig

STAGES = ("supernet", "search", "retrain")
VLT_FORMAT = "vlt-1"


@dataclass
class VLTOptimSection(OptimSection):
    kind: str  # sgd (reference: momentum 0.9, wd 1e-4) | adamw
    momentum: float


@dataclass
class StageSection:
    optim: VLTOptimSection


@dataclass
class RetrainSection(StageSection):
    name: str  # sub-folder of the run dir (ablation variants use other names)
    architecture: str  # searched (the search stage's choice) | uniform:<choice> | path to a json/yaml
    language: bool  # False: SiamCAR baseline without ModaMixer
    init: str  # supernet (the supernet stage's weights) | none (from scratch)


@dataclass
class SearchSection:
    population: int
    top_k: int
    mutations: int
    crossovers: int
    mutation_prob: float
    generations: int
    symmetric: bool  # search one path for both branches (the paper's symmetric ablation)
    max_mflops: float  # per-candidate limit (template + search pass), 0 = none
    bn_batches: int  # training batches for BatchNorm recalibration per candidate
    bn_batch_size: int
    val_split: str  # synth split of the fixed validation set
    val_real: list  # dataset sources ({kind: dataset, name, root, split}) added to the fitness set
    val_sequences: int
    val_frames: int  # first frames of each validation sequence tracked
    seed: int


@dataclass
class VLTFileConfig:
    seed: int
    threads: int
    device: str  # as TrainConfig: auto (cuda when available) | cpu | cuda
    precision: str  # fp32 | bf16 | fp16
    model: VLTConfig
    data: DataSection
    sampling: PairSamplingConfig
    loss: VLTLossWeights
    supernet: StageSection
    search: SearchSection
    retrain: RetrainSection
    checkpoint: CheckpointSection
    logging: LoggingSection
    tracker: dict  # VLTTrackerConfig fields used for search fitness (config/vlt_tracker.yaml otherwise)


@dataclass
class StageConfig:
    """What the shared trainer loop reads, for the supernet or the retrain stage (built by
    :func:`stage_config` from a VLTFileConfig)."""

    seed: int
    threads: int
    device: str  # as TrainConfig: the shared trainer runs VLT on one process or under torchrun
    precision: str
    stage: str
    model: VLTConfig
    data: DataSection
    sampling: PairSamplingConfig
    optim: VLTOptimSection
    loss: VLTLossWeights
    checkpoint: CheckpointSection
    logging: LoggingSection
    init: str  # model file the weights start from ("" = random init)


def load_vlt_config(path: str | Path | None = None, overrides: list[str] | None = None) -> VLTFileConfig:
    """config/train_vlt.yaml with the user's file ``path`` (if any) merged over it once, then
    ``--set`` overrides; unknown keys raise ConfigError naming key and file."""
    data = apply_overrides(load_merged("train_vlt", path), overrides or [])
    return make_vlt_config(data, str(path or "config/train_vlt.yaml"))


def make_vlt_config(data: dict, where: str) -> VLTFileConfig:
    cfg = from_dict(VLTFileConfig, data, where)
    resolve_sources(cfg.data, where)
    cfg.model = dataclasses.replace(cfg.model, stage_channels=tuple(cfg.model.stage_channels),
                                    stage_blocks=tuple(cfg.model.stage_blocks))
    if cfg.model.architecture is not None:
        raise ConfigError(f"{where}: model.architecture is set by the stages (retrain.architecture), not here")
    for stage in ("supernet", "retrain"):
        o = getattr(cfg, stage).optim
        if o.steps <= 0 or o.batch_size <= 0 or o.lr <= 0:
            raise ConfigError(f"{where}: {stage}.optim.steps, batch_size and lr must be > 0")
        if o.kind not in ("sgd", "adamw"):
            raise ConfigError(f"{where}: {stage}.optim.kind must be sgd or adamw, got {o.kind!r}")
    s = cfg.search
    if s.top_k <= 0 or s.population < s.top_k or s.generations <= 0:
        raise ConfigError(f"{where}: search needs 0 < top_k <= population and generations > 0")
    if not cfg.data.sources:
        raise ConfigError(f"{where}: data.sources is empty")
    return cfg


def stage_dir(run_dir: str | Path, stage: str, cfg: VLTFileConfig) -> Path:
    return Path(run_dir) / (cfg.retrain.name if stage == "retrain" else stage)


def stage_config(cfg: VLTFileConfig, stage: str, architecture: dict | None, init: str) -> StageConfig:
    section = cfg.supernet if stage == "supernet" else cfg.retrain
    language = cfg.retrain.language if stage == "retrain" else cfg.model.language
    model = dataclasses.replace(cfg.model, architecture=architecture, language=language)
    return StageConfig(seed=cfg.seed, threads=cfg.threads, device=cfg.device, precision=cfg.precision, stage=stage,
                       model=model, data=cfg.data, sampling=cfg.sampling, optim=section.optim, loss=cfg.loss,
                       checkpoint=cfg.checkpoint, logging=cfg.logging, init=init)
