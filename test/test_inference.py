"""Inference backends: ONNX export of the real MVLM and MiniLM, ONNX Runtime, backend choice, engine cache."""
import json
import logging

import numpy as np
import pytest
import torch

from langtrack_ros.inference.backends import BackendUnavailable, cached_onnx, make_backend
from langtrack_ros.inference.engine_cache import EngineCache, EngineKey, sha256_bytes
from langtrack_ros.inference.onnx_export import DeployWrapper, ExportError, verify_mvlm
from langtrack_ros.inference.ort_backend import OrtBackend
from langtrack_ros.tracking.network import MVLM
from langtrack_ros.training.checkpoint import save_model
from packaged import mvlm_config

TINY = mvlm_config(search_size=64, width=32, depth=1, heads=2, head_channels=16, max_text_tokens=16)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny real MVLM saved as a checkpoint, then chosen by make_backend("auto") (one export)."""
    torch.manual_seed(0)
    model = MVLM(TINY, pretrained_tokenizer=False).eval()
    folder = tmp_path_factory.mktemp("model")
    checkpoint = save_model(model, TINY, folder / "tiny.safetensors")
    records, logger = [], logging.getLogger("langtrack_ros.inference")
    handler, level = logging.Handler(), logger.level
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        backend = make_backend("auto", checkpoint, cache_dir=folder / "cache")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return model, checkpoint, backend, [r.getMessage() for r in records]


def _inputs(length, seed, size=64):
    rng = np.random.default_rng(seed)
    return (rng.random((1, 3, size, size), dtype=np.float32),
            rng.standard_normal((1, length, 384), dtype=np.float32), np.ones((1, length), dtype=bool))


def _torch_outputs(model, search, tokens, mask):
    with torch.no_grad():
        outs = DeployWrapper(model)(torch.from_numpy(search), torch.from_numpy(tokens), torch.from_numpy(mask))
    return dict(zip(("score_map", "offset", "size", "corr_map"), (o[0].numpy() for o in outs)))


@pytest.mark.slow
def test_auto_falls_back_to_onnxruntime_and_says_why(exported):
    _, _, backend, messages = exported
    assert backend.name == "onnxruntime"
    assert "tensorrt" in backend.skipped and backend.skipped["tensorrt"]
    chosen = [m for m in messages if m.startswith("inference backend: onnxruntime")]
    assert chosen and "tensorrt skipped" in chosen[0]


@pytest.mark.parametrize("length", [3, 13])
def test_ort_matches_torch_for_two_text_lengths(exported, length):
    model, _, backend, _ = exported
    inputs = _inputs(length, seed=length)
    got, expected = backend.run(*inputs), _torch_outputs(model, *inputs)
    assert got["score_map"].shape == (4, 4) and got["offset"].shape == (2, 4, 4)
    assert 0.0 <= got["score_map"].min() and got["score_map"].max() <= 1.0  # sigmoid is in the graph
    for name, value in expected.items():
        assert np.abs(got[name] - value).max() < 1e-4, name


def test_padded_text_mask_gives_same_outputs_in_ort(exported):
    _, _, backend, _ = exported
    search, tokens, mask = _inputs(5, seed=7)
    padded_tokens = np.concatenate([tokens, np.full((1, 4, 384), 9.0, np.float32)], axis=1)
    padded_mask = np.concatenate([mask, np.zeros((1, 4), bool)], axis=1)
    plain, padded = backend.run(search, tokens, mask), backend.run(search, padded_tokens, padded_mask)
    for name in plain:
        assert np.abs(plain[name] - padded[name]).max() < 1e-5, name
    changed = backend.run(search, padded_tokens, np.ones_like(padded_mask))  # pads unmasked: must differ
    assert np.abs(changed["corr_map"] - plain["corr_map"]).max() > 1e-3


def test_export_records_config_and_weights_hash(exported):
    _, checkpoint, backend, _ = exported
    from langtrack_ros.model_hash import sha256_file

    assert backend.metadata["weights_sha256"] == sha256_file(checkpoint)
    from langtrack_ros import model_hash  # issue 17: every export carries the hash of its bytes

    assert model_hash.onnx_hash(backend.path)[0] == sha256_file(backend.path)
    assert backend.config["search_size"] == 64 and backend.config["max_text_tokens"] == 16
    assert backend.search_size == 64


def test_cached_onnx_is_reused_and_onnx_files_used_as_is(exported):
    _, checkpoint, backend, _ = exported
    cache, written = backend.path.parent, backend.path.stat().st_mtime_ns
    assert cached_onnx(checkpoint, cache) == backend.path
    assert backend.path.stat().st_mtime_ns == written  # reused, not exported again
    explicit = make_backend("onnxruntime", backend.path)  # an .onnx file is used as is
    assert explicit.path == backend.path
    with pytest.raises(BackendUnavailable, match="ONNX file"):
        make_backend("torch", backend.path)


def test_stale_or_broken_cached_onnx_is_reexported(exported, tmp_path, monkeypatch, caplog):
    import shutil

    from langtrack_ros.inference import onnx_export

    _, checkpoint, backend, _ = exported
    cached = tmp_path / backend.path.name
    cached.write_bytes(backend.path.read_bytes()[:100])  # an interrupted copy, say
    calls = []
    monkeypatch.setattr(onnx_export, "export_mvlm",
                        lambda model, path, weights_sha256: calls.append(path) or shutil.copy(backend.path, path))
    with caplog.at_level(logging.INFO, logger="langtrack_ros.inference"):
        assert cached_onnx(checkpoint, tmp_path) == cached
    assert calls == [cached] and any("re-exporting" in r.getMessage() for r in caplog.records)
    assert cached_onnx(checkpoint, tmp_path) == cached and len(calls) == 1  # now valid: reused


def test_verify_raises_when_onnx_differs_from_torch(exported):
    _, _, backend, _ = exported
    torch.manual_seed(1)
    other = MVLM(TINY, pretrained_tokenizer=False).eval()
    with pytest.raises(ExportError, match="differs from torch"):
        verify_mvlm(DeployWrapper(other), backend.path, lengths=(4,))


def _run_without_torch(code: str) -> None:
    """Run ``code`` in a fresh interpreter where ``import torch`` fails, as on a robot without torch."""
    import subprocess
    import sys

    prelude = "import sys; sys.modules['torch'] = None; import numpy as np\n"
    done = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_ort_backend_runs_without_torch(exported, tmp_path):
    model, _, backend, _ = exported
    inputs = _inputs(6, seed=3)
    np.savez(tmp_path / "inputs.npz", *inputs)
    _run_without_torch(f"""
from langtrack_ros.inference.ort_backend import OrtBackend
a = np.load({str(tmp_path / 'inputs.npz')!r})
out = OrtBackend({str(backend.path)!r}).run(a["arr_0"], a["arr_1"], a["arr_2"])
np.save({str(tmp_path / 'score.npy')!r}, out["score_map"])""")
    expected = _torch_outputs(model, *inputs)["score_map"]
    assert np.abs(np.load(tmp_path / "score.npy") - expected).max() < 1e-4


def test_ort_backend_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        OrtBackend(missing)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07 this is not a protobuf model")
    with pytest.raises(ValueError, match="corrupt.onnx"):
        OrtBackend(corrupt)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        make_backend("auto", tmp_path / "nope.safetensors")


@pytest.mark.slow
def test_text_encoder_onnx_matches_torch_minilm(tmp_path):
    """Slower (~10 s): exports the 22M-parameter MiniLM and compares with the torch TextEncoder."""
    from langtrack_ros.inference.onnx_export import export_text_encoder
    from langtrack_ros.inference.ort_backend import OrtTextEncoder
    from langtrack_ros.tracking.text_encoder import QueryError, TextEncoder

    torch_encoder = TextEncoder(max_tokens=8)
    report = export_text_encoder(tmp_path / "minilm.onnx", encoder=torch_encoder)
    assert report.worst < 1e-4
    from langtrack_ros import model_hash  # issue 17: the export carries the hash of its bytes

    assert model_hash.verify(tmp_path / "minilm.onnx") is True
    ort_encoder = OrtTextEncoder(tmp_path / "minilm.onnx")  # max_tokens=8 comes from the file
    assert ort_encoder.dim == torch_encoder.dim == 384
    for query in ("red car", "the man in a dark jacket who walks across the street to the van"):
        (f1, m1), (f2, m2) = ort_encoder.encode(query), torch_encoder.encode(query)
        assert f1.shape == f2.shape and len(m1) <= 8 and m1.all() and (m1 == m2).all()
        assert np.abs(f1 - f2).max() < 1e-4
    _run_without_torch(f"""
from langtrack_ros.inference.ort_backend import OrtTextEncoder
np.save({str(tmp_path / 'robot.npy')!r}, OrtTextEncoder({str(tmp_path / 'minilm.onnx')!r}).encode("red car")[0])""")
    assert np.abs(np.load(tmp_path / "robot.npy") - torch_encoder.encode("red car")[0]).max() < 1e-4
    feats, masks = ort_encoder.encode_batch(["a", "two words"])
    assert feats.shape[0] == 2 and masks.sum(1).tolist() == [3, 4] and not feats[0, 3:].any()
    with pytest.raises(QueryError):
        ort_encoder.encode("   ")


@pytest.mark.slow
def test_export_command_writes_verified_onnx_and_explains_missing_tensorrt(exported, tmp_path, capsys):
    from langtrack_ros.cli import main

    _, checkpoint, _, _ = exported
    code = main(["export", "--model", str(checkpoint), "--out", str(tmp_path), "--engine"])
    out = capsys.readouterr()
    assert "tiny.onnx: opset 17" in out.out and "max abs diff" in out.out
    assert code == 2 and "no TensorRT engine written" in out.err and "tensorrt" in out.err
    assert OrtBackend(tmp_path / "tiny.onnx").metadata["weights_sha256"]


# ---------------------------------------------------------------------------- engine cache (no TensorRT)

KEY = EngineKey("ab" * 32, "10.3.0", (8, 7), "fp16", 160, 32)


class FakeTRT:
    """Stands in for builder + runtime: engines are bytes tagged with the key they were built for."""

    def __init__(self, key):
        self.builds, self.key = 0, key

    def build(self):
        self.builds += 1
        return b"ENGINE:" + self.key.file_name().encode()

    def deserialize(self, data):
        return data.decode() if data.startswith(b"ENGINE:") else None


@pytest.mark.parametrize("field,value", [("onnx_sha256", "cd" * 32), ("trt_version", "10.4.0"),
                                         ("compute_capability", (9, 0)), ("precision", "fp32"),
                                         ("search_size", 224), ("max_text_tokens", 16)])
def test_engine_key_changes_with_every_component(field, value):
    other = EngineKey(**{**KEY.__dict__, field: value})
    assert other.file_name() != KEY.file_name()
    assert other.differences(KEY) == [f"{field}: {getattr(KEY, field)!r} != {value!r}"]


def test_engine_key_rejects_unknown_precision():
    with pytest.raises(ValueError, match="precision"):
        EngineKey("ab" * 32, "10.3.0", (8, 7), "int4", 160, 32)


def test_engine_cache_builds_once_then_reuses(tmp_path):
    cache, fake = EngineCache(tmp_path), FakeTRT(KEY)
    first = cache.load_or_build(KEY, fake.build, fake.deserialize)
    second = cache.load_or_build(KEY, fake.build, fake.deserialize)
    assert first == second and fake.builds == 1
    meta = json.loads(cache.path_for(KEY).with_suffix(".json").read_text())
    assert meta["key"] == KEY.to_json() and meta["engine_sha256"] == sha256_bytes(cache.path_for(KEY).read_bytes())
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


@pytest.mark.parametrize("damage", ["truncate", "garbage_same_checksum", "drop_sidecar"])
def test_corrupt_or_undeserializable_engine_is_rebuilt(tmp_path, caplog, damage):
    cache, fake = EngineCache(tmp_path), FakeTRT(KEY)
    cache.load_or_build(KEY, fake.build, fake.deserialize)
    path = cache.path_for(KEY)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:5])
    elif damage == "garbage_same_checksum":  # checksum fine, but TensorRT refuses it (e.g. driver update)
        path.write_bytes(b"garbage")
        sidecar = path.with_suffix(".json")
        sidecar.write_text(json.dumps({"key": KEY.to_json(), "engine_sha256": sha256_bytes(b"garbage")}))
    else:
        path.with_suffix(".json").unlink()
    with caplog.at_level(logging.WARNING):
        engine = cache.load_or_build(KEY, fake.build, fake.deserialize)
    assert fake.builds == 2 and engine.startswith("ENGINE:")
    assert any("rebuilding TensorRT engine" in r.getMessage() for r in caplog.records)


def test_engine_for_other_key_is_not_used_and_logged_as_stale(tmp_path, caplog):
    cache = EngineCache(tmp_path)
    old = EngineKey(**{**KEY.__dict__, "trt_version": "8.6.1"})
    cache.load_or_build(old, FakeTRT(old).build, FakeTRT(old).deserialize)
    fake = FakeTRT(KEY)
    with caplog.at_level(logging.INFO):
        cache.load_or_build(KEY, fake.build, fake.deserialize)
    assert fake.builds == 1
    assert any("stale" in r.getMessage() and "trt_version" in r.getMessage() for r in caplog.records)


def test_engine_build_failure_leaves_no_file(tmp_path):
    def broken():
        raise RuntimeError("parser error")

    with pytest.raises(RuntimeError, match="parser error"):
        EngineCache(tmp_path).load_or_build(KEY, broken, FakeTRT(KEY).deserialize)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- real TensorRT (GPU machines)

def test_tensorrt_engine_matches_onnxruntime(exported, tmp_path, caplog):
    pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU")
    from langtrack_ros.inference.tensorrt_backend import TensorRTBackend

    _, _, ort_backend, _ = exported
    trt_backend = TensorRTBackend(ort_backend.path, precision="fp32", cache_dir=tmp_path)
    for length in (1, 6, 16):
        inputs = _inputs(length, seed=length)
        got, expected = trt_backend.run(*inputs), ort_backend.run(*inputs)
        for name in expected:
            assert np.abs(got[name] - expected[name]).max() < 1e-3, (name, length)
    with caplog.at_level(logging.INFO):
        TensorRTBackend(ort_backend.path, precision="fp32", cache_dir=tmp_path)
    assert any("reusing TensorRT engine" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------- bench report

def test_bench_pairs_rows_for_ratios_and_reports_the_command(monkeypatch):
    from langtrack_ros.commands import bench

    monkeypatch.setattr("sys.argv", ["langtrack", "bench", "--frames", "5"])
    clock = iter(range(1000))
    from langtrack_ros.commands import bench_common  # where the timed row lives (no bench <-> bench_runtime circle)

    monkeypatch.setattr(bench_common.time, "perf_counter", lambda: next(clock) * 0.002)  # every call takes 2 ms
    torch_row = bench.measure(lambda i: None, 5, "network", "forward", "torch", 1)
    ort_row = bench.Row("network", "forward", "onnxruntime", 1, np.full(5, 1.0), 100.0)
    other = bench.Row("network", "forward", "onnxruntime", 2, np.full(5, 1.0), 100.0)
    bench._set_ratios([torch_row, ort_row, other])
    assert torch_row.median == pytest.approx(2.0) and ort_row.ratio == pytest.approx(0.5) and other.ratio is None
    report = bench.render([torch_row, ort_row], "random model", 5)
    assert "`langtrack bench --frames 5`" in report and "| 0.50 |" in report and "random model" in report
