"""One entry point for every dataset layout: ``load_dataset(name, root, split, sequences)``.

"synth" (LangTrack-Synth exports) uses the LaSOT layout plus ``query_switches.txt``, so it is
the LaSOT loader with the dataset name set to "synth". Every loader returns at least one
sequence or raises DatasetError naming the file (and line) at fault.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

from langtrack_ros.data.loaders.lasot import load_lasot
from langtrack_ros.data.loaders.mgit import load_mgit
from langtrack_ros.data.loaders.otb import load_otb99lang
from langtrack_ros.data.loaders.tnl2k import load_tnl2k
from langtrack_ros.data.sequence import DatasetError, Sequence

DATASETS = ("lasot", "tnl2k", "otb99lang", "mgit", "synth")

_LOADERS: dict[str, Callable[..., list[Sequence]]] = {
    "lasot": load_lasot,
    "tnl2k": load_tnl2k,
    "otb99lang": load_otb99lang,
    "mgit": load_mgit,
    "synth": partial(load_lasot, dataset="synth"),
}


def load_dataset(name: str, root: str | Path, split: str | None = None,
                 sequences: list[str] | None = None) -> list[Sequence]:
    """Load the sequences of dataset ``name`` under ``root``; ``sequences`` keeps only those names."""
    if name not in _LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return _LOADERS[name](root, split=split, sequences=sequences)


__all__ = ["DATASETS", "DatasetError", "load_dataset", "load_lasot", "load_tnl2k",
           "load_otb99lang", "load_mgit"]
