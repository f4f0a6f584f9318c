"""The prior networks through ONNX Runtime (TensorRT / CUDA execution providers when present).

Files in models/priors/ (scripts/build_priors.py makes them; licences in models/priors/): the SSD
MobileNetV2 Open Images and COCO detectors, the ImageNet MobileNetV2 applied at every location and
BlazeFace (faces for part targets) and BlazePose landmarks (body parts).
A missing or corrupt file raises ``PriorModelError`` naming it; the tracker then runs without
that prior (tracking/priors/fusion.py logs the warning).
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from langtrack_ros.config import ConfigError, from_dict, read_yaml
from langtrack_ros.inference.ort_backend import default_providers, open_session
from langtrack_ros.tracking.images import IMAGENET_MEAN, IMAGENET_STD
from langtrack_ros.tracking.priors.fusion import PriorFusion, PriorSettings
from langtrack_ros.tracking.priors import ssd
from langtrack_ros.tracking.priors.lexicon import Lexicon

log = logging.getLogger(__name__)


class PriorModelError(RuntimeError):
    """A prior model file is missing, corrupt or not the expected network."""


def _providers() -> list[str]:
    """CUDA when this onnxruntime has it, else CPU. Not TensorRT: the ImageNet net is fed two input
    sizes and TensorRT would build an engine per shape at every start (the MVLM network has its
    own cached engines)."""
    return [p for p in default_providers() if p != "TensorrtExecutionProvider"]


def _session(path: Path, threads: int, what: str, model_bytes: bytes | None = None):
    try:
        return open_session(path, providers=_providers(), threads=threads, spin=False, model_bytes=model_bytes)
    except (FileNotFoundError, ValueError) as exc:
        raise PriorModelError(f"{what} {path}: {exc}") from exc


class SSDDetector:
    """300x300 RGB uint8 -> (raw box encodings (1917, 4), class logits (1917, C)); labels by index.

    ``keep_classes`` makes later calls compute only some classes' logits (inference/ssd_heads.py:
    the COCO SSD runs in half the time for one class); the others then read -inf (sigmoid 0). A cut
    session is built on a worker thread (45-75 ms for the COCO SSD; the first one of a process also
    imports onnx, about 0.7 s), so a new query never waits for it: until it is ready every class is computed, which gives the same
    numbers for the kept ones. Cut sessions are kept per class set, so switching back and forth
    between queries builds each once."""

    KEPT_SESSIONS = 8  # cut sessions kept (each a few MB); the oldest goes first

    def __init__(self, path: str | Path, threads: int = 1):
        path = Path(path)
        self.full = _session(path, threads, "detector")
        meta = self.full.get_modelmeta().custom_metadata_map
        self.labels = meta.get("labels", "").split("\n")
        outputs = [o.shape for o in self.full.get_outputs()]
        if len(outputs) != 2 or outputs[0][-1] != 4 or len(self.labels) != outputs[1][-1]:
            raise PriorModelError(f"detector {path}: outputs {outputs} with {len(self.labels)} labels in its "
                                  "metadata; expected box encodings (N, 4) and one logit per label")
        self.input = self.full.get_inputs()[0].name
        self.path, self.threads = path, threads
        self._active: tuple[object, tuple[int, ...] | None] = (self.full, None)  # (session, kept classes) as one
        self._wanted: tuple[int, ...] | None = None
        self._cut: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self._cut_failed = False
        self._lock = threading.Lock()
        self._builder: ThreadPoolExecutor | None = None
        self._building: Future | None = None

    @property
    def session(self):
        return self._active[0]

    @property
    def kept(self) -> tuple[int, ...] | None:
        """The classes computed now (None: every class)."""
        return self._active[1]

    def keep_classes(self, classes) -> None:
        """Compute only ``classes`` (label indices) once their cut session is ready; None or every
        class: the full model. A graph the cut does not understand keeps the full model (one warning)."""
        kept = None if classes is None else tuple(sorted(set(int(c) for c in classes)))
        if kept is not None and (not kept or len(kept) == len(self.labels)):
            kept = None
        with self._lock:
            self._wanted = kept
            if kept is None or self._cut_failed:
                self._active = (self.full, None)
                return
            if kept in self._cut:
                self._cut.move_to_end(kept)
                self._active = (self._cut[kept], kept)
                return
            self._active = (self.full, None)
            if self._builder is None:
                self._builder = ThreadPoolExecutor(1, thread_name_prefix="ssd-heads")
                weakref.finalize(self, self._builder.shutdown, wait=False)
            self._building = self._builder.submit(self._build, kept)

    def wait_cut(self) -> None:
        """Block until the cut that ``keep_classes`` started is built (benchmarks and tests time the
        steady state)."""
        building = self._building
        if building is not None:
            building.result()

    def _build(self, kept: tuple[int, ...]) -> None:
        """Worker: the cut session for ``kept``, put in use if it is still the one wanted."""
        import onnx

        from langtrack_ros.inference.ssd_heads import class_subset

        with self._lock:
            if self._cut_failed:
                return
            session = self._cut.get(kept)
        if session is None:
            try:
                model = class_subset(onnx.load(str(self.path)), list(kept))
                session = _session(self.path, self.threads, "detector", model.SerializeToString())
                self._check_cut(session, kept)
            except Exception as exc:  # ValueError from the cut, onnx/onnxruntime's own types: all mean the same
                log.warning("detector %s: cannot cut its class heads (%s: %s); every class is computed",
                            self.path, type(exc).__name__, exc)
                self._cut_failed = True
                return
        with self._lock:
            self._cut[kept] = session
            while len(self._cut) > self.KEPT_SESSIONS:
                self._cut.popitem(last=False)
            if self._wanted == kept and not self._cut_failed:
                self._active = (session, kept)

    def _check_cut(self, session, kept: tuple[int, ...]) -> None:
        """The cut must answer what the full model answers for the kept classes (a converter with
        another channel order would otherwise give wrong boxes silently): one probe frame, both models."""
        probe = np.random.default_rng(0).uniform(-1, 1, (1, 3, ssd.INPUT, ssd.INPUT)).astype(np.float32)
        boxes, logits = self.full.run(None, {self.input: probe})
        cut_boxes, cut_logits = session.run(None, {self.input: probe})
        if not (np.allclose(cut_boxes, boxes, rtol=1e-4, atol=1e-4)
                and np.allclose(cut_logits[0], logits[0][:, list(kept)], rtol=1e-4, atol=1e-4)):
            raise ValueError("its logits differ from the full model's on a probe frame")

    def __call__(self, patch_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (patch_rgb.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        session, kept = self._active  # one consistent pair while the worker swaps it
        boxes, logits = session.run(None, {self.input: np.ascontiguousarray(x)})
        if kept is None:
            return boxes[0], logits[0]
        full = np.full((logits.shape[1], len(self.labels)), -np.inf, dtype=logits.dtype)
        full[:, kept] = logits[0]
        return boxes[0], full


class ImageNetEvidence:
    """S x S RGB uint8 -> ImageNet-1k logits per location, (1000, S/32, S/32)."""

    MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)
    STD = np.array(IMAGENET_STD, dtype=np.float32)

    def __init__(self, path: str | Path, threads: int = 1):
        path = Path(path)
        self.session = _session(path, threads, "ImageNet model")
        out = self.session.get_outputs()[0].shape
        if len(out) != 4 or out[1] != 1000:
            raise PriorModelError(f"ImageNet model {path}: output shape {out}, expected (1, 1000, h, w)")
        self.input = self.session.get_inputs()[0].name
        self.path = path

    def __call__(self, patch_rgb: np.ndarray) -> np.ndarray:
        x = ((patch_rgb.astype(np.float32) / 255.0 - self.MEAN) / self.STD).transpose(2, 0, 1)[None]
        return self.session.run(None, {self.input: np.ascontiguousarray(x)})[0][0]


class FaceDetector:
    """128x128 RGB uint8 -> BlazeFace raw outputs: (regressors (896, 16), score logits (896,))."""

    def __init__(self, path: str | Path, threads: int = 1):
        path = Path(path)
        self.session = _session(path, threads, "face model")
        shapes = {o.name: o.shape for o in self.session.get_outputs()}
        if shapes.get("regressors") != [1, 896, 16] or shapes.get("classificators") != [1, 896, 1]:
            raise PriorModelError(f"face model {path}: outputs {shapes}; expected BlazeFace short range "
                                  "(regressors (1, 896, 16), classificators (1, 896, 1))")
        self.input = self.session.get_inputs()[0].name
        self.path = path

    def __call__(self, crop_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (crop_rgb.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        reg, logits = self.session.run(["regressors", "classificators"], {self.input: np.ascontiguousarray(x)})
        return reg[0], logits[0, :, 0]


class PoseModel:
    """256x256 RGB uint8 -> BlazePose raw outputs: (landmarks (195,), pose flag (1,))."""

    def __init__(self, path: str | Path, threads: int = 1):
        path = Path(path)
        self.session = _session(path, threads, "pose model")
        shapes = {o.name: o.shape for o in self.session.get_outputs()}
        if shapes.get("Identity") != [1, 195] or shapes.get("Identity_1") != [1, 1]:
            raise PriorModelError(f"pose model {path}: outputs {shapes}; expected BlazePose full landmarks "
                                  "(Identity (1, 195), Identity_1 (1, 1))")
        self.input = self.session.get_inputs()[0].name
        self.path = path

    def __call__(self, crop_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (crop_rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        landmarks, flag = self.session.run(["Identity", "Identity_1"], {self.input: np.ascontiguousarray(x)})
        return landmarks[0], flag[0]


def load_prior_models(folder: Path, detector: str, imagenet: str, threads: int):
    """(SSDDetector | None, ImageNetEvidence | None): a file that fails to load is skipped with a warning."""
    models = []
    for name, cls in ((detector, SSDDetector), (imagenet, ImageNetEvidence)):
        if not name:
            models.append(None)
            continue
        try:
            models.append(cls(folder / name, threads))
        except PriorModelError as exc:
            log.warning("%s; tracking continues without this prior (plain MVLM for what it covered)", exc)
            models.append(None)
    return tuple(models)


def load_optional(folder: Path, name: str, threads: int, cls, what: str):
    """The COCO SSD (same raw output layout as the Open Images one), the face or the pose model, or None
    with a warning."""
    if not name:
        return None
    try:
        return cls(folder / name, threads)
    except PriorModelError as exc:
        log.warning("%s; tracking continues without the %s", exc, what)
        return None


def load_priors(path, models_folder: Path, enabled: bool | None = None,
                threads: int | None = None, overrides: dict | None = None) -> PriorFusion | None:
    """PriorFusion from config/priors.yaml and the prior models; None when disabled. ``overrides``:
    ``priors`` settings to replace (ablations: ``roi_every=1``); unknown keys raise ConfigError."""
    data = read_yaml(path)
    section = dict(data.get("priors") or {})
    unknown = sorted(set(overrides or {}) - set(section))
    if unknown:
        raise ConfigError(f"unknown prior setting(s) {unknown}")
    settings = from_dict(PriorSettings, {**section, **(overrides or {})}, f"{path}: priors")
    if enabled is not None:
        settings.enabled = enabled
    if threads is not None:
        settings.threads = threads
    if not settings.enabled:
        return None
    detector, imagenet = load_prior_models(models_folder, settings.detector, settings.imagenet, settings.threads)
    coco = load_optional(models_folder, settings.coco_detector, settings.threads, SSDDetector, "COCO detector")
    face = load_optional(models_folder, settings.face_detector, settings.threads, FaceDetector,
                         "face model (part boxes by geometry)")
    pose = load_optional(models_folder, settings.pose_model, settings.threads, PoseModel,
                         "pose model (part boxes by geometry)")
    return PriorFusion(settings, Lexicon(data, str(path), settings.head_noun), detector, imagenet, coco, face, pose)
