"""Where the shared files live: a source checkout, or ``share/langtrack_ros`` after an install.

ament_python and pip both install ``config/``, ``launch/`` and ``models/`` as data files under
``<prefix>/share/langtrack_ros``; in a source checkout they sit beside the package. A colcon
install puts the Python package under ``<prefix>/lib/python3.X/site-packages`` with its own
prefix (not ``sys.prefix``), so the ament index is asked, and the folders above this file are
searched, too.
"""
import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """The folder holding config/, models/, launch/ (source checkout first, then the install)."""
    if (_SOURCE_ROOT / "config").is_dir():
        return _SOURCE_ROOT
    prefixes = (*_ament_prefix(), *Path(__file__).resolve().parents, sys.prefix, *(p for p in sys.path if p))
    for prefix in prefixes:
        candidate = Path(prefix) / "share" / "langtrack_ros"
        if (candidate / "config").is_dir():
            return candidate
    raise FileNotFoundError("cannot find langtrack_ros share folder (config/, models/): is the package installed?")


def _ament_prefix() -> list[Path]:
    """The install prefix the ament index knows for langtrack_ros (ROS machines), else nothing."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return []
    try:
        return [Path(get_package_prefix("langtrack_ros"))]
    except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH (ament_index_python from PyPI, no ROS)
        return []


def config_file(name: str) -> Path:
    """Path of ``config/<name>`` (``.yaml`` added when missing)."""
    if not name.endswith((".yaml", ".yml", ".xml")):
        name += ".yaml"
    return share_dir() / "config" / name


def models_dir() -> Path:
    return share_dir() / "models"
