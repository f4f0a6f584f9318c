#!/usr/bin/env python3
"""Per-frame MVLM forward latency and parameter count for the size presets in config/mvlm_model.yaml.

Measures what the tracker pays per frame (visual tokenizer + joint transformer + head, batch 1,
torch eval mode, no grad) with 1 and 2 CPU threads; the text encoder runs once per query and is
reported separately. Prints a Markdown table. The machine is shared, so the median and the best
of N runs are both shown: the best is the closest to an idle machine.

    python scripts/profile_network.py [--presets tiny small base] [--runs 30] [--threads 1 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from langtrack_ros.tracking.network import MVLM, count_parameters, load_mvlm_config, preset_names

TEXT_TOKENS = 10  # a typical query ("the man in the red jacket on the left") incl. [CLS]/[SEP]


def time_call(fn, runs: int, warmup: int = 3) -> tuple[float, float]:
    """(median, best) wall time of fn() in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def profile_preset(name: str, runs: int, threads: list[int]) -> dict:
    cfg = load_mvlm_config(name)
    model = MVLM(cfg, pretrained_tokenizer=False).eval()
    search = torch.rand(1, 3, cfg.search_size, cfg.search_size)
    tokens = torch.randn(1, TEXT_TOKENS, cfg.text_dim)
    mask = torch.ones(1, TEXT_TOKENS, dtype=torch.bool)
    row = {"preset": name, "cfg": cfg, "params": count_parameters(model)}
    for n in threads:
        torch.set_num_threads(n)
        with torch.no_grad():
            row[n] = time_call(lambda: model(search, tokens, mask), runs)
    return row


def profile_text_encoder(runs: int) -> tuple[float, float] | None:
    try:
        from langtrack_ros.tracking.text_encoder import TextEncoder

        encoder = TextEncoder()
    except ModuleNotFoundError:
        return None
    torch.set_num_threads(1)
    queries = iter(f"the man in the red jacket number {i}" for i in range(runs + 10))
    return time_call(lambda: encoder.encode(next(queries)), runs)  # new text each call: no cache hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None, help="default: all presets")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args()
    default = load_mvlm_config()
    header = "| preset | search | grid | width | depth | tokenizer | params (M) | " + " | ".join(
        f"{n} thread{'s' if n > 1 else ''} median/best (ms)" for n in args.threads) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name in args.presets or preset_names():
        row = profile_preset(name, args.runs, args.threads)
        cfg = row["cfg"]
        label = f"{name} (default)" if cfg == default else name
        timings = " | ".join(f"{row[n][0]:.1f} / {row[n][1]:.1f}" for n in args.threads)
        print(f"| {label} | {cfg.search_size} | {cfg.grid} | {cfg.width} | {cfg.depth} | {cfg.tokenizer} | "
              f"{row['params'] / 1e6:.2f} | {timings} |", flush=True)
    text = profile_text_encoder(min(args.runs, 20))
    if text:
        print(f"\ntext encoder (MiniLM-L6, once per query, 1 thread): median {text[0]:.1f} ms, best {text[1]:.1f} ms")


if __name__ == "__main__":
    main()
