"""Camera + operator stand-in for test_dds.py: publishes Image and String over Cyclone DDS.

    python test/dds_peer.py DOMAIN FRAMES SWITCH_AT [FIRST BAD_AT PERIOD_S]

Waits until the tracker's readers have matched, sends "the red square", FRAMES frames
(test/colour_tracker.frame) numbered from FIRST, and "the blue square" just before frame
SWITCH_AT. Frame BAD_AT, if given, is an odd-width yuyv image (a frame the codec must refuse).
"""
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from colour_tracker import frame  # noqa: E402

from langtrack_ros.dds.transport import Endpoints  # noqa: E402
from langtrack_ros.dds.types import dds_array, make  # noqa: E402
from langtrack_ros.adapters import conversions as conv  # noqa: E402
from langtrack_ros.adapters import definitions as defs  # noqa: E402
from langtrack_ros.adapters.image_codec import encode_image  # noqa: E402


def wait_matched(writers, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not all(w.get_matched_subscriptions() for w in writers):
        if time.monotonic() > end:
            sys.exit("dds_peer: tracker readers never matched")
        time.sleep(0.05)


def main(domain: int, frames: int, switch_at: int, first: int = 0, bad_at: int = -1, period: float = 0.06) -> None:
    endpoints = Endpoints(domain)
    images = endpoints.writer(os.environ.get("PEER_IMAGE_TOPIC", "/camera/image_raw"), defs.IMAGE, "sensor_data")
    # the tracker's relative `query` under its namespace (test_dds), or a remap target (test_faults)
    queries = endpoints.writer(os.environ.get("PEER_QUERY_TOPIC", "/query"), defs.STRING)
    wait_matched([images, queries])
    time.sleep(0.3)  # let the tracker's side of discovery settle too
    send = lambda text: queries.write(make(defs.STRING)(data=text))  # noqa: E731
    send("the red square")
    time.sleep(0.1)
    for i in range(first, first + frames):
        if i == switch_at:
            send("the blue square")
            time.sleep(0.1)
        rgb, _ = frame(i)
        # alternate encodings: the tracker must convert BGR too
        image = encode_image(rgb[..., ::-1].copy(), "bgr8") if i % 2 else encode_image(rgb, "rgb8")
        fields = {**image, "header": conv.header_fields(100 + i, 0, "cam")}
        if i == bad_at:
            fields.update(encoding="yuyv", width=5, height=4, step=10, data=bytes(40))
        images.write(conv.build(defs.IMAGE, fields, make, dds_array))
        time.sleep(period)
    time.sleep(0.5)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:6]), *(float(a) for a in sys.argv[6:7]))
