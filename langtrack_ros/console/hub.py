"""The newest frame and a short history, shared by one writer and any number of viewers.

The tracking loop calls :meth:`Hub.publish` and never waits for a viewer: it replaces the newest
frame under a lock held for a few assignments, appends one confidence point and the frame's
relocalization events to bounded histories, and pokes the listeners (the web server's event
loop). A viewer always takes the newest frame: frames it was too slow for are skipped, never
queued. The plot points and events a slow viewer missed still reach it with the next frame it
gets (:meth:`Hub.since`), so dropping images never drops an event.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from langtrack_ros.tracking.result import Event, TrackResult

# The relocalization topic's reasons (adapters.conversions.event_reasons), as the page shows them.
REASONS = {Event.LOST: "low confidence", Event.QUERY_CHANGED: "query changed", Event.RECOVERED: "recovered"}


@dataclass
class Frame:
    """One published state: the image (shared, never modified) and what the page shows with it."""

    seq: int  # grows by one per publish (a new image, or a new query / pause state on the same image)
    image_id: int  # grows by one per new image: viewers encode each image once
    rgb: np.ndarray | None
    state: dict  # JSON-able: box, kappa, mode, found, query, paused, width, height, fps


def _finite(value) -> float | None:
    """JSON has no NaN (the page's JSON.parse would fail on the whole message)."""
    value = float(value)
    return value if np.isfinite(value) else None


def result_state(result: TrackResult | None) -> dict:
    if result is None:
        return {"box": None, "kappa": None, "mode": None, "found": None}
    box = [float(v) for v in result.box] if np.all(np.isfinite(result.box)) else None
    return {"box": box, "kappa": _finite(result.kappa), "mode": result.mode.value, "found": bool(result.found)}


class Hub:
    """Newest frame + bounded histories; thread-safe, O(1) per publish whatever the viewers do."""

    def __init__(self, history: int):
        self._lock = threading.Lock()
        self._latest = Frame(0, 0, None, {**result_state(None), "query": "", "paused": False})
        self._points: deque = deque(maxlen=history)  # (seq, kappa, found)
        self._events: deque = deque(maxlen=history)  # dicts: seq, time, reason, query, kappa
        self._listeners: list[Callable[[], None]] = []
        self._times: deque = deque(maxlen=30)  # publish times of new images: the tracker's FPS
        self.paused = False

    def listen(self, callback: Callable[[], None]) -> None:
        """``callback()`` after every publish; it must return at once (the server's threadsafe poke)."""
        self._listeners.append(callback)

    def publish(self, rgb: np.ndarray, result: TrackResult | None, query: str) -> int:
        """A new image and what the tracker made of it (``None``: not tracked: paused or no query)."""
        now = time.monotonic()
        with self._lock:
            seq = self._latest.seq + 1
            self._times.append(now)
            span = self._times[-1] - self._times[0]
            fps = (len(self._times) - 1) / span if span > 0 else 0.0
            state = {**result_state(result), "query": query, "paused": self.paused, "fps": round(fps, 1),
                     "width": int(rgb.shape[1]), "height": int(rgb.shape[0])}
            if result is not None and state["kappa"] is not None:
                self._points.append((seq, state["kappa"], bool(result.found)))
            if result is not None:
                self._events.extend({"seq": seq, "time": time.time(), "reason": REASONS[Event(e)], "query": query,
                                     "kappa": state["kappa"]} for e in result.events if Event(e) in REASONS)
            self._latest = Frame(seq, self._latest.image_id + 1, rgb, state)
        self._notify()
        return seq

    def update(self, **state) -> int:
        """The same image with a changed query or pause state, so every viewer sees the change."""
        with self._lock:
            old = self._latest
            self._latest = Frame(old.seq + 1, old.image_id, old.rgb, {**old.state, **state})
            seq = self._latest.seq
        self._notify()
        return seq

    def set_paused(self, paused: bool) -> None:
        self.paused = bool(paused)
        self.update(paused=self.paused)

    def latest(self) -> Frame:
        with self._lock:
            return self._latest

    def since(self, seq: int, upto: int) -> tuple[list, list]:
        """Plot points and events published after ``seq`` up to ``upto`` (what a viewer has not
        been sent yet, up to the frame it is sent now)."""
        with self._lock:
            return ([p for p in self._points if seq < p[0] <= upto],
                    [e for e in self._events if seq < e["seq"] <= upto])

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()
