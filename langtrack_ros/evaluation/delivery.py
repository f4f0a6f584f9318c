"""How bag frames reach the tracker: all of them in order (repeatable evaluation), or at their
recorded times through a newest-frame-only slot (``realtime``), as a camera feeds the live node:
a frame that arrives while the tracker is still busy waits in the slot, and a newer frame
replaces it (the older one is dropped, like a depth-1 BEST_EFFORT subscription)."""
from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator


class Delivery:
    """Feeds ``(kind, timestamp_ns, index, payload)`` items to ``on_image`` / ``on_query``.

    ``index`` numbers the images in bag order; queries are never dropped (reliable topic)."""

    def __init__(self, on_image: Callable, on_query: Callable, on_drop: Callable[[int], None],
                 realtime: bool = False, speed: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        if speed <= 0:
            raise ValueError(f"replay speed must be > 0, got {speed}")
        self.on_image, self.on_query, self.on_drop = on_image, on_query, on_drop
        self.realtime, self.speed, self.clock, self.sleep = realtime, speed, clock, sleep
        self.dropped = 0

    def run(self, items: Iterable[tuple[str, int, int, object]]) -> None:
        if not self.realtime:
            for kind, stamp, index, payload in items:
                (self.on_image(index, stamp, payload) if kind == "image" else self.on_query(stamp, payload))
            return
        self._paced(iter(items))

    def _paced(self, items: Iterator) -> None:
        slot = None  # (index, stamp, payload) waiting for the tracker
        start_wall, start_bag = self.clock(), None
        for kind, stamp, index, payload in items:
            start_bag = stamp if start_bag is None else start_bag
            due = start_wall + (stamp - start_bag) / 1e9 / self.speed
            while slot is not None and self.clock() < due:  # tracker free before the next arrival
                self.on_image(*slot)
                slot = None
            if self.clock() < due:
                self.sleep(due - self.clock())
            if kind == "query":
                self.on_query(stamp, payload)
                continue
            if slot is not None:  # the tracker was too slow for the frame in the slot
                self.dropped += 1
                self.on_drop(slot[0])
            slot = (index, stamp, payload)
        if slot is not None:
            self.on_image(*slot)
