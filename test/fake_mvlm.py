"""A fake MVLM backend and text encoder whose answers are known by construction.

The query names a colour ("red ...", "blue ..."); the backend finds solid squares of that colour
in the search patch it is given and answers the way a perfect network would: a heatmap peak at the
cell holding each square's centre, the exact offset and size there, and a high correlation over
the tokens inside each square. Because it reads the patch, it follows every ROI crop and letterbox
like the real network, so the tracker's geometry is exercised for real.
"""
import cv2
import numpy as np

from langtrack_ros.tracking.text_encoder import QueryError

COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 255, 0)}
PATCH = 16
PEAK, BACKGROUND, CORR = 0.9, 0.05, 0.8


class FakeEncoder:
    """Token 0 of every feature carries the colour id (1-based)."""

    def __init__(self):
        self.calls = 0

    def encode(self, text):
        self.calls += 1
        if not isinstance(text, str) or not text.strip():
            raise QueryError("query is empty")
        colour_id = list(COLOURS).index(text.split()[0]) + 1
        tokens = np.zeros((3, 384), np.float32)
        tokens[:, 0] = colour_id
        return tokens, np.ones(3, bool)


class FakeBackend:
    name = "fake"

    def __init__(self, search_size=128, template_size=None, peak_at_padding=False):
        self.search_size = search_size
        self.template_size = template_size
        self.peak_at_padding = peak_at_padding  # an extra top-left peak (letterbox padding in wide images)
        self.nan_next = False
        self.corr = CORR  # correlation inside a target: sets kappa_vlm = tanh(corr) for a lone target
        self.patches = []
        self.templates = []

    def run(self, search, text_tokens, text_mask, template=None):
        assert search.shape == (1, 3, self.search_size, self.search_size) and search.dtype == np.float32
        assert 0.0 <= search.min() and search.max() <= 1.0
        patch = np.round(search[0].transpose(1, 2, 0) * 255).astype(np.uint8)
        self.patches.append(patch)
        self.templates.append(template)
        colour = list(COLOURS.values())[int(text_tokens[0, 0, 0]) - 1]
        out = self._maps(self._squares(patch, colour))
        if self.nan_next:
            self.nan_next = False
            out["score_map"][0, 0] = np.nan
        return out

    @staticmethod
    def _squares(patch, colour):
        near = (np.abs(patch.astype(int) - np.array(colour)).max(axis=2) < 60).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(near)
        return [stats[k, :4].astype(float) for k in range(1, n) if stats[k, 4] >= 4]

    def _maps(self, squares):
        g = self.search_size // PATCH
        out = {"score_map": np.full((g, g), BACKGROUND, np.float32),
               "offset": np.full((2, g, g), 0.5, np.float32),
               "size": np.full((2, g, g), 0.1, np.float32),
               "corr_map": np.zeros((g, g), np.float32)}
        centres = (np.arange(g) + 0.5) * PATCH
        for x, y, w, h in squares:
            cx, cy = x + w / 2, y + h / 2
            i, j = min(int(cy // PATCH), g - 1), min(int(cx // PATCH), g - 1)
            out["score_map"][i, j] = PEAK
            out["offset"][:, i, j] = (cx / PATCH - j, cy / PATCH - i)
            out["size"][:, i, j] = (w / self.search_size, h / self.search_size)
            inside_r = (centres >= y) & (centres <= y + h)
            inside_c = (centres >= x) & (centres <= x + w)
            out["corr_map"][np.ix_(inside_r, inside_c)] = self.corr
        if self.peak_at_padding:
            out["score_map"][0, 0] = 0.99
            out["corr_map"][0, 0] = 1.0
        return out


def scene(h=240, w=320, squares=(), background=(90, 90, 90)):
    """An RGB image with solid squares: ``squares`` = [(colour, x, y, side), ...]."""
    image = np.zeros((h, w, 3), np.uint8)
    image[:] = background
    for colour, x, y, side in squares:
        image[y:y + side, x:x + side] = COLOURS[colour]
    return image
