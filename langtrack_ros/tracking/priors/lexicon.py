"""Sentence -> what the real-world priors can check: category, colour, spatial words.

Why a word table and not an embedding match: with MiniLM, single words like "man" and "person"
are close but so are "boat" and "car"; a wrong category is worse than none (MVLM alone then
decides). The table in config/priors.yaml is the knowledge; anything it lacks falls back to
plain MVLM, logged once per query.

The target is the HEAD NOUN: the last known noun of the sentence's first phrase, which ends at the
first relation word (a preposition, "holding", any "-ing" word; list in config/priors.yaml).
"the wakeboarder behind the boat" -> person, "the bike rider" -> person, "the face of the man
holding the umbrella" -> face, a PART of a person (its box comes from inside a person box, see
fusion.py). A first phrase with words but no known noun ("the plastic bag near the man") has an
unknown head noun: no category (plain MVLM for it), not the man. A colour word describes the
noun (category or part) that follows it, or the one before it when none follows: on the target
itself ("the red car"), or on a part of the target's owner ("the face of the man in the yellow
jacket": yellow is measured on the man's jacket region).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from langtrack_ros.config import ConfigError, read_yaml
from langtrack_ros.tracking.priors.relations import KINDS as RELATION_KINDS

WORD = re.compile(r"[a-z]+")
# "left of the cube", "next to": a spatial word followed by these relates the target to another
# object; only "on the left", "the leftmost dog", "the largest car" rank the candidates
RELATION_FOLLOWERS = {"of", "to", "the", "a", "an", "than"}
SPATIAL_RELATIONS = ("left", "right", "top", "bottom", "largest", "smallest", "middle", "between")
AXIS = {"left": "x", "right": "x", "middle": "x", "between": "x", "top": "y", "bottom": "y"}  # corners combine two axes
# "the person closest to the camera": "to" after a spatial word is no relation when the camera follows
CAMERA_WORDS = {"camera", "viewer", "us", "me", "robot", "lens"}
# "the one in the middle of the three": "of" after a spatial word is no relation when a group follows
GROUP_WORDS = {"two", "three", "four", "five", "six", "group", "pair", "row", "line", "others", "them"}
ORDINAL_REACH = 5  # an ordinal counts for a spatial word at most this many words after it


@dataclass(frozen=True)
class Category:
    name: str
    words: tuple[str, ...]
    detector: tuple[str, ...]  # Open Images class names of the SSD
    coco: tuple[str, ...]  # COCO class names of the COCO SSD
    imagenet: tuple[int, ...]  # ImageNet-1k class indices


@dataclass(frozen=True)
class Part:
    """A part of a category's object, located by geometry inside that object's box."""

    name: str
    words: tuple[str, ...]
    owner: str  # category name
    region: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the owner's box


@dataclass(frozen=True)
class QueryPrior:
    """What the priors know about one sentence (empty fields: nothing known)."""

    text: str
    category: Category | None = None
    colour: str | None = None
    spatial: str | None = None
    context: tuple[str, ...] = field(default_factory=tuple)  # other categories named (relations)
    part: Part | None = None  # the target is this part of a ``category`` object
    colour_region: tuple | None = None  # colour measured on this region of the owner's box (None: the target box)
    head: str | None = None  # the head noun when the tables do not know it
    spatial_order: int = 1  # "the second dog from the left": 2 (1: the extreme one)
    spatial_also: str | None = None  # the other axis of a corner: "at the bottom left" -> bottom + left
    relation: tuple[str, "Category"] | None = None  # (kind, category): "behind the boat" -> (near, boat); relations.py
    relation_colour: tuple | None = None  # (colour, region or None) of the relation's object: "the man in red"

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


RELATION_REACH = 5  # a relation word at most this many words before its object's noun
OTHER_REACH = 3  # "other" at most this many words before a noun of the target's own category


class Lexicon:
    """The word tables of config/priors.yaml."""

    def __init__(self, data: dict, where: str = "priors.yaml", head_noun: bool = True):
        self.head_noun = head_noun  # priors.head_noun; False: the first category word is the target
        try:
            self.categories = [Category(name, tuple(c["words"]), tuple(c.get("detector") or ()), tuple(c.get("coco") or ()),
                                        _imagenet_indices(c.get("imagenet"), f"{where}: {name}"))
                               for name, c in data["categories"].items()]
            self.colours = {k: [tuple(r) for r in v] for k, v in data["colours"].items()}
            self.achromatic = {k: tuple(v) for k, v in data["achromatic"].items()}
            self.spatial = dict(data["spatial"])
            self.parts = [Part(name, tuple(p["words"]), p["owner"], tuple(float(v) for v in p["region"]))
                          for name, p in (data.get("parts") or {}).items()]
            self.phrase_ends = set(data.get("phrase_ends") or ())
            self.non_nouns = set(data.get("non_nouns") or ())
            self.scene_nouns = set(data.get("scene_nouns") or ())
            self.garments = set(data.get("garments") or ())
            self.spatial_weak = set(data.get("spatial_weak") or ())
            self.relations = {w: kind for kind, ws in (data.get("relations") or {}).items() for w in ws}
            self.toy_words = set(data.get("toy_words") or ())
            self.toy_category = data.get("toy_category")
            self.toy_of = set(data.get("toy_of") or ())
            self._raw_keys = [*(data.get("ordinals") or {}), *data["colours"], *data["achromatic"], *data["spatial"],
                              *data["categories"], *(data.get("parts") or {})]
            self.ordinals = {str(k): int(v) for k, v in (data.get("ordinals") or {}).items()}

        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{where}: malformed prior tables ({type(exc).__name__}: {exc})") from exc
        self._check(where)
        self._word_to_category = {w: c for c in self.categories for w in c.words}
        self._word_to_part = {w: p for p in self.parts for w in p.words}
        self._by_name = {c.name: c for c in self.categories}

    def _check(self, where: str) -> None:
        """Catch table mistakes at load time, not as a crash on some later frame."""
        for word, ranges in self.colours.items():
            if not ranges or any(len(r) != 4 for r in ranges):
                raise ConfigError(f"{where}: colours.{word} must be a list of [h_lo, h_hi, s_min, v_min]")
        for word, limits in self.achromatic.items():
            if len(limits) != 3:
                raise ConfigError(f"{where}: achromatic.{word} must be [s_max, v_min, v_max]")
        for part in self.parts:
            x0, y0, x1, y1 = part.region
            if part.owner not in {c.name for c in self.categories} or not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ConfigError(f"{where}: parts.{part.name} needs a known owner category and a region "
                                  f"[x0, y0, x1, y1] with 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1")
        bad_kinds = sorted(set(self.relations.values()) - set(RELATION_KINDS))
        if bad_kinds:
            raise ConfigError(f"{where}: relations {bad_kinds} are not kinds the priors know; use {RELATION_KINDS}")
        words = [*self.phrase_ends, *self.non_nouns, *self.scene_nouns, *self.garments, *self.spatial_weak,
                 *self._raw_keys, *self.relations,
                 *(w for c in self.categories for w in c.words), *(w for p in self.parts for w in p.words)]
        odd = sorted({repr(w) for w in words if not isinstance(w, str)})
        if odd:  # YAML 1.1 reads a bare on/off/yes/no as a boolean: "on" would silently never match
            raise ConfigError(f"{where}: word lists hold non-words {odd}; quote such words (\"on\")")
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
        nouns = [(i, self._noun_at(words, i)) for i in range(len(words))]
        nouns = [(i, n) for i, n in nouns if n is not None and (self.head_noun or isinstance(n, Category))]
        end = self._phrase_end(words) if self.head_noun else 0  # 0: the first category word (ablation)
        head_i, unknown = self._head(words, nouns, end)
        if self._foreign_part(words, nouns, head_i):
            head_i, unknown = None, words[head_i]
        head = dict(nouns).get(head_i)
        part = head if isinstance(head, Part) else None
        category = self._by_name[part.owner] if part else self._toy(words, head_i, head)
        relation, object_colour, rel_at = self._relation(words, nouns, category, end) if self.head_noun else \
            (None, None, None)
        skip = object_colour[2] if object_colour else None  # that colour word describes the other object
        colour, region = self._target_colour(words, nouns, head_i, part or category, end, skip, rel_at)
        spatial, also, order = self._spatial(words)
        context = tuple(dict.fromkeys(n.name for _, n in nouns if isinstance(n, Category) and n is not category))
        return QueryPrior(text, category, colour, spatial, context, part, region, unknown, order, also, relation,
                          object_colour[:2] if object_colour else None)

    def _relation(self, words: list[str], nouns: list, category, end: int):
        """((kind, category), its colour) of the first object of another category that a relation
        word ties the target to: the nearest relation word before that noun, after the target's
        phrase ("the man holding the umbrella": near umbrella; "the house right of the school":
        right_of, where "left"/"right" count only before "of"). An object of the target's own
        category counts when "other" names it ("the dog next to the other dog"; not in a rank among
        a group, "left of the other two dogs") or its own colour does ("the man behind the man in
        red"). Third: the relation word's index. (None, None, None) when no such noun or word."""
        for j, noun in nouns:
            if j < end or not isinstance(noun, Category):
                continue
            colour = self._object_colour(words, nouns, j)
            if noun is category and not (self._other(words, j) or colour):
                continue
            for i in range(j - 1, max(end, j - RELATION_REACH) - 1, -1):
                w = words[i]
                if w in ("left", "right") and (words[i + 1:i + 2] or [""])[0] != "of":
                    continue
                if w in self.relations:
                    return (self.relations[w], noun), colour, i
        return None, None, None

    def _object_colour(self, words: list[str], nouns: list, j: int) -> tuple | None:
        """(colour, region or None, word index) the sentence gives the object at j: just before it
        ("the red bus", "the big red bus"), or after it up to the next other object: on the whole
        object ("the man in red") or on a part of it ("the man in the red shirt": that part's region)."""
        obj = dict(nouns)[j]
        for i in (j - 1, j - 2):
            if i >= 0 and words[i] in self.colour_words():
                return words[i], None, i
        after = [(n, x) for n, x in nouns if n > j]
        stop = next((n for n, x in after if not (isinstance(x, Part) and x.owner == obj.name)), len(words))
        for i in range(j + 1, stop):
            if words[i] in self.colour_words():
                part = next((x for n, x in after if i < n < stop), None)
                return words[i], (part.region if part is not None else None), i
        return None

    @staticmethod
    def _other(words: list[str], j: int) -> bool:
        """Does "other"/"another" single out one object before the noun at j ("the other black
        dog"), with no group word between (then it ranks among a group)?"""
        before = words[max(0, j - OTHER_REACH):j]
        at = max((i for i, w in enumerate(before) if w in ("other", "another")), default=None)
        return at is not None and not (GROUP_WORDS & set(before[at:]))

    def _spatial(self, words: list[str]) -> tuple[str | None, str | None, int]:
        """(relation, the other axis of a corner or None, ordinal): the first ranking spatial word,
        where a size adjective ("the small truck", "the little girl": ``spatial_weak``, more often a
        description than a rank) counts only when no other spatial word does; a second one on the
        other axis ("the bottom left", "top right"); an ordinal word before it ("the second dog from
        the left", "the third from the right")."""
        ranking = [i for i in range(len(words)) if self._ranks(words, i)]
        strong = [i for i in ranking if words[i] not in self.spatial_weak]
        if not ranking:
            return None, None, 1
        at = (strong or ranking)[0]
        first = self.spatial[words[at]]
        also = next((self.spatial[words[i]] for i in strong if i > at and AXIS.get(first)
                     and AXIS.get(self.spatial[words[i]], "-") not in (AXIS.get(first), "-")), None)
        order = next((self.ordinals[words[i]] for i in range(at - 1, max(-1, at - ORDINAL_REACH - 1), -1)
                      if words[i] in self.ordinals), 1)
        return first, also, order

    def _ranks(self, words: list[str], i: int) -> bool:
        """Is words[i] a spatial word that ranks candidates? Not in "left of the cube" (a relation),
        "the top of the car" (a part), "the yellow top" (a garment: after a colour word) or "left of
        centre" (a reference point); yes in "the one closest to the camera"."""
        if words[i] not in self.spatial:
            return False
        if self.spatial[words[i]] == "between":  # "between the two others", not "between the car and the tree"
            return bool((GROUP_WORDS | {"other"}) & set(words[i + 1:i + 4]))
        after = (words[i + 1:i + 2] or [""])[0]
        before = words[i - 1] if i > 0 else ""
        among = (after == "to" and bool(CAMERA_WORDS & set(words[i + 2:i + 5]))) or \
            (after == "of" and bool(GROUP_WORDS & set(words[i + 2:i + 4])))
        return (after not in RELATION_FOLLOWERS or among) and before not in self.colour_words() \
            and before not in ("of", "than")  # "left of centre": centre is the reference, not a rank

    def _phrase_end(self, words: list[str]) -> int:
        return next((i for i, w in enumerate(words) if (w in self.phrase_ends and not self._joins_colours(words, i))
                     or (len(w) > 4 and w.endswith("ing"))), len(words))

    def _joins_colours(self, words: list[str], i: int) -> bool:
        """Is words[i] the "and" / "or" of two colour words ("the red and silver can", "the black and
        white dog")? Those describe one target: the phrase goes on to its noun."""
        colours = self.colour_words()
        return words[i] in ("and", "or") and 0 < i < len(words) - 1 and words[i - 1] in colours \
            and words[i + 1] in colours

    def _toy(self, words: list[str], head_i, head):
        """The head's category, or a toy when a toy word comes before an animal's name in the first
        phrase ("the stuffed toy tiger", "the toy dog"): toy_category (COCO's teddy bear, which a
        detector calls most stuffed animals) with the animal's own classes added, since a toy has its look."""
        if isinstance(head, Category) and head.name in self.toy_of and self.toy_category in self._by_name \
                and self.toy_words & set(words[:head_i]):
            toy = self._by_name[self.toy_category]
            return Category(toy.name, toy.words, *(tuple(dict.fromkeys(a + b)) for a, b in
                                                   ((toy.detector, head.detector), (toy.coco, head.coco),
                                                    (toy.imagenet, head.imagenet))))
        return head

    def _foreign_part(self, words: list[str], nouns: list, head_i) -> bool:
        """Does a part word name a part of something the tables cannot cut it from ("the head of the
        young reindeer", "the face of the cat")? Its "of" phrase names a category that is not the
        part's owner. Nothing places such a part, and the whole animal is the wrong box, so the target
        is left to MVLM like any unknown head noun ("the wheel of the car")."""
        named = dict(nouns)
        noun = named.get(head_i)
        if not isinstance(noun, Part) or words[head_i + 1:head_i + 2] != ["of"]:
            return False
        for i in range(head_i + 2, len(words)):
            if isinstance(named.get(i), Category):
                return named[i].name != noun.owner
            if words[i] in self.phrase_ends:
                return False
        return False

    def _head(self, words: list[str], nouns: list, end: int) -> tuple[int | None, str | None]:
        """(index of the head noun, None) or (None, the unknown head word): the last known noun of the
        first phrase; a sentence that starts with a relation word falls back to its first known noun."""
        in_phrase = [i for i, _ in nouns if i < end]
        if in_phrase:
            return in_phrase[-1], None
        content = [w for w in words[:end] if w not in self.non_nouns and w not in self.colour_words()
                   and w not in self.spatial]
        if content:
            return None, content[-1]
        return (nouns[0][0] if nouns else None), None

    def _target_colour(self, words: list[str], nouns: list, head_i, target, end: int, skip=None,
                       rel_at=None) -> tuple:
        """(colour, region): a colour word in the first phrase describes the target ("the blue alien
        toy"); later ones belong to the next noun after them, else to the one before.
        On the head noun it is measured on the target box; on a part of the target's owner ("the man in
        the red jacket", "the face of the man in the red jacket") on that part's region of the owner.
        ``skip``: a colour word of the relation's object ("the man behind the man in the red shirt");
        ``rel_at``: where the relation starts, so "the woman in blue behind the car" is a blue woman."""
        owner_name = target.owner if isinstance(target, Part) else getattr(target, "name", None)
        for i, w in enumerate(words):
            if w not in self.colour_words() or i == skip:
                continue
            if i < end:
                return w, None
            if words[i + 1:i + 2] and words[i + 1] in self.scene_nouns:
                continue  # "flying in the pink sky", "on the green grass": the place's colour
            after = [(n, x) for n, x in nouns if n > i]
            before = [(n, x) for n, x in nouns if n < i]
            worn = self._garment_after(words, i)  # "in the yellow and green kit": its wearer's colour
            owner = before[-1] if worn and before else after[0] if after else (before[-1] if before else None)
            if rel_at is not None and i < rel_at and owner is not None and owner[0] > rel_at and \
                    not isinstance(target, Part):
                owner = (head_i, None)  # before the relation word: the target's, not its object's
            if owner is None or owner[0] == head_i:
                return w, None
            if isinstance(owner[1], Part) and owner[1].owner == owner_name:
                return w, owner[1].region
        return None, None

    def _garment_after(self, words: list[str], i: int) -> bool:
        """Does the colour word at i describe a whole-body garment (``garments``: "kit", "outfit",
        "clothes"), past the colour words joined to it ("yellow and green kit")? Such a colour is the
        wearer's, measured on the whole of them, not the next noun's ("the sprinter in the yellow kit
        in the middle of the line of runners" is a yellow sprinter)."""
        colours = self.colour_words()
        j = i + 1
        while j < len(words) and (words[j] in colours or self._joins_colours(words, j)):
            j += 1
        return j < len(words) and words[j] in self.garments

    def _noun_at(self, words: list[str], i: int) -> Category | Part | None:
        """The noun ``words[i]`` names there. A part word that is also a place word ("top") is the
        garment only right after a colour or "a" ("in a yellow top"); elsewhere it is the place ("the
        white object at the top right", "on the top of the hill"), not a person's torso."""
        noun = self._noun(words[i])
        if isinstance(noun, Part) and words[i] in self.spatial:
            before = words[i - 1] if i else ""
            if before != "a" and before not in self.colour_words():
                return None
        return noun

    def _noun(self, word: str) -> Category | Part | None:
        return self._part(word) or self._category(word)

    def _part(self, word: str) -> Part | None:
        if word in self._word_to_part:
            return self._word_to_part[word]
        if word.endswith("s") and word[:-1] in self._word_to_part:
            return self._word_to_part[word[:-1]]
        return None

    def _category(self, word: str) -> Category | None:
        if word in self._word_to_category:
            return self._word_to_category[word]
        if word.endswith("s") and word[:-1] in self._word_to_category:  # plain plurals
            return self._word_to_category[word[:-1]]
        return None
