"""VLT architectures: one path through the SPOS supernet per branch plus one ModaMixer block per stage.

An :class:`Architecture` is four lists of choice names (VLT.md "Asymmetry"): ``template_path`` and
``search_path`` (one choice per searchable block, 4/4/8/4 = 20), ``template_mixers`` and
``search_mixers`` (the post-processing block of each stage's ModaMixer, 4). Choices are names,
not indices, so a JSON/YAML file stays readable and a typo is reported by name.

Mutation and crossover (evolutionary search) act gene by gene and always return valid
architectures; randomness comes from a ``numpy.random.Generator`` the caller seeds, so a search
is a pure function of its seed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from langtrack_ros.config import ConfigError
from langtrack_ros.files import atomic_write_text

CHOICES = ("k3", "k5", "k7", "xception")  # ShuffleNetV2 unit with depthwise k x k, or Xception-like unit
STAGE_BLOCKS = (4, 4, 8, 4)  # searchable blocks per stage (VLT / SPOS)
GENES = ("template_path", "search_path", "template_mixers", "search_mixers")


def gene_lengths(stage_blocks=STAGE_BLOCKS) -> dict[str, int]:
    n = int(sum(stage_blocks))
    return {"template_path": n, "search_path": n, "template_mixers": len(stage_blocks),
            "search_mixers": len(stage_blocks)}


@dataclass(frozen=True)
class Architecture:
    template_path: tuple
    search_path: tuple
    template_mixers: tuple
    search_mixers: tuple

    def validate(self, stage_blocks=STAGE_BLOCKS, where: str = "architecture") -> "Architecture":
        """Raise ConfigError naming the field for a wrong length or an unknown choice."""
        for name, length in gene_lengths(stage_blocks).items():
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{where}.{name}: expected a list of {length} choices, got {value!r}")
            if len(value) != length:
                raise ConfigError(f"{where}.{name}: expected {length} choices, got {len(value)}")
            for i, choice in enumerate(value):
                if choice not in CHOICES:
                    raise ConfigError(f"{where}.{name}[{i}]: unknown block choice {choice!r}; "
                                      f"allowed: {list(CHOICES)}")
        return self

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {name: list(getattr(self, name)) for name in GENES}

    @classmethod
    def from_dict(cls, data, stage_blocks=STAGE_BLOCKS, where: str = "architecture") -> "Architecture":
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping with {list(GENES)}, got {type(data).__name__}")
        unknown, missing = sorted(set(data) - set(GENES)), [g for g in GENES if g not in data]
        if unknown or missing:
            raise ConfigError(f"{where}: unknown field(s) {unknown}, missing field(s) {missing}")
        values = {}
        for g in GENES:
            if not isinstance(data[g], (list, tuple)):
                raise ConfigError(f"{where}.{g}: expected a list of choices, got {data[g]!r}")
            values[g] = tuple(data[g])
        return cls(**values).validate(stage_blocks, where)

    def key(self) -> str:
        """Compact stable identity (cache key, log field)."""
        short = {c: str(i) for i, c in enumerate(CHOICES)}
        return "-".join("".join(short[c] for c in getattr(self, g)) for g in GENES)

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({**self.to_dict(), **({"info": extra} if extra else {})}, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, stage_blocks=STAGE_BLOCKS) -> "Architecture":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"architecture file not found: {path}")
        import yaml  # reads JSON too

        data = yaml.safe_load(path.read_text()) or {}
        data = {k: v for k, v in data.items() if k != "info"} if isinstance(data, dict) else data
        return cls.from_dict(data, stage_blocks, str(path))

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def uniform(cls, choice: str, stage_blocks=STAGE_BLOCKS) -> "Architecture":
        """The symmetric architecture with the same block everywhere (ablation 'fixed arch')."""
        n = gene_lengths(stage_blocks)
        return cls(**{g: (choice,) * n[g] for g in GENES}).validate(stage_blocks)

    @classmethod
    def random(cls, rng: np.random.Generator, stage_blocks=STAGE_BLOCKS, symmetric: bool = False) -> "Architecture":
        n = gene_lengths(stage_blocks)
        genes = {g: tuple(CHOICES[i] for i in rng.integers(len(CHOICES), size=n[g])) for g in GENES}
        if symmetric:
            genes["search_path"], genes["search_mixers"] = genes["template_path"], genes["template_mixers"]
        return cls(**genes)

    def mutate(self, rng: np.random.Generator, prob: float, symmetric: bool = False) -> "Architecture":
        """Each gene replaced by a random choice with probability ``prob``."""
        genes = {}
        for g in GENES:
            genes[g] = tuple(CHOICES[rng.integers(len(CHOICES))] if rng.random() < prob else c
                             for c in getattr(self, g))
        if symmetric:
            genes["search_path"], genes["search_mixers"] = genes["template_path"], genes["template_mixers"]
        return Architecture(**genes)

    def crossover(self, other: "Architecture", rng: np.random.Generator, symmetric: bool = False) -> "Architecture":
        """Each gene taken from ``self`` or ``other`` with probability 1/2 (SPOS uniform crossover)."""
        genes = {g: tuple(a if rng.random() < 0.5 else b for a, b in zip(getattr(self, g), getattr(other, g)))
                 for g in GENES}
        if symmetric:
            genes["search_path"], genes["search_mixers"] = genes["template_path"], genes["template_mixers"]
        return Architecture(**genes)

    def stage_slices(self, stage_blocks=STAGE_BLOCKS) -> list[slice]:
        ends = np.cumsum(stage_blocks)
        return [slice(int(e - n), int(e)) for e, n in zip(ends, stage_blocks)]


def choices_per_block(arch: Architecture | None, stage_blocks=STAGE_BLOCKS) -> tuple[list, list]:
    """Which choices each block / mixer must instantiate: all for the supernet, else the arch's union."""
    n_blocks, n_stages = int(sum(stage_blocks)), len(stage_blocks)
    if arch is None:
        return [list(CHOICES)] * n_blocks, [list(CHOICES)] * n_stages
    blocks = [sorted({a, b}, key=CHOICES.index) for a, b in zip(arch.template_path, arch.search_path)]
    mixers = [sorted({a, b}, key=CHOICES.index) for a, b in zip(arch.template_mixers, arch.search_mixers)]
    return blocks, mixers


def search_space(stage_blocks=STAGE_BLOCKS, symmetric: bool = False) -> dict:
    """What a search explores; a resumed search must find the same dict in its state."""
    return {"choices": list(CHOICES), "stage_blocks": list(stage_blocks), "genes": gene_lengths(stage_blocks),
            "symmetric": bool(symmetric)}
