"""What an adapter adds to put its tracker on the page, and the tracking loop of ``langtrack console``.

The tracker never waits for the web server: frames go through :meth:`Console.track` (the session's
own ``process``, then one :meth:`Hub.publish`), on whatever thread the adapter tracks on (the
loop thread here, rclpy's executor in the node, the DDS loop). Queries typed on the page go to
the adapter's own query control (``TrackingSession.set_query``: the topic's and the service's
rules), called from the server's thread; the session's lock keeps it between two frames.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from langtrack_ros.adapters.session import Outputs, TrackingSession
from langtrack_ros.console.hub import Hub

log = logging.getLogger(__name__)


@dataclass
class ConsoleSettings:
    """config/console.yaml (the one table of its defaults); see that file for each key."""

    host: str
    port: int
    token: str
    jpeg_quality: int
    stream_max_side: int
    stream_fps: float
    history: int
    pace: bool
    loop: bool


def load_console_settings(path: str | Path | None = None, **overrides) -> ConsoleSettings:
    """config/console.yaml, the user's file merged over it, then non-None ``overrides`` (flags)."""
    from langtrack_ros.config import from_dict, load_merged

    data = load_merged("console", path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(ConsoleSettings, data, str(path or "config/console.yaml"))


class Console:
    """The page's hub and server. ``apply_query(text) -> (accepted, why)`` is the adapter's control."""

    def __init__(self, settings: ConsoleSettings, apply_query: Callable[[str], tuple[bool, str]]):
        from langtrack_ros.console.server import ConsoleServer  # aiohttp only where a page is served

        self.hub = Hub(settings.history)
        self.server = ConsoleServer(self.hub, apply_query, settings.host, settings.port, settings.token,
                                    settings.jpeg_quality, settings.stream_max_side, settings.stream_fps)

    @property
    def paused(self) -> bool:
        return self.hub.paused

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def track(self, session: TrackingSession, decode: Callable[[], np.ndarray], header,
              report: Callable[[str], None] | None = None) -> Outputs | None:
        """``session.process`` while not paused, untracked while paused; the frame goes to the page
        either way (also before the first query, so the operator sees what to describe)."""
        seen: list[np.ndarray] = []

        def keep() -> np.ndarray:
            seen.append(decode())
            return seen[-1]

        if self.paused:
            try:
                keep()
            except Exception as exc:  # noqa: BLE001 - the session's own guard is not called while paused
                (report or log.error)(f"dropping frame: {type(exc).__name__}: {exc}")
            outputs = None
        else:
            outputs = session.process(keep, header, report)
        if seen:
            self.hub.publish(seen[-1], outputs.result if outputs is not None else None, session.query)
        return outputs

    def watch(self, session: TrackingSession) -> "Watched":
        return Watched(session, self)


def node_console(values: dict, apply_query: Callable[[str], tuple[bool, str]],
                 report: Callable[[str], None]) -> Console | None:
    """The rclpy node's page when its parameter ``console.enabled`` is set (``console.config``: a
    file merged over config/console.yaml). A page that cannot start is one log line; the node goes on."""
    if not values.get("console.enabled"):
        return None
    try:
        console = Console(load_console_settings(values.get("console.config") or None), apply_query)
        console.start()
    except Exception as exc:  # noqa: BLE001 - the robot's tracker matters more than its page
        report(f"operator console not started: {type(exc).__name__}: {exc}")
        return None
    return console


class Watched:
    """A session whose frames also reach the page: for adapters that call ``session.process``
    themselves (the DDS process, the rclpy node). Everything else is the session's own."""

    def __init__(self, session: TrackingSession, console: Console):
        self._session, self._console = session, console

    def process(self, decode, header, report=None) -> Outputs | None:
        return self._console.track(self._session, decode, header, report)

    def __getattr__(self, name):
        return getattr(self._session, name)


@dataclass
class Item:
    """One thing a recorded or live source delivers, in order."""

    kind: str  # "image" or "query"
    t: float  # media time in seconds (pacing)
    payload: object  # image: a decode() callable; query: the text
    header: object  # what the session puts in the messages (None: no ROS header)


class Player:
    """Plays a source through the console: paced at recorded times when ``pace`` (frames the
    tracker is too slow for are skipped, as on a robot), held while paused unless the source is
    live (a camera keeps streaming and its frames are shown untracked)."""

    def __init__(self, console: Console, session: TrackingSession, pace: bool, live: bool):
        self.console, self.session, self.pace, self.live = console, session, pace, live
        self.tracked = self.skipped = 0

    def run(self, items: Iterable[Item], stop: threading.Event, max_frames: int = 0) -> int:
        clock: tuple[float, float] | None = None  # (wall, media) at the last (re)start
        for item in items:
            if stop.is_set() or (max_frames and self.tracked >= max_frames):
                break
            if item.kind == "query":
                accepted, why = self.session.set_query(str(item.payload))
                if not accepted:
                    log.warning("query ignored: %s", why)
                continue
            if self._hold(stop):
                clock = None  # a pause restarts the clock: no burst of skipped frames after it
            clock = clock or (time.monotonic(), item.t)
            if self.pace and self._late(item.t, clock, stop):
                self.skipped += 1
                continue
            outputs = self.console.track(self.session, item.payload, item.header)
            self.tracked += outputs is not None
        return self.tracked

    def _hold(self, stop: threading.Event) -> bool:
        held = False
        while self.console.paused and not self.live and not stop.is_set():
            held = True
            stop.wait(0.05)
        return held

    @staticmethod
    def _late(t: float, clock: tuple[float, float], stop: threading.Event) -> bool:
        """Wait until the item's time; True when it is already more than 0.1 s overdue."""
        delay = clock[0] + (t - clock[1]) - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        return delay < -0.1


def video_items(source: str | int, loop: bool) -> Iterator[Item]:
    """Frames of a video file, numbered frames (``img/%04d.jpg``) or a webcam index, in order."""
    import cv2

    from langtrack_ros.adapters.conversions import header_fields

    n = 0
    while True:
        cap = cv2.VideoCapture(source)
        if not cap.isOpened():
            raise ValueError(f"cannot open video source {source!r}")
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        start = n
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            t = n / fps
            yield Item("image", t, (lambda rgb=rgb: rgb), header_fields(int(t), int(t % 1 * 1e9), "camera"))
            n += 1
        cap.release()
        if not loop or n == start:
            return


def bag_items(bag: str | Path, image_topic: str | None, query_topic: str | None, initial_query: str) -> Iterator[Item]:
    """A bag's images and queries in log-time order, read as ``langtrack replay`` reads them."""
    from langtrack_ros.evaluation import bag_replay as br

    reader = br._open(Path(bag))
    try:
        topics = br._topics(reader, bag, image_topic, query_topic, None, initial_query)
        state = {"failed": 0, "damaged": "", "stamps": [], "images": 0}
        for kind, stamp, _, payload in br._items(reader, topics, {}, state):
            if kind == "query":
                yield Item("query", stamp / 1e9, payload.data, None)
            else:
                msg, msgtype = payload
                yield Item("image", stamp / 1e9, (lambda m=msg, k=msgtype: br._rgb(m, k)), msg.header)
    finally:
        reader.close()
