"""The console's web server: aiohttp in its own thread and event loop, reading the hub only.

Endpoints (nothing else exists): ``GET /`` the page, ``GET /console.js`` and ``GET /console.css``
(read from the package once, at start: no endpoint takes a path), ``GET /ws`` the WebSocket.
Over the WebSocket the server sends a JSON state then the JPEG of each newest frame; the page
acknowledges each image once drawn and gets the next only then (one image in flight per viewer:
a slow browser skips frames, nothing queues). The page may send exactly three requests:
``{"query": text}`` (the adapter's own query rules decide), ``{"pause": bool}`` and ``{"ack": seq}``.

Safe by default: bound to localhost; any other host needs a token (given, or a random one that is
printed), checked on every request (``?token=``, then a cookie set from it, or a Bearer header);
without a token, a Host header other than a loopback name is refused (DNS rebinding), and a
WebSocket from another origin is always refused (another site open in the operator's browser).
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Callable
from urllib.parse import urlsplit

import cv2
import numpy as np
from aiohttp import WSMsgType, web

from langtrack_ros.console.hub import Frame, Hub

log = logging.getLogger(__name__)

COOKIE = "langtrack_console_token"
LOCALHOST = ("127.0.0.1", "localhost", "::1")  # the hosts served without a token
FILES = {"/": ("index.html", "text/html"), "/console.js": ("console.js", "text/javascript"),
         "/console.css": ("console.css", "text/css")}
MAX_MESSAGE = 64 * 1024  # a larger browser message closes that socket (the query encoder cuts at 10k chars)
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'"}

QueryControl = Callable[[str], "tuple[bool, str]"]


def token_for(host: str, token: str) -> str:
    """The token in force: the one given; none on localhost; a fresh random one on any other host."""
    if token:
        return token
    return "" if host in LOCALHOST else secrets.token_urlsafe(18)


def _loopback_name(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def encode_jpeg(rgb: np.ndarray, quality: int, max_side: int) -> bytes:
    """The image the browsers get: downscaled to ``max_side`` (0: never), JPEG."""
    h, w = rgb.shape[:2]
    if max_side and max(h, w) > max_side:
        scale = max_side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


class ConsoleServer:
    """Serves the page for ``hub``; ``apply_query`` is the adapter's own query control."""

    def __init__(self, hub: Hub, apply_query: QueryControl, host: str, port: int, token: str,
                 jpeg_quality: int, stream_max_side: int, stream_fps: float):
        self.hub, self.apply_query = hub, apply_query
        self.host, self.port, self.token = host, port, token_for(host, token)
        self.quality, self.max_side, self.period = jpeg_quality, stream_max_side, 1.0 / stream_fps if stream_fps else 0.0
        self.files = {route: (resources.files(__package__).joinpath("static", name).read_bytes(), kind)
                      for route, (name, kind) in FILES.items()}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._encoded: tuple[int, Frame | None, bytes | None] = (-1, None, None)
        self._encoder = ThreadPoolExecutor(1, "console-jpeg")  # off the event loop; cv2 releases the GIL

    # --- life cycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> str:
        """Listen (in a daemon thread); returns the URL to open. ValueError when it cannot listen."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="langtrack-console", daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            raise ValueError(f"console cannot listen on {self.host}:{self.port}: {self._error}")
        log.info("operator console: %s", self.url)
        return self.url

    def stop(self) -> None:
        if self.loop is not None and self._thread is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        self._encoder.shutdown(wait=False)

    def _serve(self, ready: threading.Event) -> None:
        self.loop = loop = asyncio.new_event_loop()
        self._changed, self._encoding = asyncio.Event(), asyncio.Lock()
        runner = web.AppRunner(self._app(), access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]  # the real one when port 0 asked for any free port
        except OSError as exc:
            self._error = exc
            ready.set()
            return
        self.hub.listen(self._poke)
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_MESSAGE)
        app.router.add_get("/ws", self._websocket)
        for route in FILES:
            app.router.add_get(route, self._file)
        app.router.add_get("/favicon.ico", self._no_icon)
        return app

    # --- HTTP ----------------------------------------------------------------------------------
    def authorised(self, request: web.Request) -> bool:
        if not self.token:
            return True
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        given = request.query.get("token") or request.cookies.get(COOKIE) or bearer
        return hmac.compare_digest(given.encode(), self.token.encode())

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if not self.authorised(request):
            return web.Response(status=401, text="token required: open the URL the console printed at start\n")
        if not self.token and not _loopback_name(urlsplit(f"//{request.host}").hostname or ""):
            return web.Response(status=403, text="this console serves localhost only (start it with --host)\n")
        origin = request.headers.get("Origin")
        if request.path == "/ws" and origin and urlsplit(origin).netloc != request.host:
            return web.Response(status=403, text="cross-origin WebSocket refused\n")
        response = await handler(request)
        if self.token and request.query.get("token"):  # the page's own requests then carry the cookie
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
        return response

    async def _no_icon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)  # browsers ask for one; a 404 would be logged as an error

    async def _file(self, request: web.Request) -> web.Response:
        body, kind = self.files[request.path]
        return web.Response(body=body, content_type=kind, headers=HEADERS)

    # --- WebSocket -----------------------------------------------------------------------------
    def _poke(self) -> None:
        """From the tracking thread: wake the viewers (a closed loop after stop() is ignored)."""
        try:
            self.loop.call_soon_threadsafe(self._wake)
        except RuntimeError:
            pass

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _newer(self, seq: int) -> Frame:
        while True:
            changed = self._changed
            frame = self.hub.latest()
            if frame.seq > seq:
                return frame
            await changed.wait()

    async def _jpeg(self) -> tuple[Frame, bytes | None]:
        """The newest frame with its JPEG, encoded once per image whatever the number of viewers."""
        async with self._encoding:  # viewers waiting here get the JPEG the first one made
            frame = self.hub.latest()
            if frame.rgb is None:
                return frame, None
            if self._encoded[0] != frame.image_id:
                data = await self.loop.run_in_executor(self._encoder, encode_jpeg, frame.rgb, self.quality,
                                                       self.max_side)
                self._encoded = (frame.image_id, frame, data)
            return frame, self._encoded[2]

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, heartbeat=20)
        await ws.prepare(request)
        viewer = {"delivered": 0, "skipped": 0}
        credit = asyncio.Event()
        credit.set()
        sender = asyncio.create_task(self._send(ws, viewer, credit))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._request(ws, msg.data, credit)
        finally:
            sender.cancel()
        return ws

    async def _send(self, ws: web.WebSocketResponse, viewer: dict, credit: asyncio.Event) -> None:
        """The newest frame whenever the page is ready for it; the ones in between are skipped."""
        seq = image = 0
        sent_at = 0.0
        try:
            while not ws.closed:
                await credit.wait()
                await asyncio.sleep(max(0.0, sent_at + self.period - self.loop.time()))  # stream_fps cap
                await self._newer(seq)
                frame, data = await self._jpeg()
                points, events = self.hub.since(seq, frame.seq)
                new_image = data is not None and frame.image_id != image
                if new_image:
                    viewer["skipped"] += max(0, frame.image_id - image - 1) if image else 0
                    viewer["delivered"] += 1
                await ws.send_json({"type": "frame", "seq": frame.seq, "image": new_image, **frame.state,
                                    "points": points, "events": events, "skipped": viewer["skipped"]})
                if new_image:
                    credit.clear()  # set again by the page's ack, once this image is drawn
                    sent_at = self.loop.time()
                    await ws.send_bytes(data)
                seq, image = frame.seq, frame.image_id if new_image else image
        except (ConnectionError, RuntimeError):
            pass  # the browser went away mid-send

    async def _request(self, ws: web.WebSocketResponse, text: str, credit: asyncio.Event) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return await ws.send_json({"type": "reply", "accepted": False, "message": "not a JSON object"})
        if "ack" in request:
            credit.set()
        elif isinstance(request.get("query"), str):
            accepted, why = await self.loop.run_in_executor(None, self.apply_query, request["query"])
            if accepted:
                self.hub.update(query=request["query"].strip())
            await ws.send_json({"type": "reply", "what": "query", "accepted": accepted, "message": why})
        elif isinstance(request.get("pause"), bool):
            self.hub.set_paused(request["pause"])
            state = "paused: frames are shown, not tracked" if request["pause"] else "resumed"
            await ws.send_json({"type": "reply", "what": "pause", "accepted": True, "message": state})
        else:
            await ws.send_json({"type": "reply", "accepted": False,
                                "message": "unknown request: only query, pause and ack exist"})
