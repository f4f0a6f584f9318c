"""Issue 17: no silent damage, no traceback. Verified model files, writes that are atomic or end at
a whole line, settings typed at load, small input faults, and the settings leftovers. Each case is
listed in docs/RELIABILITY.md with what the user sees."""
import errno
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from langtrack_ros import model_hash
from langtrack_ros.cli import main as cli_main

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent / "models"
SHIPPED = ["mvlm_default.safetensors", "mvlm_no_lcm.safetensors", "vlt/vlt_searched.safetensors",
           "vlt/ablation/vlt_baseline.safetensors", "vlt/ablation/vlt_symmetric.safetensors",
           "priors/ssd_mobilenetv2_oidv4.onnx", "priors/mobilenetv2_imagenet.onnx",
           "priors/ssd_mobilenetv2_oidv4_int8.onnx", "priors/ssd_mobilenetv2_coco_int8.onnx",
           "priors/blazeface_short_range.onnx"]


@pytest.fixture(autouse=True)
def _fresh_hash_memo():
    model_hash._verified.clear()  # each test sees its files checked, not remembered from another
    yield


def _tiny_model(path, with_hash=True):
    import torch
    from safetensors.torch import save_file

    from langtrack_ros.model_files import save_model
    from langtrack_ros.tracking.network import MVLM
    from packaged import mvlm_config

    torch.manual_seed(0)
    cfg = mvlm_config(search_size=64, width=32, depth=1, heads=2, tokenizer="patch", head_channels=8)
    path = save_model(MVLM(cfg, pretrained_tokenizer=False), cfg, path)
    if not with_hash:  # as files written before the hash existed
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = {k: v for k, v in f.metadata().items() if k not in ("tensors_sha256", "config_sha256")}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        save_file(tensors, str(path), metadata=meta)
    return path


def _flip_tensor_bytes(path: Path, n: int = 64) -> None:
    """Flip ``n`` bytes in the middle of the tensor data; the header (and the file size) unchanged."""
    _, base = model_hash.read_header(path)
    data = bytearray(path.read_bytes())
    at = base + (len(data) - base) // 2
    data[at:at + n] = bytes(b ^ 0xA5 for b in data[at:at + n])
    path.write_bytes(bytes(data))


# --- 1. every model file verifiable ------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_file_carries_a_content_hash_that_matches(name, caplog):
    assert model_hash.verify(MODELS / name) is True  # False: no hash (a warning naming the command)
    assert "content hash" not in caplog.text


def test_the_hash_read_from_the_file_equals_the_hash_of_its_tensors(tmp_path):
    import torch
    from safetensors.torch import save_file

    from langtrack_ros.model_files import tensors_sha256

    tensors = {"f": torch.randn(3, 5), "h": torch.randn(4).half(), "b": torch.tensor([True, False]),
               "i": torch.arange(6).reshape(2, 3), "e": torch.zeros(0, 3), "s": torch.tensor(2.5)}
    save_file(tensors, str(tmp_path / "t.safetensors"), metadata={"tensors_sha256": tensors_sha256(tensors)})
    recorded, actual = model_hash.safetensors_hash(tmp_path / "t.safetensors")
    assert recorded == actual == tensors_sha256(tensors)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "auto"])
def test_damaged_default_weights_are_refused_in_one_line_on_every_backend(tmp_path, capsys, caplog, backend):
    """Before: torch tracked with the damaged weights (rc 0), onnxruntime blamed the exporter and
    auto fell back to torch. Now the hash check runs before any backend and nothing falls back."""
    from test_faults import _bag

    model = tmp_path / "mvlm_default.safetensors"
    shutil.copyfile(MODELS / "mvlm_default.safetensors", model)
    _flip_tensor_bytes(model)
    rc = cli_main(["replay", "--bag", str(_bag(tmp_path / "b", frames=2)), "--out", str(tmp_path / "o"),
                   "--model", str(model), "--backend", backend])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert rc == 2 and len(errors) == 1 and str(model) in errors[0] and "damaged" in errors[0]
    assert "inference backend" not in caplog.text and "ORT output" not in caplog.text  # no fallback, no blame
    assert "Traceback" not in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_a_file_without_the_hash_loads_with_one_warning_naming_it_and_the_command(tmp_path, caplog):
    from langtrack_ros.inference.backends import make_backend

    path = _tiny_model(tmp_path / "old.safetensors", with_hash=False)
    backend = make_backend("torch", path)
    assert backend.name == "torch"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(path) in warnings[0] and f"langtrack model-hash {path}" in warnings[0]


def test_model_hash_command_adds_the_hash_and_leaves_every_tensor_bitwise_equal(tmp_path, capsys):
    import torch
    from safetensors import safe_open

    path = _tiny_model(tmp_path / "old.safetensors", with_hash=False)
    onnx_file = tmp_path / "prior.onnx"
    shutil.copyfile(MODELS / "priors" / "mobilenetv2_imagenet.onnx", onnx_file)

    def tensors():
        with safe_open(str(path), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()

    before, meta_before = tensors()
    assert cli_main(["model-hash", str(path), str(onnx_file)]) == 0
    after, meta_after = tensors()
    assert before.keys() == after.keys() and all(
        before[k].dtype == after[k].dtype and torch.equal(before[k].view(-1).view(torch.uint8),
                                                          after[k].view(-1).view(torch.uint8)) for k in before)
    assert {k for k in meta_after if meta_after[k] != meta_before.get(k)} == {"tensors_sha256", "config_sha256"}
    assert model_hash.verify(path) and model_hash.verify(onnx_file)
    assert "content hash added" in capsys.readouterr().out
    assert cli_main(["model-hash", str(path)]) == 0 and "present and correct" in capsys.readouterr().out
    _flip_tensor_bytes(path)  # a damaged file is never blessed with a new hash
    assert cli_main(["model-hash", str(path)]) == 2


def test_a_damaged_prior_onnx_is_refused_and_the_tracker_runs_without_that_prior(tmp_path, caplog):
    from langtrack_ros.inference.prior_models import PriorModelError, SSDDetector, load_prior_models

    name = "ssd_mobilenetv2_oidv4.onnx"
    for suffix in ("", ".sha256"):
        shutil.copyfile(MODELS / "priors" / (name + suffix), tmp_path / (name + suffix))
    data = bytearray((tmp_path / name).read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = bytes(64)  # inside the weights: still a valid graph
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(PriorModelError, match="damaged"):
        SSDDetector(tmp_path / name)
    assert load_prior_models(tmp_path, name, "", 1) == (None, None)
    assert "continues without this prior" in caplog.text


# --- 2. writes are atomic or end at a whole line ----------------------------------------------
def _mount_namespace_works() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.timeout(240)
def test_full_and_read_only_disks_are_one_line_rc_2_and_leave_nothing_half_written(tmp_path):
    """A real 16 MB tmpfs (filled up before each command) and a read-only tmpfs, in a private
    mount namespace (``unshare -rm``: no root, invisible outside the worker process)."""
    if not _mount_namespace_works():
        pytest.skip("unshare -rm cannot mount a tmpfs here (user namespaces disabled)")
    full, ro = tmp_path / "full", tmp_path / "ro"
    full.mkdir(), ro.mkdir()
    script = (f"mount -t tmpfs -o size=16m tmpfs {full} && mount -t tmpfs -o ro,size=1m tmpfs {ro} && "
              f"exec {sys.executable} {HERE / 'disk_faults_worker.py'} {tmp_path} {full} {ro}")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=230,
                          cwd=HERE.parent)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    report = json.loads(lines[0][len("REPORT "):])
    for case in ("track", "replay", "export"):
        for kind, code in (("full", "errno 28 ENOSPC"), ("readonly", "errno 30 EROFS")):
            r = report[f"{case}-{kind}"]
            assert r["crash"] == "" and r["rc"] == 2, (case, kind, r)
            assert len(r["errors"]) == 1 and code in r["errors"][0] and "cannot write" in r["errors"][0], r
            assert not [f for f in r["files"] if ".tmp" in f or Path(f).name.startswith(".")], r["files"]
    assert report["replay-full"]["files"] == ["replay"] and report["export-full"]["files"] == ["export"]
    track = report["track-full"]  # results.jsonl cut at a whole line that says so; no video left
    assert "track/track.mp4" not in track["files"] and "was cut after" in track["errors"][0]
    rows = track["results"].splitlines()
    assert track["results"].endswith("\n") and rows[-1] == '{"cut": true}'
    assert all(json.loads(r)["frame"] == i for i, r in enumerate(rows[:-1]))
    train = report["train-full"]  # the last good checkpoint is kept, complete and loadable
    assert train["crash"] == "" and "errno 28 ENOSPC" in train["error"] and "step_00000003 kept" in train["error"]
    assert train["kept"] == "step_00000003" and "checkpoints/step_00000006" not in train["files"]
    assert not [f for f in train["files"] if ".tmp" in f]


def test_line_writer_cuts_a_failed_write_back_to_its_last_whole_line(tmp_path, monkeypatch):
    """The unit behind the case above: the 4th line is half-written when the disk fills up."""
    from langtrack_ros import files

    real_write, calls = os.write, []

    def write(fd, data):
        calls.append(len(data))
        if len(calls) == 4:
            real_write(fd, bytes(data[:7]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(files.os, "write", write)
    path = tmp_path / "results.jsonl"
    with pytest.raises(files.WriteError, match=r"errno 28 ENOSPC.*cut after 3 whole lines"), files.LineWriter(path) as w:
        for i in range(6):
            w.write(json.dumps({"frame": i}))
    assert path.read_text().splitlines() == ['{"frame": 0}', '{"frame": 1}', '{"frame": 2}', '{"cut": true}']


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from langtrack_ros import files

    path = files.atomic_write_text(tmp_path / "report.md", "old report\n")
    monkeypatch.setattr(files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(files.WriteError, match=r"report.md: full \(errno 28 ENOSPC\)"):
        files.atomic_write_text(path, "new report\n")
    assert path.read_text() == "old report\n" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


# --- 3. training and VLT settings typed at load ------------------------------------------------
@pytest.mark.parametrize("argv,expected", [
    (["train", "mvlm", "--set", "optim.lr=fast"], "optim.lr expects float, got 'fast' (str)"),
    (["train", "mvlm", "--set", "checkpoint.every=often"], "checkpoint.every expects int, got 'often' (str)"),
    (["train", "mvlm", "--set", "optim.batch_size=2.5"], "optim.batch_size expects int, got 2.5 (float)"),
    (["train", "vlt", "--stage", "supernet", "--set", "retrain.optim.momentum=[1]"], "retrain.optim.momentum expects float, got [1]"),
], ids=["lr", "every", "batch_size", "vlt-momentum"])
def test_settings_of_the_wrong_type_are_one_line_naming_key_type_value_and_file(tmp_path, capsys, caplog,
                                                                                argv, expected):
    rc = cli_main([*argv, "--run-dir", str(tmp_path / "run")])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert rc == 2 and len(errors) == 1 and expected in errors[0] and ".yaml" in errors[0], errors
    assert "Traceback" not in capsys.readouterr().err


def test_a_users_yaml_of_the_wrong_type_names_its_file(tmp_path):
    from langtrack_ros.config import ConfigError
    from langtrack_ros.training.trainer import load_train_config

    user = tmp_path / "mine.yaml"
    user.write_text("optim:\n  batch_size: 2.5\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: optim.batch_size expects int, got 2.5"):
        load_train_config(user)


# --- 4. small faults: 1-pixel frames, CLI values, --init-box, DDS peers, socket buffer ---------
@pytest.mark.parametrize("shape", [(2000, 1), (1, 2000), (1, 1), (1300, 3)])
def test_a_one_pixel_wide_frame_is_tracked_and_its_box_stays_on_the_frame(shape):
    from fake_mvlm import FakeBackend, FakeEncoder
    from langtrack_ros.tracking.images import working_frame
    from langtrack_ros.tracking.tracker import MVLMTracker, load_settings
    from packaged import search_config

    image = np.full((*shape, 3), 120, np.uint8)
    small, zoom = working_frame(image, 640)
    assert max(small.shape[:2]) <= 640 and min(small.shape[:2]) >= 1
    np.testing.assert_allclose(np.array(small.shape[1::-1] * 2) * zoom, [shape[1], shape[0]] * 2)
    tracker = MVLMTracker(FakeBackend(), FakeEncoder(), load_settings().gate, search_config(max_side=640))
    tracker.set_query("red ball")
    box = tracker.step(image).box
    assert np.isfinite(box).all() and box[0] + box[2] <= shape[1] + 1e-6 and box[1] + box[3] <= shape[0] + 1e-6


def test_an_opencv_error_is_one_log_line():
    import cv2

    from langtrack_ros.adapters.session import TrackingSession
    from colour_tracker import ColourTracker

    lines = []
    session = TrackingSession(ColourTracker(), "the red square")
    session.process(lambda: cv2.resize(np.zeros((1, 1, 3), np.uint8), (0, 0), fx=0, fy=0), None, lines.append)
    assert len(lines) == 1 and "\n" not in lines[0] and "error" in lines[0]


@pytest.mark.parametrize("argv,option", [
    (["replay", "--bag", "b", "--out", "o", "--realtime", "--speed", "nan"], "--speed"),
    (["replay", "--bag", "b", "--out", "o", "--speed", "0"], "--speed"),
    (["dds", "--domain-id", "300"], "--domain-id"),
    (["dds", "--duration", "-1"], "--duration"),
    (["dds", "--duration", "inf"], "--duration"),
    (["dds", "--max-frames", "-3"], "--max-frames"),
    (["track", "--video", "v.mp4", "--query", "q", "--max-frames", "x"], "--max-frames"),
], ids=["speed-nan", "speed-0", "domain-300", "duration-neg", "duration-inf", "max-frames-neg", "max-frames-x"])
def test_out_of_range_cli_values_are_argparses_one_error_line(capsys, argv, option):
    with pytest.raises(SystemExit) as stop:
        cli_main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument {option}" in err.splitlines()[-1] and "Traceback" not in err


def test_ros_domain_id_out_of_range_is_one_line(monkeypatch, caplog):
    monkeypatch.setenv("ROS_DOMAIN_ID", "500")
    from langtrack_ros.commands.dds import env_domain_id

    with pytest.raises(ValueError, match="ROS_DOMAIN_ID.*0..232"):
        env_domain_id()


def test_a_bad_init_box_is_named_as_init_box_not_query(tmp_path, caplog):
    from test_commands import _write_video

    video = tmp_path / "v.mp4"
    _write_video(video, 2)
    rc = cli_main(["track", "--video", str(video), "--query", "the red square", "--tracker", "vlt", "--init-box",
                   "10", "10", "-5", "8", "--out", str(tmp_path / "o"), "--no-stdin"])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert rc == 2 and len(errors) == 1 and errors[0].startswith("--init-box 10 10 -5 8:"), errors


def _loopback(monkeypatch):
    from test_dds import LOOPBACK

    monkeypatch.setenv("CYCLONEDDS_URI", LOOPBACK)


@pytest.mark.timeout(60)
def test_a_second_dds_tracker_on_the_same_topics_is_warned_about(monkeypatch, caplog):
    import time

    from colour_tracker import ColourTracker
    from langtrack_ros.adapters.session import TrackingSession
    from langtrack_ros.dds.tracker_process import DdsTracker
    from langtrack_ros.dds.transport import Endpoints

    _loopback(monkeypatch)
    from dds_domain import RUN_TAG, domain_in

    domain, ns = domain_in(155, 170), f"/lt_{RUN_TAG}"  # another run on this host never meets this one
    first = DdsTracker(TrackingSession(ColourTracker()), Endpoints(domain, ns))
    assert first.check_peers() == 0
    second = DdsTracker(TrackingSession(ColourTracker()), Endpoints(domain, ns))
    deadline = time.monotonic() + 10
    while first.check_peers() == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.check_peers() == 1 and second.check_peers() == 1
    warnings = [r.getMessage() for r in caplog.records if f"another process also publishes {ns}/target" in r.getMessage()]
    assert len(warnings) == 2  # once per tracker, not once per check
    other = DdsTracker(TrackingSession(ColourTracker()), Endpoints(domain, "/elsewhere"))
    assert other.check_peers() == 0  # its own namespace: no warning


def test_a_kernel_capped_socket_buffer_is_logged_once_with_the_fix(tmp_path, monkeypatch, caplog):
    from langtrack_ros.dds import tracker_process, transport
    from langtrack_ros.paths import config_file

    cap = tmp_path / "rmem_max"
    cap.write_text("4194304\n")  # 4 MB, as on the machine in docs/RELIABILITY.md
    monkeypatch.setattr(transport, "RMEM_MAX", cap)
    monkeypatch.setattr(transport, "GRANTED_RECEIVE_BUFFER", None)
    assert transport.granted_receive_buffer(config_file("cyclonedds.xml")) == 8 * 2**20
    assert caplog.text.count("net.core.rmem_max") >= 2 and "4K rgb8 is 25 MB" in caplog.text
    caplog.clear()
    tracker = types.SimpleNamespace(_big_frame_logged=False)
    big = types.SimpleNamespace(data=bytes(3840 * 2160 * 3))
    for _ in range(3):
        tracker_process.DdsTracker._note_size(tracker, big)
    assert caplog.text.count("socket receive buffer the kernel granted") == 1
    cap.write_text("134217728\n")  # a raised cap: nothing to say
    caplog.clear()
    assert transport.granted_receive_buffer(config_file("cyclonedds.xml")) == 128 * 2**20 and not caplog.text


# --- 6. leftovers: the YAML is the one table of defaults; no import circle; no progress bar ---
def test_text_encoder_max_tokens_come_from_the_yaml_never_a_code_default(tmp_path, monkeypatch):
    import inspect

    import onnx
    from onnx import TensorProto, helper

    from langtrack_ros.inference import onnx_export, ort_backend
    from langtrack_ros.tracking.text_encoder import default_model_dir

    assert inspect.signature(onnx_export.export_text_encoder).parameters["max_tokens"].default is None
    graph = helper.make_graph(  # a text-encoder graph whose export recorded no max_tokens
        [helper.make_node("Cast", ["input_ids"], ["f"], to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["f", "axes"], ["features"])], "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "L"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "L"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, "L", 1])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [2])])
    path = tmp_path / "text.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    monkeypatch.setattr(ort_backend, "configured_max_query_tokens", lambda: 21)
    encoder = ort_backend.OrtTextEncoder(path, tokenizer_file=default_model_dir() / "tokenizer.json")
    assert encoder.max_tokens == 21


def test_vlt_sentence_vectors_take_the_encoders_dim(monkeypatch):
    from langtrack_ros.vlt.data import SentenceVectors

    cache = types.SimpleNamespace(encoder=types.SimpleNamespace(dim=8))
    vectors, has = SentenceVectors(cache)(["", "  "])
    assert vectors.shape == (2, 8) and not has.any()


def test_export_precision_defaults_to_the_tracker_yaml():
    from langtrack_ros.cli import build_parser

    assert build_parser().parse_args(["export", "--out", "x"]).precision is None


def test_no_import_circle_between_command_modules():
    """bench.py imported bench_runtime.py (for --runtime), which imported bench.py back."""
    import ast

    folder = HERE.parent / "langtrack_ros" / "commands"
    edges = {}
    for path in folder.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("langtrack_ros.commands."):
                names.add(node.module.rsplit(".", 1)[1])
        edges[path.stem] = names

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in edges.get(start, ()))

    assert [m for m in edges if reaches(m, m)] == []


@pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # huggingface_hub read the variable earlier
def test_transformers_progress_bars_only_with_verbose(tmp_path, monkeypatch):
    import transformers

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    path = _tiny_model(tmp_path / "m.safetensors")
    transformers.utils.logging.enable_progress_bar()
    assert cli_main(["-v", "model-hash", str(path)]) == 0
    assert transformers.utils.logging.is_progress_bar_enabled()
    assert cli_main(["model-hash", str(path)]) == 0
    assert not transformers.utils.logging.is_progress_bar_enabled()
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"  # for a transformers imported later
