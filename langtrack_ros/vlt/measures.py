"""What the architecture search measures per candidate: multiply-accumulates of a path, BatchNorm
statistics recalibrated for a path (SPOS: shared BN statistics fit no single path), and the plot of
fitness per generation.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from langtrack_ros.vlt.arch import Architecture


def count_mflops(model, arch: Architecture) -> float:
    """Multiply-accumulates (millions) of one template + one search pass along ``arch``."""
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            macs[0] += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, torch.nn.Linear):
            macs[0] += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    c = model.cfg
    try:
        with torch.no_grad():
            model.eval()
            vec = torch.zeros(1, c.text_dim) if c.language else None
            has = torch.ones(1, dtype=torch.bool) if c.language else None
            model(torch.zeros(1, 3, c.template_size, c.template_size), torch.zeros(1, 3, c.search_size, c.search_size),
                  torch.tensor([[0.25, 0.25, 0.5, 0.5]]), vec, has, arch)
    finally:
        for h in handles:
            h.remove()
    return macs[0] / 1e6


def recalibrate_bn(model, arch: Architecture, batches: list[dict], vectors) -> None:
    """Reset every BatchNorm's statistics and re-estimate them (cumulative mean) along ``arch``;
    a pretrained stem keeps its ImageNet statistics (it is shared by every path)."""
    stem = model.pretrained_stem()
    keep = set(stem.modules()) if stem is not None else set()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d) and m not in keep:
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for batch in batches:
            lang, has = vectors(batch["sentences"]) if model.cfg.language else (None, None)
            model(batch["template"], batch["search"], batch["template_boxes"], lang, has, arch)
    model.eval()


def plot_fitness(log_path: Path, out: Path) -> Path:
    """Every candidate's fitness per generation, and the best so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    gens = np.array([e["generation"] for e in entries])
    fits = np.array([e["fitness"] for e in entries])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(gens, fits, s=10, alpha=0.6, label="candidate")
    best = [fits[gens <= g].max() for g in sorted(set(gens))]
    ax.plot(sorted(set(gens)), best, "r-o", label="best so far")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (success AUC, val)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
