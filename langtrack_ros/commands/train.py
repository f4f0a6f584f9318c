"""``langtrack train mvlm|vlt``: train a tracker network (resumable, exportable to models/).

VLT trains in three stages (``--stage supernet|search|retrain``), each a resumable job in
``<run-dir>/<stage>``; the later stages read the earlier ones' outputs from there.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

LOG = logging.getLogger("langtrack.train")
MODELS = ("mvlm", "vlt")


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a tracker network (MVLM, or VLT in three stages)",
                              description="Train MVLM on LangTrack-Synth and/or real datasets. Checkpoints are "
                                          "written atomically every N steps; --resume continues exactly.")
    p.add_argument("model", choices=MODELS, help="which network to train")
    p.add_argument("--stage", choices=("supernet", "search", "retrain"), default=None,
                   help="vlt only: supernet training, evolutionary search, or retraining the chosen architecture")
    p.add_argument("--config", type=Path, default=None,
                   help="training YAML (default config/train_<model>.yaml; mvlm with --resume: the run's saved config)")
    p.add_argument("--run-dir", type=Path, required=True, help="folder for checkpoints, tb/ logs and model.safetensors (vlt: one sub-folder per stage)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    p.add_argument("--steps", type=int, default=None, help="override optim.steps")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set loss.cm=0 (repeatable)")
    p.add_argument("--export", type=Path, default=None, help="also write the final model here (safetensors)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="data-parallel processes on this machine (one per GPU; gloo on CPU): re-runs this "
                        "command under torchrun --nproc_per_node N")
    p.set_defaults(func=run)


def _argv_without_nproc(argv: list[str]) -> list[str]:
    """The command line with ``--nproc N`` / ``--nproc=N`` removed (torchrun sets the world size)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


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


def run_vlt(args: argparse.Namespace) -> int:
    from langtrack_ros.paths import config_file
    from langtrack_ros.training.trainer import TrainingError
    from langtrack_ros.vlt.jobs import build_vlt_job, describe

    if args.stage is None:
        LOG.error("langtrack train vlt needs --stage supernet|search|retrain (run them in this order)")
        return 2
    overrides = list(args.overrides)
    if args.steps is not None:
        section = "supernet" if args.stage == "supernet" else "retrain"
        overrides.append(f"{section}.optim.steps={args.steps}")
    path = args.config or config_file("train_vlt")
    LOG.info("vlt %s: config %s -> run dir %s", args.stage, path, args.run_dir)
    try:
        result = build_vlt_job(args.stage, path, args.run_dir, args.resume, overrides, args.export).train()
    except TrainingError as exc:
        LOG.error("%s; the last good checkpoint is in %s", exc, args.run_dir)
        return 1
    if not result.completed:
        return 130
    LOG.info("done: %s", describe(result))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.model == "vlt":
        return run_vlt(args)
    if args.stage is not None:
        LOG.error("--stage is for vlt only")
        return 2
    if args.nproc < 1:
        LOG.error("--nproc must be >= 1, got %d", args.nproc)
        return 2
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        from langtrack_ros.training.distributed import launch_torchrun

        return launch_torchrun(args.nproc, _argv_without_nproc(sys.argv[1:]))
    from langtrack_ros.training import distributed
    from langtrack_ros.training.trainer import Trainer, TrainingError, load_train_config

    path = _config_path(args)
    cfg = load_train_config(path, args.overrides, args.steps)
    LOG.info("config %s -> run dir %s", path, args.run_dir)
    try:
        trainer = Trainer(cfg, args.run_dir, resume=args.resume, export=args.export)
        result = trainer.train()
    except TrainingError as exc:
        LOG.error("%s; the last good checkpoint is in %s/checkpoints", exc, args.run_dir)
        return 1
    distributed.shutdown(trainer.dist)
    if not result.completed:
        return 130
    if trainer.dist.is_main:
        LOG.info("done: %d steps, model %s, validation %s", result.step, result.model_path, result.metrics)
    return 0
