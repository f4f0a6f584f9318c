"""CLIP and SigLIP towers from ``transformers``: the vision tower as a visual tokenizer, the text
tower as the frozen text encoder (the MVLM reference uses a frozen CLIP ViT-L/14 text encoder).

A model is named by ``MVLMConfig.hf_model``: a local folder (``save_pretrained`` layout) or a
Hugging Face Hub name found in the local cache (downloaded on first use when the machine is
online). Offline with nothing found is an :class:`EncoderNotFoundError` that names the model and
how to get it; it never falls back to random weights. ``pretrained=False`` builds the same
architecture from the model's ``config.json`` only (loading a trained langtrack checkpoint, which
holds all the weights).

Features follow the reference: vision = patch tokens of the last encoder layer (CLIP: CLS dropped;
SigLIP: its post-LayerNorm, no attention-pooling head), text = every token of the last encoder layer
before the final LayerNorm and projection.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import torch
from torch import nn

LOG = logging.getLogger(__name__)

# Per family: transformers classes and the image normalisation the tower was trained with.
FAMILIES = {
    "clip": {"vision": "CLIPVisionModel", "text": "CLIPTextModel", "vision_config": "CLIPVisionConfig",
             "mean": (0.48145466, 0.4578275, 0.40821073), "std": (0.26862954, 0.26130258, 0.27577711)},
    "siglip": {"vision": "SiglipVisionModel", "text": "SiglipTextModel", "vision_config": "SiglipVisionConfig",
               "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
}


class EncoderNotFoundError(FileNotFoundError):
    """A CLIP/SigLIP model is neither a local folder nor in the Hugging Face cache (and cannot be downloaded)."""


def family(kind: str) -> dict:
    if kind not in FAMILIES:
        raise ValueError(f"unknown encoder family {kind!r}; expected one of {sorted(FAMILIES)}")
    return FAMILIES[kind]


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def how_to_get(name: str) -> str:
    return (f"on a machine with internet run `hf download {name}` (or `python -c \"from transformers import "
            f"AutoModel; AutoModel.from_pretrained('{name}')\"`) to fill the Hugging Face cache, or save the "
            f"model with save_pretrained() into a folder and set hf_model to that folder")


def from_pretrained(cls, name: str, what: str, **kwargs):
    """``cls.from_pretrained`` from a local folder, else the HF cache, else a download when online."""
    if not name:
        raise EncoderNotFoundError(f"{what}: hf_model is empty; name a CLIP/SigLIP model or folder")
    with _quiet_transformers():
        return _from_pretrained(cls, name, what, **kwargs)


@contextlib.contextmanager
def _quiet_transformers():
    """transformers prints a table of every unused key (e.g. the other tower of a full CLIP folder)
    on each load; ``load_complete`` checks what matters (missing weights) itself."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _from_pretrained(cls, name: str, what: str, **kwargs):
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise EncoderNotFoundError(f"{what}: folder {local} has no config.json (not a save_pretrained folder)")
        return cls.from_pretrained(str(local), **kwargs)
    if local.is_absolute() or name.startswith("."):
        raise EncoderNotFoundError(f"{what}: model folder {local} does not exist; {how_to_get(name)}")
    try:
        return cls.from_pretrained(name, local_files_only=True, **kwargs)
    except OSError as cached_exc:
        if _offline():
            raise EncoderNotFoundError(f"{what} {name!r} is not in the Hugging Face cache and the machine is "
                                       f"offline (HF_HUB_OFFLINE); {how_to_get(name)}") from cached_exc
    try:
        LOG.info("%s %s not cached; downloading from the Hugging Face Hub", what, name)
        return cls.from_pretrained(name, **kwargs)
    except OSError as exc:
        raise EncoderNotFoundError(f"{what} {name!r} could not be loaded or downloaded ({exc}); "
                                   f"{how_to_get(name)}") from exc


def load_complete(cls, name: str, what: str):
    """A pretrained tower whose every weight came from the file (missing ones would be random)."""
    try:
        model, info = from_pretrained(cls, name, what, output_loading_info=True)
    except (RuntimeError, ValueError) as exc:  # e.g. tensor shapes of another family
        raise EncoderNotFoundError(f"{what} {name!r} does not load as {cls.__name__} ({str(exc)[:300]}); "
                                   "refusing random weights") from exc
    if info.get("missing_keys"):
        raise EncoderNotFoundError(f"{what} {name!r}: the checkpoint lacks {sorted(info['missing_keys'])[:5]} "
                                   "(not a CLIP/SigLIP model of this family?); refusing random weights")
    return model


def _transformers_class(name: str):
    import transformers

    return getattr(transformers, name)


class HFVisionTokenizer(nn.Module):
    """CLIP/SigLIP vision tower -> patch-token map (B,C,G,G) projected to the transformer width.

    Only the parts that produce patch tokens are kept (CLIP's pooled-output LayerNorm and SigLIP's
    pooling head would be parameters without gradients, which DistributedDataParallel rejects).
    """

    frozen_bn = False  # no BatchNorm; kept for the MobileNet tokenizer's interface

    def __init__(self, kind: str, name: str, width: int, patch: int, pretrained: bool = True):
        super().__init__()
        fam = family(kind)
        what = f"{kind} vision tower"
        if pretrained:
            tower = load_complete(_transformers_class(fam["vision"]), name, what)
        else:
            config = from_pretrained(_transformers_class(fam["vision_config"]), name, what)
            tower = _transformers_class(fam["vision"])(config)
        config = tower.config
        tower = getattr(tower, "vision_model", tower)  # transformers 4.x nests the parts one level down
        if config.patch_size != patch:
            raise ValueError(f"{name}: patch size {config.patch_size} != MVLMConfig.patch={patch}")
        self.kind, self.image_size, self.patch = kind, int(config.image_size), patch
        # under "backbone" so optim.frozen_prefixes / slow_prefixes [tokenizer.backbone.] work as for MobileNet
        self.backbone = nn.ModuleDict({
            "embeddings": tower.embeddings,
            "pre_norm": getattr(tower, "pre_layrnorm", None) or nn.Identity(),  # CLIP only
            "encoder": tower.encoder,
            "post_norm": tower.post_layernorm if kind == "siglip" else nn.Identity(),
        })
        self.proj = nn.Conv2d(int(config.hidden_size), width, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        b, _, h, w = image.shape
        m = self.backbone
        x = m["embeddings"](image, interpolate_pos_encoding=(h, w) != (self.image_size, self.image_size))
        x = m["post_norm"](m["encoder"](inputs_embeds=m["pre_norm"](x)).last_hidden_state)
        if self.kind == "clip":
            x = x[:, 1:]  # drop CLS
        g_h, g_w = h // self.patch, w // self.patch
        return self.proj(x.transpose(1, 2).reshape(b, -1, g_h, g_w))


def load_text_tower(kind: str, name: str):
    """The (frozen, eval-mode) text tower and its tokenizer."""
    from transformers import AutoTokenizer

    fam = family(kind)
    model = load_complete(_transformers_class(fam["text"]), name, f"{kind} text tower").eval()
    tokenizer = from_pretrained(AutoTokenizer, name, f"{kind} tokenizer")
    for param in model.parameters():
        param.requires_grad_(False)
    return model, tokenizer


def text_features(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Per-token features of the last encoder layer, before the final LayerNorm (as the reference)."""
    out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    return out.hidden_states[-1]
