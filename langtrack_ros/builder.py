"""The one place that builds an MVLM tracker from settings (issue 7, docs/ARCHITECTURE.md).

Every adapter ends here: the rclpy node (settings from its parameter dict), ``langtrack dds``/
``replay`` (commands/tracker_options.py), ``langtrack track``/``demo``/``bench``, and the
evaluation registry's ``mvlm`` entry. It joins the layers the ROS-free tracking core must not import: the
model file and the inference backend (``inference.backends.make_backend`` chooses it, falling back
tensorrt -> onnxruntime -> torch under ``auto`` and recording why each was skipped in
``backend.skipped``), the text encoder the model was trained with, the gate and search settings,
and the real-world priors of config/priors.yaml. ``tracking/`` imports neither ``inference/`` nor
``training/`` (test/test_import_graph.py).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from langtrack_ros.config import ConfigError, from_dict
from langtrack_ros.inference.backends import make_backend
from langtrack_ros.inference.prior_models import load_priors
from langtrack_ros.paths import config_file, models_dir
from langtrack_ros.tracking.gate import GateConfig
from langtrack_ros.tracking.text_encoder import text_encoder_for
from langtrack_ros.tracking.tracker import Backend, MVLMTracker, SearchConfig, TrackerSettings, load_settings

DEFAULT_MODEL = "mvlm_default.safetensors"
PRIOR_PARTS = ("detector", "coco", "imagenet", "face", "pose", "colour", "spatial")


def model_file(settings: TrackerSettings, model_path: str | Path | None = None) -> Path:
    """The model to run: ``model_path``, else the settings' ``model``, else the embedded default."""
    return Path(model_path or settings.model or models_dir() / DEFAULT_MODEL)


def build_tracker(settings: TrackerSettings, model_path: str | Path | None = None,
                  backend: str | Backend | None = None, box_language: bool = False,
                  priors: str | None = None) -> MVLMTracker:
    """The MVLM tracker for ``settings``. ``backend``: a kind (auto | tensorrt | onnxruntime | torch;
    None = the settings') or a ready Backend. ``priors``: see :func:`build_priors`."""
    backend = backend or settings.backend
    if isinstance(backend, str):
        backend = make_backend(backend, model_file(settings, model_path), precision=settings.precision,
                               threads=settings.threads)
    # never feed the network more text tokens than it was exported/trained for (TensorRT profiles)
    model_limit = getattr(backend, "max_text_tokens", None) or settings.max_query_tokens
    encoder = text_encoder_for(backend, min(settings.max_query_tokens, model_limit))  # issue 10: CLIP/SigLIP
    return MVLMTracker(backend, encoder, settings.gate, settings.search, box_language=box_language,
                       priors=build_priors(priors))


def load_tracker(model_path: str | Path | None = None, backend: str | Backend | None = None,
                 config_path: str | Path | None = None, box_language: bool = False,
                 priors: str | None = None, **overrides) -> MVLMTracker:
    """:func:`build_tracker` for config/tracker.yaml (with the user's ``config_path`` merged over it)
    and optional flat overrides, e.g. ``mode="global"`` for ablation A1, ``tau=0.2``."""
    settings = with_overrides(load_settings(config_path), overrides)
    return build_tracker(settings, model_path, backend, box_language, priors)


def with_overrides(settings: TrackerSettings, overrides: dict) -> TrackerSettings:
    """Apply flat overrides: any GateConfig / SearchConfig field, ``lambda`` for lam, and
    ``search`` for mode (as in ``langtrack eval --tracker mvlm --tracker-opt search=global``)."""
    if "search" in overrides:
        overrides = {**overrides, "mode": overrides["search"]}
        del overrides["search"]
    gate_keys = {f.name for f in dataclasses.fields(GateConfig)} | {"lambda"}
    search_keys = {f.name for f in dataclasses.fields(SearchConfig)}
    unknown = sorted(set(overrides) - gate_keys - search_keys)
    if unknown:
        raise ConfigError(f"unknown tracker override(s) {unknown}; allowed: {sorted(gate_keys | search_keys)}")
    gate_over = {k: v for k, v in overrides.items() if k in gate_keys}
    search_over = {k: v for k, v in overrides.items() if k in search_keys}
    gate_cfg = GateConfig.from_params({**dataclasses.asdict(settings.gate), **gate_over})
    search_cfg = from_dict(SearchConfig, {**dataclasses.asdict(settings.search), **search_over})
    return dataclasses.replace(settings, gate=gate_cfg, search=search_cfg)


def build_priors(parts: str | None = None, threads: int | None = None):
    """The real-world priors of config/priors.yaml. ``parts``: None = as configured, "none" = off,
    "all" or a comma list of detector,coco,imagenet,face,pose,colour,spatial = only those (ablations), plus any
    ``key=value`` tokens overriding priors.yaml settings ("all,roi_every=1"); ``threads``
    overrides the prior models' ONNX Runtime threads."""
    if parts == "none":
        return None
    tokens = [p.strip() for p in (parts or "").split(",") if p.strip()]
    overrides = dict(_setting(tok) for tok in tokens if "=" in tok)
    chosen = {tok for tok in tokens if "=" not in tok}
    priors = load_priors(config_file("priors"), models_dir() / "priors", enabled=True if parts else None,
                         threads=threads, overrides=overrides)
    if priors is None or not chosen or chosen == {"all"}:
        return priors
    unknown = sorted(chosen - set(PRIOR_PARTS))
    if unknown:
        raise ConfigError(f"unknown prior(s) {unknown}; choose from {PRIOR_PARTS}, 'all' or 'none'")
    priors.detector = priors.detector if "detector" in chosen else None
    priors.imagenet = priors.imagenet if "imagenet" in chosen else None
    priors.coco = priors.coco if "coco" in chosen else None
    priors.face = priors.face if "face" in chosen else None
    priors.pose = priors.pose if "pose" in chosen else None
    priors.cfg.colour_weight = priors.cfg.colour_weight if "colour" in chosen else 0.0
    priors.cfg.spatial_weight = priors.cfg.spatial_weight if "spatial" in chosen else 0.0
    return priors


def _setting(token: str) -> tuple[str, object]:
    """``key=value`` -> (key, YAML scalar)."""
    import yaml

    key, _, value = token.partition("=")
    return key.strip(), yaml.safe_load(value)
