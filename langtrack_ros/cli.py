"""The ``langtrack`` command. Each subcommand lives in ``langtrack_ros/commands/<name>.py``.

A command module defines ``register(subparsers)`` that adds its parser and sets ``func``;
heavy imports (torch, cv2) happen inside ``func`` so ``langtrack --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from langtrack_ros.inference.backends import BackendUnavailable  # light: no torch, no onnx

COMMANDS = ["demo", "track", "eval", "synth", "train", "ablation", "vlt_ablation", "export", "bench", "replay", "dds",
            "recording", "console"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtrack", description="Language-only visual tracking (MVLM) tools")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"langtrack_ros.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError) as exc:
        logging.getLogger("langtrack").error("%s", exc)
        return 2
    except BackendUnavailable as exc:  # a backend that cannot run here: one line, not a traceback
        logging.getLogger("langtrack").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
