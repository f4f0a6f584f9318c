"""Backend that runs the MVLM torch module directly: the reference path, and the CPU fallback.

Same contract as the ONNX Runtime and TensorRT backends (``Backend`` in tracking/tracker.py):
numpy in, numpy out, batch of one, ``score_map`` already passed through the sigmoid.
"""
from __future__ import annotations

import numpy as np
import torch

OUTPUTS = ("score_map", "offset", "size", "corr_map")


class TorchBackend:
    """Wraps an ``MVLM`` module (anything with ``.cfg`` and the MVLM forward signature)."""

    name = "torch"

    def __init__(self, model: torch.nn.Module, device: str = "cpu"):
        cfg = getattr(model, "cfg", None)
        if cfg is None:
            raise TypeError(f"{type(model).__name__} has no .cfg (expected an MVLM module)")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.search_size = int(cfg.search_size)
        self.max_text_tokens = int(cfg.max_text_tokens)
        self.template_size = int(cfg.template_size) if getattr(cfg, "template", False) else None

    def _tensor(self, array: np.ndarray, dtype=None) -> torch.Tensor:
        # a copy: cached text features are read-only arrays, which torch cannot wrap safely
        return torch.from_numpy(np.array(array)).to(self.device, dtype)

    def run(self, search: np.ndarray, text_tokens: np.ndarray, text_mask: np.ndarray,
            template: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """search (1,3,S,S) float32 in [0,1], text (1,L,D) + mask (1,L) -> maps without batch dim."""
        with torch.inference_mode():
            out = self.model(self._tensor(search, torch.float32), self._tensor(text_tokens, torch.float32),
                             self._tensor(text_mask, torch.bool),
                             template=None if template is None else self._tensor(template, torch.float32))
            out = dict(out, score_map=torch.sigmoid(out["score_map"]))
            return {k: out[k][0].float().cpu().numpy() for k in OUTPUTS}
