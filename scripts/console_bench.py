"""Does the operator console slow the tracker? Tracker FPS and frames delivered per viewer for
0, 1 and 10 viewers (and 10 with one slow one), written to docs/BENCHMARKS_RUNTIME.md.

    python scripts/console_bench.py [--seconds 8] [--rounds 3] [--backend onnxruntime] [--out docs/BENCHMARKS_RUNTIME.md]

The tracker (embedded default model) plays a LangTrack-Synth clip as fast as it can (no pacing)
through ``Console.track``, as ``langtrack console --no-pace`` does; viewers are WebSocket clients
in a second process at the lowest priority (browsers run on the operator's phone, not on the
robot) that acknowledge each image as the page does once drawn. A slow viewer waits 200 ms per frame. The section between
the markers is replaced; the rest of the file is left alone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- console-viewers: scripts/console_bench.py -->", "<!-- /console-viewers -->"
# (viewers, of which slow, stream_fps: None = config/console.yaml's)
ROWS = [(0, 0, None), (1, 0, None), (10, 0, None), (10, 1, None), (1, 0, 0), (10, 0, 0)]


async def _viewer(url: str, seconds: float, slow: bool) -> dict:
    import aiohttp

    got, end = 0, time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url) as ws:
            seq = 0
            while time.monotonic() < end:
                try:
                    msg = await asyncio.wait_for(ws.receive(), max(0.01, end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if msg.type == aiohttp.WSMsgType.TEXT:
                    seq = json.loads(msg.data).get("seq", seq)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    got += 1
                    if slow:
                        await asyncio.sleep(0.2)
                    await ws.send_str(json.dumps({"ack": seq}))
                else:
                    break
    return {"slow": slow, "frames": got}


async def _viewers(url: str, count: int, slow: int, seconds: float) -> list[dict]:
    print("connecting", flush=True)  # the measuring window starts here: imports are done
    return await asyncio.gather(*(_viewer(url, seconds, i < slow) for i in range(count)))


def _clip():
    from langtrack_ros.data.synth.generator import generate_sequence

    seq = generate_sequence(1, "test", length=60).to_sequence()
    return [seq.image(i) for i in range(len(seq))], seq.sentence


def _cpu(thread: threading.Thread) -> tuple[float, float]:
    """(CPU seconds of ``thread``, of the whole process): Linux per-thread clocks."""
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident)), time.process_time()


def _row(console, player, tracking: threading.Thread, url: str, viewers: int, slow: int, fps_cap,
         seconds: float) -> dict:
    """One window of ``seconds``: tracker frames counted only while the viewers are connected."""
    configured = console.server.period
    if fps_cap is not None:
        console.server.period = 1.0 / fps_cap if fps_cap else 0.0
    results = []
    if viewers:
        cmd = [sys.executable, __file__, "--viewers-only", url, str(viewers), str(slow), str(seconds)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # "connecting"
    before, start, (cpu_tracker, cpu_all) = player.tracked, time.monotonic(), _cpu(tracking)
    if viewers:
        results = json.loads(proc.communicate()[0].strip().splitlines()[-1])
    else:
        time.sleep(seconds)
    elapsed, frames = time.monotonic() - start, player.tracked - before
    tracker_cpu, all_cpu = (now - then for now, then in zip(_cpu(tracking), (cpu_tracker, cpu_all)))
    cap = round(1 / console.server.period) if console.server.period else 0
    console.server.period = configured
    return {"viewers": viewers, "slow": slow, "cap": cap, "fps": frames / elapsed,
            "tracker_ms": 1000 * tracker_cpu / max(frames, 1), "rest_ms": 1000 * (all_cpu - tracker_cpu) / elapsed,
            "normal": [r["frames"] for r in results if not r["slow"]],
            "slow_frames": [r["frames"] for r in results if r["slow"]]}


def _summary(runs: list[dict]) -> dict:
    """Rounds of one row: median tracker FPS with its range, mean frames per viewer."""
    import statistics

    fps = [r["fps"] for r in runs]
    normal = [n for r in runs for n in r["normal"]]
    slow = [n for r in runs for n in r["slow_frames"]]
    return {**runs[0], "fps": statistics.median(fps), "fps_range": (min(fps), max(fps)), "normal": normal,
            "slow_frames": slow, "tracker_ms": statistics.median(r["tracker_ms"] for r in runs),
            "rest_ms": statistics.median(r["rest_ms"] for r in runs)}


def measure(seconds: float, rounds: int, backend: str | None) -> tuple[list[dict], str]:
    from langtrack_ros.adapters.session import TrackingSession
    from langtrack_ros.builder import load_tracker
    from langtrack_ros.console.runner import Console, Item, Player, load_console_settings

    images, sentence = _clip()
    tracker = load_tracker(None, backend)
    session = TrackingSession(tracker, sentence)
    console = Console(load_console_settings(port=0), session.set_query)
    url = console.start().replace("http://", "ws://").split("?")[0] + "ws"
    player, stop = Player(console, session, pace=False, live=False), threading.Event()

    def forever():
        n = 0
        while True:
            rgb = images[n % len(images)]
            yield Item("image", n / 15, lambda rgb=rgb: rgb, None)
            n += 1

    tracking = threading.Thread(target=player.run, args=(forever(), stop), daemon=True)
    tracking.start()
    time.sleep(3)  # warm-up
    runs = [[] for _ in ROWS]
    for _ in range(rounds):  # rounds interleave the rows, so a load change on the machine hits them all
        for i, (v, s, cap) in enumerate(ROWS):
            runs[i].append(_row(console, player, tracking, url, v, s, cap, seconds))
    rows = [_summary(r) for r in runs]
    stop.set()
    console.stop()
    return rows, f"{tracker.name} tracker, backend {getattr(tracker.backend, 'name', '?')}"


def render(rows: list[dict], what: str, seconds: float, rounds: int) -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [BEGIN, "## Operator console: viewers against tracker speed", "",
             f"Produced by `python scripts/console_bench.py --seconds {seconds:g} --rounds {rounds}` on "
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. {what}, a 480x360 LangTrack-Synth clip played as "
             "fast as the tracker goes through `Console.track` (as `langtrack console --no-pace`); viewers: "
             "WebSocket clients in a second process at nice 19 on the same machine (browsers run on the operator's "
             "phone, not on the robot) that acknowledge each image as the page does; a slow viewer takes 200 ms per "
             f"frame. The rows run in turn, {rounds} rounds of {seconds:g} s each, frames counted only while the "
             "viewers are connected; tracker FPS is the median of the rounds (range in brackets), frames per viewer "
             f"per round min / mean ({platform.machine()}, {os.cpu_count()} CPU cores, load average at the end "
             f"{load}: a shared machine, compare rows of one run).", "",
             "| viewers | stream_fps cap | tracker FPS | tracker thread CPU ms/frame | rest of the process CPU ms/s | "
             "frames delivered per viewer (min / mean) | to the slow viewer |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        normal = f"{min(r['normal'])} / {sum(r['normal']) / len(r['normal']):.0f}" if r["normal"] else "–"
        slow = f"{sum(r['slow_frames']) / len(r['slow_frames']):.0f}" if r["slow_frames"] else "–"
        label = f"{r['viewers']}" + (f" ({r['slow']} slow)" if r["slow"] else "")
        cap = (str(r["cap"]) if r["cap"] else "none") if r["viewers"] else "–"
        low, high = r["fps_range"]
        lines.append(f"| {label} | {cap} | {r['fps']:.1f} ({low:.0f}–{high:.0f}) | {r['tracker_ms']:.1f} | "
                     f"{r['rest_ms']:.0f} | {normal} | {slow} |")
    lines += ["", "Each viewer gets the newest frame once it has drawn the last one and at most `stream_fps` a second "
              "(config/console.yaml): a slow one gets fewer frames (the others skipped, never queued) without holding "
              "the rest back, and the JPEG is encoded once per frame whatever the number of viewers. On a shared "
              "machine the tracker FPS moves more between rounds than between rows; the CPU columns are steadier: "
              "the tracker thread's CPU per frame does not grow with viewers, and 'rest of the process' (the "
              "console's server and JPEG threads, plus the idle hub with no viewer) is the console's cost to the "
              "robot. Rows `none` lift the cap: every tracked frame is encoded and sent.", END]
    return "\n".join(lines) + "\n"


def write(section: str, out: Path) -> None:
    text = out.read_text() if out.is_file() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    out.write_text(text)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--viewers-only":
        os.nice(19)  # the browsers run on the operator's phone, not on the robot: yield the CPU to the tracker
        url, count, slow, seconds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        print(json.dumps(asyncio.run(_viewers(url, count, slow, seconds))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each row in each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all rows")
    parser.add_argument("--backend", default=None, help="tracker backend (default: config/tracker.yaml)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS_RUNTIME.md"), help="'' to print only")
    args = parser.parse_args()
    rows, what = measure(args.seconds, args.rounds, args.backend)
    section = render(rows, what, args.seconds, args.rounds)
    print(section)
    if args.out:
        write(section, Path(args.out))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
