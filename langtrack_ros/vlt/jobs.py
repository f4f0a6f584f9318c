"""The VLT stages as jobs with one interface (``train()``, ``request_stop()``, ``on_progress``), built
from config/train_vlt.yaml the same way for ``langtrack train vlt`` and the ROS training node.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from langtrack_ros.config import ConfigError
from langtrack_ros.vlt.arch import CHOICES, Architecture
from langtrack_ros.vlt.config import STAGES, VLTFileConfig, load_vlt_config, stage_config, stage_dir

LOG = logging.getLogger(__name__)


def resolve_architecture(cfg: VLTFileConfig, run_dir: Path) -> Architecture:
    """retrain.architecture: ``searched`` | ``uniform:<choice>`` | a json/yaml file."""
    spec, blocks = cfg.retrain.architecture, tuple(cfg.model.stage_blocks)
    if spec == "searched":
        path = stage_dir(run_dir, "search", cfg) / "architecture.json"
        if not path.is_file():
            raise FileNotFoundError(f"retrain.architecture=searched but {path} does not exist: run --stage search first")
        return Architecture.load(path, blocks)
    if spec.startswith("uniform:"):
        choice = spec.partition(":")[2]
        if choice not in CHOICES:
            raise ConfigError(f"retrain.architecture: unknown block choice {choice!r}; allowed: {list(CHOICES)}")
        return Architecture.uniform(choice, blocks)
    return Architecture.load(spec, blocks)


def supernet_model(cfg: VLTFileConfig, run_dir: Path) -> Path:
    path = stage_dir(run_dir, "supernet", cfg) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run --stage supernet first (or finish it with --resume)")
    return path


def retrain_init(cfg: VLTFileConfig, run_dir: Path) -> str:
    """retrain.init: ``supernet`` (its weights for the chosen units) | ``none`` | a VLT model file, so a
    shipped model can be trained further (a warm restart of the schedule) without its deleted run folder."""
    spec = cfg.retrain.init
    if spec == "supernet":
        return str(supernet_model(cfg, run_dir))
    if spec == "none":
        return ""
    if spec.endswith(".safetensors"):
        if not Path(spec).is_file():
            raise FileNotFoundError(f"retrain.init={spec}: no such model file")
        return spec
    raise ConfigError(f"retrain.init must be supernet, none or a .safetensors model file, got {spec!r}")


def build_vlt_job(stage: str, config: str | Path, run_dir: str | Path, resume: bool = False,
                  overrides: list[str] | None = None, export: str | Path | None = None, on_progress=None,
                  text_encoder=None):
    """The job for ``stage`` in ``<run_dir>/<stage>``; configuration errors raise before any work."""
    from langtrack_ros.vlt.search import SearchJob
    from langtrack_ros.vlt.train import VLTTrainer

    if stage not in STAGES:
        raise ConfigError(f"unknown VLT stage {stage!r}; one of {list(STAGES)}")
    cfg = load_vlt_config(config, overrides)
    run_dir = Path(run_dir)
    folder = stage_dir(run_dir, stage, cfg)
    if stage == "search":
        return SearchJob(cfg, folder, supernet_model(cfg, run_dir), resume=resume, text_encoder=text_encoder,
                         on_progress=on_progress)
    arch, init = None, ""
    if stage == "retrain":
        arch = resolve_architecture(cfg, run_dir).to_dict()
        init = retrain_init(cfg, run_dir)
    scfg = stage_config(cfg, stage, arch, init)
    return VLTTrainer(scfg, folder, resume=resume, export=export, on_progress=on_progress, text_encoder=text_encoder)


def describe(result) -> str:
    return json.dumps({"step": result.step, "completed": result.completed, "output": str(result.model_path),
                       "metrics": result.metrics}, default=str)
