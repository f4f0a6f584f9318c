"""Training pipeline: sampling (determinism, ROI/letterbox/negative geometry, flips), checkpoints
(atomic writes, clear load errors) and exact resume after a crash or SIGTERM."""
import json
import os
import signal
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from packaged import mvlm_config, sampling_config, source_config, train_yaml
from langtrack_ros.config import ConfigError
from langtrack_ros.data.sequence import ExtraTarget, Sequence
from langtrack_ros.tracking.geometry import letterbox_transform
from langtrack_ros.training import checkpoint as ckpt
from langtrack_ros.training import trainer as trainer_mod
from langtrack_ros.training.sampling import (MVLMSamples, TextFeatureCache, color_jitter,
                                             list_source, swap_left_right)
from langtrack_ros.training.trainer import Trainer, TrainingError, apply_overrides, make_train_config

H, W, N = 90, 120, 12
TINY_MODEL = {"search_size": 64, "width": 32, "depth": 1, "heads": 2, "tokenizer": "patch",
              "head_channels": 16, "template_size": 32}


def _box(i: int) -> np.ndarray:
    return np.array([10 + 5 * i, 20 + 2 * i, 24, 18], dtype=float)


def _render(i: int) -> np.ndarray:
    img = np.full((H, W, 3), 40, np.uint8)
    x, y, w, h = _box(i).astype(int)
    img[y:y + h, x:x + w] = (200, 30, 30)
    img[60:80, 90:110] = (30, 30, 200)
    return img


def make_sequence(name: str = "toy") -> Sequence:
    """A red box moving right; frames 9..11 have the target out of view."""
    visible = np.arange(N) < 9
    boxes = np.array([_box(i) if v else [np.nan] * 4 for i, v in enumerate(visible)])
    return Sequence(name, [Path(f"{i}.png") for i in range(N)], boxes, visible, "the red box on the left",
                    image_reader=lambda p: _render(int(p.stem)))


def dataset(**sampling) -> MVLMSamples:
    cfg = sampling_config(**sampling)
    absent = lambda i, rng: "the green triangle"  # noqa: E731  (not in the toy scene)
    return MVLMSamples([list_source([make_sequence()], negative_sentence=absent)], cfg, seed=7, search_size=64)


class HashEncoder:
    """Deterministic stand-in for the MiniLM encoder (fast): features from a hash of each word."""

    dim = 384

    def encode_batch(self, texts):
        words = [t.split() for t in texts]
        longest = max(len(w) for w in words) + 2
        feats = np.zeros((len(texts), longest, self.dim), np.float32)
        mask = np.zeros((len(texts), longest), bool)
        for b, ws in enumerate(words):
            for j, word in enumerate(["[CLS]", *ws, "[SEP]"]):
                feats[b, j] = np.random.default_rng(zlib.crc32(word.encode())).normal(size=self.dim)
                mask[b, j] = True
        return feats, mask


# ----------------------------------------------------------------------------- sampling

def test_sample_is_pure_function_of_seed_and_index():
    a, b = dataset()[5], dataset()[5]
    assert np.array_equal(a["search"], b["search"]) and np.array_equal(a["box"], b["box"])
    assert a["sentence"] == b["sentence"] and a["kind"] == b["kind"]
    others = [dataset()[k]["search"] for k in range(6, 12)]
    assert not all(np.array_equal(a["search"], o) for o in others)


def test_extra_targets_replace_the_target_at_p_extra():
    """A sequence's other named objects become positives with their own box and sentence; p_extra 0
    draws exactly what it drew before extras existed."""
    seq = make_sequence()
    seq.extras = [ExtraTarget(2, (90.0, 60.0, 20.0, 20.0), "the blue square")]
    cfg = sampling_config(p_roi=0.5, p_whole=0.5, p_negative=0.0, p_flip=0.0, p_stretch=0.0, p_extra=1.0)
    ds = MVLMSamples([list_source([seq])], cfg, seed=7, search_size=64)
    for k in range(6):
        s = ds[k]
        assert s["sentence"] == "the blue square" and s["frame"] == 2 and s["positive"]
        back = s["transform"].box_to_image(s["box"])
        assert np.allclose(back, [90, 60, 20, 20], atol=1e-6)
    plain = MVLMSamples([list_source([make_sequence()])], sampling_config(), seed=7, search_size=64)
    off = MVLMSamples([list_source([seq])], sampling_config(p_extra=0.0), seed=7, search_size=64)
    for k in range(8):
        a, b = plain[k], off[k]
        assert a["sentence"] == b["sentence"] and np.array_equal(a["search"], b["search"])


def test_negatives_are_negative_and_cover_all_kinds():
    ds = dataset(p_roi=0, p_whole=0, p_negative=1)
    samples = [ds[k] for k in range(40)]
    assert all(not s["positive"] and not np.any(s["box"]) for s in samples)
    kinds = {s["kind"] for s in samples}
    assert kinds == {"negative_absent", "negative_sentence", "negative_away"}
    for s in samples:
        if s["kind"] == "negative_absent":
            assert s["frame"] >= 9 and s["sentence"] in ("the red box on the left", "the red box on the right")
        if s["kind"] == "negative_sentence":
            assert s["sentence"] == "the green triangle"
        if s["kind"] == "negative_away":  # the red target is (almost) not in the crop
            inside = s["transform"].box_to_patch(_box(s["frame"]))
            lo, hi = np.clip(inside[:2], 0, 1), np.clip(inside[:2] + inside[2:], 0, 1)
            assert np.prod(np.maximum(hi - lo, 0)) <= 0.05 * inside[2] * inside[3] + 1e-9


def test_negatives_without_absent_frames_or_sentences_use_away_crops():
    seq = make_sequence()
    seq.visible[:] = True
    seq.boxes[9:] = [_box(i) for i in range(9, N)]
    ds = MVLMSamples([list_source([seq])], sampling_config(p_roi=0, p_whole=0, p_negative=1), 0, search_size=64)
    assert {ds[k]["kind"] for k in range(10)} == {"negative_away"}


def test_roi_box_near_patch_centre():
    cj, factor = 2.0, 4.0
    ds = dataset(p_roi=1, p_whole=0, p_negative=0, p_flip=0, center_jitter=cj, roi_factor=factor)
    for k in range(20):
        s = ds[k]
        centre = s["box"][:2] + s["box"][2:] / 2
        assert s["positive"] and np.all(np.abs(centre - 0.5) <= cj / (2 * factor) + 1e-6)
        assert np.allclose(s["transform"].box_to_image(s["box"]), _box(s["frame"]), atol=1e-3)


def test_letterboxed_box_maps_back_to_gt():
    ds = dataset(p_roi=0, p_whole=1, p_negative=0, p_flip=0)
    for k in range(10):
        s = ds[k]
        t = letterbox_transform((H, W), 64)
        assert s["transform"] == t
        assert np.allclose(t.box_to_image(s["box"]), _box(s["frame"]), atol=1e-3)
        # the red target really is where the box says
        x, y, w, h = (s["box"] * 64).round().astype(int)
        r, g, b = s["search"][y + h // 2, x + w // 2].astype(int)
        assert r > g + 60 and r > b + 60


def test_flip_mirrors_image_box_and_words():
    plain = dataset(p_flip=0, p_negative=0)
    flipped = dataset(p_flip=1, p_negative=0)
    for k in range(5):
        a, b = plain[k], flipped[k]
        assert np.array_equal(b["search"], a["search"][:, ::-1])
        assert np.allclose(b["box"], [1 - a["box"][0] - a["box"][2], *a["box"][1:]])
        assert b["sentence"] == "the red box on the right"
    assert swap_left_right("Left of the rightmost cup, LEFT hand") == "Right of the leftmost cup, RIGHT hand"


def test_color_jitter_keeps_hue():
    import cv2

    img = np.zeros((8, 8, 3), np.uint8)
    img[:4] = (180, 60, 40)
    img[4:] = (40, 90, 170)
    out = color_jitter(img, np.random.default_rng(3), 0.3, 0.3)
    assert not np.array_equal(out, img)
    hue = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2HSV_FULL)[..., 0].astype(int)  # noqa: E731
    assert np.abs(hue(out) - hue(img)).max() <= 2


def test_synth_source_pickles_as_its_config():
    import pickle

    from langtrack_ros.training.sampling import build_source

    src = build_source(source_config(kind="synth", split="val", num_sequences=5), cache_size=2)
    copy = pickle.loads(pickle.dumps(src))
    a, b = src[3], copy[3]
    assert a.name == b.name and np.array_equal(a.boxes, b.boxes, equal_nan=True)
    assert np.array_equal(a.image(0), b.image(0))
    assert src.negative_sentence(3, np.random.default_rng(0)) == copy.negative_sentence(3, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="kind"):
        build_source(source_config(kind="video"))


def test_text_cache_pads_and_encodes_each_sentence_once():
    enc = HashEncoder()
    calls = []
    original = enc.encode_batch
    enc.encode_batch = lambda texts: calls.append(list(texts)) or original(texts)
    cache = TextFeatureCache(enc)
    tokens, mask = cache(["a b", "a b c d", "a b"])
    assert tokens.shape == (3, 6, 384) and mask.sum(1).tolist() == [4, 6, 4]
    assert torch.equal(tokens[0], tokens[2]) and not tokens[0, 4:].any()
    cache(["a b", "a b c d"])
    assert calls == [["a b", "a b c d"]]


# ----------------------------------------------------------------------------- checkpoints

def tiny_model():
    from langtrack_ros.tracking.network import MVLM

    cfg = mvlm_config(**TINY_MODEL)
    torch.manual_seed(0)
    return MVLM(cfg, pretrained_tokenizer=False), cfg


def test_model_round_trip_and_clear_errors(tmp_path):
    model, cfg = tiny_model()
    path = ckpt.save_model(model, cfg, tmp_path / "m.safetensors", {"steps": 3})
    loaded = ckpt.load_model(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert ckpt.model_train_info(path) == {"steps": 3}

    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        ckpt.load_model(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ckpt.CheckpointError, match="bad.safetensors"):
        ckpt.load_model(bad)

    tensors, meta = ckpt.read_model_file(path)
    del meta["tensors_sha256"], meta["config_sha256"]  # hand-edited files below: the other checks, not the hash
    config = json.loads(meta["config"])
    config["colour_mode"] = "rgb"
    del config["dropout"]
    save_file(tensors, str(tmp_path / "cfg.safetensors"), {**meta, "config": json.dumps(config)})
    with pytest.raises(ckpt.CheckpointError, match=r"unknown keys \['colour_mode'\], missing keys \['dropout'\]"):
        ckpt.load_model(tmp_path / "cfg.safetensors")

    tensors["text_proj.weight"] = torch.zeros(3, 3)
    save_file(tensors, str(tmp_path / "shape.safetensors"), meta)
    with pytest.raises(ckpt.CheckpointError, match="text_proj.weight"):
        ckpt.load_model(tmp_path / "shape.safetensors")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model, _ = tiny_model()
    opt = torch.optim.AdamW(model.parameters())
    first = ckpt.save_training_state(tmp_path, 1, model, opt, {"m": 1})
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    calls = []

    def failing_save(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 2:  # the optimizer file: the weights were already written
            Path(filename).write_bytes(b"partial")
            raise OSError("disk full")
        return save_file(tensors, filename, metadata)

    from langtrack_ros import model_files

    monkeypatch.setattr(ckpt, "save_file", failing_save)
    monkeypatch.setattr(model_files, "save_file", failing_save)  # _atomic_save_file lives there
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_training_state(tmp_path, 2, model, opt, {"m": 2})
    root = tmp_path / ckpt.CHECKPOINT_DIR
    assert sorted(p.name for p in root.iterdir()) == [first.name]
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    monkeypatch.setattr(model_files, "save_file", lambda *a, **k: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(OSError):
        ckpt.save_model(model, tiny_model()[1], tmp_path / "y.safetensors")
    assert not list(tmp_path.glob("*y.safetensors*"))


def test_keeps_last_k_checkpoints(tmp_path):
    model, _ = tiny_model()
    opt = torch.optim.AdamW(model.parameters())
    for step in range(1, 6):
        ckpt.save_training_state(tmp_path, step, model, opt, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [4, 5]


# ----------------------------------------------------------------------------- trainer

def train_config(**optim):
    return make_train_config(train_yaml({
        "seed": 1, "threads": 1,
        "model": {"preset": "tiny", "overrides": TINY_MODEL, "pretrained_tokenizer": False},
        "data": {"seed": 3, "sources": [{"kind": "synth"}], "num_workers": 0},
        "sampling": {"p_roi": 0.4, "p_whole": 0.3, "p_negative": 0.3},
        "optim": {"steps": 6, "batch_size": 4, "lr": 1e-3, "weight_decay": 1e-4, "grad_clip": 1.0,
                  "warmup_steps": 2, "max_bad_steps": 2, **optim},
        "checkpoint": {"every": 3, "keep": 2},
        "logging": {"every": 1, "progress": False},
    }), "test")


def make_trainer(run_dir, resume=False, cls=Trainer, **optim):
    absent = lambda i, rng: "the green triangle"  # noqa: E731
    sources = [list_source([make_sequence()], negative_sentence=absent)]
    return cls(train_config(**optim), run_dir, resume=resume, text_encoder=HashEncoder(), sources=sources)


def weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


class CrashAtStep4(Trainer):
    def _train_step(self, batch):
        parts = super()._train_step(batch)
        if self.step == 3:  # the 4th step has updated the weights; its checkpoint was never written
            raise RuntimeError("simulated crash")
        return parts


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    t = make_trainer(tmp_path_factory.mktemp("straight"))
    result = t.train()
    assert result.completed and result.step == 6 and result.model_path.is_file()
    return weights(t)


def test_resume_after_crash_is_bitwise_identical(tmp_path, straight):
    with pytest.raises(RuntimeError, match="simulated crash"):
        make_trainer(tmp_path, cls=CrashAtStep4).train()
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [3]
    resumed = make_trainer(tmp_path, resume=True)
    assert resumed.step == 3
    assert resumed.train().completed
    final = weights(resumed)
    assert all(torch.equal(straight[k], final[k]) for k in straight)
    exported = ckpt.load_model(tmp_path / "model.safetensors").state_dict()
    assert all(torch.equal(straight[k], exported[k]) for k in straight)


def test_sigterm_writes_checkpoint_and_resume_matches(tmp_path, straight):
    t = make_trainer(tmp_path)
    t.on_progress = lambda step, total, parts: step == 2 and os.kill(os.getpid(), signal.SIGTERM)
    result = t.train()
    assert not result.completed and result.step == 2
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [2]
    resumed = make_trainer(tmp_path, resume=True)
    resumed.train()
    final = weights(resumed)
    assert all(torch.equal(straight[k], final[k]) for k in straight)


def test_non_finite_loss_is_skipped_then_aborts(tmp_path, monkeypatch):
    real = trainer_mod.mvlm_loss

    def nan_loss(out, targets, weights):
        loss, parts = real(out, targets, weights)
        return loss * float("nan"), parts

    monkeypatch.setattr(trainer_mod, "mvlm_loss", nan_loss)
    t = make_trainer(tmp_path)
    before = weights(t)
    with pytest.raises(TrainingError, match="max_bad_steps=2"):
        t.train()
    assert t.bad_steps == 3 and all(torch.equal(before[k], v) for k, v in weights(t).items())


def test_resume_refuses_a_different_config(tmp_path):
    make_trainer(tmp_path, steps=1).train()
    with pytest.raises(ConfigError, match="optim.lr"):
        make_trainer(tmp_path, resume=True, lr=2e-3)
    with pytest.raises(ConfigError, match="--resume"):
        make_trainer(tmp_path)


def test_overrides_and_cli_errors(tmp_path):
    from langtrack_ros.cli import main
    from langtrack_ros.paths import config_file
    from langtrack_ros.training.trainer import load_train_config

    cfg = load_train_config(config_file("train_mvlm"), ["loss.cm=0", "data.sources.0.weight=2"], steps=5)
    assert cfg.loss.cm == 0 and cfg.data.sources[0]["weight"] == 2 and cfg.optim.steps == 5
    with pytest.raises(ConfigError, match="bogus"):
        load_train_config(config_file("train_mvlm"), ["loss.bogus=1"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["loss.cm"])
    assert main(["train", "vlt", "--run-dir", str(tmp_path)]) == 2
    assert main(["train", "mvlm", "--run-dir", str(tmp_path), "--set", "optim.nope=1"]) == 2


def test_stretched_crops_keep_pixels_and_box_together():
    """The stretch augmentation (tall/wide targets) moves the box exactly with the pixels."""
    from langtrack_ros.training.sampling import stretch

    patch = np.zeros((160, 160, 3), np.uint8)
    patch[60:100, 70:90] = 255  # a 20 x 40 target
    box = np.array([70, 60, 20, 40], np.float32) / 160
    for aspect in (0.5, 2.0):
        out, moved = stretch(patch, box, aspect)
        ys, xs = np.nonzero(out[..., 0] > 127)
        found = np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]) / 160
        np.testing.assert_allclose(moved, found, atol=1.5 / 160)
        assert moved[2] / moved[3] == pytest.approx(0.5 * aspect, rel=1e-5)


def test_a_partial_user_file_is_merged_once_over_the_packaged_table(tmp_path):
    """config/train_mvlm.yaml is the one table of defaults: a user file names only what it changes."""
    from langtrack_ros.paths import config_file
    from langtrack_ros.training.trainer import load_train_config, plain_config

    user = tmp_path / "mine.yaml"
    user.write_text("optim: {lr: 1.0e-3}\nsampling: {p_flip: 0.0}\n")
    expected = plain_config(load_train_config(config_file("train_mvlm")))
    expected["optim"]["lr"], expected["sampling"]["p_flip"] = 1e-3, 0.0
    assert plain_config(load_train_config(user)) == expected
    user.write_text("optim: {lr: 1.0e-3, lrr: 2}\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml.*'optim\.lrr'"):
        load_train_config(user)


def test_training_sections_have_no_code_defaults():
    with pytest.raises(ConfigError, match=r"test.sampling: missing key.*'p_roi'"):
        make_train_config({**train_yaml(), "sampling": {"p_whole": 0.5}}, "test")
