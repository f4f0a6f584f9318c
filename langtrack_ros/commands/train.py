"""``langtrack train mvlm``: train the MVLM network (resumable, exportable to models/)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

LOG = logging.getLogger("langtrack.train")
MODELS = ("mvlm", "vlt")


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a tracker network (MVLM)",
                              description="Train MVLM on LangTrack-Synth and/or real datasets. Checkpoints are "
                                          "written atomically every N steps; --resume continues exactly.")
    p.add_argument("model", choices=MODELS, help="which network to train (vlt: not implemented yet)")
    p.add_argument("--config", type=Path, default=None,
                   help="training YAML (default config/train_mvlm.yaml; with --resume: the run's saved config)")
    p.add_argument("--run-dir", type=Path, required=True, help="folder for checkpoints, tb/ logs and model.safetensors")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    p.add_argument("--steps", type=int, default=None, help="override optim.steps")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set loss.cm=0 (repeatable)")
    p.add_argument("--export", type=Path, default=None, help="also write the final model here (safetensors)")
    p.set_defaults(func=run)


def _config_path(args: argparse.Namespace) -> Path:
    from langtrack_ros.paths import config_file
    from langtrack_ros.training.trainer import RUN_CONFIG

    if args.config is not None:
        return args.config
    saved = args.run_dir / RUN_CONFIG
    if args.resume and saved.is_file():
        return saved
    if args.resume and (args.run_dir / "checkpoints").is_dir():
        # the packaged config may describe another model: resuming with it fails later, misleadingly
        raise ValueError(f"--resume: {saved} is missing, so the config this run was trained with is unknown; "
                         f"pass --config with that YAML (a copy is in any exported model's metadata)")
    return config_file("train_mvlm")


def run(args: argparse.Namespace) -> int:
    if args.model == "vlt":
        LOG.error("langtrack train vlt: not implemented yet (only mvlm can be trained)")
        return 2
    from langtrack_ros.training.trainer import Trainer, TrainingError, load_train_config

    path = _config_path(args)
    cfg = load_train_config(path, args.overrides, args.steps)
    LOG.info("config %s -> run dir %s", path, args.run_dir)
    try:
        result = Trainer(cfg, args.run_dir, resume=args.resume, export=args.export).train()
    except TrainingError as exc:
        LOG.error("%s; the last good checkpoint is in %s/checkpoints", exc, args.run_dir)
        return 1
    if not result.completed:
        return 130
    LOG.info("done: %d steps, model %s, validation %s", result.step, result.model_path, result.metrics)
    return 0
