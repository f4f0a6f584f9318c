"""sensor_msgs/Image <-> numpy: every encoding, padded rows, endianness, and clear errors."""
import numpy as np
import pytest

from langtrack_ros.adapters.image_codec import (
    ImageCodecError, decode_compressed, decode_image, encode_compressed, encode_image, image_fields_to_rgb,
)


class Msg:
    def __init__(self, **fields):
        self.__dict__.update(fields)


RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding,array,expected", [
    ("rgb8", RGB, RGB),
    ("bgr8", RGB[..., ::-1].copy(), RGB),
    ("rgba8", np.dstack([RGB, np.full((5, 7), 9, np.uint8)]), RGB),
    ("bgra8", np.dstack([RGB[..., ::-1], np.full((5, 7), 9, np.uint8)]), RGB),
    ("mono8", RGB[..., 0].copy(), np.repeat(RGB[..., :1], 3, axis=2)),
    ("mono16", RGB[..., 0].astype(np.uint16) * 257, np.repeat(RGB[..., :1], 3, axis=2)),
])
def test_round_trip_and_rgb(encoding, array, expected):
    fields = encode_image(array, encoding)
    assert fields["step"] == array.shape[1] * array.itemsize * (array.shape[2] if array.ndim == 3 else 1)
    decoded = decode_image(**fields)
    np.testing.assert_array_equal(decoded, array)
    np.testing.assert_array_equal(image_fields_to_rgb(Msg(**fields)), expected)


def test_step_padding_is_skipped():
    fields = encode_image(RGB, "rgb8")
    padded = b"".join(fields["data"][r * 21:(r + 1) * 21] + b"\xee" * 11 for r in range(5))
    decoded = decode_image(5, 7, "rgb8", 32, padded)
    np.testing.assert_array_equal(decoded, RGB)


def test_last_row_padding_may_be_missing():
    padded = b"".join(RGB[r].tobytes() + b"\0" * 3 for r in range(5))[:-3]
    np.testing.assert_array_equal(decode_image(5, 7, "rgb8", 24, padded), RGB)


def test_mono16_big_endian():
    values = np.array([[1, 256, 65535]], dtype=np.uint16)
    decoded = decode_image(1, 3, "mono16", 6, values.astype(">u2").tobytes(), is_bigendian=1)
    np.testing.assert_array_equal(decoded, values)
    assert decoded.dtype == np.dtype("=u2")


def test_list_and_array_data_like_other_bindings():
    fields = encode_image(RGB, "rgb8")
    from array import array
    for data in (list(fields["data"]), array("B", fields["data"]), np.frombuffer(fields["data"], np.uint8)):
        np.testing.assert_array_equal(decode_image(5, 7, "rgb8", 21, data), RGB)


def test_yuv422_decodes_to_grey_for_neutral_chroma():
    uyvy = np.tile(np.array([128, 100, 128, 100], np.uint8), (2, 2))  # 2 rows, 4 pixels
    rgb = image_fields_to_rgb(Msg(height=2, width=4, encoding="yuv422", step=8, data=uyvy.tobytes(), is_bigendian=0))
    assert rgb.shape == (2, 4, 3)
    assert np.ptp(rgb) <= 1


def test_unknown_encoding_names_supported_ones():
    with pytest.raises(ImageCodecError, match="unsupported image encoding '32FC1'.*rgb8"):
        decode_image(1, 1, "32FC1", 4, b"\0" * 4)


def test_size_mismatch_and_short_step():
    with pytest.raises(ImageCodecError, match="has 20 bytes"):
        decode_image(5, 7, "mono8", 7, b"\0" * 20)
    with pytest.raises(ImageCodecError, match="step 20 < width"):
        decode_image(5, 7, "rgb8", 20, b"\0" * 200)
    with pytest.raises(ImageCodecError, match="no pixels"):
        decode_image(0, 7, "rgb8", 21, b"")


def test_encode_rejects_wrong_shape_and_dtype():
    with pytest.raises(ImageCodecError, match="shape"):
        encode_image(RGB, "mono8")
    with pytest.raises(ImageCodecError, match="dtype"):
        encode_image(RGB[..., 0], "mono16")
    with pytest.raises(ImageCodecError, match="packed YUV"):
        encode_image(RGB, "yuv422")


def test_compressed_round_trip_and_error():
    smooth = np.zeros((16, 16, 3), np.uint8)
    smooth[..., 0] = 200
    fields = encode_compressed(smooth, "png")
    np.testing.assert_array_equal(decode_compressed(**fields), smooth)
    jpeg = decode_compressed(**encode_compressed(smooth, "jpeg"))
    assert abs(int(jpeg[..., 0].mean()) - 200) <= 3 and jpeg[..., 2].mean() < 5
    with pytest.raises(ImageCodecError, match="cannot decode"):
        decode_compressed("jpeg", b"not an image")
    with pytest.raises(ImageCodecError, match="no data"):
        decode_compressed("jpeg", b"")

