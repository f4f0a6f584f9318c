"""Sentences from object attributes and spatial relations, unambiguous over a frame range.

A description is checked against every other nameable object over all frames the sentence is in
force: attributes first ("the striped green star"); when an object with the same attributes
exists, a relation that holds for the target and for none of those look-alikes in EVERY frame
("... on the left", "... left of the blue square"). No valid description means the generator
re-draws the scene, so no ambiguous sentence is ever emitted.
"""
from __future__ import annotations

import numpy as np

from . import assets

TEMPLATES = ("the {d}", "{d}", "track the {d}", "follow the {d}", "find the {d}")
PLAIN_TEMPLATES = TEMPLATES + ("the {d} in the scene", "the {d} in the picture")
SIDE_WORDS = {
    "left": ("on the left", "on the left side", "at the left"),
    "right": ("on the right", "on the right side", "at the right"),
    "top": ("at the top", "higher up", "at the top of the image"),
    "bottom": ("at the bottom", "lower down", "at the bottom of the image"),
}
RELATION_WORDS = {
    "left": ("left of", "to the left of"),
    "right": ("right of", "to the right of"),
    "top": ("above", "over"),
    "bottom": ("below", "under"),
}
MARGIN = 8.0  # px by which a relation must hold for the target


def words(obj, use: tuple[str, ...], rng) -> str:
    """Noun phrase of ``obj`` naming the attributes in ``use`` (texture, colour) and its category."""
    names = assets.SHAPES.get(obj.category) or assets.PHOTO_OBJECTS[obj.category].words
    parts = []
    if "texture" in use and obj.texture not in (None, "plain"):
        parts.append(obj.texture)
    if "colour" in use and obj.colour:
        parts.append(obj.colour)
    parts.append(str(names[int(rng.integers(len(names)))]))
    return " ".join(parts)


def options(obj) -> list[tuple[str, ...]]:
    """Attribute subsets that can describe ``obj``, shortest first."""
    if obj.kind == "photo":
        return [()]
    out = [(), ("colour",)]
    if obj.texture != "plain":
        out += [("texture",), ("texture", "colour")]
    return out


def matches(obj, others, use: tuple[str, ...]) -> list:
    """Objects a phrase of ``obj`` with attributes ``use`` would also fit."""
    out = []
    for o in others:
        if o.kind != obj.kind or o.category != obj.category:
            continue
        if "colour" in use and o.colour != obj.colour:
            continue
        if "texture" in use and o.texture != obj.texture:
            continue
        out.append(o)
    return out


def coord(obj, side: str, t0: int, t1: int) -> np.ndarray:
    """Signed coordinate that grows in direction ``side`` (so 'extreme' is always 'largest')."""
    if side in ("left", "right"):
        c = obj.cx[t0:t1]
        return -c if side == "left" else c
    c = obj.cy[t0:t1]
    return -c if side == "top" else c


def absolute_ok(target, lookalikes, side: str, t0: int, t1: int) -> bool:
    """Target is the most ``side`` of its look-alikes in every frame of [t0, t1)."""
    mine = coord(target, side, t0, t1)
    return all(bool(np.all(mine > coord(d, side, t0, t1) + MARGIN)) for d in lookalikes)


def relative_ok(target, ref, lookalikes, side: str, t0: int, t1: int) -> bool:
    """Target is ``side`` of ``ref`` in every frame; no look-alike ever is."""
    if not np.all(coord(target, side, t0, t1) > coord(ref, side, t0, t1) + MARGIN):
        return False
    return all(bool(np.all(coord(d, side, t0, t1) < coord(ref, side, t0, t1))) for d in lookalikes)


def unique_phrase(obj, others, rng) -> str | None:
    """Shortest-ish attribute phrase of ``obj`` that fits no other object, or None."""
    valid = [u for u in options(obj) if not matches(obj, others, u)]
    return words(obj, valid[int(rng.integers(len(valid)))], rng) if valid else None


def relations(target, nameable, lookalikes, t0, t1, rng) -> list[str]:
    """All relational suffixes that single out ``target`` among ``lookalikes`` over [t0, t1)."""
    out = []
    if lookalikes:
        for side, phrases in SIDE_WORDS.items():
            if absolute_ok(target, lookalikes, side, t0, t1):
                out.append(str(phrases[int(rng.integers(len(phrases)))]))
    for ref in nameable:
        if ref is target or ref in lookalikes:
            continue
        ref_words = unique_phrase(ref, [o for o in nameable if o is not ref], rng)
        if ref_words is None:
            continue
        for side, phrases in RELATION_WORDS.items():
            if relative_ok(target, ref, lookalikes, side, t0, t1):
                out.append(f"{phrases[int(rng.integers(len(phrases)))]} the {ref_words}")
    return out


def describe(target, objects, t0: int, t1: int, rng, p_extra_relation: float) -> str | None:
    """An unambiguous sentence for ``target`` over frames [t0, t1), or None if none exists."""
    nameable = [o for o in objects if o.nameable]
    others = [o for o in nameable if o is not target]
    valid = [u for u in options(target) if not matches(target, others, u)]
    want_relation = not valid or rng.random() < p_extra_relation
    use = valid[int(rng.integers(len(valid)))] if valid else options(target)[-1]
    noun = words(target, use, rng)
    if want_relation:
        rels = relations(target, nameable, matches(target, others, use), t0, t1, rng)
        if rels:
            noun = f"{noun} {rels[int(rng.integers(len(rels)))]}"
            return TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(d=noun)
        if not valid:
            return None
    return PLAIN_TEMPLATES[int(rng.integers(len(PLAIN_TEMPLATES)))].format(d=noun)


def negative_sentence(objects, rng) -> str:
    """A sentence naming an object category that is NOT in the scene (a negative for training)."""
    present = {o.category for o in objects if o.nameable}
    absent = [c for c in [*assets.SHAPES, *assets.PHOTO_OBJECTS] if c not in present]
    cat = absent[int(rng.integers(len(absent)))]
    if cat in assets.PHOTO_OBJECTS:
        names = assets.PHOTO_OBJECTS[cat].words
        noun = names[int(rng.integers(len(names)))]
    else:
        names = assets.SHAPES[cat]
        colour = sorted(assets.COLOURS)[int(rng.integers(len(assets.COLOURS)))]
        noun = f"{colour} {names[int(rng.integers(len(names)))]}"
    return PLAIN_TEMPLATES[int(rng.integers(len(PLAIN_TEMPLATES)))].format(d=noun)
