"""``langtrack soup``: one model file from several training draws of one recipe (their uniform average).

    langtrack soup --out models/mvlm_default.safetensors runs/mvlm_real_s0/model.safetensors \\
        runs/mvlm_real_s1/model.safetensors runs/mvlm_real_s2/model.safetensors

The inputs are runs fine-tuned from one model file, usually one recipe with different
``--set data.seed=N``; runs with other settings are accepted, and the settings each one changed are
logged and recorded in the file. Refused, with the reason: another network, or weights too far
apart to share an initialisation. Why and how well it works: langtrack_ros/training/soup.py,
docs/TRAINING.md ("Several fine-tunes, one model").
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("soup", help="average model files trained from one init (a model soup)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="model files (.safetensors) of one recipe, two or more")
    parser.add_argument("--out", type=Path, required=True, help="the averaged model file to write")
    parser.set_defaults(func=run)


def run(args) -> int:
    from langtrack_ros.training.soup import uniform_soup

    out = uniform_soup(args.files, args.out)
    print(f"wrote {out}: the uniform average of {len(args.files)} model files")
    return 0
