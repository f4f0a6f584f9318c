"""TensorRT 10 backend: builds (or reuses) an engine from the exported ONNX and runs it.

The engine has one optimization profile: the search image is static (1,3,S,S) and the text
length runs from 1 to ``max_text_tokens`` (optimised for 16, a typical query). Engines are
cached by :class:`~langtrack_ros.inference.engine_cache.EngineCache`, keyed by the ONNX sha256,
the TensorRT version, the GPU compute capability, the precision and the input shapes, so a new
model, driver stack or GPU never runs a stale engine. Device buffers are torch CUDA tensors, so
nothing beyond torch and tensorrt is needed (no pycuda).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from langtrack_ros.inference.engine_cache import EngineCache, EngineKey
from langtrack_ros.model_hash import sha256_file

log = logging.getLogger(__name__)

INPUTS = ("search", "text_tokens", "text_mask")
OUTPUTS = ("score_map", "offset", "size", "corr_map")
OPT_TEXT_TOKENS = 16


def onnx_shapes(onnx_path: str | Path) -> tuple[int, int, int]:
    """(search_size, max_text_tokens, text_dim) read from the export's metadata and input shapes."""
    import onnx

    proto = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    if set(INPUTS) - set(dims) or "max_text_tokens" not in meta:
        raise ValueError(f"{onnx_path}: not an MVLM export (needs inputs {INPUTS} and max_text_tokens metadata)")
    return dims["search"][-1], int(meta["max_text_tokens"]), dims["text_tokens"][-1]


def build_serialized_engine(onnx_path: str | Path, precision: str, max_text_tokens: int,
                            workspace_gib: float = 2.0) -> bytes:
    """Parse the ONNX file and build a serialized engine with the dynamic-text profile."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        profile.set_shape(tensor.name, *_profile_shapes(tuple(tensor.shape), max_text_tokens))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)")
    return bytes(serialized)


def _profile_shapes(shape: tuple[int, ...], max_len: int) -> tuple[tuple, tuple, tuple]:
    """(min, opt, max) for one input: the dynamic text axis spans 1..max_len, every other axis is fixed."""
    def fill(length):
        return tuple(length if d < 0 else d for d in shape)
    return fill(1), fill(min(OPT_TEXT_TOKENS, max_len)), fill(max_len)


class TensorRTBackend:
    """MVLM through a cached TensorRT engine; same ``run`` contract as the other backends."""

    name = "tensorrt"

    def __init__(self, onnx_path: str | Path, precision: str = "fp16", cache_dir: str | Path | None = None,
                 device: int = 0, workspace_gib: float = 2.0):
        import tensorrt as trt
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("TensorRT backend needs a CUDA GPU and torch built with CUDA")
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.onnx_path}")
        self.device = torch.device("cuda", device)
        self.search_size, self.max_text_tokens, self.text_dim = onnx_shapes(self.onnx_path)
        key = EngineKey(sha256_file(self.onnx_path), trt.__version__, torch.cuda.get_device_capability(device),
                        precision, self.search_size, self.max_text_tokens)
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        cache = EngineCache(cache_dir or self.onnx_path.parent, stem=self.onnx_path.stem)
        self.engine_path = cache.path_for(key)
        self.engine = cache.load_or_build(
            key, lambda: build_serialized_engine(self.onnx_path, precision, self.max_text_tokens, workspace_gib),
            self.runtime.deserialize_cuda_engine)
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(self.device)
        self.buffers = {name: self._allocate(name) for name in INPUTS + OUTPUTS}
        for name, buffer in self.buffers.items():
            self.context.set_tensor_address(name, buffer.data_ptr())

    def _allocate(self, name: str):
        """One device tensor per I/O tensor, text inputs at their maximum length (runs use a prefix)."""
        import tensorrt as trt
        import torch

        shape = tuple(self.max_text_tokens if d < 0 else d for d in self.engine.get_tensor_shape(name))
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.BOOL: torch.bool}
        return torch.zeros(shape, dtype=dtypes[self.engine.get_tensor_dtype(name)], device=self.device)

    def run(self, search: np.ndarray, text_tokens: np.ndarray, text_mask: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        length = text_tokens.shape[1]
        if not 1 <= length <= self.max_text_tokens:
            raise ValueError(f"text length {length} outside the engine's profile 1..{self.max_text_tokens}")
        inputs = {"search": search, "text_tokens": text_tokens, "text_mask": text_mask}
        with torch.cuda.stream(self.stream):
            for name, value in inputs.items():
                buffer = self.buffers[name]
                target = buffer if name == "search" else buffer[:, :length]
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(buffer.dtype), non_blocking=False)
                self.context.set_input_shape(name, tuple(target.shape))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError(f"TensorRT execution failed for {self.engine_path}")
            outputs = {name: self.buffers[name][0].float().cpu().numpy() for name in OUTPUTS}
        return outputs
