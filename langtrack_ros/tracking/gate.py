"""The MVLM confidence and gate (MVLM paper, Sec. "Confidence" / shared/design/MVLM.md steps 2-6).

For every candidate box b (one per grid cell):

    B_out(b)   = {b' : IoU(b', b) <= psi_out}                        competitors far from b
    s_ru, l_ru = max s, max l over B_out(b)   (min over all b if B_out(b) is empty)
    d_corr     = tanh(margin_scale * (s(b) - s_ru))                  correlation margin
    d_cls      = tanh(margin_scale * (l(b) - l_ru))                  classification margin
    kappa_vlm  = alpha * d_corr + (1 - alpha) * d_cls                                   (Eq. VLM)
    kappa_mem  = (1 - lam) * kappa_vlm + lam * kappa_mem_prev                           (Eq. EWMA)
    kappa_mvlm = (1 - omega) * kappa_vlm + omega * kappa_mem                            (Eq. MVLM)
    S          = {b : kappa_mvlm(b) >= tau}

S non-empty: answer = best l in S, confident (next frame: ROI). S empty: answer = best l overall,
not confident (next frame: global relocalization).

``kappa_mem_prev`` is given per candidate with NaN where the candidate has no memory; it then
starts fresh (kappa_mem = kappa_vlm). Which candidates inherit the memory is decided by the
tracker in IMAGE coordinates, not by grid cell: the grid moves with every crop (a reference
defect this fixes). ``lam`` is the paper's lambda (a Python keyword); the YAML key is ``lambda``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from langtrack_ros.config import ConfigError, from_dict


@dataclass
class GateConfig:
    """The gate's settings; the values live in config/tracker.yaml (``gate:``), never in code."""

    alpha: float  # weight of the correlation margin in kappa_vlm
    tau: float  # confidence threshold of the gate
    omega: float  # weight of the memory in kappa_mvlm
    lam: float  # EWMA decay of kappa_mem (paper: lambda)
    psi_out: float  # IoU at or below which a box competes with b
    margin_scale: float  # scale inside tanh (reference: 1)
    memory_iou: float  # image-space IoU above which a candidate inherits kappa_mem

    RANGES = {"alpha": (0.0, 1.0), "tau": (-1.0, 1.0), "omega": (0.0, 1.0), "lam": (0.0, 1.0),
              "psi_out": (0.0, 1.0), "margin_scale": (1e-9, float("inf")), "memory_iou": (0.0, 1.0)}

    def __post_init__(self):
        """Reject values outside the paper's ranges (also for run-time ROS parameter changes)."""
        for name, (lo, hi) in self.RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"gate.{name} must be a number, got {value!r}")
            if not lo <= value <= hi:
                raise ConfigError(f"gate.{name} must be in [{lo}, {hi}], got {value}")
            setattr(self, name, float(value))

    @classmethod
    def from_params(cls, params: Mapping | None, where: str = "gate") -> "GateConfig":
        """Build from a complete YAML/ROS mapping, where the paper's ``lambda`` names ``lam``."""
        if params is not None and not isinstance(params, Mapping):
            raise ConfigError(f"{where}: expects a mapping of settings, got {params!r} ({type(params).__name__})")
        params = dict(params or {})
        if "lambda" in params:
            params["lam"] = params.pop("lambda")
        return from_dict(cls, params, where)


@dataclass
class Confidence:
    """Per-candidate confidence terms, each shape (N,)."""

    d_corr: np.ndarray
    d_cls: np.ndarray
    kappa_vlm: np.ndarray
    kappa_mem: np.ndarray
    kappa_mvlm: np.ndarray


def runner_up(values: np.ndarray, competitors: np.ndarray) -> np.ndarray:
    """Best value among each candidate's competitors (N, N bool); the minimum when it has none."""
    masked = np.where(competitors, values[None, :], -np.inf)
    best = masked.max(axis=1)
    return np.where(np.isfinite(best), best, values.min())


def kappa_vlm(s: np.ndarray, l: np.ndarray, ious: np.ndarray, cfg: GateConfig):
    """(kappa_vlm, d_corr, d_cls) per candidate from s(b), l(b) and the pairwise IoU matrix."""
    competitors = ious <= cfg.psi_out
    d_corr = np.tanh(cfg.margin_scale * (s - runner_up(s, competitors)))
    d_cls = np.tanh(cfg.margin_scale * (l - runner_up(l, competitors)))
    return cfg.alpha * d_corr + (1.0 - cfg.alpha) * d_cls, d_corr, d_cls


def kappa_mem(kappa_vlm_: np.ndarray, kappa_mem_prev: np.ndarray, lam: float) -> np.ndarray:
    """EWMA memory; candidates without memory (NaN) start fresh at kappa_vlm."""
    blended = (1.0 - lam) * kappa_vlm_ + lam * kappa_mem_prev
    return np.where(np.isnan(kappa_mem_prev), kappa_vlm_, blended)


def kappa_mvlm(kappa_vlm_: np.ndarray, kappa_mem_: np.ndarray, omega: float) -> np.ndarray:
    return (1.0 - omega) * kappa_vlm_ + omega * kappa_mem_


def confidence(s: np.ndarray, l: np.ndarray, ious: np.ndarray, kappa_mem_prev: np.ndarray,
               cfg: GateConfig) -> Confidence:
    """All confidence terms for N candidates."""
    kv, d_corr, d_cls = kappa_vlm(s, l, ious, cfg)
    km = kappa_mem(kv, kappa_mem_prev, cfg.lam)
    return Confidence(d_corr, d_cls, kv, km, kappa_mvlm(kv, km, cfg.omega))


def gate(kappa_mvlm_: np.ndarray, l_choice: np.ndarray, tau: float) -> tuple[int, bool]:
    """(index of the answer, confident?): best ``l_choice`` in S if S is non-empty, else overall.

    ``l_choice`` is l(b), possibly Hann-windowed by the tracker in ROI mode; the window only
    chooses, it never enters the margins.
    """
    in_s = kappa_mvlm_ >= tau
    if in_s.any():
        return int(np.argmax(np.where(in_s, l_choice, -np.inf))), True
    return int(np.argmax(l_choice)), False
