"""Why does (or doesn't) the searched VLT architecture beat the fixed all-k3 one? A measurement.

The search ranks candidates by a proxy: the supernet's weights on that path (BatchNorm recalibrated),
tracked over the first ``search.val_frames`` frames of the fitness sequences. This script scores the
searched path, the all-k3 path and a few random paths with that same proxy, separately on the synth
and on the real fitness sequences, so one can see whether the proxy ranks all-k3 below the searched
path (then the ranking, not the budget, decides) and how far apart random paths are (the noise the
search has to beat).

    python scripts/vlt_search_check.py --config config/train_vlt_real.yaml --run-dir runs/vlt_real \\
        --out runs/vlt_real/search_check [--set key=value ...]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from langtrack_ros.vlt.arch import Architecture
    from langtrack_ros.vlt.config import load_vlt_config
    from langtrack_ros.vlt.search import SearchJob

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--run-dir", type=Path, required=True, help="the run with supernet/ and search/ done")
    ap.add_argument("--out", type=Path, required=True, help="scratch folder (the job writes its header there)")
    ap.add_argument("--random", type=int, default=4, help="random paths scored as a noise reference")
    ap.add_argument("--models", nargs="*", default=[], help="retrained model files scored on the same fitness set")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = load_vlt_config(args.config, args.overrides)
    job = SearchJob(cfg, args.out, args.run_dir / "supernet" / "model.safetensors")
    job._prepare()
    seqs, n_synth = job._val_sequences, cfg.search.val_sequences
    archs = {"searched": Architecture.load(args.run_dir / "search" / "architecture.json", job.blocks),
             "uniform:k3": Architecture.uniform("k3", job.blocks)}
    rng = np.random.default_rng(99)
    archs.update({f"random{i}": Architecture.random(rng, job.blocks) for i in range(args.random)})
    out = {}
    for name, arch in archs.items():
        t0 = time.time()
        parts = {}
        for part, subset in (("synth", seqs[:n_synth]), ("real", seqs[n_synth:])):
            job._val_sequences = subset
            parts[part] = job.fitness(arch) if subset else float("nan")
        n_real = len(seqs) - n_synth  # the search's fitness is the mean over all its sequences
        parts["all"] = (parts["synth"] * n_synth + (parts["real"] * n_real if n_real else 0.0)) / len(seqs)
        out[name] = parts
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in parts.items()) + f" ({time.time() - t0:.0f} s)",
              flush=True)
    for path in args.models:  # the retrained models on the very sequences and frames the proxy used
        out[path] = {part: _model_fitness(path, subset, job.text_encoder) for part, subset in
                     (("synth", seqs[:n_synth]), ("real", seqs[n_synth:]))}
        print(f"{path}: " + ", ".join(f"{k} {v:.4f}" for k, v in out[path].items()), flush=True)
    (args.out / "search_check.json").write_text(json.dumps(out, indent=1))


def _model_fitness(path: str, seqs: list, encoder) -> float:
    """The search's fitness (got10k success AUC, GT first box) of a retrained model file."""
    from langtrack_ros.evaluation import metrics
    from langtrack_ros.evaluation.harness import run_sequence
    from langtrack_ros.vlt.tracker import VLTTracker, load_vlt_settings
    from langtrack_ros.vlt.train import load_vlt

    tracker = VLTTracker(load_vlt(path), encoder, load_vlt_settings())
    aucs = [metrics.score_sequence(run.boxes, s.boxes, s.visible, "got10k", "honest", run.image_size).auc
            for s in seqs for run in [run_sequence(tracker, s)]]
    return float(np.mean(aucs)) if aucs else float("nan")


if __name__ == "__main__":
    main()
