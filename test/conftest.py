"""Shared test setup: offline model hubs, small thread counts, and where shared/ data lives."""
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# ONNX exports and TensorRT engines are cached under XDG_CACHE_HOME: keep tests out of ~/.cache
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="langtrack-test-cache-")

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The real OTB99-LANG-layout clips that sit beside the repo (CI clones with shared/ beside it)."""
    if not (SHARED_REAL / "OTB_videos").is_dir():
        pytest.skip(f"real clips not found at {SHARED_REAL}")
    return SHARED_REAL


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes several seconds (model export); deselect with -m 'not slow'")
