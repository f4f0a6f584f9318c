"""sensor_msgs/Image and CompressedImage <-> numpy, on plain fields (no ROS needed).

``decode_image`` honours ``step`` (rows may be padded past ``width * channels * bytes``) and
``is_bigendian`` for 16-bit data; anything inconsistent raises :class:`ImageCodecError` saying
which field is wrong, because a silently mis-strided image tracks garbage.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import cv2


class ImageCodecError(ValueError):
    """An image message cannot be decoded or an array cannot be encoded."""


@dataclass(frozen=True)
class _Layout:
    channels: int
    dtype: str  # numpy dtype of one channel value, little-endian form
    to_rgb: int | None  # cv2 colour conversion to RGB; None: already RGB (or handled specially)


# Packed YUV 4:2:2 (2 bytes per pixel) is what many USB cameras publish.
ENCODINGS: dict[str, _Layout] = {
    "rgb8": _Layout(3, "u1", None),
    "bgr8": _Layout(3, "u1", cv2.COLOR_BGR2RGB),
    "rgba8": _Layout(4, "u1", cv2.COLOR_RGBA2RGB),
    "bgra8": _Layout(4, "u1", cv2.COLOR_BGRA2RGB),
    "mono8": _Layout(1, "u1", cv2.COLOR_GRAY2RGB),
    "mono16": _Layout(1, "<u2", cv2.COLOR_GRAY2RGB),
    "yuv422": _Layout(2, "u1", cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": _Layout(2, "u1", cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": _Layout(2, "u1", cv2.COLOR_YUV2RGB_YUYV),
    "yuyv": _Layout(2, "u1", cv2.COLOR_YUV2RGB_YUYV),
}


def _layout(encoding: str) -> _Layout:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageCodecError(
            f"unsupported image encoding {encoding!r}; supported: {sorted(ENCODINGS)}"
        ) from None


def _byte_view(data) -> np.ndarray:
    """uint8 view of bytes / array.array (rclpy) / ndarray (rosbags) / list (DDS) without copying."""
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def decode_image(height: int, width: int, encoding: str, step: int, data, is_bigendian: int = 0) -> np.ndarray:
    """Image fields -> array (H, W) or (H, W, C) in the message's own channel order and depth."""
    layout = _layout(encoding)
    itemsize = np.dtype(layout.dtype).itemsize
    row_bytes = width * layout.channels * itemsize
    if height <= 0 or width <= 0:
        raise ImageCodecError(f"image has no pixels: height={height}, width={width}")
    if step < row_bytes:
        raise ImageCodecError(f"step {step} < width*channels*bytes = {row_bytes} for {width}px {encoding}")
    buffer = _byte_view(data)
    if buffer.size < step * (height - 1) + row_bytes:
        raise ImageCodecError(
            f"image data has {buffer.size} bytes; {encoding} {width}x{height} with step {step} "
            f"needs {step * height}"
        )
    rows = np.lib.stride_tricks.as_strided(buffer, shape=(height, row_bytes), strides=(step, 1))
    dtype = np.dtype(layout.dtype)
    if itemsize > 1:
        dtype = dtype.newbyteorder(">" if is_bigendian else "<")
    pixels = np.ascontiguousarray(rows).view(dtype).astype(dtype.newbyteorder("="), copy=False)
    if layout.channels == 1:
        return pixels.reshape(height, width)
    return pixels.reshape(height, width, layout.channels)


def to_rgb(array: np.ndarray, encoding: str) -> np.ndarray:
    """Array in ``encoding`` -> RGB uint8, the tracker's input (16-bit mono scaled by 1/257)."""
    layout = _layout(encoding)
    if layout.channels == 2 and array.ndim >= 2 and array.shape[1] % 2:
        raise ImageCodecError(f"packed YUV 4:2:2 ({encoding}) needs an even width, got {array.shape[1]}")
    if array.dtype == np.uint16:
        array = (array // 257).astype(np.uint8)
    if layout.to_rgb is None:
        return np.ascontiguousarray(array)
    try:
        return cv2.cvtColor(array, layout.to_rgb)
    except cv2.error as exc:  # any layout OpenCV refuses is a bad frame, not a crash
        raise ImageCodecError(f"cannot convert {encoding} {array.shape} to RGB: {exc}") from None


def image_fields_to_rgb(msg) -> np.ndarray:
    """Any object with sensor_msgs/Image fields (rclpy, rosbags, DDS) -> RGB uint8 (H, W, 3)."""
    array = decode_image(msg.height, msg.width, msg.encoding, msg.step, msg.data, msg.is_bigendian)
    return to_rgb(array, msg.encoding)


def encode_image(array: np.ndarray, encoding: str = "rgb8") -> dict:
    """Array -> sensor_msgs/Image fields (no header), rows unpadded, little-endian."""
    layout = _layout(encoding)
    if layout.channels == 2:
        raise ImageCodecError(f"encoding to packed YUV {encoding!r} is not supported")
    expected_ndim = 2 if layout.channels == 1 else 3
    if array.ndim != expected_ndim or (expected_ndim == 3 and array.shape[2] != layout.channels):
        raise ImageCodecError(f"array of shape {array.shape} does not fit encoding {encoding!r}")
    dtype = np.dtype(layout.dtype)
    if array.dtype != dtype.newbyteorder("="):
        raise ImageCodecError(f"array dtype {array.dtype} does not fit encoding {encoding!r} ({dtype})")
    height, width = array.shape[:2]
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": width * layout.channels * dtype.itemsize,
        "data": data,
    }


def decode_compressed(format: str, data) -> np.ndarray:
    """sensor_msgs/CompressedImage fields -> RGB uint8 (JPEG/PNG; the format string is advisory)."""
    buffer = _byte_view(data)
    if buffer.size == 0:
        raise ImageCodecError(f"compressed image ({format!r}) has no data")
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageCodecError(f"cannot decode compressed image with format {format!r} ({buffer.size} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_compressed(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> dict:
    """RGB uint8 -> sensor_msgs/CompressedImage fields (no header)."""
    ext = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}.get(fmt)
    if ext is None:
        raise ImageCodecError(f"unsupported compressed format {fmt!r}; supported: jpeg, png")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageCodecError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
    return {"format": "jpeg" if ext == ".jpg" else "png", "data": buffer.tobytes()}
