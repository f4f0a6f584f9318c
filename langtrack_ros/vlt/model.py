"""VLT_SCAR network: SPOS supernet backbone with ModaMixers, SiamCAR neck and head (VLT.md).

One module serves all three training steps: built with ``architecture=None`` it is the supernet
(every choice instantiated, any path can run); built with an architecture it holds only the units
that architecture uses (the retrained, exported model), with the same parameter names, so the
supernet's weights load into it directly.

Language enters as one vector per sample: the mean of the frozen text encoder's token features.
A sample without a sentence uses the template embedding instead: the stem features of the
template pooled inside the target box, projected to the text dimension (VLT's "template
embedding" variant). The stem is the same for every path, so the substitute is too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from langtrack_ros.config import ConfigError
from langtrack_ros.vlt.arch import Architecture, choices_per_block
from langtrack_ros.vlt.blocks import ChoiceBlock, ModaMixer

STAGE_STRIDES = (2, 2, 1, 1)  # after the stride-2 stem: total stride 8


@dataclass
class VLTConfig:
    """Network sizes: ``model`` of config/train_vlt.yaml (the one table; its "GPU:" comments give the
    reference values), or a model file's embedded config (vlt-1 files carry every field)."""

    stem_channels: int
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
        if any(c % 2 for c in (self.stem_channels, *self.stage_channels)):
            raise ConfigError(f"model channel counts must be even (channel split), got {self.stage_channels}")
        cin = self.stem_channels
        for cout, stride in zip(self.stage_channels, STAGE_STRIDES):
            if cout < cin or (stride == 2 and cout == cin):
                raise ConfigError(f"model.stage_channels {list(self.stage_channels)}: each stage needs more channels "
                                  f"than the one before (stem {self.stem_channels}; equal is allowed for stride-1 stages)")
            cin = cout
        if self.architecture is not None:
            self.arch()  # validates, naming the bad field

    def arch(self) -> Architecture | None:
        if self.architecture is None:
            return None
        return Architecture.from_dict(self.architecture, tuple(self.stage_blocks), "model.architecture")

    @property
    def stride(self) -> int:
        return 8

    def feature_size(self, image: int) -> int:
        size = -(-image // 2)
        for s in STAGE_STRIDES:
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


class Backbone(nn.Module):
    """Stem + 4 stages of choice blocks, a ModaMixer after each stage when language is on."""

    def __init__(self, cfg: VLTConfig):
        super().__init__()
        blocks, mixers = choices_per_block(cfg.arch(), tuple(cfg.stage_blocks))
        self.stem = nn.Sequential(nn.Conv2d(3, cfg.stem_channels, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(cfg.stem_channels), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList()
        cin, k = cfg.stem_channels, 0
        for stage, (n, cout, stride) in enumerate(zip(cfg.stage_blocks, cfg.stage_channels, STAGE_STRIDES)):
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

    def __init__(self, cfg: VLTConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.template_embed = nn.Linear(cfg.stem_channels, cfg.text_dim) if cfg.language else None
        self.neck = nn.ModuleList(nn.Sequential(nn.Conv2d(c, cfg.neck_channels, 1, bias=False),
                                                nn.BatchNorm2d(cfg.neck_channels)) for c in cfg.stage_channels[1:])
        self.down = nn.Conv2d(3 * cfg.neck_channels, cfg.neck_channels, 1)
        self.cls_tower = _tower(cfg.neck_channels, cfg.head_layers)
        self.box_tower = _tower(cfg.neck_channels, cfg.head_layers)
        self.cls_logits = nn.Conv2d(cfg.neck_channels, 2, 3, 1, 1)
        self.centerness = nn.Conv2d(cfg.neck_channels, 1, 3, 1, 1)
        self.bbox_pred = nn.Conv2d(cfg.neck_channels, 4, 3, 1, 1)

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

    def track(self, search: torch.Tensor, kernels: list[torch.Tensor], vec: torch.Tensor | None,
              arch: Architecture | None = None) -> dict:
        arch = self.resolve_arch(arch)
        feats = self.backbone(self.backbone.stem(search), arch.search_path, arch.search_mixers, vec)
        corr = torch.cat([xcorr_depthwise(neck(f), k) for neck, f, k in zip(self.neck, feats[1:], kernels)], 1)
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
