"""TrackResult -> message fields, and a builder that turns nested dicts into any message class.

Every adapter (rclpy, DDS, rosbags) fills messages through :func:`build`, which walks the field
list parsed from the ``.msg`` files, so field names and constants are never written twice.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from langtrack_ros.adapters import definitions as defs
from langtrack_ros.tracking.result import Event, SearchMode, TrackResult

# The four node types of rosbags' parse tree.
_BASE, _NAME, _ARRAY, _SEQUENCE = 1, 2, 3, 4
_DEFAULTS = {"string": "", "bool": False, "float32": 0.0, "float64": 0.0}
_DTYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
    "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}

ArrayHook = Callable[[Any, str], Any]


def numpy_array(values, base: str):
    """Default representation of primitive arrays and sequences (what rosbags serializes)."""
    if isinstance(values, (bytes, bytearray, memoryview)):
        return np.frombuffer(values, dtype=_DTYPES[base])
    return np.asarray(values, dtype=_DTYPES[base])


def build(typename: str, values: Mapping | None, make: Callable[[str], type], array: ArrayHook = numpy_array):
    """Instance of ``make(typename)`` from nested ``values``; missing fields get ROS defaults.

    A nested field may also be given as an already built message (e.g. a header copied from the
    incoming image), which is passed through unchanged.
    """
    values = dict(values or {})
    fields = defs.typestore().get_msgdef(typename).fields
    unknown = set(values) - {name for name, _ in fields}
    if unknown:
        raise ValueError(f"{typename} has no field(s) {sorted(unknown)}")
    kwargs = {name: _field(desc, values.get(name), make, array) for name, desc in fields}
    return make(typename)(**kwargs)


def _field(desc, value, make, array):
    kind, detail = desc
    if kind == _BASE:
        base = detail[0]
        return _DEFAULTS.get(base, 0) if value is None else value
    if kind == _NAME:
        return value if value is not None and not isinstance(value, Mapping) else build(detail, value, make, array)
    (sub_kind, sub_detail), length = detail
    if sub_kind == _BASE:
        if value is None:
            value = [_DEFAULTS.get(sub_detail[0], 0)] * (length if kind == _ARRAY else 0)
        return array(value, sub_detail[0])
    items = list(value or [])
    if kind == _ARRAY and not items:
        items = [None] * length
    return [_field((sub_kind, sub_detail), item, make, array) for item in items]


def _constants(typename: str):
    return defs.typestore().types[typename]


def header_fields(sec: int, nanosec: int, frame_id: str = "") -> dict:
    return {"stamp": {"sec": int(sec), "nanosec": int(nanosec)}, "frame_id": frame_id}


def _box(result: TrackResult) -> dict:
    x, y, w, h = (float(v) for v in result.box)
    return {"x": x, "y": y, "width": w, "height": h}


def target_fields(result: TrackResult, query: str, header) -> dict:
    """langtrack_msgs/TrackedTarget fields."""
    msg = _constants(defs.TRACKED_TARGET)
    mode = msg.MODE_ROI if SearchMode(result.mode) is SearchMode.ROI else msg.MODE_GLOBAL
    return {
        "header": header, "query": query, **_box(result),
        "confidence": float(result.kappa), "d_corr": float(result.d_corr), "d_cls": float(result.d_cls),
        "score": float(result.score), "search_mode": mode, "found": bool(result.found),
    }


def event_reasons(result: TrackResult) -> list[int]:
    """RelocalizationEvent reasons raised by this frame (LOST -> LOW_CONFIDENCE)."""
    msg = _constants(defs.RELOCALIZATION_EVENT)
    table = {Event.LOST: msg.LOW_CONFIDENCE, Event.QUERY_CHANGED: msg.QUERY_CHANGED, Event.RECOVERED: msg.RECOVERED}
    return [table[Event(e)] for e in result.events if Event(e) in table]


def event_fields(result: TrackResult, query: str, header, reason: int) -> dict:
    """langtrack_msgs/RelocalizationEvent fields."""
    return {"header": header, "reason": reason, "query": query, "confidence": float(result.kappa), **_box(result)}


def detections_fields(result: TrackResult, query: str, header) -> dict:
    """vision_msgs/Detection2DArray (4.x): one detection when found, none otherwise.

    class_id carries the query and score carries kappa, so generic viewers label the box.
    """
    if not result.found:
        return {"header": header, "detections": []}
    x, y, w, h = (float(v) for v in result.box)
    detection = {
        "header": header,
        "results": [{
            "hypothesis": {"class_id": query, "score": float(result.kappa)},
            "pose": {"pose": {"orientation": {"w": 1.0}}},  # identity rotation, as ROS defaults it
        }],
        "bbox": {"center": {"position": {"x": x + w / 2, "y": y + h / 2}, "theta": 0.0}, "size_x": w, "size_y": h},
    }
    return {"header": header, "detections": [detection]}


def progress_fields(header, stage: str, epoch: int, step: int, total_steps: int, loss: float,
                    eta_sec: float, message: str = "") -> dict:
    """langtrack_msgs/TrainingProgress fields."""
    return {
        "header": header, "stage": stage, "epoch": int(epoch), "step": int(step),
        "total_steps": int(total_steps), "loss": float(loss), "eta_sec": float(eta_sec), "message": message,
    }
