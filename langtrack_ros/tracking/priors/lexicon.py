"""Sentence -> what the real-world priors can check: category, colour, spatial words.

Why a word table and not an embedding match: with MiniLM, single words like "man" and "person"
are close but so are "boat" and "car"; a wrong category is worse than none (MVLM alone then
decides). The table in config/priors.yaml is the knowledge; anything it lacks falls back to
plain MVLM, logged once per query.

The target is the FIRST category word ("the wakeboarder behind the boat" -> person): English
descriptions name the head noun before the relations. A colour word describes the category noun
that follows it, or the one before it when none follows ("the person in the red jacket").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from langtrack_ros.config import ConfigError, read_yaml

WORD = re.compile(r"[a-z]+")
# "left of the cube", "next to": a spatial word followed by these relates the target to another
# object; only "on the left", "the leftmost dog", "the largest car" rank the candidates
RELATION_FOLLOWERS = {"of", "to", "the", "a", "an", "than"}
SPATIAL_RELATIONS = ("left", "right", "top", "bottom", "largest", "smallest")


@dataclass(frozen=True)
class Category:
    name: str
    words: tuple[str, ...]
    detector: tuple[str, ...]  # Open Images class names of the SSD
    imagenet: tuple[int, ...]  # ImageNet-1k class indices


@dataclass(frozen=True)
class QueryPrior:
    """What the priors know about one sentence (empty fields: nothing known)."""

    text: str
    category: Category | None = None
    colour: str | None = None
    spatial: str | None = None
    context: tuple[str, ...] = field(default_factory=tuple)  # other categories named (relations)

    @property
    def known(self) -> bool:
        return self.category is not None or self.colour is not None or self.spatial is not None


def _imagenet_indices(spec, where: str) -> tuple[int, ...]:
    if isinstance(spec, dict):
        ranges = spec.get("ranges") or [spec.get("range")]
        try:
            indices = tuple(i for lo, hi in ranges for i in range(int(lo), int(hi) + 1))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: imagenet range must be [lo, hi] pairs, got {spec!r}") from exc
    else:
        indices = tuple(int(i) for i in spec or ())
    if any(not 0 <= i < 1000 for i in indices):
        raise ConfigError(f"{where}: ImageNet indices must be in 0..999, got {list(indices)}")
    return indices


class Lexicon:
    """The word tables of config/priors.yaml."""

    def __init__(self, data: dict, where: str = "priors.yaml"):
        try:
            self.categories = [Category(name, tuple(c["words"]), tuple(c.get("detector") or ()),
                                        _imagenet_indices(c.get("imagenet"), f"{where}: {name}"))
                               for name, c in data["categories"].items()]
            self.colours = {k: [tuple(r) for r in v] for k, v in data["colours"].items()}
            self.achromatic = {k: tuple(v) for k, v in data["achromatic"].items()}
            self.spatial = dict(data["spatial"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{where}: malformed prior tables ({type(exc).__name__}: {exc})") from exc
        self._check(where)
        self._word_to_category = {w: c for c in self.categories for w in c.words}

    def _check(self, where: str) -> None:
        """Catch table mistakes at load time, not as a crash on some later frame."""
        for word, ranges in self.colours.items():
            if not ranges or any(len(r) != 4 for r in ranges):
                raise ConfigError(f"{where}: colours.{word} must be a list of [h_lo, h_hi, s_min, v_min]")
        for word, limits in self.achromatic.items():
            if len(limits) != 3:
                raise ConfigError(f"{where}: achromatic.{word} must be [s_max, v_min, v_max]")
        bad = sorted(w for w, rel in self.spatial.items() if rel not in SPATIAL_RELATIONS)
        if bad:
            raise ConfigError(f"{where}: spatial words {bad} map to unknown relations; use {SPATIAL_RELATIONS}")

    @classmethod
    def load(cls, path: str | Path) -> "Lexicon":
        return cls(read_yaml(path), str(path))

    def colour_words(self) -> set[str]:
        return set(self.colours) | set(self.achromatic)

    def parse(self, text: str) -> QueryPrior:
        words = WORD.findall(text.lower())
        found = [(i, self._category(w)) for i, w in enumerate(words)]
        found = [(i, c) for i, c in found if c is not None]
        category = found[0][1] if found else None
        colour = self._target_colour(words, [i for i, _ in found])
        spatial = next((self.spatial[w] for i, w in enumerate(words) if w in self.spatial
                        and (words[i + 1:i + 2] or [""])[0] not in RELATION_FOLLOWERS), None)
        context = tuple(dict.fromkeys(c.name for _, c in found if c is not category))
        return QueryPrior(text, category, colour, spatial, context)

    def _target_colour(self, words: list[str], nouns: list[int]) -> str | None:
        """A colour word belongs to the next category noun after it, else to the one before it
        ("the red car", "the person in the red jacket", not "the car next to the red bus")."""
        for i, w in enumerate(words):
            if w not in self.colour_words():
                continue
            after = [n for n in nouns if n > i]
            before = [n for n in nouns if n < i]
            owner = after[0] if after else (before[-1] if before else None)
            if owner is None or owner == nouns[0]:
                return w
        return None

    def _category(self, word: str) -> Category | None:
        if word in self._word_to_category:
            return self._word_to_category[word]
        if word.endswith("s") and word[:-1] in self._word_to_category:  # plain plurals
            return self._word_to_category[word[:-1]]
        return None
