"""Turn a user's own recording (a video file or a ROS 2 bag) + per-frame boxes + a sentence into
one sequence in the LaSOT layout, so ``langtrack train`` can fine-tune on it through the LaSOT
loader ({kind: dataset, name: lasot, root: OUT}) - no second training data path.

Boxes: one ``x,y,w,h`` row per image (pixels; commas, tabs or spaces), in image order; a row of
``0,0,0,0`` or ``NaN`` marks a frame where the target is not visible (out of view). The number of
rows must equal the number of images: a mismatch is an error naming both counts, never a silent
truncation. The sequence is written under a temporary name and renamed into place, so a failure
leaves nothing half-written.
"""
from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from langtrack_ros.data.sequence import DatasetError, parse_boxes
from langtrack_ros.data.synth.export import format_boxes, format_flags, one_line

LOG = logging.getLogger(__name__)


def video_frames(path: Path) -> Iterator[np.ndarray]:
    """RGB frames of a video file (OpenCV)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DatasetError(f"cannot open video {path}")
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def bag_frames(path: Path, image_topic: str | None = None) -> Iterator[np.ndarray]:
    """RGB frames of a ROS 2 bag's image topic (Image or CompressedImage), in log-time order."""
    from rosbags.highlevel import AnyReader

    from langtrack_ros.data.bag_topics import IMAGE_TYPES, pick_topic
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.adapters.image_codec import decode_compressed, image_fields_to_rgb

    with AnyReader([path], default_typestore=defs.typestore()) as reader:
        topic = pick_topic(reader.connections, IMAGE_TYPES, image_topic, "image")
        if topic is None:
            raise DatasetError(f"bag {path} has no sensor_msgs Image or CompressedImage topic")
        wanted = [c for c in reader.connections if c.topic == topic]
        for connection, _, raw in reader.messages(connections=wanted):
            msg = reader.deserialize(raw, connection.msgtype)
            compressed = connection.msgtype == defs.COMPRESSED_IMAGE
            yield decode_compressed(msg.format, msg.data) if compressed else image_fields_to_rgb(msg)


def is_bag(path: Path) -> bool:
    return path.is_dir() and (path / "metadata.yaml").is_file() or path.suffix in (".mcap", ".db3")


def import_recording(source: str | Path, boxes_file: str | Path, sentence: str, out_root: str | Path,
                     name: str | None = None, category: str = "recording", image_topic: str | None = None,
                     jpeg_quality: int = 95) -> Path:
    """Write ``<out_root>/<category>/<category>-<name>/`` (LaSOT layout) from a video or bag; its folder."""
    import cv2

    source, out_root = Path(source), Path(out_root)
    if not source.exists():
        raise DatasetError(f"recording not found: {source}")
    sentence = one_line(sentence.strip())
    if not sentence:
        raise DatasetError("the sentence describing the target is empty")
    name = re.sub(r"[^A-Za-z0-9_.]+", "_", name or source.stem)
    final = out_root / category / f"{category}-{name}"
    if final.exists():
        raise DatasetError(f"{final} already exists: pass another --name or remove it")
    boxes = parse_boxes(Path(boxes_file))
    frames = bag_frames(source, image_topic) if is_bag(source) else video_frames(source)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        count = 0
        (tmp / "img").mkdir()
        for count, rgb in enumerate(frames, 1):
            path = tmp / "img" / f"{count:08d}.jpg"
            if count <= len(boxes) and not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                                        [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]):
                raise OSError(f"cannot write {path}")
        if count != len(boxes):
            raise DatasetError(f"{boxes_file}: {len(boxes)} boxes for {count} images in {source}")
        _write_annotations(tmp, boxes, sentence)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    LOG.info("%s: %d images, %d with the target -> %s", source, count, int(_visible(boxes).sum()), final)
    return final


def _visible(boxes: np.ndarray) -> np.ndarray:
    return np.isfinite(boxes).all(1) & (np.nan_to_num(boxes[:, 2]) > 0) & (np.nan_to_num(boxes[:, 3]) > 0)


def _write_annotations(folder: Path, boxes: np.ndarray, sentence: str) -> None:
    visible = _visible(boxes)
    (folder / "groundtruth.txt").write_text(format_boxes(np.where(visible[:, None], boxes, np.nan)))
    (folder / "full_occlusion.txt").write_text(format_flags(np.zeros(len(boxes), bool)))
    (folder / "out_of_view.txt").write_text(format_flags(~visible))
    (folder / "nlp.txt").write_text(sentence + "\n")
