"""Cached exports that cannot silently go bad.

Two defences for the ONNX file a checkpoint is exported to once and then reused:
1. A content hash beside it (``<file>.sha256``), written after the export was verified and
   checked every time the file is reused: flipped bytes inside the weights leave the file a
   valid ONNX graph with the right metadata, so only the bytes' own hash can tell.
2. :class:`NanGuard` around the backend built from it: a burst of non-finite outputs (every
   frame "not found") evicts the cache entry and rebuilds the backend once; if the fresh export
   does the same, the model itself is at fault and the log says so.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from langtrack_ros.model_hash import sha256_file
from langtrack_ros.files import atomic_write_text

log = logging.getLogger(__name__)
NAN_BURST = 3  # consecutive non-finite outputs that condemn a cached export


def hash_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def record_hash(path: Path) -> None:
    atomic_write_text(hash_path(path), sha256_file(path) + "\n")


def intact(path: Path) -> tuple[bool, str]:
    """(True, "") when ``path`` still has the bytes recorded beside it; else (False, why)."""
    recorded = hash_path(path)
    if not recorded.is_file():
        return False, f"no content hash {recorded.name} beside it"
    actual = sha256_file(path)
    if recorded.read_text().strip() != actual:
        return False, f"content sha256 {actual[:16]}... differs from the recorded one: the file is damaged"
    return True, ""


def evict(path: Path) -> None:
    for p in (path, hash_path(path)):
        p.unlink(missing_ok=True)


def all_finite(out: dict) -> bool:
    return all(np.isfinite(np.asarray(v)).all() for v in out.values())


class NanGuard:
    """A backend that rebuilds itself from a fresh export after a NaN burst (see module doc).

    Every other attribute (search_size, path, providers, ...) is the wrapped backend's."""

    def __init__(self, build: Callable[[], object], cached_file: Path):
        self._build, self._file = build, Path(cached_file)
        self._inner = build()
        self._bad, self._rebuilt = 0, False

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def run(self, *args, **kwargs) -> dict:
        out = self._inner.run(*args, **kwargs)
        if all_finite(out):
            self._bad = 0
            return out
        self._bad += 1
        if self._bad == NAN_BURST:
            self._on_burst()
        return out

    def _on_burst(self) -> None:
        if self._rebuilt:
            log.error("%d non-finite outputs in a row from a fresh export of %s: the model itself produces "
                      "NaN/inf (check the checkpoint or the input)", NAN_BURST, self._file)
            return
        log.error("%d non-finite outputs in a row from cached export %s: evicting it and exporting again",
                  NAN_BURST, self._file)
        skipped = getattr(self._inner, "skipped", {})
        evict(self._file)
        self._inner = self._build()
        self._inner.skipped = skipped
        self._rebuilt, self._bad = True, 0
