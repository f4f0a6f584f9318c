"""What a measurement depends on besides the code: library versions and the CPU.

Real-clip scores move with an opencv release (docs/EVALUATION.md "Reproducing the numbers"), so the
ablation records and the benchmark header name the versions they ran with; constraints.txt pins them.
"""
from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "onnxruntime", "numpy", "transformers", "tokenizers")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """{"python": ..., "opencv": ..., "torch": ..., ...} of this interpreter (missing packages left out)."""
    import cv2

    found = {"python": platform.python_version(), "opencv": cv2.__version__}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def describe(env: dict | None) -> str:
    """One sentence for a results header: the recorded versions and CPU, or that none were recorded."""
    if not env:
        return "Library versions and CPU not recorded (a run before the tenth stop)."
    libs = ", ".join(f"{k} {v}" for k, v in env.items() if k != "cpu")
    return f"Environment: {libs}; CPU {env.get('cpu', 'unknown')} (constraints.txt pins these versions)."


def record() -> dict[str, str]:
    """versions() plus the CPU: what an ablation record keeps."""
    return {**versions(), "cpu": cpu_model()}
