"""Fault injection: every case in docs/RELIABILITY.md has its test here (or names the file that
holds it). Bad frames, bad queries, damaged files and killed processes must end in one clear log
line or error, never a crash, a traceback or a silently wrong result."""
import types

import numpy as np
import pytest

import fake_rclpy
from colour_tracker import ColourTracker, frame
from dds_domain import RUN_TAG, domain_in
from langtrack_ros.adapters import topics
from langtrack_ros.adapters.image_codec import ImageCodecError, image_fields_to_rgb
from langtrack_ros.adapters.session import TrackingSession


def _yuyv(width, height=4, encoding="yuyv"):
    return types.SimpleNamespace(height=height, width=width, encoding=encoding, step=width * 2,
                                 data=bytes(width * 2 * height), is_bigendian=0,
                                 header=types.SimpleNamespace(stamp=types.SimpleNamespace(sec=1, nanosec=0)))


# --- 1. any per-frame exception drops that frame, never the process ---------------------------
@pytest.mark.parametrize("encoding", ["yuyv", "yuv422"])
def test_odd_width_packed_yuv_is_a_codec_error_not_a_cv2_error(encoding):
    with pytest.raises(ImageCodecError, match="even width"):
        image_fields_to_rgb(_yuyv(5, encoding=encoding))


class _Exploding(ColourTracker):
    def step(self, image):
        raise RuntimeError("CUDA error: an illegal memory access")


def test_session_process_drops_any_failing_frame_with_one_line_and_keeps_serving():
    lines = []
    session = TrackingSession(ColourTracker(), "the red square")
    assert session.process(lambda: image_fields_to_rgb(_yuyv(5)), None, lines.append) is None
    assert session.process(lambda: 1 / 0, None, lines.append) is None  # anything unexpected
    assert session.process(lambda: frame(0)[0], None, lines.append).result.found
    session.tracker = _Exploding()
    assert session.process(lambda: frame(0)[0], None, lines.append) is None
    assert session.dropped == 3 and len(lines) == 3
    assert "even width" in lines[0] and "ZeroDivisionError" in lines[1] and "CUDA error" in lines[2]


# --- 2. rclpy node: logger call sites, parameter descriptors, typed launch values -------------
@pytest.fixture
def rclpy_fake():
    undo = fake_rclpy.install()
    yield fake_rclpy
    undo()


def _tracker_node(monkeypatch):
    from langtrack_ros.ros import tracker_node

    node = tracker_node.TrackerNode()
    node.session = TrackingSession(ColourTracker())
    node.publishers_ = {t: types.SimpleNamespace(publish=lambda m: None) for t in topics.OUTPUTS}
    monkeypatch.setattr(tracker_node.conv, "build", lambda *a, **k: None)
    return node


def test_node_survives_an_empty_query_after_an_accepted_one(rclpy_fake, monkeypatch):
    node = _tracker_node(monkeypatch)
    node._on_query(types.SimpleNamespace(data="the red square"))
    node._on_query(types.SimpleNamespace(data="   "))  # rclpy raised here: one call site, two severities
    node._on_query(types.SimpleNamespace(data="the blue square"))
    assert [s for s, _ in node.get_logger().lines] == ["info", "warning", "info"]


def test_every_node_parameter_has_its_own_descriptor(rclpy_fake, monkeypatch):
    node = _tracker_node(monkeypatch)
    assert len({id(d) for d in node.descriptors.values()}) == len(node.descriptors)
    assert all(d.name == key for key, d in node.descriptors.items())
    assert node.descriptors["gate.tau"].description.startswith("MVLM gate")


def test_node_drops_an_odd_width_yuyv_frame_and_tracks_the_next(rclpy_fake, monkeypatch):
    node = _tracker_node(monkeypatch)
    node.session.set_query("the red square")
    node._on_image(_yuyv(5))
    assert node.get_logger().lines[-1][0] == "error" and "even width" in node.get_logger().lines[-1][1]
    node._track(lambda: frame(0)[0], None)
    assert node.session.dropped == 1
    from langtrack_ros.ros import tracker_node

    monkeypatch.setattr(tracker_node.conv, "build", lambda *a, **k: 1 / 0)  # a result that cannot be published
    node._track(lambda: frame(0)[0], None)
    assert "publishing failed (ZeroDivisionError" in node.get_logger().lines[-1][1]


def test_trainer_node_accepts_an_integer_progress_period(rclpy_fake, monkeypatch):
    from langtrack_ros.ros import trainer_node

    monkeypatch.setattr(fake_rclpy, "OVERRIDES", {"progress_period": 2})  # `progress_period:=2`
    monkeypatch.setattr(trainer_node, "ros_class", lambda name: object)  # no langtrack_msgs build here
    node = trainer_node.TrainerNode()
    assert node.timer[0] == 2.0


# --- 4. bag replay: query topic choice, no query, bad frames, damaged bags, real time ---------
MS = 1_000_000


def _bag(path, frames=6, period_ms=100, strings=(("/query", 0, "the red square"),), bad_at=(), garbage_at=()):
    """Images every ``period_ms`` (frame i at (i+1)*period); ``strings``: (topic, frame, text) said
    just before that frame; ``bad_at``: odd-width yuyv images; ``garbage_at``: bytes that are no CDR."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from langtrack_ros.adapters import conversions as conv
    from langtrack_ros.adapters import definitions as defs
    from langtrack_ros.adapters.image_codec import encode_image

    store = defs.typestore()
    make = lambda n: store.types[n]  # noqa: E731
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        images = writer.add_connection("/camera/image_raw", defs.IMAGE, typestore=store)
        topics = {t: writer.add_connection(t, defs.STRING, typestore=store) for t in {s[0] for s in strings}}
        for i in range(frames):
            t = (i + 1) * period_ms * MS
            for topic, at, text in strings:
                if at == i:
                    writer.write(topics[topic], t - 1, store.serialize_cdr(make(defs.STRING)(data=text), defs.STRING))
            header = conv.header_fields(i, 0, "cam")
            fields = {**encode_image(frame(i)[0], "rgb8"), "header": header}
            if i in bad_at:
                fields.update(encoding="yuyv", width=5, step=10, height=4, data=bytes(40))
            raw = b"\x00\x01\x00\x00garbage" if i in garbage_at else store.serialize_cdr(conv.build(defs.IMAGE, fields, make), defs.IMAGE)
            writer.write(images, t, raw)
    return path


def _replay(argv, capsys):
    from langtrack_ros.cli import main as cli_main

    rc = cli_main(["replay", *argv, "--tracker-factory", f"{__import__('colour_tracker').__file__}:make"])
    return rc, capsys.readouterr()


def test_replay_takes_only_the_query_topic_never_another_string_topic(tmp_path, capsys, caplog):
    bag = _bag(tmp_path / "b", strings=(("/rosout_text", 0, "the blue square"),))
    rc, _ = _replay(["--bag", str(bag), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "no /query topic and no --query" in caplog.text
    assert "String topics ['/rosout_text'] but no /query" in caplog.text
    assert not (tmp_path / "o" / "b_tracked").exists()
    rc, out = _replay(["--bag", str(bag), "--out", str(tmp_path / "o"), "--query-topic", "/rosout_text"], capsys)
    assert rc == 0 and "6 tracked" in out.out


def test_replay_with_queries_only_after_the_images_is_an_error(tmp_path, capsys, caplog):
    bag = _bag(tmp_path / "late", frames=3, strings=(("/query", 2, "   "),))
    rc, out = _replay(["--bag", str(bag), "--out", str(tmp_path / "o")], capsys)
    assert rc == 1 and "0 tracked" in out.out and "no image was tracked" in caplog.text


def test_replay_keeps_its_target_when_the_tracker_refuses_a_query(tmp_path, capsys, caplog):
    """A sentence the tracker raises on (here: no colour word) was an uncaught exception in replay;
    the shared session now refuses it and the previous target stays in force."""
    bag = _bag(tmp_path / "r", strings=(("/query", 0, "the red square"), ("/query", 3, "the square")))
    rc, out = _replay(["--bag", str(bag), "--out", str(tmp_path / "o")], capsys)
    assert rc == 0 and "6 tracked" in out.out, out.out
    assert "query refused (ValueError: colour tracker needs a colour word" in caplog.text
    assert "still tracking 'the red square'" in caplog.text
    boxes = np.loadtxt(tmp_path / "o" / "r.txt", delimiter=",")
    assert (boxes[5] == frame(5)[1]["red"]).all()


def test_replay_drops_bad_frames_and_tracks_the_rest(tmp_path, capsys, caplog):
    bag = _bag(tmp_path / "bad", bad_at=(2,), garbage_at=(4,))
    rc, out = _replay(["--bag", str(bag), "--out", str(tmp_path / "o")], capsys)
    assert rc == 0 and "6 images on /camera/image_raw, 4 tracked, 2 failed" in out.out, out.out
    boxes = np.loadtxt(tmp_path / "o" / "bad.txt", delimiter=",")
    assert np.isnan(boxes[[2, 4]]).all() and (boxes[5] == frame(5)[1]["red"]).all()
    assert "even width" in caplog.text and "cannot be decoded" in caplog.text


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_bag_is_one_clear_error_and_leaves_no_result_bag(tmp_path, capsys, caplog, damage):
    bag = _bag(tmp_path / "d")
    db = next(bag.glob("*.db3"))
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2] if damage == "truncate" else np.random.default_rng(0).bytes(len(data)))
    rc, _ = _replay(["--bag", str(bag), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "cannot read bag" in caplog.text
    assert not (tmp_path / "o" / "d_tracked").exists()


def test_bag_damaged_part_way_keeps_what_was_read(tmp_path, capsys, caplog, monkeypatch):
    from rosbags.highlevel import AnyReader

    bag, real = _bag(tmp_path / "p"), AnyReader.messages

    def broken(self, *a, **k):
        for n, item in enumerate(real(self, *a, **k)):
            if n == 4:
                raise OSError("disk I/O error")
            yield item
    monkeypatch.setattr(AnyReader, "messages", broken)
    rc, out = _replay(["--bag", str(bag), "--out", str(tmp_path / "o")], capsys)
    assert rc == 1 and "3 tracked" in out.out and "disk I/O error" in caplog.text
    assert (tmp_path / "o" / "p_tracked" / "metadata.yaml").is_file()


class _Slow(ColourTracker):
    def step(self, image):
        import time

        time.sleep(0.045)
        return super().step(image)


def test_realtime_replay_drops_what_a_slow_tracker_cannot_keep_up_with_and_scores(tmp_path):
    from langtrack_ros.evaluation.bag_replay import replay_bag

    bag = _bag(tmp_path / "rt", frames=24, period_ms=15)
    gt = tmp_path / "gt.txt"
    gt.write_text("".join(",".join(map(str, frame(i)[1]["red"])) + "\n" for i in range(24)))
    offline = replay_bag(bag, tmp_path / "a", _Slow(), gt_file=gt)
    assert (offline.dropped, offline.tracked) == (0, 24) and offline.scores["auc"] > 0.95
    live = replay_bag(bag, tmp_path / "b", _Slow(), realtime=True, gt_file=gt)
    assert live.dropped >= 8 and live.tracked + live.dropped == 24  # ~45 ms per step, a frame every 15 ms
    assert live.scores["frames_with_gt"] == 24 and live.scores["auc"] < offline.scores["auc"]  # held boxes lag the target
    fast = replay_bag(bag, tmp_path / "c", ColourTracker(), realtime=True, speed=0.1)  # 150 ms a frame: slack for a loaded machine
    assert fast.dropped == 0 and fast.tracked == 24


# --- 8. cost flat in resolution: one resize at the top, boxes in camera pixels ----------------
def test_a_1080p_frame_is_searched_at_the_working_size_and_boxes_come_back_in_camera_pixels():
    import cv2

    from fake_mvlm import FakeBackend, FakeEncoder, scene
    from langtrack_ros.tracking.result import SearchMode
    from langtrack_ros.tracking.tracker import MVLMTracker, load_settings
    from packaged import search_config

    settings = load_settings()
    assert settings.search.max_side == 640  # config/tracker.yaml
    small = [scene(squares=[("red", 60 + 6 * k, 70 + 3 * k, 32)]) for k in range(4)]  # 320x240
    backend = FakeBackend()
    tracker = MVLMTracker(backend, FakeEncoder(), settings.gate, search_config(max_side=320))
    tracker.set_query("red ball")
    for k, image in enumerate(small):
        scale = 6.0 if k < 2 else 0.5  # the camera switches from 1920x1440 to 160x120 (same view)
        camera = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        result = tracker.step(camera)
        assert backend.patches[-1].shape == (128, 128, 3)
        truth = np.array([60 + 6 * k, 70 + 3 * k, 32, 32]) * scale
        np.testing.assert_allclose(result.box, truth, atol=3 * max(scale, 1))
        assert result.found and (result.mode is SearchMode.ROI) == (k > 0)  # memory followed the switch


@pytest.mark.parametrize("bad", [-1, 10, 640.5, True])
def test_max_side_is_validated(bad):
    from langtrack_ros.config import ConfigError
    from packaged import search_config

    with pytest.raises(ConfigError, match="max_side"):
        search_config(max_side=bad)


def test_border_fill_is_a_sampled_mean_not_a_full_image_pass():
    """The full-image mean was the O(H*W) term of every crop (32 ms at 1080p on this machine)."""
    from langtrack_ros.tracking import geometry

    image = np.zeros((1080, 1920, 3), np.uint8)
    image[1::2] = 200  # stripes on odd rows: the sample grid must not alias onto one of them
    image[..., 2] = 50
    fill = geometry.image_mean(image)
    assert abs(fill[0] - 100) < 10 and fill[2] == 50
    patch = geometry.warp(image, geometry.PatchTransform(-5000, -5000, 1.0, 8))  # all border
    assert np.abs(patch[..., 0].astype(float) - fill[0]).max() <= 1


# --- 5. checkpoints: damaged newest falls back, damaged tensor data is caught, missing config --
def _tiny_run(run_dir, steps=(1, 2)):
    import torch

    from langtrack_ros.training import checkpoint as ckpt

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in steps:
        model(torch.ones(2, 4)).sum().backward()
        optimizer.step()
        ckpt.save_training_state(run_dir, step, model, optimizer, keep=5)
    return model, optimizer


def _flip_tail(path, n=8):
    """Random bytes inside the tensor data (the end of a safetensors file), header untouched."""
    data = bytearray(path.read_bytes())
    data[-n:] = bytes((b ^ 0x5A) for b in data[-n:])
    path.write_bytes(bytes(data))


def test_resume_skips_a_damaged_newest_checkpoint_and_says_so(tmp_path, caplog):
    import torch

    from langtrack_ros.training import checkpoint as ckpt

    _tiny_run(tmp_path)
    _flip_tail(ckpt.checkpoint_dir(tmp_path, 2) / "model.safetensors")
    model = torch.nn.Linear(4, 3)
    folder, state = ckpt.restore_latest(tmp_path, model, torch.optim.AdamW(model.parameters()))
    assert state["step"] == 1 and folder.name == "step_00000001"
    assert "skipping damaged checkpoint step_00000002" in caplog.text and "sha256" in caplog.text


def test_resume_with_every_checkpoint_damaged_says_what_to_do(tmp_path):
    import torch

    from langtrack_ros.training import checkpoint as ckpt

    _tiny_run(tmp_path)
    for step in (1, 2):
        (ckpt.checkpoint_dir(tmp_path, step) / "state.json").write_text("{}")
    model = torch.nn.Linear(4, 3)
    with pytest.raises(ckpt.CheckpointError, match="no usable checkpoint.*start without --resume"):
        ckpt.restore_latest(tmp_path, model, torch.optim.AdamW(model.parameters()))


def test_flipped_bytes_in_a_model_file_are_caught_on_load(tmp_path):
    import torch

    from langtrack_ros.tracking.network import MVLM

    from packaged import mvlm_config
    from langtrack_ros.training import checkpoint as ckpt

    cfg = mvlm_config(search_size=64, width=32, depth=1, heads=2, head_channels=16, max_text_tokens=16)
    torch.manual_seed(0)
    path = ckpt.save_model(MVLM(cfg, pretrained_tokenizer=False), cfg, tmp_path / "m.safetensors")
    ckpt.load_model(path)  # intact: loads
    _flip_tail(path)
    with pytest.raises(ckpt.CheckpointError, match="damaged"):
        ckpt.load_model(path)


def test_resume_without_the_runs_train_config_is_a_clear_error(tmp_path, caplog):
    from langtrack_ros.cli import main as cli_main

    _tiny_run(tmp_path, steps=(1,))
    assert cli_main(["train", "mvlm", "--run-dir", str(tmp_path), "--resume"]) == 2
    assert "train_config.yaml is missing" in caplog.text and "pass --config" in caplog.text


# --- 3. cached ONNX exports: content hash on reuse, NaN burst evicts and rebuilds -------------
def _tiny_onnx(path, weights_sha256):
    """A valid ONNX file with weights (one initializer) and the metadata a real export carries."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.linspace(0, 1, 256, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [256])], [weights])
    model = helper.make_model(graph)
    model.metadata_props.add(key="weights_sha256", value=weights_sha256)
    onnx.save(model, str(path))


def test_cached_export_with_flipped_weight_bytes_is_detected_and_rebuilt(tmp_path, monkeypatch, caplog):
    from langtrack_ros.inference import backends, onnx_export
    from langtrack_ros.model_hash import sha256_file
    from langtrack_ros import model_files

    model = tmp_path / "m.safetensors"
    model.write_bytes(b"stand-in checkpoint: only its hash matters here")
    exports = []
    monkeypatch.setattr(model_files, "load_model", lambda path: None)
    monkeypatch.setattr(onnx_export, "export_mvlm",
                        lambda m, path, weights_sha256: exports.append(path) or _tiny_onnx(path, weights_sha256))
    cache = tmp_path / "cache"
    cache.mkdir()
    target = backends.cached_onnx(model, cache)
    assert backends.cached_onnx(model, cache) == target and len(exports) == 1  # intact: reused
    data = bytearray(target.read_bytes())
    at = data.index(np.float32(0.5019608).tobytes())  # inside the initializer's raw data
    data[at:at + 4] = np.float32(np.nan).tobytes()
    target.write_bytes(bytes(data))
    assert backends.onnx_weights_sha256(target) == sha256_file(model)  # metadata alone cannot tell
    assert backends.cached_onnx(model, cache) == target and len(exports) == 2
    assert "damaged" in caplog.text


class _NanBackend:
    name, search_size = "fake", 64

    def __init__(self, nan):
        self.nan = nan

    def run(self, *args):
        return {"score_map": np.full((4, 4), np.nan if self.nan else 0.5, np.float32)}


def test_nan_burst_from_a_cached_export_evicts_it_and_rebuilds_once(tmp_path, caplog):
    from langtrack_ros.inference.cache_guard import NAN_BURST, NanGuard, hash_path, record_hash

    cached = tmp_path / "m.onnx"
    cached.write_bytes(b"export")
    record_hash(cached)
    builds = []
    guard = NanGuard(lambda: builds.append(1) or _NanBackend(nan=len(builds) == 1), cached)
    assert guard.search_size == 64  # the wrapped backend's attributes
    for _ in range(NAN_BURST):
        assert not np.isfinite(guard.run()["score_map"]).all()
    assert len(builds) == 2 and not cached.exists() and not hash_path(cached).exists()
    assert np.isfinite(guard.run()["score_map"]).all()
    assert "evicting" in caplog.text


# --- 6. a bad model file is one clear line (rc 2); a bad cache path leaves nothing behind -----
@pytest.mark.parametrize("name,content,backend", [
    ("garbage.safetensors", b"\x00" * 64, "auto"),
    ("foreign.safetensors", None, "auto"),
    ("truncated.safetensors", "truncate", "torch"),
    ("garbage.onnx", b"\x08\x07 not a protobuf model", "onnxruntime"),
    ("garbage.onnx", b"\x08\x07 not a protobuf model", "auto"),
], ids=["garbage-st", "foreign-st", "truncated-st", "garbage-onnx-ort", "garbage-onnx-auto"])
def test_a_corrupt_or_foreign_model_file_is_one_clear_line(tmp_path, capsys, caplog, name, content, backend):
    import torch
    from safetensors.torch import save_file

    from langtrack_ros.cli import main as cli_main

    path = tmp_path / name
    if content is None:
        save_file({"w": torch.zeros(3)}, str(path), metadata={"format": "pt"})  # someone else's weights
    elif content == "truncate":
        save_file({"w": torch.zeros(1000)}, str(path), metadata={"langtrack_format": "mvlm-1"})
        path.write_bytes(path.read_bytes()[:-100])
    else:
        path.write_bytes(content)
    bag = _bag(tmp_path / "b", frames=1)
    rc = cli_main(["replay", "--bag", str(bag), "--out", str(tmp_path / "o"), "--model", str(path),
                   "--backend", backend])
    assert rc == 2 and name in caplog.text
    assert "Traceback" not in capsys.readouterr().err


def test_a_cache_path_that_is_a_folder_is_reported_and_leaves_no_temp_file(tmp_path):
    from langtrack_ros.inference import backends
    from langtrack_ros.inference.onnx_export import _staging

    model = tmp_path / "m.safetensors"
    model.write_bytes(b"weights")
    target = backends.cache_target(model, tmp_path / "cache")
    target.mkdir(parents=True)
    with pytest.raises(backends.BackendUnavailable, match="not a file"):
        backends.cached_onnx(model, tmp_path / "cache")
    with pytest.raises(OSError):
        with _staging(target) as tmp:
            tmp.write_bytes(b"x" * 1000)
    assert [p.name for p in target.parent.iterdir()] == [target.name]


# --- DDS processes for real: bad frame, camera restarted, tracker restarted; 7. large images -
FAULT_NS = f"/lt_{RUN_TAG}"  # another run on this host uses other topics


def _dds_env(monkeypatch):
    import os

    from test_dds import HERE, LOOPBACK

    monkeypatch.setenv("CYCLONEDDS_URI", LOOPBACK)
    return {**os.environ, "CYCLONEDDS_URI": LOOPBACK, "PYTHONPATH": str(HERE.parent),  # topics of this run only
            "PEER_QUERY_TOPIC": f"/query_{RUN_TAG}", "PEER_IMAGE_TOPIC": f"/camera_{RUN_TAG}/image_raw"}, HERE


def _tracker_process(domain, env, here):
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "langtrack_ros.cli", "dds", "--domain-id", str(domain), "--namespace", FAULT_NS,
         "--query-topic", env["PEER_QUERY_TOPIC"],  # a remap: the peer publishes an un-namespaced query
         "--image-topic", env["PEER_IMAGE_TOPIC"],
         "--tracker-factory", f"{here / 'colour_tracker.py'}:make", "--query", "the red square", "--duration", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _camera(domain, env, here, frames, first, bad_at=-1, period=0.06):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, str(here / "dds_peer.py"), str(domain), str(frames), "-1", str(first),
                             str(bad_at), str(period)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _targets_until(reader, done, timeout=30):
    import time

    got = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not done(got):
        got += [m.header.stamp.sec - 100 for m in reader.take(64) if hasattr(m, "header")]
        time.sleep(0.02)
    return got


@pytest.mark.timeout(90)
def test_dds_tracker_survives_a_bad_frame_and_a_camera_restart(monkeypatch):
    import os

    pytest.importorskip("cyclonedds")
    from langtrack_ros.dds.transport import Endpoints
    from langtrack_ros.adapters import definitions as defs

    env, here = _dds_env(monkeypatch)
    domain = domain_in(40, 90)
    reader = Endpoints(domain, FAULT_NS).reader("target", defs.TRACKED_TARGET)
    tracker = _tracker_process(domain, env, here)
    try:
        first = _camera(domain, env, here, frames=8, first=0, bad_at=3)
        got = _targets_until(reader, lambda g: first.poll() is not None and len(g) >= 6)
        assert first.wait(10) == 0
        second = _camera(domain, env, here, frames=8, first=8)  # the camera driver restarted
        got += _targets_until(reader, lambda g: any(i >= 12 for i in g))
        assert second.wait(10) == 0
    finally:
        tracker.terminate()
        log = tracker.communicate(timeout=10)[0]
    assert tracker.returncode == 0, log
    assert 3 not in got and any(i > 3 and i < 8 for i in got) and any(i >= 8 for i in got), (got, log)
    assert "even width" in log


@pytest.mark.timeout(90)
def test_dds_tracker_killed_and_started_again_publishes_again(monkeypatch):
    import os
    import signal

    pytest.importorskip("cyclonedds")
    from langtrack_ros.dds.transport import Endpoints
    from langtrack_ros.adapters import definitions as defs

    env, here = _dds_env(monkeypatch)
    domain = domain_in(90, 140)
    reader = Endpoints(domain, FAULT_NS).reader("target", defs.TRACKED_TARGET)
    tracker = _tracker_process(domain, env, here)
    camera = _camera(domain, env, here, frames=400, first=0, period=0.05)  # 20 s of frames
    try:
        before = _targets_until(reader, lambda g: len(g) >= 5)
        tracker.send_signal(signal.SIGKILL)
        tracker.wait(10)
        tracker = _tracker_process(domain, env, here)
        after = _targets_until(reader, lambda g: len([i for i in g if i > max(before, default=0) + 5]) >= 5)
    finally:
        camera.kill()
        tracker.terminate()
        tracker.communicate(timeout=10)
    assert len(before) >= 5 and len([i for i in after if i > max(before) + 5]) >= 5, (before, after)


def test_dds_command_ships_a_cyclone_config_for_large_images(monkeypatch):
    pytest.importorskip("cyclonedds")
    from langtrack_ros.dds.transport import Endpoints, large_image_config

    monkeypatch.setenv("CYCLONEDDS_URI", "<CycloneDDS/>")
    uri = large_image_config()
    assert uri.startswith("file://") and uri.endswith("cyclonedds.xml,<CycloneDDS/>")  # the user's wins
    assert large_image_config() == uri  # applied once
    Endpoints(231)  # Cyclone accepts the file (an unknown element or value fails participant creation)
