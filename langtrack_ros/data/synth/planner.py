"""Builds a whole scene from one RNG: objects, lanes for twins, motion, exits from view, occluders."""
from __future__ import annotations

import numpy as np

from . import assets
from .scene import (
    Scene,
    SceneObject,
    background_plate,
    bounce_path,
    distractor_attributes,
    excursion,
    lanes,
    make_sprite,
    sample_attributes,
    scale_path,
)
from .settings import Difficulty, SynthConfig


def object_attributes(rng, d: Difficulty) -> list[tuple]:
    """Target first, then distractors; at most two objects ever share all attributes."""
    target = sample_attributes(rng, d)
    n = int(rng.integers(d.distractors[0], d.distractors[1] + 1))
    out: list[tuple] = []
    for a in [target] + distractor_attributes(rng, target, d, n):
        while sum(b == a for b in out) >= 2:
            a = sample_attributes(rng, d, photo=False)
        out.append(a)
    return out


def plan_queries(rng, d: Difficulty, n: int, n_objects: int) -> list[tuple[int, int]]:
    """(first frame, object index) of each query; a switch names another object mid-sequence."""
    queries = [(0, 0)]
    if n_objects > 1 and n >= 20 and rng.random() < d.p_switch:
        frame = int(rng.integers(int(0.35 * n), int(0.65 * n) + 1))
        queries.append((frame, int(rng.integers(1, n_objects))))
    return queries


def assign_regions(rng, attrs, queries, base, W, H) -> tuple[list, dict]:
    """Centre regions per object; a query target and its identical twin get disjoint lanes."""
    regions = [(b / 2, b / 2, W - b / 2, H - b / 2) for b in base]
    lane_of: dict[int, tuple[str, int]] = {}
    for _, j in queries:
        group = [k for k, a in enumerate(attrs) if a == attrs[j]]
        if len(group) != 2 or j in lane_of:
            continue
        axis, strips = lanes(rng, 2, W, H, max(base[k] for k in group) / 2)
        order = list(rng.permutation(2))
        for slot, k in zip(order, group):
            regions[k] = strips[slot]
            lane_of[k] = (axis, int(slot))
    return regions, lane_of


def push_vector(rng, region, lane, wmax: float, hmax: float, W: int, H: int) -> np.ndarray:
    """Offset that takes an object anywhere in ``region`` fully out of view, away from its twin."""
    x0, y0, x1, y1 = region
    pushes = {
        "left": (-(x1 + wmax / 2 + 4), 0.0),
        "right": (W - x0 + wmax / 2 + 4, 0.0),
        "top": (0.0, -(y1 + hmax / 2 + 4)),
        "bottom": (0.0, H - y0 + hmax / 2 + 4),
    }
    if lane is not None:
        axis, slot = lane
        toward_twin = {("x", 0): "right", ("x", 1): "left", ("y", 0): "bottom", ("y", 1): "top"}[(axis, slot)]
        pushes.pop(toward_twin)
    names = sorted(pushes)
    return np.array(pushes[names[int(rng.integers(len(names)))]])


def build_scene(rng, cfg: SynthConfig, d: Difficulty, n: int) -> Scene:
    W, H = cfg.width, cfg.height
    attrs = object_attributes(rng, d)
    queries = plan_queries(rng, d, n, len(attrs))
    base = [rng.uniform(*d.size) * (1.4 if a[0] == "photo" else 1.0) for a in attrs]
    regions, lane_of = assign_regions(rng, attrs, queries, base, W, H)
    objects = []
    for k, a in enumerate(attrs):
        rgb, alpha = make_sprite(a, rng, cfg.sprite_size)
        cx, cy = bounce_path(rng, n, regions[k], d.speed)
        # size is the geometric mean of w and h, so thin objects (the rocket) are not tiny
        root_aspect = np.sqrt(alpha.shape[1] / alpha.shape[0])
        size = base[k] * scale_path(rng, n, d.scale_change)
        size = np.minimum(size, 0.75 * min(W, H) / max(root_aspect, 1 / root_aspect))
        w = np.maximum(2, np.round(size * root_aspect)).astype(int)
        h = np.maximum(2, np.round(size / root_aspect)).astype(int)
        objects.append(SceneObject(k, a[0], a[1], a[2], a[3], rgb, alpha, float(rng.uniform(0, 1)), cx, cy, w, h))
    bounds = [f for f, _ in queries[1:]] + [n]
    for (start, j), stop in zip(queries, bounds):
        obj = objects[j]
        if rng.random() < d.p_out_of_view:
            push = push_vector(rng, regions[j], lane_of.get(j), obj.w.max(), obj.h.max(), W, H)
            offset = excursion(rng, n, start, stop, push)
            if offset is not None:
                obj.cx, obj.cy = obj.cx + offset[:, 0], obj.cy + offset[:, 1]
        for _ in range(int(rng.integers(d.occluders[0], d.occluders[1] + 1))):
            occ = occluder(rng, len(objects), obj, start, stop, d, W, H, cfg.sprite_size)
            if occ is not None:
                objects.append(occ)
    avoid = {a[1] for a in attrs if a[0] == "photo"}
    name, plate, pan = background_plate(rng, cfg, d, n, avoid)
    return Scene(objects, plate, pan, queries, name)


def occluder(rng, oid: int, target: SceneObject, start: int, stop: int, d: Difficulty, W: int, H: int, size: int):
    """A textured pillar (or bar) crossing the target at a frame where the target is in view."""
    n = len(target.cx)
    first = start + 12  # the first frames of a query stay clear: grounding happens there
    inside = [t for t in range(first, stop - 2) if 0 <= target.cx[t] < W and 0 <= target.cy[t] < H]
    if not inside:
        return None
    tc = inside[int(rng.integers(len(inside)))]
    t = np.arange(n) - tc
    rgb, alpha = assets.panel_sprite(rng, size)
    sideways = rng.random() < 0.6
    track = target.cx if sideways else target.cy
    own = track[min(tc + 6, n - 1)] - track[max(tc - 6, 0)]
    speed = -np.sign(own or 1.0) * rng.uniform(4.0, 8.0)  # against the target: a short crossing
    across = float(target.w[tc] if sideways else target.h[tc])
    if rng.random() < d.p_full_occluder:  # wider than the target by a few frames of travel
        thick = 1.1 * across + abs(speed) * rng.uniform(2.0, 10.0)
    else:
        thick = rng.uniform(0.3, 0.6) * across
    thick = np.full(n, max(4, int(thick)))
    if sideways:  # vertical pillar
        cx, cy = target.cx[tc] + speed * t, np.full(n, H / 2.0)
        w, h = thick, np.full(n, int(H * 1.3))
    else:  # horizontal bar moving up or down
        cx, cy = np.full(n, W / 2.0), target.cy[tc] + speed * t
        w, h = np.full(n, int(W * 1.3)), thick
    return SceneObject(oid, "occluder", "panel", None, None, rgb, alpha, 10.0 + oid, cx, cy, w, h)
