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
            "recording", "console", "model_hash", "soup"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtrack", description="Language-only visual tracking (MVLM) tools")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"langtrack_ros.commands.{name}").register(sub)
    return parser


def quiet_progress_bars(verbose: bool) -> None:
    """transformers draws a "Loading weights" bar when it loads the text encoder: noise in the output
    of demo/track/eval (and in logs a robot keeps). Shown only with --verbose."""
    import os

    if verbose:
        return
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when transformers is first imported
    if "transformers" in sys.modules:  # already imported (tests, embedding): switch it off directly
        sys.modules["transformers"].utils.logging.disable_progress_bar()


def _one_line(exc: BaseException) -> str:
    """The error as one log line (OpenCV and others put newlines in their messages)."""
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_progress_bars(args.verbose)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError) as exc:
        logging.getLogger("langtrack").error("%s", _one_line(exc))
        return 2
    except OSError as exc:  # disk full, read-only, no permission: path and errno, not a traceback
        from langtrack_ros.files import describe

        logging.getLogger("langtrack").error("%s", describe(exc))
        return 2
    except BackendUnavailable as exc:  # a backend that cannot run here: one line, not a traceback
        logging.getLogger("langtrack").error("%s", exc)
        return 2
    except Exception as exc:  # a library that wraps a failed write (sqlite3 in rosbags, ...): one line
        from langtrack_ros.files import describe, find_write_failure

        failure = find_write_failure(exc, getattr(exc, "filename", None) or "(a file)")
        if failure is None:
            raise  # a bug: the traceback is what a developer needs
        logging.getLogger("langtrack").error("%s", describe(failure))
        return 2


if __name__ == "__main__":
    sys.exit(main())
