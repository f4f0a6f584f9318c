"""Export MVLM and its MiniLM text encoder to ONNX, and prove each export matches torch.

The MVLM graph takes ``search`` (1,3,S,S) float32 in [0,1], ``text_tokens`` (1,L,384) float32
and ``text_mask`` (1,L) bool with L dynamic, and returns ``score_map`` (sigmoid applied, so
every backend hands the tracker probabilities), ``offset``, ``size`` and ``corr_map``. Opset 17
is the newest that TensorRT 8.6 (JetPack 5) parses and TensorRT 10 parses it too. The file
carries the model config and the sha256 of the weights it came from in ``metadata_props``, so
a cached export can be checked against its checkpoint without torch.

Every export is verified with ONNX Runtime against torch on random inputs (two text lengths,
one with padding) before it replaces the target file: a silently wrong export would make the
robot track the wrong thing.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from langtrack_ros.files import atomic_path, find_write_failure, write_error
from langtrack_ros.inference.ort_backend import configured_max_query_tokens, tokenizer_path_for
from langtrack_ros.model_hash import record_sidecar

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
INPUTS = ("search", "text_tokens", "text_mask")
OUTPUTS = ("score_map", "offset", "size", "corr_map")
TEXT_INPUTS = ("input_ids", "attention_mask")
FORMAT = "mvlm-onnx-1"
TEXT_FORMAT = "minilm-onnx-1"


class ExportError(RuntimeError):
    """The exported graph does not reproduce the torch model (or cannot be exported at all)."""


@dataclasses.dataclass
class ExportReport:
    path: Path
    max_abs_diff: dict[str, float]

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values(), default=float("nan"))  # nan: not verified


class DeployWrapper(nn.Module):
    """MVLM with the score sigmoid inside the graph and the training-only outputs dropped."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, search, text_tokens, text_mask):
        out = self.model(search, text_tokens, text_mask)
        return torch.sigmoid(out["score_map"]), out["offset"], out["size"], out["corr_map"]


def export_mvlm(model: nn.Module, path: str | Path, *, weights_sha256: str = "", opset: int = DEFAULT_OPSET,
                verify: bool = True, atol: float = 1e-4, trace_len: int = 8) -> ExportReport:
    """Write ``model`` (an MVLM in language-only mode) to ``path`` as one ONNX file and verify it."""
    cfg = _config_of(model)
    if cfg["template"]:
        raise ExportError("MVLM with template=True needs a template input; only language-only models export")
    size, max_len, dim = int(cfg["search_size"]), int(cfg["max_text_tokens"]), int(cfg["text_dim"])
    wrapper = DeployWrapper(model).eval()
    trace_len = min(trace_len, max_len)
    example = _random_inputs(size, trace_len, pad=0, seed=0, dim=dim)
    length = torch.export.Dim("L", min=1, max=max_len)
    metadata = {"langtrack_format": FORMAT, "config": json.dumps(cfg, sort_keys=True),
                "weights_sha256": weights_sha256, "search_size": str(size), "max_text_tokens": str(max_len)}
    dynamic = {"search": None, "text_tokens": {1: length}, "text_mask": {1: length}}
    with _staging(path) as tmp:
        _torch_export(wrapper, tuple(torch.from_numpy(a) for a in example), tmp, INPUTS, OUTPUTS, dynamic, opset)
        _set_metadata(tmp, metadata)
        diffs = verify_mvlm(wrapper, tmp, atol=atol, lengths=(trace_len, max(1, max_len - 3))) if verify else {}
    record_sidecar(path)  # the content hash every model file carries (model_hash.verify)
    report = ExportReport(Path(path), diffs)
    if diffs:
        log.info("exported %s (opset %d); ORT vs torch max abs diff %.2e", path, opset, report.worst)
    return report


def verify_mvlm(wrapper: nn.Module, onnx_path: str | Path, *, atol: float = 1e-4,
                lengths: tuple[int, ...] = (8, 29), seed: int = 1) -> dict[str, float]:
    """Max abs diff per output between ORT and torch; the last length is tried with 2 padded tokens."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    size, dim = session.get_inputs()[0].shape[-1], session.get_inputs()[1].shape[-1]
    worst = dict.fromkeys(OUTPUTS, 0.0)
    for i, length in enumerate(lengths):
        pad = min(2, length - 1) if i == len(lengths) - 1 else 0
        inputs = _random_inputs(size, length, pad, seed + i, dim)
        with torch.no_grad():
            expected = [t.numpy() for t in wrapper(*(torch.from_numpy(a) for a in inputs))]
        got = session.run(list(OUTPUTS), dict(zip(INPUTS, inputs)))
        for name, e, g in zip(OUTPUTS, expected, got):
            if e.shape != g.shape:
                raise ExportError(f"{onnx_path}: output {name} has shape {g.shape} in ORT, {e.shape} in torch")
            worst[name] = max(worst[name], float(np.abs(e - g).max()))
    bad = {k: v for k, v in worst.items() if not v <= atol}
    if bad:
        raise ExportError(f"{onnx_path}: ORT output differs from torch by more than {atol}: {bad}")
    return worst


def export_text_encoder(path: str | Path, *, max_tokens: int | None = None, model_dir: str | Path | None = None,
                        opset: int = DEFAULT_OPSET, verify: bool = True, atol: float = 1e-4,
                        encoder=None) -> ExportReport:
    """Export the frozen MiniLM to ``path`` (dynamic length) with its tokenizer.json beside it.

    The graph maps ``input_ids``/``attention_mask`` (1,L) int64 to ``features`` (1,L,384): the
    same per-token features :class:`TextEncoder` gives, so a robot without torch can take new
    queries with :class:`~langtrack_ros.inference.ort_backend.OrtTextEncoder`. ``encoder``: an
    already loaded TextEncoder of that ``model_dir`` to reuse (loading MiniLM takes seconds).
    ``max_tokens`` (recorded in the file): ``encoder``'s own, else given, else the tracker's
    ``max_query_tokens`` in config/tracker.yaml (the one table of defaults).
    """
    from langtrack_ros.tracking.text_encoder import HFTextEncoder, TextEncoder, default_model_dir

    hf = isinstance(encoder, HFTextEncoder)
    model_dir = None if hf else Path(model_dir) if model_dir else default_model_dir()
    encoder = encoder or TextEncoder(max_tokens=max_tokens or configured_max_query_tokens(), model_dir=str(model_dir))
    module = (_HFTextFeatures if hf else _TextFeatures)(encoder.model).eval()
    ids = torch.tensor([encoder._token_ids("a person walking on the left")], dtype=torch.long)
    length = torch.export.Dim("L", min=1, max=512)
    dynamic = {"input_ids": {1: length}, "attention_mask": {1: length}}
    metadata = {"langtrack_format": TEXT_FORMAT, "dim": str(encoder.dim), "max_tokens": str(encoder.max_tokens),
                "encoder": f"{encoder.kind}:{encoder.name}" if hf else "minilm"}
    with _staging(path) as tmp:
        _torch_export(module, (ids, torch.ones_like(ids)), tmp, TEXT_INPUTS, ("features",), dynamic, opset)
        _set_metadata(tmp, metadata)
        diff = verify_text_encoder(encoder, tmp, atol=atol) if verify else {}
    if hf:
        _save_tokenizer_json(encoder.tokenizer, tokenizer_path_for(path))
    else:
        with atomic_path(tokenizer_path_for(path)) as tmp:
            shutil.copyfile(model_dir / "tokenizer.json", tmp)
    record_sidecar(path)
    if diff:
        log.info("exported text encoder %s; ORT vs torch max abs diff %.2e", path, diff["features"])
    return ExportReport(Path(path), diff)


def verify_text_encoder(encoder, onnx_path: str | Path, *, atol: float = 1e-4) -> dict[str, float]:
    """Compare ORT features with ``encoder.encode`` on a short and a long query."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for text in ("car", "the man in a dark jacket who walks across the street towards the white van"):
        ids = np.asarray([encoder._token_ids(text)], dtype=np.int64)
        got = session.run(["features"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        expected, _ = encoder.encode(text)
        if got.shape != expected.shape:
            raise ExportError(f"{onnx_path}: features shape {got.shape} in ORT, {expected.shape} in torch")
        worst = max(worst, float(np.abs(got - expected).max()))
    if not worst <= atol:
        raise ExportError(f"{onnx_path}: text features differ from torch by {worst:.2e} > {atol}")
    return {"features": worst}


class _TextFeatures(nn.Module):
    """The Hugging Face MiniLM as a plain (ids, mask) -> last hidden state module."""

    def __init__(self, bert: nn.Module):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=torch.zeros_like(input_ids)).last_hidden_state


class _HFTextFeatures(nn.Module):
    """A CLIP/SigLIP text tower as (ids, mask) -> per-token features (``hf_encoders.text_features``)."""

    def __init__(self, tower: nn.Module):
        super().__init__()
        self.tower = tower

    def forward(self, input_ids, attention_mask):
        from langtrack_ros.tracking.hf_encoders import text_features

        return text_features(self.tower, input_ids, attention_mask)


def _save_tokenizer_json(tokenizer, target: Path) -> None:
    """The fast tokenizer's tokenizer.json (what OrtTextEncoder reads), written via save_pretrained."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        source = Path(tmp) / "tokenizer.json"
        if not source.is_file():
            raise ExportError(f"{type(tokenizer).__name__} wrote no tokenizer.json (not a fast tokenizer); "
                              "ONNX Runtime text encoding needs one")
        shutil.copyfile(source, target)


def _config_of(model: nn.Module) -> dict:
    cfg = getattr(model, "cfg", None)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        raise ExportError(f"{type(model).__name__} has no dataclass .cfg; expected an MVLM")
    return dataclasses.asdict(cfg)


def _random_inputs(size: int, length: int, pad: int, seed: int,
                   dim: int = 384) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    search = rng.random((1, 3, size, size), dtype=np.float32)
    tokens = rng.standard_normal((1, length, dim), dtype=np.float32)
    mask = np.ones((1, length), dtype=bool)
    if pad:
        mask[:, -pad:] = False
    return search, tokens, mask


# Loggers of the exporter's internals that flood INFO/WARNING with per-initializer notes.
_NOISY_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export", "torch._export")


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's chatter (kept at ERROR) so the CLI log shows what matters."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _torch_export(module, args, path, input_names, output_names, dynamic, opset) -> None:
    try:
        with _quiet_exporter(), contextlib.redirect_stdout(io.StringIO()):
            torch.onnx.export(module, args, str(path), input_names=list(input_names),
                              output_names=list(output_names), dynamic_shapes=dynamic, opset_version=opset,
                              external_data=False, dynamo=True, verbose=False)
    except Exception as exc:
        raise ExportError(f"torch.onnx.export of {type(module).__name__} failed: {exc}") from exc


def _set_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


class _staging:
    """Context manager: a temporary path beside ``target`` that replaces it only on success."""

    def __init__(self, target: str | Path):
        self.target = Path(target)

    def __enter__(self) -> Path:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".onnx")
        except OSError as exc:
            raise write_error(exc, self.target) from None
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                os.chmod(self.tmp, 0o644)  # mkstemp makes it private; exports are meant to be shared
                os.replace(self.tmp, self.target)  # fails if the target is a folder, say
        except OSError as error:
            if self.target.is_dir():
                raise
            raise write_error(error, self.target) from None
        finally:
            self.tmp.unlink(missing_ok=True)  # never leave a temporary export behind
        failure = find_write_failure(exc, self.target) if exc is not None else None
        if failure is not None:  # disk full while exporting (the exporter wraps the OSError): path + errno
            raise failure from None
        return False
