"""The operator console's server without a browser: token check, the query rules over the
WebSocket, frames dropped (never queued) for a viewer that does not keep up, the node's parameter.
The browser itself is driven in test_console_browser.py."""
import asyncio
import json
import types

import aiohttp
import numpy as np
import pytest

from colour_tracker import ColourTracker, frame
from dds_domain import RUN_TAG, domain_in
from langtrack_ros.adapters.session import TrackingSession, truncation_note
from langtrack_ros.console.runner import Console, load_console_settings
from langtrack_ros.console.server import token_for


@pytest.fixture(scope="module")
def encoder():
    """The real MiniLM text encoder with a small token limit: its truncation rule is under test."""
    from langtrack_ros.tracking.text_encoder import TextEncoder

    return TextEncoder(max_tokens=8)


@pytest.fixture
def console_on(request):
    """A started console for a colour-tracker session: (console, session, base URL)."""
    consoles = []

    def start(host="127.0.0.1", token="", tracker=None):
        session = TrackingSession(tracker or ColourTracker(), "the red square")
        console = Console(load_console_settings(host=host, port=0, token=token), session.set_query)
        console.start()
        consoles.append(console)
        return console, session, f"http://{host}:{console.server.port}"

    yield start
    for console in consoles:
        console.stop()


async def _get(url, **kw):
    async with aiohttp.ClientSession() as http:
        async with http.get(url, **kw) as response:
            return response.status, await response.text()


def test_a_token_is_needed_beyond_localhost_and_only_there():
    assert token_for("127.0.0.1", "") == "" and token_for("localhost", "") == ""
    assert len(token_for("0.0.0.0", "")) >= 20 and token_for("0.0.0.0", "") != token_for("0.0.0.0", "")
    assert token_for("127.0.0.1", "given") == "given"


def test_requests_without_the_token_are_refused(console_on):
    console, _, base = console_on(host="127.0.0.2")  # loopback, but not the default: token mode
    token = console.server.token
    assert token and console.server.url == f"{base}/?token={token}"

    async def run():
        for path in ("/", "/console.js", "/ws", "/?token=wrong"):
            assert (await _get(base + path))[0] == 401, path
        assert (await _get(f"{base}/ws", headers={"Authorization": "Bearer wrong"}))[0] == 401
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # unsafe: an IP host
            async with http.get(f"{base}/?token={token}") as response:  # the page sets the cookie ...
                assert response.status == 200 and "console.js" in await response.text()
            async with http.get(f"{base}/console.js") as response:  # ... its own requests carry it
                assert response.status == 200
        assert (await _get(f"{base}/console.css", headers={"Authorization": f"Bearer {token}"}))[0] == 200
        assert (await _get(f"{base}/etc/passwd?token={token}"))[0] == 404  # no endpoint takes a path

    asyncio.run(run())


def test_localhost_refuses_foreign_host_names_and_cross_origin_sockets(console_on):
    _, _, base = console_on()

    async def run():
        assert (await _get(base + "/"))[0] == 200
        assert (await _get(base + "/", headers={"Host": "evil.example:80"}))[0] == 403  # DNS rebinding
        assert (await _get(base + "/ws", headers={"Origin": "http://evil.example"}))[0] == 403

    asyncio.run(run())


async def _replies(ws, n):
    out = []
    while len(out) < n:
        msg = await ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == "reply":
            out.append(json.loads(msg.data))
    return out


def test_query_rules_over_the_web(console_on, encoder):
    """Empty refused, unusable refused (the previous target kept), long accepted with the words
    used named, anything but query/pause/ack refused: the replies the page shows."""
    tracker = ColourTracker()
    tracker.text_encoder = encoder  # the real encoder's token rules
    console, session, base = console_on(tracker=tracker)
    long = "the blue square that sits below the red one near the edge"

    async def run():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{base}/ws") as ws:
                for request in ({"query": "   "}, {"query": "the square"}, {"query": long},
                                {"run": "ls /"}, {"pause": True}):
                    await ws.send_str(json.dumps(request))
                return await _replies(ws, 5)

    empty, unusable, accepted, unknown, paused = asyncio.run(run())
    assert not empty["accepted"] and empty["message"] == "empty query ignored"
    assert not unusable["accepted"] and "still tracking 'the red square'" in unusable["message"]
    assert accepted["accepted"] and "too long" in accepted["message"]
    assert "only 'the blue square that sits below' is used" in accepted["message"]
    assert session.query == long and console.hub.latest().state["query"] == long
    assert not unknown["accepted"] and "only query, pause and ack" in unknown["message"]
    assert paused["accepted"] and console.paused


def test_truncation_note_names_the_words_the_encoder_reads(encoder):
    tracker = types.SimpleNamespace(text_encoder=encoder)
    assert truncation_note(tracker, "the red ball on the left") == ""
    note = truncation_note(tracker, "the red ball on the left of the table")
    assert note == " (too long: 11 tokens, the limit is 8; only 'the red ball on the left' is used)"
    assert truncation_note(ColourTracker(), "x " * 500) == ""  # a tracker without a text encoder


def test_a_viewer_that_does_not_acknowledge_gets_no_queue_only_the_newest_frame(console_on):
    """50 frames while the page has not drawn the first: it then gets frame 50 (48 skipped), and the
    events of the skipped frames still arrive (plot points too)."""
    console, session, base = console_on()

    async def run():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{base}/ws") as ws:
                console.track(session, lambda: frame(0)[0], None)
                first = json.loads(await ws.receive_str())
                assert first["image"] and (await ws.receive()).type == aiohttp.WSMsgType.BINARY
                session.set_query("the blue square")  # an event in a frame this viewer will not get
                for i in range(1, 50):
                    console.track(session, lambda i=i: frame(i)[0], None)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.receive(), 0.5)  # nothing is sent before the ack
                await ws.send_str(json.dumps({"ack": first["seq"]}))
                return first, json.loads(await ws.receive_str())

    first, newest = asyncio.run(run())
    assert newest["seq"] == 50 and newest["skipped"] == 48
    assert len(newest["points"]) == 49 and [e["reason"] for e in newest["events"]] == ["query changed"]
    assert newest["query"] == "the blue square" and newest["box"] == [40.0, 30.0, 12.0, 14.0]


def test_paused_frames_are_shown_untracked():
    session = TrackingSession(ColourTracker(), "the red square")
    console = Console(load_console_settings(port=0), session.set_query)
    console.hub.set_paused(True)
    assert console.track(session, lambda: frame(3)[0], None) is None
    state = console.hub.latest().state
    assert state["paused"] and state["box"] is None and state["width"] == 64
    console.hub.set_paused(False)
    assert console.track(session, lambda: frame(3)[0], None) is not None
    assert console.hub.latest().state["box"] == [8.0, 10.0, 8.0, 10.0]


def test_the_node_serves_the_page_only_when_its_parameter_says_so(tmp_path, monkeypatch):
    import fake_rclpy

    undo = fake_rclpy.install()
    try:
        from langtrack_ros.ros import tracker_node

        assert tracker_node.TrackerNode().console is None  # off by default
        settings = tmp_path / "console.yaml"
        settings.write_text("port: 0\n")
        monkeypatch.setattr(fake_rclpy, "OVERRIDES", {"console.enabled": True, "console.config": str(settings)})
        node = tracker_node.TrackerNode()
        try:
            node.session = node.console.watch(TrackingSession(ColourTracker(), "the red square"))
            node.publishers_ = {}
            monkeypatch.setattr(node, "_publish", lambda *a: None)
            node._track(lambda: frame(2)[0], None)
            assert node.console.hub.latest().state["box"] == [6.0, 10.0, 8.0, 10.0]
            assert node.console.server.apply_query("the blue square")[0] and node.query == "the blue square"
        finally:
            node.console.stop()
    finally:
        undo()


def _page_frames(url: str, want, timeout: float = 40.0) -> list[dict]:
    """Frame states the page receives (acknowledging each image, as the page does) until
    ``want(states)`` holds or ``timeout`` passes."""
    async def run():
        states, end = [], asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url) as ws:
                while not want(states) and asyncio.get_running_loop().time() < end:
                    try:
                        msg = await asyncio.wait_for(ws.receive(), 1.0)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == "frame":
                        states.append(json.loads(msg.data))
                    elif msg.type == aiohttp.WSMsgType.BINARY:
                        await ws.send_str(json.dumps({"ack": states[-1]["seq"]}))
        return states

    return asyncio.run(run())


def test_console_on_dds_topics_shows_the_frames_and_the_topic_queries(monkeypatch):
    """`langtrack console --image-topic`: the DDS process of `langtrack dds` (its topics still
    answered) with the page watching it; a query on the DDS topic shows on the page."""
    import os
    import subprocess
    import sys
    import time

    from test_dds import HERE, LOOPBACK
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.dds.transport import Endpoints

    domain = domain_in(1, 40)  # this file's range (test/dds_domain.py: each DDS test file draws from its own)
    monkeypatch.setenv("CYCLONEDDS_URI", LOOPBACK)
    env = {**os.environ, "CYCLONEDDS_URI": LOOPBACK, "PYTHONPATH": str(HERE.parent)}
    ns, image_topic = f"/langtrack_{RUN_TAG}", f"/camera_{RUN_TAG}/image_raw"  # another run on this host: other topics
    targets_reader = Endpoints(domain, ns).reader("target", defs.TRACKED_TARGET)
    console = subprocess.Popen(
        [sys.executable, "-m", "langtrack_ros.cli", "console", "--image-topic", image_topic,
         "--domain-id", str(domain), "--namespace", ns, "--port", "0", "--duration", "40",
         "--tracker-factory", f"{HERE / 'colour_tracker.py'}:make"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = next(line for line in console.stdout if line.startswith("operator console: ")).split(": ", 1)[1]
        camera = subprocess.Popen([sys.executable, str(HERE / "dds_peer.py"), str(domain), "30", "10"],
                                  env={**env, "PEER_QUERY_TOPIC": f"{ns}/query", "PEER_IMAGE_TOPIC": image_topic},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ws_url = url.strip().replace("http://", "ws://") + "ws"
        states = _page_frames(ws_url, lambda s: any(x["query"] == "the blue square" and x["box"] for x in s))
        assert camera.wait(timeout=20) == 0, camera.stdout.read()
        targets = [m for m in targets_reader.take(256) if hasattr(m, "header")]
    finally:
        console.terminate()
        log = console.communicate(timeout=20)[0]
    tracked = [s for s in states if s["box"]]
    assert tracked and tracked[0]["query"] == "the red square" and tracked[0]["width"] == 64, log
    blue = [s for s in tracked if s["query"] == "the blue square"]
    assert blue and blue[-1]["box"] == [40.0, 30.0, 12.0, 14.0], log
    assert any(e["reason"] == "query changed" for s in states for e in s["events"])
    assert targets, "the DDS topics are served as by `langtrack dds`"


def test_a_nan_confidence_reaches_the_page_as_valid_json():
    from langtrack_ros.console.hub import Hub
    from langtrack_ros.tracking.result import Event, TrackResult

    hub = Hub(10)
    hub.publish(frame(0)[0], TrackResult(box=np.full(4, np.nan), kappa=float("nan"), events=[Event.LOST]), "q")
    state = hub.latest().state
    points, events = hub.since(0, hub.latest().seq)
    json.dumps({**state, "points": points, "events": events}, allow_nan=False)  # JSON.parse would refuse NaN
    assert state["box"] is None and state["kappa"] is None and events[0]["reason"] == "low confidence"


def test_a_bag_plays_through_the_console_with_its_queries(tmp_path):
    """`langtrack console --bag`: images and /query messages in recorded order, read as replay reads them."""
    import threading

    from test_faults import _bag
    from langtrack_ros.console.runner import Player, bag_items

    bag = _bag(tmp_path / "run", frames=6, strings=(("/query", 0, "the red square"), ("/query", 3, "the blue square")))
    session = TrackingSession(ColourTracker())
    console = Console(load_console_settings(port=0), session.set_query)
    player = Player(console, session, pace=True, live=False)
    assert player.run(bag_items(bag, None, None, ""), threading.Event()) == 6 and player.skipped == 0
    state = console.hub.latest().state
    assert state["query"] == "the blue square" and state["box"] == [40.0, 30.0, 12.0, 14.0]
    assert [e["reason"] for e in console.hub.since(0, 99)[1]] == ["query changed", "query changed"]


def test_a_port_in_use_is_one_line_for_the_command_and_the_node_goes_on(tmp_path, caplog):
    import socket

    from colour_tracker import __file__ as colour_file
    from langtrack_ros.cli import main
    from langtrack_ros.console.runner import node_console

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        video = tmp_path / "clip.mp4"
        from langtrack_ros.adapters.overlay import VideoWriter

        with VideoWriter(video, 10) as writer:
            writer.write(frame(0)[0])
        rc = main(["console", "--video", str(video), "--port", str(port), "--tracker-factory", f"{colour_file}:make"])
        assert rc == 2 and f"console cannot listen on 127.0.0.1:{port}" in caplog.text
        settings = tmp_path / "console.yaml"
        settings.write_text(f"port: {port}\n")
        lines = []
        assert node_console({"console.enabled": True, "console.config": str(settings)}, None, lines.append) is None
        assert len(lines) == 1 and "operator console not started" in lines[0]
    assert main(["console", "--video", str(tmp_path / "nope.mp4"), "--tracker-factory", f"{colour_file}:make"]) == 2
