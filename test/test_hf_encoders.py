"""CLIP / SigLIP encoders through transformers, with tiny random stand-ins saved to a temp dir:
build, train 2 steps (frozen and fine-tuned towers), ONNX export matching torch, named errors."""
import json

import pytest
import torch

from hf_tiny import TINY_TEXT, save_tiny
from packaged import mvlm_config, train_yaml
from langtrack_ros.tracking.hf_encoders import EncoderNotFoundError
from langtrack_ros.tracking.network import MVLM
from langtrack_ros.tracking.text_encoder import HFTextEncoder, build_text_encoder
from langtrack_ros.training import checkpoint as ckpt
from langtrack_ros.training.sampling import list_source
from langtrack_ros.training.trainer import Trainer, make_train_config
from test_training import make_sequence

pytest.importorskip("transformers")
KINDS = ("clip", "siglip")


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {kind: save_tiny(kind, root / kind) for kind in KINDS}


def model_fields(kind: str, folder) -> dict:
    return {"search_size": 64, "patch": 16, "width": 32, "depth": 1, "heads": 2, "head_channels": 16,
            "template_size": 32, "tokenizer": kind, "text_encoder": kind, "hf_model": str(folder),
            "text_dim": TINY_TEXT["hidden_size"], "max_text_tokens": 16}


def train(kind, folder, run_dir, **optim):
    cfg = make_train_config(train_yaml({
        "seed": 1, "threads": 1,
        "model": {"preset": "tiny", "overrides": model_fields(kind, folder)},
        "data": {"seed": 3, "sources": [{"kind": "synth"}], "num_workers": 0},
        "optim": {"steps": 2, "batch_size": 4, "lr": 1e-3, "grad_clip": 1.0, **optim},
        "checkpoint": {"every": 0, "keep": 1}, "logging": {"every": 1, "progress": False},
    }), "test")
    sources = [list_source([make_sequence()], negative_sentence=lambda i, rng: "the green triangle")]
    return Trainer(cfg, run_dir, sources=sources)


@pytest.mark.parametrize("kind,frozen", [("clip", True), ("siglip", False)])
def test_train_two_steps_frozen_or_slow_tower(tiny_dirs, tmp_path, kind, frozen):
    t = train(kind, tiny_dirs[kind], tmp_path, frozen_prefixes=["tokenizer.backbone."] if frozen else [],
              slow_prefixes=["tokenizer.backbone."], slow_lr_mult=0.1)
    assert isinstance(t.text.encoder, HFTextEncoder) and t.text.encoder.dim == TINY_TEXT["hidden_size"]
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    result = t.train()
    assert result.completed and result.step == 2
    after = t.model.state_dict()
    tower = [k for k in before if k.startswith("tokenizer.backbone.") and before[k].is_floating_point()]
    moved = [k for k in tower if not torch.equal(before[k], after[k])]
    assert tower and (moved == [] if frozen else len(moved) > len(tower) // 2)
    assert not torch.equal(before["tokenizer.proj.weight"], after["tokenizer.proj.weight"])
    lrs = sorted(g["lr"] for g in t.optimizer.param_groups)
    assert len(lrs) == (1 if frozen else 2) and (frozen or lrs[0] == pytest.approx(0.1 * lrs[1]))
    loaded = ckpt.load_model(result.model_path)  # rebuilt from the folder's config.json + the file's weights
    assert loaded.cfg.tokenizer == kind and all(torch.equal(v, after[k]) for k, v in loaded.state_dict().items())


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_export_matches_torch(tiny_dirs, tmp_path, kind):
    pytest.importorskip("onnxruntime")
    from langtrack_ros.inference.onnx_export import export_mvlm, export_text_encoder
    from langtrack_ros.inference.ort_backend import OrtTextEncoder

    cfg = mvlm_config(**model_fields(kind, tiny_dirs[kind]))
    model = MVLM(cfg).eval()
    report = export_mvlm(model, tmp_path / "m.onnx")
    assert set(report.max_abs_diff) == {"score_map", "offset", "size", "corr_map"} and report.worst < 1e-4
    from langtrack_ros.inference.ort_backend import OrtBackend
    from langtrack_ros.tracking.text_encoder import text_encoder_for

    picked = text_encoder_for(OrtBackend(tmp_path / "m.onnx"), 16)  # what load_tracker does with an export
    assert isinstance(picked, HFTextEncoder) and (picked.kind, picked.name) == (kind, str(tiny_dirs[kind]))
    if kind == "siglip":
        return  # the text-tower export is one code path for both families (~6 s each); CLIP is the paper's
    encoder = build_text_encoder(cfg)
    text = export_text_encoder(tmp_path / "text.onnx", encoder=encoder)
    assert text.worst < 1e-4
    ort_feats, ort_mask = OrtTextEncoder(tmp_path / "text.onnx").encode("the red car on the left")
    feats, mask = encoder.encode("the red car on the left")
    assert ort_mask.tolist() == mask.tolist() and float(abs(ort_feats - feats).max()) < 1e-4


def test_text_features_are_per_token_and_query_alone(tiny_dirs):
    enc = build_text_encoder(mvlm_config(**model_fields("clip", tiny_dirs["clip"])))
    feats, mask = enc.encode_batch(["a dog", "the man in a dark jacket"])
    assert feats.shape == (2, 8, TINY_TEXT["hidden_size"]) and mask.sum(1).tolist() == [4, 8]
    alone, _ = enc.encode("a dog")
    assert (feats[0, :4] == alone).all() and (feats[0, 4:] == 0).all()  # padding is zeros, masked


def test_missing_encoder_is_a_named_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    missing = tmp_path / "no_such_clip"
    with pytest.raises(EncoderNotFoundError, match="no_such_clip.*does not exist.*hf download"):
        MVLM(mvlm_config(**model_fields("clip", missing)))
    name = "openai/clip-vit-base-patch16"
    with pytest.raises(EncoderNotFoundError, match=f"'{name}' is not in the Hugging Face cache.*offline.*hf download {name}"):
        build_text_encoder(mvlm_config(**model_fields("clip", name)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderNotFoundError, match="no config.json"):
        MVLM(mvlm_config(**model_fields("siglip", tmp_path / "empty")))


def test_wrong_family_weights_are_refused(tiny_dirs):
    with pytest.raises(EncoderNotFoundError, match="refusing random weights"):
        MVLM(mvlm_config(**model_fields("siglip", tiny_dirs["clip"])))


def test_presets_name_the_paper_encoders():
    from langtrack_ros.tracking.network import load_mvlm_config

    for preset, kind, name in (("clip_b16", "clip", "openai/clip-vit-base-patch16"),
                               ("clip_l14", "clip", "openai/clip-vit-large-patch14"),
                               ("siglip_b16", "siglip", "google/siglip-base-patch16-224")):
        cfg = load_mvlm_config(preset)
        assert (cfg.tokenizer, cfg.text_encoder, cfg.hf_model) == (kind, kind, name)
    default = load_mvlm_config()
    assert (default.tokenizer, default.text_encoder, default.hf_model) == ("mobilenet", "minilm", "")


def test_old_model_files_load_with_the_new_fields_defaulted(tmp_path):
    """A model file written before hf_model / text_encoder existed loads with their defaults: the
    shipped default re-written with its config metadata as it was then (both keys absent)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from langtrack_ros import model_hash
    from langtrack_ros.paths import models_dir

    with safe_open(str(models_dir() / "mvlm_default.safetensors"), framework="pt") as f:
        metadata, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(metadata["config"])
    for key in ("hf_model", "text_encoder"):
        config.pop(key, None)
    metadata["config"] = json.dumps(config)
    metadata["config_sha256"] = model_hash.config_sha256(metadata["config"])  # a consistent file, only older
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=metadata)
    model = ckpt.load_model(tmp_path / "old.safetensors")
    assert (model.cfg.hf_model, model.cfg.text_encoder) == ("", "minilm")


def test_tracker_uses_the_models_own_text_tower(tiny_dirs, tmp_path):
    """A CLIP model file brings its CLIP text tower into load_tracker (ONNX: see the export test)."""
    import numpy as np

    from langtrack_ros.builder import load_tracker

    cfg = mvlm_config(**model_fields("clip", tiny_dirs["clip"]))
    path = ckpt.save_model(MVLM(cfg), cfg, tmp_path / "clip.safetensors")
    tracker = load_tracker(path, backend="torch")
    assert isinstance(tracker.text_encoder, HFTextEncoder) and tracker.text_encoder.name == str(tiny_dirs["clip"])
    tracker.set_query("the red car on the left")
    result = tracker.step(np.full((90, 120, 3), 80, np.uint8))
    assert np.isfinite(result.box).all() and -1 <= result.kappa <= 1


def test_paper_recipe_config_parses_and_names_the_paper_numbers():
    from langtrack_ros.paths import config_file
    from langtrack_ros.training.trainer import build_model_config, load_train_config

    cfg = load_train_config(config_file("train_mvlm_paper"))
    o = cfg.optim
    assert (o.steps, o.batch_size, o.lr, o.weight_decay, o.grad_clip, o.slow_lr_mult) == (75000, 80, 5e-4, 1e-4, 0.1, 0.1)
    assert o.steps * o.batch_size == 60 * 100_000  # 60 epochs of 100k pairs
    assert (cfg.loss.focal, cfg.loss.l1, cfg.loss.giou, cfg.loss.cm, cfg.loss.cm_k) == (1.0, 5.0, 2.0, 0.5, 10)
    model = build_model_config(cfg.model)
    assert (model.hf_model, model.max_text_tokens, model.width, model.text_dim) == \
        ("openai/clip-vit-large-patch14", 77, 512, 768)
    assert {s["name"] for s in cfg.data.sources} == {"lasot", "tnl2k"}
