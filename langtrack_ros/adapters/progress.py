"""Training progress as the TrainingProgress message reports it: latest loss and an ETA.

Fed by the trainer's ``on_progress(step, total, parts)`` callback (from the training thread) and
read by the node's timer; the ETA uses the rate since this process started, so a resumed run
does not count the steps done before the restart as instant.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class Snapshot:
    step: int
    total_steps: int
    loss: float  # NaN until a step reported a loss
    eta_sec: float  # -1 while unknown


class ProgressMeter:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._first: tuple[int, float] | None = None
        self._step, self._total, self._loss = 0, 0, math.nan

    def update(self, step: int, total: int, parts: dict | None) -> None:
        """The trainer's ``on_progress`` callback; ``parts`` holds the loss terms (``total``)."""
        with self._lock:
            if self._first is None:
                self._first = (step, self.clock())
            self._step, self._total = step, total
            if parts is not None:
                self._loss = float(parts["total"])

    def snapshot(self) -> Snapshot:
        with self._lock:
            eta = -1.0
            if self._first is not None and self._total and self._step > self._first[0]:
                rate = (self._step - self._first[0]) / max(self.clock() - self._first[1], 1e-9)
                eta = max(self._total - self._step, 0) / rate
            return Snapshot(self._step, self._total, self._loss, eta)
