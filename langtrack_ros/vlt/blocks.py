"""Searchable blocks of the VLT backbone: ShuffleNetV2 units (depthwise k3/k5/k7) and the
Xception-like unit, a choice block holding one unit per allowed choice, and the ModaMixer.

A unit keeps ShuffleNetV2's two forms: with the same channels in and out and stride 1 the input
is split in halves and one half passes untouched; otherwise (stride 2 or a channel change) a
projection branch (depthwise + pointwise) runs beside the main branch. Every choice of a block
has the same input/output shapes, which is what lets one supernet hold them all (SPOS).
"""
from __future__ import annotations

import torch
from torch import nn

KERNELS = {"k3": 3, "k5": 5, "k7": 7}


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _pw(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


def _dw(c: int, k: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c, c, k, stride, k // 2, groups=c, bias=False), nn.BatchNorm2d(c)]


def main_branch(choice: str, cin: int, mid: int, cout: int, stride: int) -> nn.Sequential:
    """pw -> dw(k) -> pw for k3/k5/k7; three (dw3 -> pw) for the Xception-like unit."""
    if choice in KERNELS:
        return nn.Sequential(*_pw(cin, mid), *_dw(mid, KERNELS[choice], stride), *_pw(mid, cout))
    if choice == "xception":
        return nn.Sequential(*_dw(cin, 3, stride), *_pw(cin, mid), *_dw(mid, 3, 1), *_pw(mid, mid),
                             *_dw(mid, 3, 1), *_pw(mid, cout))
    raise ValueError(f"unknown block choice {choice!r}")


class ShuffleUnit(nn.Module):
    def __init__(self, choice: str, cin: int, cout: int, stride: int):
        super().__init__()
        if cout % 2 or cin % 2:
            raise ValueError(f"ShuffleUnit needs even channel counts, got {cin} -> {cout}")
        self.split = stride == 1 and cin == cout
        if not self.split and cout <= cin:
            raise ValueError(f"a projecting ShuffleUnit needs cout > cin, got {cin} -> {cout}")
        mid = cout // 2
        if self.split:
            self.main = main_branch(choice, cin // 2, mid, cout - cin // 2, 1)
            self.proj = None
        else:
            k = KERNELS.get(choice, 3)
            self.main = main_branch(choice, cin, mid, cout - cin, stride)
            self.proj = nn.Sequential(*_dw(cin, k, stride), *_pw(cin, cin))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:
            keep, rest = x.chunk(2, dim=1)
            return channel_shuffle(torch.cat([keep, self.main(rest)], 1))
        return channel_shuffle(torch.cat([self.proj(x), self.main(x)], 1))


class ChoiceBlock(nn.Module):
    """One searchable position: a unit per allowed choice; forward runs the chosen one only."""

    def __init__(self, choices: list[str], cin: int, cout: int, stride: int):
        super().__init__()
        self.units = nn.ModuleDict({c: ShuffleUnit(c, cin, cout, stride) for c in choices})

    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        if choice not in self.units:
            raise ValueError(f"block choice {choice!r} not in this model (it has {list(self.units)})")
        return self.units[choice](x)


class ModaMixer(nn.Module):
    """VLT's modality mixer, once per stage: ``x + Block(x * (W l + b))``.

    ``l`` is the pooled sentence embedding (or the template-embedding substitute), ``W l + b`` a
    per-sample channel weight, ``Block`` the searched post-processing unit. We add the mixed
    branch to the stage's output (the reference code's form) rather than ``Block(mixed) +
    Block(visual)`` (the paper's formula): the visual path stays exactly the SiamCAR backbone, so a
    mixer that learns nothing leaves the baseline intact.
    """

    def __init__(self, choices: list[str], channels: int, text_dim: int):
        super().__init__()
        self.linear = nn.Linear(text_dim, channels)
        self.post = ChoiceBlock(choices, channels, channels, 1)

    def mix(self, x: torch.Tensor, lang: torch.Tensor) -> torch.Tensor:
        """Channel-wise product of the visual map with the projected language vector."""
        return x * self.linear(lang)[:, :, None, None]

    def forward(self, x: torch.Tensor, lang: torch.Tensor, choice: str) -> torch.Tensor:
        return x + self.post(self.mix(x, lang), choice)
