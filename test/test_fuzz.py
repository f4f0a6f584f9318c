"""Property-based tests over everything that arrives from outside (issue 17): image messages,
queries, YAML settings and --set values, bag contents, model-file bytes and CLI values.

Every property: the code answers with a result or with one clear line (its own error type, one
line of text), never a traceback of another type, a crash or a silently wrong result.

Profiles (``HYPOTHESIS_PROFILE``):
- ``ci`` (default): seeded (derandomized, no example database), the example counts below; the
  whole file runs in about 30-45 s on the shared 2-core machine.
- ``nightly``: 20x the examples with fresh random seeds each run (Hypothesis prints the seed and
  the shrunk example of any failure):
  ``HYPOTHESIS_PROFILE=nightly python -m pytest -q test/test_fuzz.py -p no:timeout``
"""
import functools
import math
import os
import string
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                 HealthCheck.data_too_large])
settings.register_profile("nightly", derandomize=False, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                 HealthCheck.data_too_large])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
SCALE = 20 if PROFILE == "nightly" else 1


def examples(n: int):
    return settings(max_examples=n * SCALE)


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text


# --- images: dimensions, encodings, steps, byte lengths ----------------------------------------
ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "yuv422", "uyvy", "yuv422_yuy2", "yuyv",
             "rgb16", "", "RGB8", "bayer_rggb8", "32FC1"]


@st.composite
def image_messages(draw):
    from langtrack_ros.adapters.image_codec import ENCODINGS as KNOWN

    encoding = draw(st.sampled_from(ENCODINGS))
    height, width = draw(st.integers(-2, 40)), draw(st.integers(-2, 40))
    layout = KNOWN.get(encoding)
    row = max(width, 0) * (layout.channels * np.dtype(layout.dtype).itemsize if layout else 3)
    step = draw(st.one_of(st.just(row), st.integers(-4, row + 16)))
    needed = max(step, 0) * max(height, 0)
    size = draw(st.one_of(st.just(needed), st.integers(0, needed + 32)))
    data = draw(st.binary(min_size=size, max_size=size)) if size < 64 else bytes(range(256)) * (size // 256) + \
        bytes(size % 256)
    return types.SimpleNamespace(height=height, width=width, encoding=encoding, step=step, data=data,
                                 is_bigendian=draw(st.sampled_from([0, 1])))


@examples(300)
@given(msg=image_messages())
def test_any_image_message_decodes_to_rgb_or_is_one_codec_error(msg):
    from langtrack_ros.adapters.image_codec import ImageCodecError, image_fields_to_rgb

    try:
        rgb = image_fields_to_rgb(msg)
    except ImageCodecError as exc:
        assert one_line(str(exc))
        return
    assert rgb.shape == (msg.height, msg.width, 3) and rgb.dtype == np.uint8
    if msg.encoding == "rgb8":  # not silently wrong: the bytes are the pixels
        rows = np.frombuffer(msg.data, np.uint8)[:msg.step * msg.height]
        expected = np.stack([rows[r * msg.step:r * msg.step + 3 * msg.width] for r in range(msg.height)])
        assert (rgb.reshape(msg.height, -1) == expected).all()


@pytest.fixture(scope="module")
def fake_tracker():
    from fake_mvlm import FakeBackend, FakeEncoder
    from langtrack_ros.tracking.tracker import MVLMTracker, load_settings
    from packaged import search_config

    tracker = MVLMTracker(FakeBackend(), FakeEncoder(), load_settings().gate, search_config(max_side=256))
    tracker.set_query("red ball")
    return tracker


@examples(120)
@given(h=st.integers(1, 1200), w=st.integers(1, 1200), value=st.integers(0, 255))
def test_any_frame_size_gives_a_finite_box_on_the_frame(fake_tracker, h, w, value):
    image = np.full((h, w, 3), value, np.uint8)
    image[h // 3:h // 3 + max(1, h // 4), w // 3:w // 3 + max(1, w // 4)] = (220, 30, 30)
    box = fake_tracker.step(image).box
    assert np.isfinite(box).all() and box[2] >= 0 and box[3] >= 0
    assert box[0] >= -1e-6 and box[1] >= -1e-6 and box[0] + box[2] <= w + 1e-6 and box[1] + box[3] <= h + 1e-6


# --- queries: any Unicode, any length -----------------------------------------------------------
@pytest.fixture(scope="module")
def query_session():
    from langtrack_ros.adapters.session import TrackingSession
    from langtrack_ros.tracking.text_encoder import TextEncoder

    encoder = TextEncoder(max_tokens=32)

    class Tracker:  # the real query path: MiniLM tokenizer + encoder, as MVLMTracker.set_query uses it
        needs_box = False

        def set_query(self, text, **_):
            self.features, self.mask = encoder.encode(text)

    return TrackingSession(Tracker()), encoder


@examples(150)
@given(text=st.one_of(st.text(max_size=40), st.text(min_size=200, max_size=3000),
                      st.text(alphabet=string.whitespace + "\x00\u200b\ufeff", max_size=20)))
def test_any_query_is_accepted_with_bounded_features_or_refused_in_one_line(query_session, text):
    session, encoder = query_session
    session.query = "the red car"
    accepted, why = session.set_query(text)
    assert one_line(why)
    if accepted:
        features, mask = session.tracker.features, session.tracker.mask
        assert features.shape[0] == mask.shape[0] <= encoder.max_tokens and mask.any()
        assert np.isfinite(features).all() and session.query == text.strip()
    else:
        assert session.query == "the red car"  # the previous target stays in force


# --- YAML settings: types, missing and extra keys (files and --set) -----------------------------
YAML_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                        st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                                                  max_size=2))


def _loaders():
    from langtrack_ros.config import flatten, load_merged
    from langtrack_ros.tracking.tracker import NODE, settings_from
    from langtrack_ros.training.trainer import make_train_config
    from langtrack_ros.vlt.config import make_vlt_config
    from langtrack_ros.vlt.tracker import VLTTrackerConfig
    from langtrack_ros.config import from_dict

    return {
        "tracker": (load_merged("tracker", None, NODE), lambda d: settings_from(d, "tracker.yaml")),
        "train_mvlm": (load_merged("train_mvlm"), lambda d: make_train_config(d, "train_mvlm.yaml")),
        "train_vlt": (load_merged("train_vlt"), lambda d: make_vlt_config(d, "train_vlt.yaml")),
        "vlt_tracker": (load_merged("vlt_tracker", None, "langtrack_vlt_tracker"),
                        lambda d: from_dict(VLTTrackerConfig, d, "vlt_tracker.yaml")),
    }, flatten


LOADERS, FLATTEN = _loaders()


def _typed(obj) -> bool:
    """Every field of a loaded settings object has its declared type, floats finite."""
    import dataclasses
    import typing

    from langtrack_ros.config import _matches

    if not dataclasses.is_dataclass(obj):
        return True
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            if not _typed(value):
                return False
        elif not _matches(value, hints[f.name]):
            return False
    return True


@st.composite
def settings_changes(draw):
    import copy

    name = draw(st.sampled_from(sorted(LOADERS)))
    base, _ = LOADERS[name]
    data = copy.deepcopy(base)
    keys = sorted(FLATTEN(data))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "delete", "extra", "section"]))
        path = draw(st.sampled_from(keys)).split(".")
        node = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if kind == "value":
            node[path[-1]] = draw(YAML_VALUES)
        elif kind == "delete":
            node.pop(path[-1], None)
        elif kind == "extra":
            node[draw(st.text(string.ascii_lowercase + "_", min_size=1, max_size=8))] = draw(YAML_VALUES)
        else:
            data[path[0]] = draw(YAML_VALUES)
    return name, data


@examples(250)
@given(change=settings_changes())
def test_any_settings_mapping_loads_typed_or_is_one_config_error(change):
    from langtrack_ros.config import ConfigError

    name, data = change
    try:
        loaded = LOADERS[name][1](data)
    except ConfigError as exc:
        assert one_line(str(exc)), str(exc)
        return
    assert _typed(loaded), loaded


@examples(150)
@given(key=st.sampled_from(sorted(FLATTEN(LOADERS["train_mvlm"][0]))),
       value=st.one_of(st.text(max_size=10), st.sampled_from(["nan", ".inf", "[1, 2]", "{a: 1}", "~", "2.5", "-1"])))
def test_any_set_override_is_typed_or_one_config_error(key, value):
    from langtrack_ros.config import ConfigError
    from langtrack_ros.training.trainer import load_train_config

    assume("\n" not in value and "\r" not in value)
    try:
        cfg = load_train_config(None, [f"{key}={value}"])
    except ConfigError as exc:
        assert one_line(str(exc)), str(exc)
        return
    assert _typed(cfg)


# --- bag contents: any bytes in an image or query message --------------------------------------
@pytest.fixture(scope="module")
def bag_codec():
    from langtrack_ros.adapters import conversions as conv
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.adapters.session import TrackingSession
    from colour_tracker import ColourTracker
    from langtrack_ros.evaluation.bag_replay import _rgb

    store = defs.typestore()
    return store, defs, conv, TrackingSession(ColourTracker(), "the red square"), _rgb


@st.composite
def image_payloads(draw, store, defs, conv):
    """Raw CDR bytes as a bag holds them: a well-formed Image with any field values, or any bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    fields = {"header": conv.header_fields(draw(st.integers(0, 2 ** 31 - 1)), 0, draw(st.text(max_size=5))),
              "height": draw(st.integers(0, 2 ** 32 - 1) | st.integers(0, 8)),
              "width": draw(st.integers(0, 2 ** 32 - 1) | st.integers(0, 8)),
              "encoding": draw(st.sampled_from(ENCODINGS) | st.text(max_size=8)),
              "is_bigendian": draw(st.integers(0, 255)), "step": draw(st.integers(0, 2 ** 32 - 1) | st.integers(0, 40)),
              "data": np.frombuffer(draw(st.binary(max_size=300)), np.uint8)}
    raw = bytes(store.serialize_cdr(conv.build(defs.IMAGE, fields, lambda n: store.types[n]), defs.IMAGE))
    cut = draw(st.integers(0, len(raw)))
    return raw if draw(st.booleans()) else raw[:cut]


@examples(250)
@given(data=st.data())
def test_any_image_bytes_in_a_bag_are_a_tracked_frame_or_one_dropped_frame_line(bag_codec, data):
    """The per-message path of ``langtrack replay``: deserialize, decode, track."""
    store, defs, conv, session, rgb_of = bag_codec
    raw = data.draw(image_payloads(store, defs, conv))
    try:
        msg = store.deserialize_cdr(raw, defs.IMAGE)
    except Exception as exc:  # noqa: BLE001 - replay logs this one line and skips the message
        assert one_line(" ".join(str(exc).split()) or type(exc).__name__)
        return
    lines, dropped = [], session.dropped
    outputs = session.process(lambda: rgb_of(msg, defs.IMAGE), msg.header, lines.append)
    if outputs is None:
        assert len(lines) == 1 and one_line(lines[0]) and session.dropped == dropped + 1
    else:
        assert outputs.image.shape == (msg.height, msg.width, 3) and not lines


@examples(10)
@given(images=st.lists(st.binary(max_size=64) | st.sampled_from([b"", b"\x00\x01\x00\x00"]), min_size=1, max_size=3),
       query=st.text(max_size=30))
def test_a_bag_of_any_message_bytes_replays_to_a_summary(tmp_path_factory, images, query):
    """Whole bags (fewer examples: each writes and reads a sqlite3 bag)."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from colour_tracker import ColourTracker
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.evaluation.bag_replay import replay_bag

    folder = tmp_path_factory.mktemp("fuzzbag")
    store = defs.typestore()
    with Writer(folder / "bag", version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        image = writer.add_connection("/camera/image_raw", defs.IMAGE, typestore=store)
        text = writer.add_connection("/query", defs.STRING, typestore=store)
        writer.write(text, 1, bytes(store.serialize_cdr(store.types[defs.STRING](data=query), defs.STRING)))
        for i, raw in enumerate(images):
            writer.write(image, 10 + i, raw)
    try:
        summary = replay_bag(folder / "bag", folder / "out", ColourTracker(), initial_query="the red square")
    except ValueError as exc:
        assert one_line(str(exc))
        return
    assert summary.frames == len(images) and summary.tracked + summary.failed <= summary.frames


# --- model-file bytes -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model_bytes(tmp_path_factory):
    import torch

    from langtrack_ros.model_files import save_model
    from langtrack_ros.tracking.network import MVLM
    from packaged import mvlm_config

    torch.manual_seed(0)
    cfg = mvlm_config(search_size=32, width=16, depth=1, heads=2, tokenizer="patch", head_channels=8,
                      max_text_tokens=8)
    path = save_model(MVLM(cfg, pretrained_tokenizer=False), cfg, tmp_path_factory.mktemp("m") / "m.safetensors")
    return path.read_bytes(), {k: v.clone() for k, v in MVLM(cfg, pretrained_tokenizer=False).state_dict().items()}


@st.composite
def damaged(draw, original: bytes):
    data = bytearray(original)
    kind = draw(st.sampled_from(["flip", "flip", "header", "truncate", "append"]))
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    if kind == "append":
        return bytes(data) + draw(st.binary(min_size=1, max_size=64))
    header_end = 8 + int.from_bytes(original[:8], "little")
    lo, hi = (0, header_end - 1) if kind == "header" else (0, len(data) - 1)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(lo, hi))
        data[at] = draw(st.integers(0, 255))
    return bytes(data)


@examples(200)
@given(data=st.data())
def test_any_damage_to_a_model_file_is_refused_in_one_line_or_changes_nothing(tiny_model_bytes, tmp_path_factory,
                                                                              data):
    """Loads with the very same network and tensors, or ModelFileError naming the file."""
    import torch

    from langtrack_ros import model_hash
    from langtrack_ros.inference.backends import ModelFileError, make_backend

    original, _ = tiny_model_bytes
    blob = data.draw(damaged(original))
    path = tmp_path_factory.mktemp("d") / "m.safetensors"
    path.write_bytes(blob)
    model_hash._verified.clear()
    try:
        backend = make_backend("torch", path)
    except (ModelFileError, FileNotFoundError) as exc:
        assert one_line(str(exc)) and str(path) in str(exc), str(exc)
        return
    reference = tmp_path_factory.mktemp("r") / "m.safetensors"
    reference.write_bytes(original)
    expected = make_backend("torch", reference).model
    got = backend.model.state_dict()
    assert backend.model.cfg == expected.cfg
    assert all(torch.equal(got[k], v) for k, v in expected.state_dict().items())


# --- CLI values ------------------------------------------------------------------------------------
NUMBERS = st.one_of(st.integers(-10 ** 6, 10 ** 6).map(str), st.floats().map(repr), st.text(max_size=8),
                    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e309", "0x10", "1_000", " 3 ", "", "-0"]))
OPTIONS = [
    (["replay", "--bag", "b", "--out", "o", "--speed"], "speed", lambda v: math.isfinite(v) and v > 0),
    (["dds", "--domain-id"], "domain_id", lambda v: 0 <= v <= 232),
    (["dds", "--duration"], "duration", lambda v: math.isfinite(v) and v >= 0),
    (["dds", "--max-frames"], "max_frames", lambda v: v >= 0),
    (["track", "--video", "v", "--query", "q", "--max-frames"], "max_frames", lambda v: v >= 0),
]


@functools.lru_cache(maxsize=1)
def PARSER():  # noqa: N802 - built once: argparse parsers are reusable
    from langtrack_ros.cli import build_parser

    return build_parser()


@examples(200)
@given(option=st.sampled_from(OPTIONS), value=NUMBERS)
def test_any_cli_number_is_in_range_or_argparses_one_error_line(capsys, option, value):
    argv, dest, valid = option
    try:
        args = PARSER().parse_args([*argv, value]) if not value.startswith("-") else \
            PARSER().parse_args([*argv[:-1], f"{argv[-1]}={value}"])
    except SystemExit as stop:
        err = capsys.readouterr().err
        assert stop.code == 2 and err.splitlines()[-1].startswith("langtrack") and "Traceback" not in err
        return
    assert valid(getattr(args, dest)), (argv, value)


@examples(100)
@given(box=st.lists(st.one_of(st.floats(), st.integers(-10 ** 6, 10 ** 6)), min_size=4, max_size=4))
def test_any_init_box_is_used_or_refused_naming_init_box(box):
    from langtrack_ros.commands.track import _make_tracker

    args = types.SimpleNamespace(tracker="vlt", config=None, init_box=[float(v) for v in box], model=None,
                                 backend=None, priors=None)
    assume(not (all(math.isfinite(float(v)) for v in box) and box[2] > 0 and box[3] > 0))  # valid: builds VLT
    with pytest.raises(ValueError, match=r"^--init-box .*: init_box must be 4 finite numbers"):
        _make_tracker(args)
