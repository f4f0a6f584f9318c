"""ONNX Runtime backends: the MVLM network and the MiniLM text encoder, without torch.

A robot that has only ``onnxruntime`` and ``tokenizers`` runs the whole tracker from two ONNX
files written by :mod:`langtrack_ros.inference.onnx_export`. Execution providers: TensorRT and
CUDA when this onnxruntime build has them, else CPU; a missing or corrupt file fails with an
error that names the file. (``tracking.text_encoder`` imports torch only inside
``TextEncoder.__init__``, which OrtTextEncoder does not call.)
"""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np

from langtrack_ros import model_hash
from langtrack_ros.tracking.text_encoder import TextEncoder

log = logging.getLogger(__name__)

INPUTS = ("search", "text_tokens", "text_mask")
OUTPUTS = ("score_map", "offset", "size", "corr_map")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def default_providers() -> list[str]:
    """GPU providers this onnxruntime build offers, in preference order, then CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in GPU_PROVIDERS if p in available] + ["CPUExecutionProvider"]


def open_session(path: str | Path, providers: list[str] | None = None, threads: int = 1, spin: bool = True,
                 model_bytes: bytes | None = None):
    """An ``InferenceSession`` for ``path``; missing or unparsable files raise naming the file.
    ``model_bytes``: a model built in memory from ``path`` (a cut copy of it): opened instead of the
    file, whose hash was checked when it was first opened."""
    import onnxruntime as ort

    path = Path(path)
    if model_bytes is None:
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        model_hash.verify(path)  # <file>.sha256 beside it: damage is one clear error, never wrong boxes
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    if not spin:  # idle pool threads sleep instead of spinning: several sessions share the cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    chosen = list(providers or default_providers())
    try:
        session = ort.InferenceSession(model_bytes if model_bytes is not None else str(path), options,
                                       providers=chosen)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        if providers is None and chosen != ["CPUExecutionProvider"]:
            log.warning("%s: onnxruntime GPU providers %s failed (%s); using the CPU", path, chosen[:-1], exc)
            return open_session(path, ["CPUExecutionProvider"], threads, spin, model_bytes)
        raise ValueError(f"{path}: not a valid ONNX model for onnxruntime ({type(exc).__name__}: {exc})") from exc
    log.debug("%s: onnxruntime providers %s, %d intra-op threads", path, session.get_providers(), threads)
    return session


class OrtBackend:
    """MVLM through ONNX Runtime; same ``run`` contract as the torch and TensorRT backends."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, providers: list[str] | None = None, threads: int = 1):
        self.path = Path(onnx_path)
        self.session = open_session(self.path, providers, threads)
        names = [i.name for i in self.session.get_inputs()], [o.name for o in self.session.get_outputs()]
        if tuple(names[0]) != INPUTS or not set(OUTPUTS) <= set(names[1]):
            raise ValueError(f"{self.path}: expected inputs {INPUTS} and outputs {OUTPUTS}, got {names}")
        self.search_size = int(self.session.get_inputs()[0].shape[-1])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.max_text_tokens = int(self.metadata["max_text_tokens"]) if "max_text_tokens" in self.metadata else None
        self.providers = self.session.get_providers()

    @property
    def config(self) -> dict:
        """The MVLMConfig the file was exported from (empty if the file carries none)."""
        return json.loads(self.metadata.get("config", "{}"))

    def run(self, search: np.ndarray, text_tokens: np.ndarray, text_mask: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {"search": np.ascontiguousarray(search, dtype=np.float32),
                 "text_tokens": np.ascontiguousarray(text_tokens, dtype=np.float32),
                 "text_mask": np.ascontiguousarray(text_mask, dtype=bool)}
        outputs = self.session.run(list(OUTPUTS), feeds)
        return {name: value[0] for name, value in zip(OUTPUTS, outputs)}


def configured_max_query_tokens() -> int:
    """The tracker's ``max_query_tokens`` from config/tracker.yaml: the one table of defaults."""
    from langtrack_ros.config import load_merged

    return int(load_merged("tracker", None, "langtrack_tracker")["max_query_tokens"])


class _TokenizerAdapter:
    """``tokenizers.Tokenizer`` behind the call signature TextEncoder's truncation helper uses."""

    def __init__(self, tokenizer_file: Path):
        from tokenizers import Tokenizer

        if not tokenizer_file.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {tokenizer_file}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()  # the file pads to 128; MVLM wants real tokens only
        self.tokenizer.no_truncation()  # TextEncoder truncates itself (keeping [SEP] last)

    def __call__(self, text: str, add_special_tokens: bool = True, truncation: bool = False) -> dict:
        return {"input_ids": self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids}


def tokenizer_path_for(onnx_path: str | Path) -> Path:
    """Where the tokenizer.json that belongs to a text-encoder ONNX file lives (written by the export)."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.stem + ".tokenizer.json")


class OrtTextEncoder(TextEncoder):
    """MiniLM query features from ONNX Runtime: TextEncoder's API and rules, without torch.

    Query cleaning, QueryError, truncation, caching and ``encode_batch`` are TextEncoder's own
    code; only the transformer call (``_features``) runs the exported graph instead.
    """

    def __init__(self, onnx_path: str | Path, tokenizer_file: str | Path | None = None,
                 max_tokens: int | None = None, threads: int = 1, providers: list[str] | None = None):
        """``max_tokens`` None: the limit recorded by the export (the tracker's max_query_tokens), or
        for an export that records none, max_query_tokens of config/tracker.yaml."""
        self.path = Path(onnx_path)
        self.session = open_session(self.path, providers, threads)
        recorded = self.session.get_modelmeta().custom_metadata_map.get("max_tokens")
        max_tokens = max_tokens or int(recorded or configured_max_query_tokens())
        if max_tokens < 3:
            raise ValueError(f"max_tokens={max_tokens}: need room for [CLS], one word and [SEP]")
        self.tokenizer = _TokenizerAdapter(Path(tokenizer_file) if tokenizer_file else tokenizer_path_for(self.path))
        self.max_tokens = max_tokens
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self._cache = OrderedDict()

    def _features(self, ids: list[int]) -> np.ndarray:
        input_ids = np.asarray([ids], dtype=np.int64)
        feeds = {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
        return self.session.run(["features"], feeds)[0][0].astype(np.float32, copy=False)
