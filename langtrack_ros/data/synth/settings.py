"""Typed view of ``config/synth.yaml``: image size, split seed ranges and difficulty knobs.

Fields carry no defaults on purpose: the YAML file is the one source of truth.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from langtrack_ros.config import ConfigError, from_dict, load_merged

SPLITS = ("train", "val", "val_hard", "test", "hard")


@dataclass(frozen=True)
class Difficulty:
    distractors: tuple[int, int]
    p_same_category: float
    p_same_colour: float
    p_twin: float
    p_photo_target: float
    p_photo_background: float
    p_textured: float
    occluders: tuple[int, int]
    p_full_occluder: float
    p_out_of_view: float
    p_switch: float
    p_extra_relation: float
    size: tuple[int, int]
    speed: tuple[float, float]
    scale_change: float
    pan: int


@dataclass(frozen=True)
class SplitSpec:
    seed_start: int
    count: int
    length: tuple[int, int]
    difficulty: Difficulty


@dataclass(frozen=True)
class Splits:
    train: SplitSpec
    val: SplitSpec
    val_hard: SplitSpec  # tuning under the hard split's conditions without touching its seeds
    test: SplitSpec
    hard: SplitSpec


@dataclass(frozen=True)
class SynthConfig:
    width: int
    height: int
    fps: float
    jpeg_quality: int
    full_occlusion_max_visible: float
    out_of_view_min_fraction: float
    video_backgrounds: bool
    sprite_size: int
    splits: Splits

    @classmethod
    def load(cls, path: str | Path | None = None) -> "SynthConfig":
        """``config/synth.yaml`` with the user's file ``path`` (if any) merged over it once; unknown
        keys and bad values raise ConfigError naming the file."""
        where = str(path or "config/synth.yaml")
        try:
            cfg = from_dict(cls, load_merged("synth", path), where)
        except TypeError as exc:  # e.g. a number where a [lo, hi] pair belongs
            raise ConfigError(f"{where}: {exc}") from exc
        cfg.check()
        return cfg

    def split(self, name: str) -> SplitSpec:
        if name not in SPLITS:
            raise ValueError(f"unknown synth split {name!r}; choose one of {SPLITS}")
        return getattr(self.splits, name)

    def check(self) -> None:
        """Seed ranges must not overlap (disjoint splits) and sizes must be sane."""
        ranges = sorted((s.seed_start, s.seed_start + s.count, n) for n in SPLITS for s in [self.split(n)])
        for (a0, a1, an), (b0, _, bn) in zip(ranges, ranges[1:]):
            if b0 < a1:
                raise ConfigError(f"synth splits {an!r} and {bn!r} overlap in seeds [{b0}, {a1})")
        if self.width < 64 or self.height < 64:
            raise ConfigError(f"synth image {self.width}x{self.height} too small (min 64x64)")
        for n in SPLITS:
            lo, hi = self.split(n).length
            if not 2 <= lo <= hi:
                raise ConfigError(f"synth split {n!r}: length range [{lo}, {hi}] invalid (need 2 <= lo <= hi)")
