"""Scene planning: which objects exist, how they look, and where they are in every frame.

Everything here is decided by one ``numpy`` Generator, so a seed fixes the whole sequence.
Targets that have an identical twin get their own lane (a half of the image along one axis), so
a spatial relation ("on the left") stays true for the whole time the sentence is in force.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import assets
from .settings import Difficulty, SynthConfig


@dataclass
class SceneObject:
    """One object: its sprite, attributes and per-frame centre and pixel size."""

    id: int
    kind: str  # "shape" | "photo" | "occluder"
    category: str
    colour: str | None
    texture: str | None
    rgb: np.ndarray  # float32 sprite (h, w, 3)
    alpha: np.ndarray  # float32 (h, w)
    depth: float
    cx: np.ndarray  # (N,) float centre x
    cy: np.ndarray
    w: np.ndarray  # (N,) int pixel width
    h: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def nameable(self) -> bool:
        return self.kind != "occluder"

    def attrs(self) -> tuple:
        return (self.kind, self.category, self.colour, self.texture)

    def rect(self, t: int) -> tuple[int, int, int, int]:
        """Integer placement (x0, y0, w, h) in frame ``t``; may extend past the image."""
        w, h = int(self.w[t]), int(self.h[t])
        return int(round(self.cx[t] - w / 2)), int(round(self.cy[t] - h / 2)), w, h

    def sprite(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Sprite resized to (w, h); cached because sizes repeat from frame to frame."""
        key = (w, h)
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            rgb = cv2.resize(self.rgb, (w, h), interpolation=cv2.INTER_LINEAR)
            alpha = cv2.resize(self.alpha, (w, h), interpolation=cv2.INTER_LINEAR)
            self._cache[key] = (rgb, alpha)
        return self._cache[key]


@dataclass
class Scene:
    objects: list[SceneObject]
    background: np.ndarray  # uint8 (H + pan_y, W + pan_x, 3)
    pan: np.ndarray  # (N, 2) int offsets (x, y) into background
    queries: list[tuple[int, int]]  # (first frame, target object id), sorted
    background_name: str


def sample_attributes(rng, d: Difficulty, photo: bool | None = None) -> tuple:
    """Random (kind, category, colour, texture) of a nameable object."""
    if photo is None:
        photo = rng.random() < d.p_photo_target
    if photo:
        return ("photo", str(rng.choice(sorted(assets.PHOTO_OBJECTS))), None, None)
    textured = rng.random() < d.p_textured
    texture = str(rng.choice(assets.TEXTURES[1:])) if textured else "plain"
    return ("shape", str(rng.choice(sorted(assets.SHAPES))), str(rng.choice(sorted(assets.COLOURS))), texture)


def distractor_attributes(rng, target: tuple, d: Difficulty, n: int) -> list[tuple]:
    """Distractors: same category, same colour and identical twins as the knobs ask, then random."""
    kind, cat, col, tex = target
    out = []
    if rng.random() < d.p_twin:
        out.append(target)
    if rng.random() < d.p_same_category and kind == "shape":
        others = [c for c in assets.COLOURS if c != col]
        out.append(("shape", cat, str(rng.choice(others)), tex if rng.random() < 0.5 else "plain"))
    if rng.random() < d.p_same_colour and kind == "shape":
        others = [c for c in assets.SHAPES if c != cat]
        out.append(("shape", str(rng.choice(others)), col, "plain"))
    while len(out) < n:
        out.append(sample_attributes(rng, d, photo=rng.random() < 0.2))
    return out


def make_sprite(attrs: tuple, rng, size: int):
    kind, cat, col, tex = attrs
    if kind == "photo":
        return assets.photo_sprite(assets.PHOTO_OBJECTS[cat], bool(rng.random() < 0.5), size)
    return assets.shape_sprite(cat, col, tex, rng, size)


def bounce_path(rng, n: int, region: tuple, speed: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random walk of a centre inside ``region`` (x0, y0, x1, y1), reflecting at its edges."""
    x0, y0, x1, y1 = region
    pos = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
    vmax = rng.uniform(*speed)
    ang = rng.uniform(0, 2 * np.pi)
    vel = vmax * np.array([np.cos(ang), np.sin(ang)])
    out = np.empty((n, 2))
    for t in range(n):
        out[t] = pos
        vel = vel + rng.normal(0, 0.15 * vmax + 0.05, 2)
        norm = np.linalg.norm(vel)
        if norm > vmax:
            vel *= vmax / norm
        pos = pos + vel
        for k, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
            if pos[k] < lo or pos[k] > hi:
                pos[k] = np.clip(2 * (lo if pos[k] < lo else hi) - pos[k], lo, hi)
                vel[k] = -vel[k]
    return out[:, 0], out[:, 1]


def scale_path(rng, n: int, amp: float) -> np.ndarray:
    """Multiplicative scale over time: a slow sinusoid in log-scale."""
    a = rng.uniform(0, amp)
    period = rng.uniform(40, 160)
    t = np.arange(n)
    return np.exp(a * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)))


def lanes(rng, n_members: int, W: int, H: int, margin: float) -> tuple[str, list[tuple]]:
    """Split the image into ``n_members`` disjoint strips along a random axis (for twins)."""
    axis = "x" if rng.random() < 0.6 else "y"
    out = []
    for j in range(n_members):
        if axis == "x":
            out.append((j * W / n_members + margin, margin, (j + 1) * W / n_members - margin, H - margin))
        else:
            out.append((margin, j * H / n_members + margin, W - margin, (j + 1) * H / n_members - margin))
    return axis, out


def excursion(rng, n: int, start: int, stop: int, push: np.ndarray) -> np.ndarray | None:
    """Offset (N, 2) that slides an object out of view along ``push`` and back, within [start, stop)."""
    ramp, hold = int(rng.integers(8, 16)), int(rng.integers(4, 16))
    total = 2 * ramp + hold
    if stop - start - 4 < total:
        return None
    a = int(rng.integers(start + 2, stop - total - 1))
    env = np.zeros(n)
    up = np.linspace(0, 1, ramp + 1)[1:]
    up = up * up * (3 - 2 * up)
    env[a: a + ramp] = up
    env[a + ramp: a + ramp + hold] = 1.0
    env[a + ramp + hold: a + total] = up[::-1]
    return env[:, None] * push[None, :]


def background_plate(rng, cfg: SynthConfig, d: Difficulty, n: int, avoid: set) -> tuple:
    """Background image bigger than the frame by the pan amount, and per-frame pan offsets."""
    W, H = cfg.width, cfg.height
    px, py = (int(rng.integers(0, d.pan + 1)) for _ in range(2))
    names = [s for s in assets.background_sources(cfg.video_backgrounds) if not assets.BACKGROUND_CONTAINS[s] & avoid]
    if rng.random() < d.p_photo_background and names:
        name = str(rng.choice(names))
        src = assets.background_image(name, rng)
        plate = random_crop(rng, src, W + px, H + py)
    else:
        name = "gradient"
        plate = gradient(rng, W + px, H + py)
    gain, bias = rng.uniform(0.75, 1.15), rng.uniform(-20, 20)
    plate = np.clip(plate.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    t = np.linspace(0, 1, n)[:, None]
    start = np.array([rng.integers(0, px + 1), rng.integers(0, py + 1)])
    end = np.array([rng.integers(0, px + 1), rng.integers(0, py + 1)])
    return name, plate, np.round(start + (end - start) * t).astype(int)


def random_crop(rng, src: np.ndarray, w: int, h: int) -> np.ndarray:
    """A random crop with the frame's aspect ratio, resized to (w, h), maybe mirrored."""
    sh, sw = src.shape[:2]
    scale = rng.uniform(0.5, 1.0) * min(sw / w, sh / h)
    cw, ch = max(8, int(w * scale)), max(8, int(h * scale))
    x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    out = cv2.resize(src[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    return out[:, ::-1].copy() if rng.random() < 0.5 else out


def gradient(rng, w: int, h: int) -> np.ndarray:
    """A smooth two-colour gradient with a little noise (the non-photo background)."""
    a, b = rng.uniform(30, 225, 3), rng.uniform(30, 225, 3)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    s = (xx * np.cos(ang) + yy * np.sin(ang)).astype(np.float32)
    s = (s - s.min()) / (s.max() - s.min() + 1e-6)
    img = a[None, None] * (1 - s[..., None]) + b[None, None] * s[..., None]
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
