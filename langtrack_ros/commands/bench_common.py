"""What ``langtrack bench`` and ``langtrack bench --runtime`` share: a timed row and the model to
time. Its own module so that bench.py and bench_runtime.py import it, never each other at load."""
from __future__ import annotations

import dataclasses
import os
import resource
import time
from pathlib import Path

import numpy as np

WARMUP = 3


@dataclasses.dataclass
class Row:
    part: str
    what: str
    backend: str
    threads: int
    times_ms: np.ndarray
    rss_mb: float
    ratio: float | None = None

    @property
    def median(self) -> float:
        return float(np.median(self.times_ms))

    @property
    def mean(self) -> float:
        return float(np.mean(self.times_ms))

    @property
    def p90(self) -> float:
        return float(np.percentile(self.times_ms, 90))


def measure(fn, frames: int, part: str, what: str, backend: str, threads: int) -> Row:
    """Time ``fn(i)`` for ``frames`` calls after a short warm-up (first calls allocate and JIT)."""
    for i in range(WARMUP):
        fn(i)
    times = np.empty(frames)
    for i in range(frames):
        start = time.perf_counter()
        fn(WARMUP + i)
        times[i] = (time.perf_counter() - start) * 1000.0
    return Row(part, what, backend, threads, times, current_rss_mb())


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc); elsewhere the peak, which is what getrusage offers."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _model_file(model: str | None, tmp: Path) -> tuple[Path, str]:
    """The checkpoint to benchmark, and a note for the report header."""
    from langtrack_ros.commands.export import default_model_path
    from langtrack_ros.model_hash import sha256_file

    path = Path(model) if model else default_model_path()
    if path.is_file():
        return path, f"model `{path}` (sha256 {sha256_file(path)[:16]})"
    if model:
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    from langtrack_ros.tracking.network import load_mvlm_config

    return _random_model(None, tmp), (f"**randomly initialised model** of the default preset "
                                      f"({load_mvlm_config().search_size} px): no trained model at `{path}`")


def _random_model(preset: str | None, tmp: Path) -> Path:
    import torch

    from langtrack_ros.tracking.network import MVLM, load_mvlm_config
    from langtrack_ros.model_files import save_model

    cfg = load_mvlm_config(preset)
    torch.manual_seed(0)
    return save_model(MVLM(cfg, pretrained_tokenizer=False), cfg, tmp / f"random_{preset or 'default'}.safetensors")


def kept_section(path: Path, begin: str, end: str) -> str:
    """The section between ``begin`` and ``end`` that another command wrote into the same report file,
    so that regenerating this report keeps it ("" when absent)."""
    text = path.read_text() if path.is_file() else ""
    if begin not in text or end not in text:
        return ""
    return "\n" + begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
