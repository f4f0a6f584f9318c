"""config/train_vlt.yaml as dataclasses: one file drives the three VLT stages.

``<run_dir>/supernet``, ``<run_dir>/search`` and ``<run_dir>/<retrain.name>`` are the stages'
folders; each stage finds the previous stage's output there. The supernet and retrain stages run
on the shared MVLM trainer loop with a :class:`StageConfig` (the fields that trainer reads).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from langtrack_ros.config import ConfigError, from_dict, read_yaml, to_dict
from langtrack_ros.training.sampling import SourceConfig
from langtrack_ros.training.trainer import (CheckpointSection, DataSection, LoggingSection, OptimSection,
                                            apply_overrides)
from langtrack_ros.vlt.data import PairSamplingConfig
from langtrack_ros.vlt.loss import VLTLossWeights
from langtrack_ros.vlt.model import VLTConfig

STAGES = ("supernet", "search", "retrain")
VLT_FORMAT = "vlt-1"


@dataclass
class VLTOptimSection(OptimSection):
    kind: str = "sgd"  # sgd (reference: momentum 0.9, wd 1e-4) | adamw
    momentum: float = 0.9


@dataclass
class StageSection:
    optim: VLTOptimSection = field(default_factory=VLTOptimSection)


@dataclass
class RetrainSection(StageSection):
    name: str = "retrain"  # sub-folder of the run dir (ablation variants use other names)
    architecture: str = "searched"  # searched (the search stage's choice) | uniform:<choice> | path to a json/yaml
    language: bool = True  # False: SiamCAR baseline without ModaMixer
    init: str = "supernet"  # supernet (the supernet stage's weights) | none (from scratch)


@dataclass
class SearchSection:
    population: int = 50
    top_k: int = 10
    mutations: int = 25
    crossovers: int = 25
    mutation_prob: float = 0.1
    generations: int = 20
    symmetric: bool = False  # search one path for both branches (the paper's symmetric ablation)
    max_mflops: float = 0.0  # per-candidate limit (template + search pass), 0 = none
    bn_batches: int = 50  # training batches for BatchNorm recalibration per candidate
    bn_batch_size: int = 16
    val_split: str = "val"  # synth split of the fixed validation set
    val_sequences: int = 10
    val_frames: int = 60  # first frames of each validation sequence tracked
    seed: int = 0


@dataclass
class VLTFileConfig:
    seed: int = 0
    threads: int = 0
    model: VLTConfig = field(default_factory=VLTConfig)
    data: DataSection = field(default_factory=DataSection)
    sampling: PairSamplingConfig = field(default_factory=PairSamplingConfig)
    loss: VLTLossWeights = field(default_factory=VLTLossWeights)
    supernet: StageSection = field(default_factory=StageSection)
    search: SearchSection = field(default_factory=SearchSection)
    retrain: RetrainSection = field(default_factory=RetrainSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    tracker: dict = field(default_factory=dict)  # VLTTrackerConfig fields used for search fitness


@dataclass
class StageConfig:
    """What the shared trainer loop reads, for the supernet or the retrain stage."""

    seed: int = 0
    threads: int = 0
    device: str = "auto"  # as TrainConfig: the shared trainer runs VLT on one process or under torchrun
    precision: str = "fp32"
    stage: str = "supernet"
    model: VLTConfig = field(default_factory=VLTConfig)
    data: DataSection = field(default_factory=DataSection)
    sampling: PairSamplingConfig = field(default_factory=PairSamplingConfig)
    optim: VLTOptimSection = field(default_factory=VLTOptimSection)
    loss: VLTLossWeights = field(default_factory=VLTLossWeights)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    init: str = ""  # model file the weights start from ("" = random init)


def load_vlt_config(path: str | Path, overrides: list[str] | None = None) -> VLTFileConfig:
    data = apply_overrides(read_yaml(path), overrides or [])
    cfg = from_dict(VLTFileConfig, data, str(path))
    for name in ("sources", "val_sources"):
        setattr(cfg.data, name, [to_dict(from_dict(SourceConfig, s, f"{path}:data.{name}"))
                                 for s in getattr(cfg.data, name)])
    cfg.model = dataclasses.replace(cfg.model, stage_channels=tuple(cfg.model.stage_channels),
                                    stage_blocks=tuple(cfg.model.stage_blocks))
    if cfg.model.architecture is not None:
        raise ConfigError(f"{path}: model.architecture is set by the stages (retrain.architecture), not here")
    cfg.sampling = dataclasses.replace(cfg.sampling, template_size=cfg.model.template_size,
                                       search_size=cfg.model.search_size)
    for stage in ("supernet", "retrain"):
        o = getattr(cfg, stage).optim
        if o.steps <= 0 or o.batch_size <= 0 or o.lr <= 0:
            raise ConfigError(f"{path}: {stage}.optim.steps, batch_size and lr must be > 0")
        if o.kind not in ("sgd", "adamw"):
            raise ConfigError(f"{path}: {stage}.optim.kind must be sgd or adamw, got {o.kind!r}")
    s = cfg.search
    if s.top_k <= 0 or s.population < s.top_k or s.generations <= 0:
        raise ConfigError(f"{path}: search needs 0 < top_k <= population and generations > 0")
    if not cfg.data.sources:
        raise ConfigError(f"{path}: data.sources is empty")
    return cfg


def stage_dir(run_dir: str | Path, stage: str, cfg: VLTFileConfig) -> Path:
    return Path(run_dir) / (cfg.retrain.name if stage == "retrain" else stage)


def stage_config(cfg: VLTFileConfig, stage: str, architecture: dict | None, init: str) -> StageConfig:
    section = cfg.supernet if stage == "supernet" else cfg.retrain
    language = cfg.retrain.language if stage == "retrain" else cfg.model.language
    model = dataclasses.replace(cfg.model, architecture=architecture, language=language)
    return StageConfig(seed=cfg.seed, threads=cfg.threads, stage=stage, model=model, data=cfg.data,
                       sampling=cfg.sampling, optim=section.optim, loss=cfg.loss, checkpoint=cfg.checkpoint,
                       logging=cfg.logging, init=init)
