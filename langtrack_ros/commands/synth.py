"""``langtrack synth``: write a LangTrack-Synth split in the LaSOT layout (and ROS 2 bags)."""
from __future__ import annotations

import argparse


from langtrack_ros.data.synth.settings import SPLITS


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="generate a LangTrack-Synth split (LaSOT layout, optional ROS 2 bags)")
    p.add_argument("--split", required=True, choices=SPLITS)
    p.add_argument("--out", required=True, help="output folder (LaSOT layout: <out>/<class>/<class>-<id>/)")
    p.add_argument("--num", type=int, default=None, help="number of sequences (default: 20, or the split size if smaller)")
    p.add_argument("--seed-offset", type=int, default=0, help="index of the first sequence in the split")
    p.add_argument("--length", type=int, default=None, help="frames per sequence (default: the split's range)")
    p.add_argument("--bags", action="store_true", help="also write ROS 2 bags under OUT/bags")
    p.add_argument("--config", default=None, help="synth config YAML (default: config/synth.yaml)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from langtrack_ros.data.bag_export import export_bag
    from langtrack_ros.data.synth import SynthConfig, generate_sequence
    from langtrack_ros.data.synth.export import write_sequence

    cfg = SynthConfig.load(args.config)
    spec = cfg.split(args.split)
    num = args.num if args.num is not None else min(20, spec.count)
    if num < 1 or args.seed_offset < 0 or args.seed_offset + num > spec.count:
        raise ValueError(f"--seed-offset {args.seed_offset} + --num {num} must lie within the "
                         f"{spec.count} sequences of split {args.split!r}")
    out = Path(args.out)
    frames = switches = invisible = 0
    for index in tqdm(range(args.seed_offset, args.seed_offset + num), desc=f"synth {args.split}", unit="seq"):
        seq = generate_sequence(index, args.split, cfg, length=args.length)
        write_sequence(seq, out, cfg.jpeg_quality)
        if args.bags:
            export_bag(seq, out / "bags", cfg.fps)
        frames += len(seq)
        switches += len(seq.switches)
        invisible += int(np.sum(~seq.visible))
    print(f"synth {args.split}: {num} sequences, {frames} frames, {switches} query switches, "
          f"{invisible / max(frames, 1):.1%} frames target invisible -> {out}"
          + (f" (bags in {out / 'bags'})" if args.bags else ""))
    return 0
