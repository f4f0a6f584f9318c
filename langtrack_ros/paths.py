"""Where the shared files live: a source checkout, or ``share/langtrack_ros`` after an install.

ament_python and pip both install ``config/``, ``launch/`` and ``models/`` as data files under
``<prefix>/share/langtrack_ros``; in a source checkout they sit beside the package.
"""
import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """The folder holding config/, models/, launch/ (source checkout first, then the install)."""
    if (_SOURCE_ROOT / "config").is_dir():
        return _SOURCE_ROOT
    for prefix in (sys.prefix, *(p for p in sys.path if p)):
        candidate = Path(prefix) / "share" / "langtrack_ros"
        if (candidate / "config").is_dir():
            return candidate
    raise FileNotFoundError("cannot find langtrack_ros share folder (config/, models/): is the package installed?")


def config_file(name: str) -> Path:
    """Path of ``config/<name>`` (``.yaml`` added when missing)."""
    if not name.endswith((".yaml", ".yml", ".xml")):
        name += ".yaml"
    return share_dir() / "config" / name


def models_dir() -> Path:
    return share_dir() / "models"
