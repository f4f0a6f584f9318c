"""The MVLM network: one transformer over [CLS][search][template?][text] tokens + a centre head.

Per frame it maps a search image and the (cached) frozen text-encoder features of the query to

- ``score_map`` (B,G,G): classification logits l(b) per grid cell (sigmoid gives the heatmap),
- ``offset`` (B,2,G,G) and ``size`` (B,2,G,G): one candidate box per cell,
  cx = (j + offset_x) / G, cy = (i + offset_y) / G, w = size_w, h = size_h (units of the search side),
- ``corr_map`` (B,G,G): <v_x, u>, the VL correlation of every search token v_x (L2-normalised,
  after the encoder) with the pooled text embedding u (L2-normalised mean of the refined text
  tokens, padding excluded),
- ``tokens`` (B,G*G,C) and ``text_embed`` (B,C): those normalised v_x and u, for L_CM.

The text encoder is frozen and lives OUTSIDE this module (see ``text_encoder.py``): text features
depend only on the query, so they are computed once per query and fed in as ``text_tokens``.
Padding tokens (``text_mask`` False) are masked out of attention and of the pooling of u, so
padding a query never changes any output.

Everything is plain tensor algebra (own attention, no fused kernels) so ``torch.onnx.export`` can
trace it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from langtrack_ros.tracking.images import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401 (re-exported)

from langtrack_ros.config import ConfigError, from_dict, read_yaml
from langtrack_ros.paths import config_file
from langtrack_ros.tracking.tokenizers import build_tokenizer

log = logging.getLogger(__name__)
FOCAL_PRIOR_BIAS = -2.19  # sigmoid(-2.19) ~= 0.1: the usual focal-loss prior for a sparse heatmap
TOKEN_TYPES = ("cls", "search", "template", "text")
HF_FAMILIES = ("clip", "siglip")
# The one table of keys MVLMConfig gained after format mvlm-1 was fixed, with the value a file
# written before them implies (every shipped model and models/mvlm_default.safetensors at git
# 840aa53 predate both: MiniLM text features, no CLIP/SigLIP folder). Model files are read through
# fill_keys_added_later, which logs what it filled; nothing else supplies these values.
KEYS_ADDED_AFTER_MVLM_1 = {"hf_model": "", "text_encoder": "minilm"}


@dataclass
class MVLMConfig:
    """Network sizes. No defaults here: presets live in ``config/mvlm_model.yaml`` (the one table),
    and a model file carries its own config (older files: :func:`fill_keys_added_later`)."""

    search_size: int
    patch: int
    width: int
    depth: int
    heads: int
    mlp_ratio: float
    tokenizer: str  # mobilenet | patch | clip | siglip
    text_dim: int
    max_text_tokens: int
    template: bool
    template_size: int
    head_channels: int
    dropout: float
    hf_model: str  # CLIP/SigLIP folder or Hub name (tokenizer clip/siglip, text_encoder clip/siglip)
    text_encoder: str  # minilm (offline) | clip | siglip: the text tower of hf_model

    def __post_init__(self):
        for name in ("search_size", "template_size"):
            if getattr(self, name) % self.patch:
                raise ConfigError(f"MVLMConfig.{name}={getattr(self, name)} must be a multiple of patch={self.patch}")
        if self.text_encoder != "minilm" or self.tokenizer in HF_FAMILIES:
            if not self.hf_model:
                raise ConfigError("MVLMConfig.hf_model must name the CLIP/SigLIP model "
                                  f"(tokenizer={self.tokenizer!r}, text_encoder={self.text_encoder!r})")
        if self.text_encoder not in ("minilm", *HF_FAMILIES):
            raise ConfigError(f"MVLMConfig.text_encoder={self.text_encoder!r}: expected minilm, clip or siglip")
        if self.width % self.heads:
            raise ConfigError(f"MVLMConfig.width={self.width} must be divisible by heads={self.heads}")

    @property
    def grid(self) -> int:
        return self.search_size // self.patch

    @property
    def template_grid(self) -> int:
        return self.template_size // self.patch


def fill_keys_added_later(data: dict, where: str) -> dict:
    """A model file's config with the keys it predates (KEYS_ADDED_AFTER_MVLM_1) filled, logged."""
    missing = {k: v for k, v in KEYS_ADDED_AFTER_MVLM_1.items() if k not in data}
    if missing:
        log.info("%s: model config predates %s; using their mvlm-1 values %s", where, sorted(missing), missing)
    return {**missing, **data}


def load_mvlm_config(preset: str | None = None, path: str | Path | None = None) -> MVLMConfig:
    """The named size preset from ``config/mvlm_model.yaml`` (its ``default`` when preset is None)."""
    path = Path(path) if path else config_file("mvlm_model")
    data = read_yaml(path)
    presets = data.get("presets") or {}
    name = preset or data.get("default")
    if name not in presets:
        raise ConfigError(f"{path}: unknown MVLM preset {name!r}; available: {sorted(presets)}")
    return from_dict(MVLMConfig, presets[name], f"{path}:presets.{name}")


def preset_names(path: str | Path | None = None) -> list[str]:
    return sorted((read_yaml(Path(path) if path else config_file("mvlm_model")).get("presets") or {}))


def cfg_is_hf(cfg: MVLMConfig) -> bool:
    return cfg.tokenizer in HF_FAMILIES


def image_normalisation(tokenizer: str) -> tuple[tuple, tuple]:
    """(mean, std) the visual tokenizer was pretrained with: ImageNet, or the CLIP/SigLIP family's own."""
    if tokenizer in HF_FAMILIES:
        from langtrack_ros.tracking.hf_encoders import family

        return family(tokenizer)["mean"], family(tokenizer)["std"]
    return IMAGENET_MEAN, IMAGENET_STD


class Attention(nn.Module):
    """Multi-head self-attention with a key padding mask (True = real token)."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        logits = (q @ k.transpose(-2, -1)) * self.scale
        logits = logits.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        attn = self.drop(logits.softmax(dim=-1))
        return self.out((attn @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, width), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), key_mask)
        return x + self.mlp(self.norm2(x))


def _branch(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(hidden, hidden // 2, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(hidden // 2, cout, 1),
    )


class CenterHead(nn.Module):
    """OSTrack-style centre head: score (logits), offset and size (sigmoid) conv branches."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.score = _branch(width, hidden, 1)
        self.offset = _branch(width, hidden, 2)
        self.size = _branch(width, hidden, 2)
        nn.init.constant_(self.score[-1].bias, FOCAL_PRIOR_BIAS)

    def forward(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "score_map": self.score(feat)[:, 0],
            "offset": self.offset(feat).sigmoid(),
            "size": self.size(feat).sigmoid(),
        }


class MVLM(nn.Module):
    """Template-free vision-language tracker network (see the module docstring for the outputs)."""

    def __init__(self, cfg: MVLMConfig, pretrained_tokenizer: bool = True):
        super().__init__()
        self.cfg = cfg
        c = cfg.width
        mean, std = image_normalisation(cfg.tokenizer)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.tokenizer = build_tokenizer(cfg.tokenizer, c, cfg.patch, pretrained_tokenizer, cfg.hf_model)
        self.text_proj = nn.Linear(cfg.text_dim, c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.type_embed = nn.Parameter(torch.zeros(len(TOKEN_TYPES), c))
        self.pos_search = nn.Parameter(torch.zeros(1, cfg.grid ** 2, c))
        self.pos_template = nn.Parameter(torch.zeros(1, cfg.template_grid ** 2, c)) if cfg.template else None
        self.blocks = nn.ModuleList(Block(c, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(c)
        self.head = CenterHead(c, cfg.head_channels)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.cls_token, self.type_embed, self.pos_search, self.pos_template):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)
        for module in [self.text_proj, *self.blocks.modules()]:
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def pretrained_parameter_names(self) -> set[str]:
        """Names of the parameters that start from ImageNet weights (for a smaller learning rate)."""
        if cfg_is_hf(self.cfg):
            return {f"tokenizer.backbone.{name}" for name, _ in self.tokenizer.backbone.named_parameters()}
        if not getattr(self.tokenizer, "frozen_bn", False):
            return set()
        return {f"tokenizer.backbone.{name}" for name, _ in self.tokenizer.backbone.named_parameters()}

    def _visual_tokens(self, image: torch.Tensor, pos: torch.Tensor, kind: int) -> torch.Tensor:
        feat = self.tokenizer((image - self.mean) / self.std)
        return feat.flatten(2).transpose(1, 2) + pos + self.type_embed[kind]

    def forward(self, search: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                template: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        b, g = search.shape[0], self.cfg.grid
        text_mask = text_mask.to(torch.bool)
        parts = [self.cls_token.expand(b, -1, -1) + self.type_embed[0],
                 self._visual_tokens(search, self.pos_search, 1)]
        if template is not None:
            if self.pos_template is None:
                raise ValueError("template given but MVLMConfig.template is False (no template embeddings)")
            parts.append(self._visual_tokens(template, self.pos_template, 2))
        n_visual = sum(p.shape[1] for p in parts)
        parts.append(self.text_proj(text_tokens) + self.type_embed[3])
        x = torch.cat(parts, dim=1)
        key_mask = torch.cat([torch.ones(b, n_visual, dtype=torch.bool, device=x.device), text_mask], dim=1)
        for block in self.blocks:
            x = block(x, key_mask)
        x = self.norm(x)
        return self._outputs(x[:, 1:1 + g * g], x[:, n_visual:], text_mask, g)

    def _outputs(self, search_tokens, text_tokens, text_mask, g) -> dict[str, torch.Tensor]:
        b, _, c = search_tokens.shape
        weights = text_mask.to(search_tokens.dtype).unsqueeze(-1)
        u = (text_tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        v_norm = F.normalize(search_tokens, dim=-1)
        u_norm = F.normalize(u, dim=-1)
        corr = (v_norm @ u_norm.unsqueeze(-1)).reshape(b, g, g)
        out = self.head(search_tokens.transpose(1, 2).reshape(b, c, g, g))
        out.update(corr_map=corr, tokens=v_norm, text_embed=u_norm)
        return out


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

