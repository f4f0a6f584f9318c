"""Cache of serialized TensorRT engines that never hands back a stale or broken engine.

An engine only runs on the TensorRT version and GPU architecture it was built for, with the
precision and input shapes it was built with. So the cache key holds all of them plus the
sha256 of the ONNX file, the engine file name spells the key out, and a JSON sidecar records
the key and the engine's own sha256. A file that fails its checksum or that TensorRT cannot
deserialize is rebuilt (with the reason logged) instead of failing the robot at start-up.

Nothing here imports TensorRT: building and deserializing are callables passed in, so the
logic is tested on machines without a GPU.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
PRECISIONS = ("fp32", "fp16")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on; any change means a different engine."""

    onnx_sha256: str
    trt_version: str
    compute_capability: tuple[int, int]
    precision: str
    search_size: int
    max_text_tokens: int

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        object.__setattr__(self, "compute_capability", tuple(int(v) for v in self.compute_capability))

    def file_name(self, stem: str = "mvlm") -> str:
        major, minor = self.compute_capability
        return (f"{stem}-{self.onnx_sha256[:16]}-trt{self.trt_version}-sm{major}{minor}-{self.precision}"
                f"-s{self.search_size}-l{self.max_text_tokens}.engine")

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "compute_capability": list(self.compute_capability)}

    def differences(self, other: "EngineKey") -> list[str]:
        """Human-readable 'field: theirs != ours' list, used to explain why an engine is stale."""
        return [f"{f.name}: {getattr(other, f.name)!r} != {getattr(self, f.name)!r}"
                for f in dataclasses.fields(self) if getattr(other, f.name) != getattr(self, f.name)]

    @classmethod
    def from_json(cls, data: dict) -> "EngineKey":
        return cls(**{**data, "compute_capability": tuple(data["compute_capability"])})


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; engines are shared with other users of the robot
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EngineCache:
    """Engines in ``cache_dir``, one file per :class:`EngineKey`, plus a ``.json`` sidecar each."""

    def __init__(self, cache_dir: str | Path, stem: str = "mvlm"):
        self.cache_dir = Path(cache_dir)
        self.stem = stem

    def path_for(self, key: EngineKey) -> Path:
        return self.cache_dir / key.file_name(self.stem)

    def load_or_build(self, key: EngineKey, build: Callable[[], bytes],
                      deserialize: Callable[[bytes], T | None]) -> T:
        """The deserialized engine for ``key``: from the cache when valid, else freshly built and stored."""
        path = self.path_for(key)
        if path.exists():
            engine, reason = self._try_load(path, key, deserialize)
            if engine is not None:
                log.info("reusing TensorRT engine %s", path)
                return engine
            log.warning("rebuilding TensorRT engine %s: %s", path, reason)
        else:
            self._explain_stale(key)
            log.info("building TensorRT engine %s (not cached yet; this takes a while)", path)
        return self._build_and_store(path, key, build, deserialize)

    def _try_load(self, path: Path, key: EngineKey, deserialize) -> tuple[T | None, str]:
        data = path.read_bytes()
        try:
            meta = json.loads(self._sidecar(path).read_text())
        except (OSError, ValueError) as exc:
            return None, f"its sidecar {self._sidecar(path).name} is missing or unreadable ({exc})"
        if meta.get("engine_sha256") != sha256_bytes(data):
            return None, "checksum mismatch (truncated or corrupt file)"
        if meta.get("key") != key.to_json():
            return None, "its sidecar records a different key"
        try:
            engine = deserialize(data)
        except Exception as exc:  # TensorRT raises assorted types for foreign engines
            return None, f"deserialization failed: {exc}"
        return engine, "" if engine is not None else "TensorRT could not deserialize it"

    def _explain_stale(self, key: EngineKey) -> None:
        """Log why engines cached for other keys (older model, other TensorRT or GPU) are not used."""
        for sidecar in sorted(self.cache_dir.glob(f"{self.stem}-*.json")):
            try:
                other = EngineKey.from_json(json.loads(sidecar.read_text())["key"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.debug("ignoring unreadable engine sidecar %s: %s", sidecar, exc)
                continue
            log.info("cached engine %s is stale for this run (%s)", sidecar.with_suffix(".engine").name,
                     "; ".join(key.differences(other)))

    def _build_and_store(self, path: Path, key: EngineKey, build, deserialize) -> T:
        data = bytes(build())
        if not data:
            raise RuntimeError(f"TensorRT engine build for {path.name} produced no data")
        atomic_write(path, data)
        meta = {"key": key.to_json(), "engine_sha256": sha256_bytes(data)}
        atomic_write(self._sidecar(path), json.dumps(meta, indent=1).encode())
        engine = deserialize(data)
        if engine is None:
            raise RuntimeError(f"freshly built TensorRT engine {path} cannot be deserialized")
        return engine

    @staticmethod
    def _sidecar(path: Path) -> Path:
        return path.with_suffix(".json")
