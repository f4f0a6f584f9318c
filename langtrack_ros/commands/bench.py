"""``langtrack bench``: per-frame latency of every inference path, side by side, in one run.

    langtrack bench [--model M] [--sizes tiny small base] [--frames N] [--out docs/BENCHMARKS.md]

Measures (median and p90 ms, FPS, ONNX Runtime / torch latency ratio, resident memory):
text encoding (torch MiniLM vs ONNX Runtime, a new query each call so the cache never hits),
the network forward (torch vs ONNX Runtime, 1 and 2 threads; per size preset when no model is
given) and the full tracker step in ROI and GLOBAL mode on real frames at the default tracker
config. Without a trained model it benchmarks a randomly initialised model of the default
preset and says so. Prints a Markdown table and writes it with the exact command line.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from langtrack_ros import environment
from langtrack_ros.files import atomic_write_text
from langtrack_ros.commands.bench_common import (  # noqa: F401 - Row etc. are this command's API
    WARMUP, Row, _model_file, _random_model, current_rss_mb, kept_section, measure, peak_rss_mb)

TEXT_TOKENS = 10  # a typical query ("the man in the red jacket on the left") incl. [CLS]/[SEP]
COLOURS = ("red", "white", "dark", "small", "tall", "blue")
NOUNS = ("car", "person", "dog", "bike", "man in a jacket", "woman with a bag")
PRIOR_QUERIES = ("the person walking", "the bird")  # an Open Images category and a COCO-only one
PART_QUERY = "the hand of the person"  # a body part: the pose model on the best person boxes (shipped profile only)
FLOAT_NETS = "detector=ssd_mobilenetv2_oidv4.onnx,coco_detector=ssd_mobilenetv2_coco.onnx"
INT8_NETS = "detector=ssd_mobilenetv2_oidv4_int8.onnx,coco_detector=ssd_mobilenetv2_coco_int8.onnx"  # quantize_priors.py
# prior settings benchmarked: the shipped config/priors.yaml, the float nets on every ROI frame (the
# default before issue 14 item 8), the int8 nets alone, the faster schedules of docs/PRIORS.md, and the
# shipped settings with the prior nets after MVLM's network instead of beside it (priors.parallel), and
# with every class head of the SSDs computed instead of the query's (priors.query_heads)
PRIOR_PROFILES = (("priors", "all"), ("priors, every class head", "all,query_heads=false"),
                  ("priors, nets after the network (not parallel)", "all,parallel=false"),
                  ("priors float nets every frame", f"all,{FLOAT_NETS},roi_every=1"),
                  ("priors int8 nets every frame", f"all,{INT8_NETS},roi_every=1"),
                  ("priors fast", f"all,{FLOAT_NETS},roi_every=4,carry_min_kappa=0.3"),
                  ("priors every 4th", f"all,{FLOAT_NETS},roi_every=4,carry_min_kappa=0"),
                  ("priors int8 nets every 4th at kappa >= 0.4", f"all,{INT8_NETS},roi_every=4,carry_min_kappa=0.4"))
PLACES = ("on the left", "crossing the road", "near the tree", "in front", "behind the van", "at the back")


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="latency of text encoder, network and tracker per backend",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model checkpoint (default: the tracker config's, else random init)")
    parser.add_argument("--sizes", nargs="+", help="MVLM size presets for the network rows (random init); "
                        "default: the model's own config")
    parser.add_argument("--frames", type=int, default=200, help="timed calls per row (after 3 warm-up calls)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts for the network")
    parser.add_argument("--data", help="OTB99-LANG folder for real frames (default: shared/data/real if present)")
    parser.add_argument("--out", default="docs/BENCHMARKS.md", help="Markdown report ('' = print only)")
    parser.add_argument("--runtime", action="store_true", help="robot rows instead (resolution, CSRT/KCF, cold "
                        "start, torch-free RSS, DDS latency) -> docs/BENCHMARKS_RUNTIME.md (bench_runtime.py)")
    parser.set_defaults(func=run)


def run(args) -> int:
    if getattr(args, "runtime", False):
        from langtrack_ros.commands.bench_runtime import run_runtime

        return run_runtime(args)
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="langtrack-bench-") as tmp:
        tmp = Path(tmp)
        model_path, model_note = _model_file(args.model, tmp)
        rows = bench_text_encoder(args.frames, tmp)
        for preset, path in _network_models(model_path, args.sizes, tmp):
            rows += bench_network(path, preset, args.frames, args.threads, tmp)
        rows += bench_tracker(model_path, args.frames, *_frames(args.data), tmp)
        rows += bench_priors(model_path, args.frames, *_frames(args.data), tmp)
    _set_ratios(rows)
    report = render(rows, model_note, args.frames)
    print(report)
    if args.out:
        # scripts/vlt_pyramid_bench.py's section lives in the same file (its own command regenerates it)
        kept = kept_section(Path(args.out), "<!-- vlt-pyramid", "<!-- /vlt-pyramid -->")
        atomic_write_text(args.out, report + kept)
        print(f"wrote {args.out}")
    return 0


def _network_models(model_path: Path, sizes: list[str] | None, tmp: Path):
    if not sizes:
        yield model_path.stem, model_path
        return
    for preset in sizes:
        yield preset, _random_model(preset, tmp)


def _queries(n: int) -> list[str]:
    """Distinct realistic queries, so the encoder's cache never answers."""
    return [f"the {COLOURS[i % 6]} {NOUNS[i // 6 % 6]} {PLACES[i // 36 % 6]} number {i}" for i in range(n)]


def bench_text_encoder(frames: int, tmp: Path) -> list[Row]:
    from langtrack_ros.inference.onnx_export import export_text_encoder
    from langtrack_ros.inference.ort_backend import OrtTextEncoder
    from langtrack_ros.tracking.text_encoder import TextEncoder

    torch_encoder = TextEncoder()
    export_text_encoder(tmp / "text_encoder.onnx", encoder=torch_encoder)
    queries = _queries(frames + WARMUP)
    rows = []
    for name, encoder in (("torch", torch_encoder), ("onnxruntime", OrtTextEncoder(tmp / "text_encoder.onnx"))):
        rows.append(measure(lambda i: encoder.encode(queries[i]), frames, "text encoder", "MiniLM, new query",
                            name, 1))
    return rows


def bench_network(model_path: Path, label: str, frames: int, threads: list[int], tmp: Path) -> list[Row]:
    import torch

    from langtrack_ros.inference.backends import cached_onnx
    from langtrack_ros.inference.ort_backend import OrtBackend
    from langtrack_ros.inference.torch_backend import TorchBackend
    from langtrack_ros.model_files import load_model

    torch_backend = TorchBackend(load_model(model_path))
    onnx_path = cached_onnx(model_path, tmp)
    size = torch_backend.search_size
    rng = np.random.default_rng(0)
    search = rng.random((1, 3, size, size), dtype=np.float32)
    tokens = rng.standard_normal((1, TEXT_TOKENS, 384), dtype=np.float32)
    mask = np.ones((1, TEXT_TOKENS), dtype=bool)
    what = f"forward {label} {size}px"
    rows = []
    for n in threads:
        torch.set_num_threads(n)
        rows.append(measure(lambda i: torch_backend.run(search, tokens, mask), frames, "network", what, "torch", n))
        ort_backend = OrtBackend(onnx_path, threads=n)
        rows.append(measure(lambda i: ort_backend.run(search, tokens, mask), frames, "network", what,
                            "onnxruntime", n))
    torch.set_num_threads(1)
    return rows


def bench_tracker(model_path: Path, frames: int, images: list[np.ndarray], query: str, tmp: Path) -> list[Row]:
    from langtrack_ros.inference.backends import make_backend
    from langtrack_ros.builder import load_tracker

    rows = []
    h, w = images[0].shape[:2]
    for kind in ("torch", "onnxruntime"):
        backend = make_backend(kind, model_path, cache_dir=tmp, threads=1)
        for mode in ("roi", "global"):
            tracker = load_tracker(model_path, backend=backend, mode=mode, priors="none")
            tracker.set_query(query)
            rows.append(measure(lambda i: tracker.step(images[i % len(images)]), frames, "tracker step",
                                f"{mode.upper()} mode, {w}x{h} frames, no priors", kind, 1))
    return rows


def bench_priors(model_path: Path, frames: int, images: list[np.ndarray], query: str, tmp: Path) -> list[Row]:
    """The full ONNX Runtime step at 640x480 without and with the real-world priors (config/priors.yaml,
    and its fast schedule), ROI and GLOBAL mode, for an Open Images category ("person") and a
    COCO-only one ("bird"), and with the shipped priors for a body part (the pose model). Threads
    "network+priors": everything on one thread, and the shipped configuration (tracker.yaml threads
    for the network, priors.yaml threads, not spinning, for the prior nets). Ratio = with priors /
    without."""
    import cv2

    from langtrack_ros.builder import build_priors, load_tracker
    from langtrack_ros.inference.backends import make_backend
    from langtrack_ros.tracking.tracker import load_settings

    vga = [cv2.resize(im, (640, 480), interpolation=cv2.INTER_LINEAR) for im in images]
    configured = build_priors("all").cfg.threads
    rows = []
    for net_threads, prior_threads in ((1, 1), (load_settings().threads, configured)):
        backend = make_backend("onnxruntime", model_path, cache_dir=tmp, threads=net_threads)
        label = f"{net_threads}+{prior_threads}"
        for mode in ("roi", "global"):
            plain = load_tracker(model_path, backend=backend, mode=mode, priors="none")
            plain.set_query(PRIOR_QUERIES[0])
            rows.append(measure(lambda i: plain.step(vga[i % len(vga)]), frames, "full step",
                                f"{mode.upper()} mode, 640x480, no priors", "onnxruntime", label))
            base = rows[-1]
            runs = [*itertools.product(PRIOR_PROFILES, PRIOR_QUERIES), (PRIOR_PROFILES[0], PART_QUERY)]
            for (name, parts), text in runs:
                tracker = load_tracker(model_path, backend=backend, mode=mode, priors="none")
                tracker.priors = build_priors(parts, threads=prior_threads)
                tracker.set_query(text)
                tracker.priors.wait_heads()  # the steady state: the query's cut class heads in use
                rows.append(measure(lambda i: tracker.step(vga[i % len(vga)]), frames, "full step",
                                    f"{mode.upper()} mode, 640x480, {name}, \"{text}\"", "onnxruntime", label))
                rows[-1].ratio = rows[-1].mean / base.mean
    return rows


def _frames(data: str | None, count: int = 60) -> tuple[list[np.ndarray], str]:
    """Real frames and their sentence when available (decoded up front so decoding is not timed)."""
    from langtrack_ros.data.loaders import load_dataset

    root = Path(data) if data else Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
    if (root / "OTB_videos").is_dir():
        seq = load_dataset("otb99lang", root)[0]
        return [seq.image(i) for i in range(min(count, len(seq.frames)))], seq.sentence
    if data:
        raise FileNotFoundError(f"no OTB_videos folder under {root}")
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)], "the grey square"


def _set_ratios(rows: list[Row]) -> None:
    """ONNX Runtime latency / torch latency for rows measuring the same thing with the same threads."""
    torch_rows = {(r.part, r.what, r.threads): r for r in rows if r.backend == "torch"}
    for row in rows:
        ref = torch_rows.get((row.part, row.what, row.threads))
        if row.backend != "torch" and ref is not None:
            row.ratio = row.median / ref.median


def render(rows: list[Row], model_note: str, frames: int) -> str:
    command = "langtrack " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [
        "# Inference benchmarks", "",
        f"Produced by `{command}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.", "",
        f"- {model_note}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average at the end {load} "
        f"(shared machine: compare rows of one run, not runs)",
        f"- {environment.describe(environment.record())} {frames} timed calls per row "
        f"after {WARMUP} warm-up calls; text length {TEXT_TOKENS} tokens for the network rows",
        "- ratio = ONNX Runtime median / torch median (below 1: ONNX Runtime is faster); in the 'full step' "
        "rows: with priors / without priors (means); their threads column is network+prior nets",
        f"- RSS = resident memory of the whole bench process after the row (everything loaded so far); "
        f"peak RSS of the run {peak_rss_mb():.0f} MB (includes the ONNX exports)",
        "- FPS = 1000 / mean ms (throughput: the prior nets run on some frames only, so the median alone "
        "would hide their cost)", "",
        "| part | what | backend | threads | median ms | mean ms | p90 ms | FPS | ratio | RSS MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        lines.append(f"| {r.part} | {r.what} | {r.backend} | {r.threads} | {r.median:.2f} | {r.mean:.2f} | "
                     f"{r.p90:.2f} | {1000.0 / r.mean:.0f} | {ratio} | {r.rss_mb:.0f} |")
    return "\n".join(lines) + "\n"
