"""What every adapter does with a query and a frame: one place, so the rclpy node, the DDS process,
the bag replayer and ``langtrack track`` behave the same (same query rules, same events, same
messages).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from langtrack_ros.adapters import conversions as conv
from langtrack_ros.adapters import topics
from langtrack_ros.tracking.result import TrackResult

log = logging.getLogger(__name__)


@dataclass
class Outputs:
    """Message fields for one processed frame: ROS type -> fields (events may be several)."""

    result: TrackResult
    target: dict
    detections: dict
    relocalization: list[dict] = field(default_factory=list)
    image: np.ndarray | None = None  # the decoded RGB frame (debug overlays)

    def messages(self) -> list[tuple[str, str, dict]]:
        """``(topic, ros_type, fields)`` in publishing order (topics relative, as the node uses them)."""
        types = topics.OUTPUTS
        out = [(topics.TARGET, types[topics.TARGET], self.target)]
        out += [(topics.RELOCALIZATION, types[topics.RELOCALIZATION], event) for event in self.relocalization]
        return out + [(topics.DETECTIONS, types[topics.DETECTIONS], self.detections)]


class TrackingSession:
    """Owns the tracker and the sentence in force; turns frames into message fields."""

    def __init__(self, tracker, initial_query: str = ""):
        self.tracker = tracker
        self.query = ""
        self.dropped = 0  # frames refused by process(): undecodable or the tracker raised
        # set_query may come from another thread than step (the operator console's server)
        self._lock = threading.RLock()
        if initial_query.strip():
            accepted, why = self.set_query(initial_query)
            if not accepted:  # the node / dds / replay keep serving and wait for a query
                log.warning("initial query: %s", why)

    def set_query(self, text: str, **extra) -> tuple[bool, str]:
        """Switch target; ``(accepted, why)``. Empty text is refused (it would silently drop the
        target); a sentence the tracker refuses (too long, unknown characters, a failing text
        encoder) keeps the previous one in force, so no adapter loses its target or its loop to a
        bad query. ``extra`` goes to the tracker (``init_box`` for box+language trackers)."""
        text = (text or "").strip()
        if not text:
            return False, "empty query ignored"
        try:
            with self._lock:
                self.tracker.set_query(text, **extra)
                self.query = text
        except Exception as exc:  # noqa: BLE001 - the one guard every adapter shares
            kept = f"; still tracking {self.query!r}" if self.query else ""
            return False, f"query refused ({type(exc).__name__}: {one_line(exc)}){kept}"
        log.info("tracking %r", text)
        return True, f"tracking {text!r}{truncation_note(self.tracker, text)}"

    def step(self, rgb: np.ndarray, header) -> Outputs | None:
        """Track one RGB frame; ``None`` while no query has been given (nothing to look for)."""
        with self._lock:
            if not self.query:
                return None
            result = self.tracker.step(rgb)
        return Outputs(
            result=result,
            target=conv.target_fields(result, self.query, header),
            detections=conv.detections_fields(result, self.query, header),
            relocalization=[conv.event_fields(result, self.query, header, r) for r in conv.event_reasons(result)],
        )

    def process(self, decode: Callable[[], np.ndarray], header,
                report: Callable[[str], None] | None = None) -> Outputs | None:
        """Decode and track one frame; whatever goes wrong (bad encoding, OpenCV, backend, CUDA)
        drops this frame with one line through ``report`` and never reaches the adapter's loop:
        a robot's tracker must survive any single frame. ``None``: dropped or no query yet."""
        try:
            rgb = decode()
        except Exception as exc:  # noqa: BLE001 - every adapter shares this one guard
            return self._drop(report, f"dropping frame: {type(exc).__name__}: {one_line(exc)}")
        try:
            outputs = self.step(rgb, header)
        except Exception as exc:  # noqa: BLE001
            return self._drop(report, f"tracking failed on this frame ({type(exc).__name__}: {one_line(exc)}); "
                                      "frame dropped")
        if outputs is not None:
            outputs.image = rgb
        return outputs

    def _drop(self, report, why: str) -> None:
        self.dropped += 1
        (report or log.error)(why)
        return None


def truncation_note(tracker, text: str) -> str:
    """What the reply says about a sentence longer than the text encoder reads (it keeps the
    first ``max_tokens`` tokens: tracking/text_encoder.py), naming the words that are used."""
    encoder = getattr(tracker, "text_encoder", None)
    count, limit = getattr(encoder, "token_count", None), getattr(encoder, "max_tokens", 0)
    try:
        if count is None or not limit or (total := count(text)) <= limit:
            return ""
        words, lo, hi = text.split(), 0, len(text.split())
        while lo < hi:  # the most leading words that fit (bisection: a sentence may have thousands)
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if count(" ".join(words[:mid])) <= limit else (lo, mid - 1)
    except Exception as exc:  # noqa: BLE001 - the query is in force already; only the note is lost
        log.debug("no truncation note: %s", exc)
        return ""
    return f" (too long: {total} tokens, the limit is {limit}; only {' '.join(words[:lo])!r} is used)"


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (OpenCV's span several): one log line per dropped frame."""
    return " ".join(str(exc).split())


def is_twin(last: tuple[str, tuple[int, int]] | None, current: tuple[str, tuple[int, int]]) -> bool:
    """True for the same frame arriving again on the other transport (raw vs compressed, same
    stamp): the only frames an adapter skips. Zero, repeated or backwards stamps on one transport
    (hand-made publishers, looping bags, sim-time resets) are real frames and are tracked."""
    return last is not None and last[0] != current[0] and last[1] == current[1] and current[1] != (0, 0)


class QueryOnce:
    """Both adapters read ``query`` twice: a reliable volatile reader (matches every publisher) and
    a reliable transient-local one, which also receives a query a latched publisher (``ros2 topic
    pub --once``) sent before discovery finished. Such a publisher reaches both readers; this keeps
    the second copy of a sample (same source time stamp and text) from switching the target twice."""

    def __init__(self, remember: int = 32):
        self.seen: deque = deque(maxlen=remember)

    def first(self, source_stamp_ns: int, text: str) -> bool:
        key = (source_stamp_ns, text)
        if key in self.seen:
            return False
        self.seen.append(key)
        return True

