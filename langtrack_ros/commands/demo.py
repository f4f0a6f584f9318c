"""``langtrack demo``: the embedded default model on a generated sample with a query switch.

The sample comes from LangTrack-Synth's held-out test split (deterministic), so a fresh clone
needs no data download. Writes an annotated video, a snapshot PNG and prints the scores.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path


@dataclass
class DemoConfig:
    """config/demo.yaml (the one table of its defaults; a --config file is merged over it)."""

    split: str
    seed: int
    length: int
    min_switch_frame: int
    fps: float
    out: str
    snapshot_frames: tuple  # frames of the first query in the snapshot (switch frames are added)


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the default model on a bundled sample with a query switch")
    p.add_argument("--out", help="output folder (default: config/demo.yaml)")
    p.add_argument("--model", help="model file (default: the embedded models/mvlm_default.safetensors)")
    p.add_argument("--backend", help="auto | tensorrt | onnxruntime | torch (default: config/tracker.yaml)")
    p.add_argument("--seed", type=int, help="first synth sequence index to try")
    p.add_argument("--config", default=None, help="demo config (default: config/demo.yaml)")
    p.set_defaults(func=run)


def load_demo_config(path: str | Path | None = None) -> DemoConfig:
    """config/demo.yaml with the user's file ``path`` (if any) merged over it once."""
    from langtrack_ros.config import from_dict, load_merged

    return from_dict(DemoConfig, load_merged("demo", path), str(path or "config/demo.yaml"))


def pick_sample(cfg: DemoConfig):
    """The first sequence from ``cfg.seed`` on whose query switch comes late enough to show it."""
    from langtrack_ros.data.synth.generator import generate_sequence

    for index in range(cfg.seed, cfg.seed + 200):
        seq = generate_sequence(index, cfg.split, length=cfg.length)
        if seq.switches and seq.switches[0].frame >= cfg.min_switch_frame:
            return seq.to_sequence()
    raise RuntimeError(f"no synth {cfg.split} sequence with a query switch after frame {cfg.min_switch_frame}")


def run(args: argparse.Namespace) -> int:
    cfg = load_demo_config(args.config)
    if args.seed is not None:
        cfg.seed = args.seed
    out = Path(args.out or cfg.out)
    seq = pick_sample(cfg)
    from langtrack_ros.builder import load_tracker

    tracker = load_tracker(args.model, args.backend)
    print(f"sample {seq.name}: {len(seq)} frames, query {seq.sentence!r}; "
          + ", ".join(f"switch at frame {s.frame + 1} to {s.sentence!r}" for s in seq.switches))
    from langtrack_ros.evaluation.playback import track_and_record, print_scores

    switch = seq.switches[0].frame
    run_ = track_and_record(tracker, seq, out, fps=cfg.fps,
                            snapshot=(*cfg.snapshot_frames, switch, switch + 5))
    print_scores(run_, seq)
    print(f"video: {out / (seq.name + '.mp4')}  snapshot: {out / 'snapshot.png'}")
    return 0
