"""``langtrack bench --runtime``: what a robot integrator asks before deploying, in one run.

Rows (docs/BENCHMARKS_RUNTIME.md, written with the command that made it):
- the full tracker step (ONNX Runtime, 1 thread) at 640x480, 1280x720 and 1920x1080, ROI and
  GLOBAL, with the ratio to 640x480; the same without the working-frame resize
  (``search.max_side: 0``) to show what it buys; OpenCV CSRT and KCF on the same frames;
- cold start: a new process from exec to its first tracking result (export cached, as on every
  start after the first; and with an empty cache, which exports the ONNX file once);
- resident memory of a tracker process that never imports torch (ONNX Runtime model + text encoder);
- camera -> target latency over DDS between processes (median, p95) beside the bare step, and the
  transport's share (same pipeline with a tracker that does nothing).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from langtrack_ros.files import atomic_write_text
from langtrack_ros.commands.bench_common import Row, _model_file, kept_section, measure, peak_rss_mb

RESOLUTIONS = ((640, 480), (1280, 720), (1920, 1080))
ROOT = Path(__file__).resolve().parents[2]


def run_runtime(args) -> int:
    with tempfile.TemporaryDirectory(prefix="langtrack-bench-rt-") as tmp:
        tmp = Path(tmp)
        model_path, note = _model_file(args.model, tmp)
        images, query, box = _sequence(args.data)
        rows = resolution_rows(model_path, images, query, box, args.frames, tmp)
        extra = [cold_start(model_path, tmp, cached=True), cold_start(model_path, tmp / "empty", cached=False),
                 torch_free_rss(model_path, images, query, tmp)]
        latency = dds_latency(model_path, tmp, args.frames)
    report = render(rows, extra, latency, note, args.frames)
    print(report)
    out = args.out if args.out != "docs/BENCHMARKS.md" else "docs/BENCHMARKS_RUNTIME.md"
    if out:
        # scripts/console_bench.py's section lives in the same file (its own command regenerates it)
        atomic_write_text(out, report + kept_section(Path(out), "<!-- console-viewers", "<!-- /console-viewers -->"))
        print(f"wrote {out}")
    return 0


def _sequence(data: str | None, count: int = 60):
    """Real frames, their sentence and the first box (CSRT/KCF need it); a synthetic clip otherwise."""
    from langtrack_ros.data.loaders import load_dataset

    root = Path(data) if data else ROOT.parent / "shared" / "data" / "real"
    if (root / "OTB_videos").is_dir():
        seq = load_dataset("otb99lang", root)[0]
        return [seq.image(i) for i in range(min(count, len(seq.frames)))], seq.sentence, seq.boxes[0]
    if data:
        raise FileNotFoundError(f"no OTB_videos folder under {root}")
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)], "the grey square", \
        np.array([280.0, 200.0, 80.0, 80.0])


def _resized(images, box, size):
    import cv2

    h, w = images[0].shape[:2]
    scale = np.array([size[0] / w, size[1] / h] * 2)
    return [cv2.resize(im, size, interpolation=cv2.INTER_LINEAR) for im in images], box * scale


def resolution_rows(model_path, images, query, box, frames, tmp, rounds: int = 10) -> list[Row]:
    """Tracker step per resolution and mode, with and without the working-frame resize; CSRT/KCF.
    The rows are timed interleaved (``rounds`` rounds of frames/rounds calls, row after row), so
    load from other jobs on a shared machine hits every row alike and the ratios stay comparable."""
    from langtrack_ros.evaluation.baselines import make_csrt, make_kcf
    from langtrack_ros.inference.backends import make_backend
    from langtrack_ros.builder import load_tracker

    backend = make_backend("onnxruntime", model_path, cache_dir=tmp, threads=1)
    cases = []  # (part, resolution, backend, step(i))
    for size in RESOLUTIONS:
        frames_at, box_at = _resized(images, box, size)
        res = f"{size[0]}x{size[1]}"
        for mode in ("roi", "global"):
            for max_side, label in ((None, ""), (0, ", no resize (max_side 0)")):
                opts = {} if max_side is None else {"max_side": max_side}
                tracker = load_tracker(model_path, backend=backend, mode=mode, **opts)
                tracker.set_query(query)
                cases.append((f"step {mode.upper()}{label}", res, "onnxruntime",
                              lambda i, t=tracker, f=frames_at: t.step(f[i % len(f)])))
        for name, make in (("OpenCV CSRT", make_csrt), ("OpenCV KCF", make_kcf)):
            tracker = make()
            tracker.set_query(query, box_at)
            tracker.step(frames_at[0])
            cases.append((name, res, "opencv", lambda i, t=tracker, f=frames_at: t.step(f[1 + i % (len(f) - 1)])))
    per_round = max(1, frames // rounds)
    times: dict[int, list] = {k: [] for k in range(len(cases))}
    for r in range(rounds):
        for k, (part, res, kind, step) in enumerate(cases):
            times[k].append(measure(lambda i: step(r * per_round + i), per_round, part, res, kind, 1).times_ms)
    rows = [Row(part, res, kind, 1, np.concatenate(times[k]), 0.0) for k, (part, res, kind, _) in enumerate(cases)]
    base = {r.part: r.median for r in rows if r.what == "640x480"}
    for r in rows:
        r.ratio = r.median / base[r.part]
    return rows


def _child(code: str, env: dict | None = None, timeout: int = 300) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; (seconds from exec to its last line, that line)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})})
    if done.returncode:
        raise RuntimeError(f"benchmark child failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout.strip().splitlines()[-1]


def cold_start(model_path: Path, cache: Path, cached: bool) -> tuple[str, str]:
    """Process start -> first TrackResult with the configured tracker (ONNX Runtime backend)."""
    code = (f"import numpy as np\nfrom langtrack_ros.builder import load_tracker\n"
            f"from langtrack_ros.inference.backends import make_backend\n"
            f"t = load_tracker({str(model_path)!r}, backend=make_backend('onnxruntime', {str(model_path)!r}, "
            f"cache_dir={str(cache)!r}))\nt.set_query('the person on the left')\n"
            f"r = t.step(np.zeros((480, 640, 3), np.uint8))\nprint(r.kappa)")
    if cached:
        _child(code)  # first run fills the cache
    seconds, _ = _child(code)
    what = "export cached (every start after the first)" if cached else "empty cache (first start: exports ONNX)"
    return f"cold start, {what}", f"{seconds:.2f} s"


def torch_free_rss(model_path: Path, images, query: str, tmp: Path) -> tuple[str, str]:
    """RSS of a process that tracks with ONNX Runtime only (``import torch`` made to fail)."""
    from langtrack_ros.inference.backends import cached_onnx
    from langtrack_ros.inference.onnx_export import export_text_encoder

    onnx_path = cached_onnx(model_path, tmp)
    text_path = tmp / "text_encoder.onnx"
    export_text_encoder(text_path)
    np.save(tmp / "frames.npy", np.stack(images[:20]))
    code = (f"import sys; sys.modules['torch'] = None\nimport numpy as np\n"
            f"from langtrack_ros.inference.ort_backend import OrtBackend, OrtTextEncoder\n"
            f"from langtrack_ros.tracking.tracker import MVLMTracker\n"
            f"t = MVLMTracker(OrtBackend({str(onnx_path)!r}), OrtTextEncoder({str(text_path)!r}))\n"
            f"t.set_query({query!r})\nframes = np.load({str(tmp / 'frames.npy')!r})\n"
            f"for i in range(200): t.step(frames[i % len(frames)])\n"
            f"print(int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024)")
    _, rss = _child(code)
    return "RSS of a torch-free tracker process (ORT model + ORT text encoder, after 200 steps)", f"{rss} MB"


def dds_latency(model_path: Path, tmp: Path, frames: int) -> dict:
    from langtrack_ros.dds.latency import measure_latency

    return measure_latency(model_path, tmp, frames=max(100, min(frames, 300)))


def render(rows: list[Row], extra: list[tuple[str, str]], latency: dict, note: str, frames: int) -> str:
    import datetime
    import platform
    import shlex

    command = "langtrack " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = ["# Runtime benchmarks (robot view)", "",
             f"Produced by `{command}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
             f"rows regenerate with that command.", "",
             f"- {note}",
             f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average at the end {load} "
             "(shared machine: compare rows of one run, not runs)",
             f"- {frames} timed calls per row after warm-up; frames: a real clip resized to each resolution "
             "(decoded and resized before timing); ratio = median / median of the same row at 640x480",
             f"- peak RSS of the bench process {peak_rss_mb():.0f} MB", "",
             "## Cost against camera resolution", "",
             "| tracker | frames | backend | median ms | p90 ms | FPS | ratio to 640x480 |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.part} | {r.what} | {r.backend} | {r.median:.2f} | {r.p90:.2f} | "
                     f"{1000.0 / r.median:.0f} | {r.ratio:.2f} |")
    lines += ["", "## Start-up and memory", "", "| what | value |", "|---|---:|"]
    lines += [f"| {what} | {value} |" for what, value in extra]
    lines += ["", "## Camera -> target latency over DDS (two processes, loopback)", "",
              latency["note"], "", "| pipeline | frames sent | targets | median ms | p95 ms |", "|---|---:|---:|---:|---:|"]
    for name, row in latency["rows"].items():
        lines.append(f"| {name} | {row['sent']} | {row['received']} | {row['median']:.2f} | {row['p95']:.2f} |")
    lines += ["", latency["summary"]]
    return "\n".join(lines) + "\n"
