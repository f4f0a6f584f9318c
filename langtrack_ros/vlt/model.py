"""VLT_SCAR network: SPOS supernet backbone with ModaMixers, SiamCAR neck and head (VLT.md).

One module serves all three training steps: built with ``architecture=None`` it is the supernet
(every choice instantiated, any path can run); built with an architecture it holds only the units
that architecture uses (the retrained, exported model), with the same parameter names, so the
supernet's weights load into it directly.

Language enters as one vector per sample: the mean of the frozen text encoder's token features.
A sample without a sentence uses the template embedding instead: the stem features of the
template pooled inside the target box, projected to the text dimension (VLT's "template
embedding" variant). The stem is the same for every path, so the substitute is too.

The stem is either a small conv trained from scratch (``model.stem: scratch``) or the first
``stem_blocks`` ImageNet MobileNetV2 blocks (``mobilenet``; the reference VLT starts from an
ImageNet backbone). Whatever the stem's stride, the stages keep total stride 8: a stride-4 stem
turns the first stage's stride 2 into 1, so every stage runs at the resolution it has with the
scratch stem and the score map keeps its size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from langtrack_ros.config import ConfigError
from langtrack_ros.tracking.tokenizers import MobileNetBlocks, mobilenet_blocks_shape
from langtrack_ros.vlt.arch import Architecture, choices_per_block
from langtrack_ros.vlt.blocks import ChoiceBlock, ModaMixer

STAGE_STRIDES = (2, 2, 1, 1)  # after the stride-2 scratch stem: total stride 8
TOTAL_STRIDE = 8
STEMS = ("scratch", "mobilenet")
# The one table of VLTConfig keys added after format vlt-1 was fixed, with the value a file written
# before them implies (the scratch stem). load_vlt fills them (logged); nothing else supplies them.
KEYS_ADDED_AFTER_VLT_1 = {"stem": "scratch", "stem_blocks": 0}


@dataclass
class VLTConfig:
    """Network sizes: ``model`` of config/train_vlt.yaml (the one table; its "GPU:" comments give the
    reference values), or a model file's embedded config (vlt-1 files carry every field)."""

    stem: str  # scratch | mobilenet (ImageNet MobileNetV2 blocks, tokenizers.py)
    stem_blocks: int  # mobilenet: how many MobileNetV2 ``features`` blocks (4: stride 4, 24 ch)
    stem_channels: int  # scratch stem only (the mobilenet stem's width is MobileNetV2's)
    stage_channels: tuple
    stage_blocks: tuple
    template_size: int
    search_size: int
    template_crop: int  # centre cells of the template map used as correlation kernel
    neck_channels: int
    head_layers: int  # conv + GroupNorm + ReLU per tower
    text_dim: int
    max_text_tokens: int
    language: bool  # False: the SiamCAR baseline (no ModaMixer, no language)
    architecture: dict | None  # None: supernet; else Architecture.to_dict() of the fixed model

    def __post_init__(self):
        if len(self.stage_channels) != 4 or len(self.stage_blocks) != 4:
            raise ConfigError("model.stage_channels and model.stage_blocks need 4 entries (4 stages)")
        if self.stem not in STEMS:
            raise ConfigError(f"model.stem must be one of {STEMS}, got {self.stem!r}")
        if self.stem == "mobilenet" and not 1 <= self.stem_blocks <= 14:
            raise ConfigError(f"model.stem_blocks must be 1..14 for the mobilenet stem, got {self.stem_blocks}")
        if self.stem_stride not in (2, 4, 8):
            raise ConfigError(f"model.stem_blocks {self.stem_blocks}: stem stride {self.stem_stride}, "
                              f"the stages need 2, 4 or 8 (total stride {TOTAL_STRIDE})")
        if any(c % 2 for c in (self.stem_out, *self.stage_channels)):
            raise ConfigError(f"model channel counts must be even (channel split), got {self.stage_channels}")
        cin = self.stem_out
        for cout, stride in zip(self.stage_channels, self.stage_strides):
            if cout < cin or (stride == 2 and cout == cin):
                raise ConfigError(f"model.stage_channels {list(self.stage_channels)}: each stage needs more channels "
                                  f"than the one before (stem {self.stem_out}; equal is allowed for stride-1 stages)")
            cin = cout
        if self.architecture is not None:
            self.arch()  # validates, naming the bad field

    def arch(self) -> Architecture | None:
        if self.architecture is None:
            return None
        return Architecture.from_dict(self.architecture, tuple(self.stage_blocks), "model.architecture")

    @property
    def stem_out(self) -> int:
        return mobilenet_blocks_shape(self.stem_blocks)[0] if self.stem == "mobilenet" else self.stem_channels

    @property
    def stem_stride(self) -> int:
        return mobilenet_blocks_shape(self.stem_blocks)[1] if self.stem == "mobilenet" else 2

    @property
    def stage_strides(self) -> tuple:
        """STAGE_STRIDES with the first stride-2 stages set to 1 until the total is 8."""
        strides, total = list(STAGE_STRIDES), self.stem_stride * 4
        for i, s in enumerate(strides):
            if total <= TOTAL_STRIDE:
                break
            if s == 2:
                strides[i], total = 1, total // 2
        return tuple(strides)

    @property
    def stride(self) -> int:
        return TOTAL_STRIDE

    def feature_size(self, image: int) -> int:
        size = image
        for s in (2,) * (self.stem_stride.bit_length() - 1) + self.stage_strides:
            size = -(-size // s)
        return size

    @property
    def score_size(self) -> int:
        return self.feature_size(self.search_size) - self.template_crop + 1


def language_vector(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the real tokens' features: (B, L, D), (B, L) -> (B, D); all-pad rows give zeros."""
    m = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * m).sum(1) / m.sum(1).clamp(min=1.0)


def box_mask(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 4) normalised xywh -> (B, 1, size, size) mask of the cells whose centre is inside."""
    centres = (torch.arange(size, dtype=boxes.dtype, device=boxes.device) + 0.5) / size
    x0, y0, w, h = boxes.unbind(-1)
    inx = (centres[None] >= x0[:, None]) & (centres[None] <= (x0 + w)[:, None])
    iny = (centres[None] >= y0[:, None]) & (centres[None] <= (y0 + h)[:, None])
    return (iny[:, :, None] & inx[:, None, :]).unsqueeze(1).to(boxes.dtype)


def xcorr_depthwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    k = kernel.reshape(b * c, 1, kernel.shape[2], kernel.shape[3])
    out = F.conv2d(x.reshape(1, b * c, h, w), k, groups=b * c)
    return out.reshape(b, c, out.shape[2], out.shape[3])


def build_stem(cfg: VLTConfig, pretrained: bool) -> nn.Module:
    """The scratch conv stem, or the MobileNetV2 blocks (ImageNet weights when ``pretrained``)."""
    if cfg.stem == "mobilenet":
        return MobileNetBlocks(cfg.stem_blocks, pretrained)
    return nn.Sequential(nn.Conv2d(3, cfg.stem_channels, 3, 2, 1, bias=False),
                         nn.BatchNorm2d(cfg.stem_channels), nn.ReLU(inplace=True))


class Backbone(nn.Module):
    """Stem + 4 stages of choice blocks, a ModaMixer after each stage when language is on."""

    def __init__(self, cfg: VLTConfig, pretrained: bool = False):
        super().__init__()
        blocks, mixers = choices_per_block(cfg.arch(), tuple(cfg.stage_blocks))
        self.stem = build_stem(cfg, pretrained)
        self.blocks = nn.ModuleList()
        cin, k = cfg.stem_out, 0
        for stage, (n, cout, stride) in enumerate(zip(cfg.stage_blocks, cfg.stage_channels, cfg.stage_strides)):
            for j in range(n):
                self.blocks.append(ChoiceBlock(blocks[k], cin, cout, stride if j == 0 else 1))
                cin, k = cout, k + 1
        self.mixers = nn.ModuleList(ModaMixer(mixers[s], c, cfg.text_dim) for s, c in enumerate(cfg.stage_channels)) \
            if cfg.language else None
        self.stage_blocks = tuple(cfg.stage_blocks)

    def forward(self, stem: torch.Tensor, path, mixers, lang: torch.Tensor | None) -> list[torch.Tensor]:
        """Stage outputs for one branch; ``path``/``mixers`` are that branch's choice lists."""
        x, k, outs = stem, 0, []
        for s, n in enumerate(self.stage_blocks):
            for _ in range(n):
                x = self.blocks[k](x, path[k])
                k += 1
            if self.mixers is not None and lang is not None:
                x = self.mixers[s](x, lang, mixers[s])
            outs.append(x)
        return outs


def _tower(channels: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods += [nn.Conv2d(channels, channels, 3, 1, 1), nn.GroupNorm(min(32, channels // 4), channels),
                 nn.ReLU(inplace=True)]
    return nn.Sequential(*mods)


class VLTNet(nn.Module):
    """Template + search (+ language) -> SiamCAR maps: cls (B,2,G,G), cen (B,1,G,G), ltrb (B,4,G,G) px."""

    def __init__(self, cfg: VLTConfig, pretrained: bool = False):
        """``pretrained``: load the ImageNet stem weights (training; a model file brings its own)."""
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg, pretrained)
        self.template_embed = nn.Linear(cfg.stem_out, cfg.text_dim) if cfg.language else None
        self.neck = nn.ModuleList(nn.Sequential(nn.Conv2d(c, cfg.neck_channels, 1, bias=False),
                                                nn.BatchNorm2d(cfg.neck_channels)) for c in cfg.stage_channels[1:])
        self.down = nn.Conv2d(3 * cfg.neck_channels, cfg.neck_channels, 1)
        self.cls_tower = _tower(cfg.neck_channels, cfg.head_layers)
        self.box_tower = _tower(cfg.neck_channels, cfg.head_layers)
        self.cls_logits = nn.Conv2d(cfg.neck_channels, 2, 3, 1, 1)
        self.centerness = nn.Conv2d(cfg.neck_channels, 1, 3, 1, 1)
        self.bbox_pred = nn.Conv2d(cfg.neck_channels, 4, 3, 1, 1)

    def pretrained_stem(self) -> nn.Module | None:
        """The ImageNet stem (its BatchNorm keeps ImageNet statistics: never trained or recalibrated)."""
        return self.backbone.stem if self.cfg.stem == "mobilenet" else None

    def resolve_arch(self, arch: Architecture | None) -> Architecture:
        fixed = self.cfg.arch()
        if arch is None:
            if fixed is None:
                raise ValueError("the supernet needs an architecture (path) for every forward pass")
            return fixed
        return arch

    def language(self, template_stem: torch.Tensor, template_boxes: torch.Tensor, lang: torch.Tensor | None,
                 has_lang: torch.Tensor | None) -> torch.Tensor | None:
        """Sentence vector where there is one, the template embedding elsewhere (None: no language)."""
        if self.template_embed is None:
            return None
        mask = box_mask(template_boxes, template_stem.shape[-1])
        pooled = (template_stem * mask).sum((2, 3)) / mask.sum((2, 3)).clamp(min=1.0)
        substitute = self.template_embed(pooled)
        if lang is None:
            return substitute
        return torch.where(has_lang[:, None], lang, substitute)

    def template_kernels(self, template: torch.Tensor, template_boxes: torch.Tensor, lang=None, has_lang=None,
                         arch: Architecture | None = None) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Template branch once per target: correlation kernels per level and the language vector."""
        arch = self.resolve_arch(arch)
        stem = self.backbone.stem(template)
        vec = self.language(stem, template_boxes, lang, has_lang)
        feats = self.backbone(stem, arch.template_path, arch.template_mixers, vec)
        c, lo = self.cfg.template_crop, None
        kernels = []
        for neck, f in zip(self.neck, feats[1:]):
            z = neck(f)
            lo = (z.shape[-1] - c) // 2
            kernels.append(z[:, :, lo:lo + c, lo:lo + c])
        return kernels, vec

    def search_features(self, search: torch.Tensor, vec: torch.Tensor | None,
                        arch: Architecture | None = None) -> list[torch.Tensor]:
        """The search branch's neck maps, one per level: what the template kernels correlate with (the
        tracker also cuts distractor kernels out of them)."""
        arch = self.resolve_arch(arch)
        feats = self.backbone(self.backbone.stem(search), arch.search_path, arch.search_mixers, vec)
        return [neck(f) for neck, f in zip(self.neck, feats[1:])]

    def track(self, search: torch.Tensor, kernels: list[torch.Tensor], vec: torch.Tensor | None,
              arch: Architecture | None = None) -> dict:
        return self.heads(self.search_features(search, vec, arch), kernels)

    def heads(self, features: list[torch.Tensor], kernels: list[torch.Tensor]) -> dict:
        """Correlation per level (kernel b with map b), then the cls / centerness / ltrb heads."""
        corr = torch.cat([xcorr_depthwise(f, k) for f, k in zip(features, kernels)], 1)
        x = self.down(corr)
        cls_t, box_t = self.cls_tower(x), self.box_tower(x)
        ltrb = torch.exp(self.bbox_pred(box_t).clamp(max=6.0)) * self.cfg.stride
        return {"cls": self.cls_logits(cls_t), "cen": self.centerness(cls_t), "ltrb": ltrb}

    def forward(self, template, search, template_boxes, lang=None, has_lang=None, arch=None) -> dict:
        kernels, vec = self.template_kernels(template, template_boxes, lang, has_lang, arch)
        return self.track(search, kernels, vec, arch)


def grid_points(cfg: VLTConfig) -> torch.Tensor:
    """(G,) pixel coordinates (in the search patch) of the score-map cells, centred on the patch."""
    g = cfg.score_size
    return (cfg.search_size - 1) / 2.0 + (torch.arange(g, dtype=torch.float32) - (g - 1) / 2.0) * cfg.stride
