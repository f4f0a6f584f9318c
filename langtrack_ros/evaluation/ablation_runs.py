"""The record an ablation run leaves: ``<out>/ablation.json`` = its per-run results plus the command,
duration and date that made them, so ``--rewrite`` (both ``langtrack ablation`` and
``langtrack vlt-ablation``) can write the results file again, header included, without rerunning.

Older records are still read: a bare list of results with the meta beside it in
``ablation_meta.json`` (``langtrack ablation`` before this file), and a dict without a date
(``langtrack vlt-ablation`` before this file; its date is then unknown, never today's).
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from langtrack_ros.files import atomic_write_text

RUNS = "ablation.json"
OLD_META = "ablation_meta.json"


def save_runs(out: Path, results: list[dict], command: str, seconds: float) -> dict:
    """Write the record of a finished run into ``out`` and return it."""
    record = {"command": command, "seconds": seconds, "date": datetime.date.today().isoformat(),
              "results": results}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUNS, json.dumps(record, indent=1, default=float))
    return record


def load_runs(path: Path) -> dict:
    """The record in ``path`` (an ablation.json or the folder holding it): a dict with ``results``,
    ``command``, ``seconds`` and ``date`` (None where an old record did not keep it). A missing
    record, or an old one without its meta, is a FileNotFoundError naming what to run."""
    path = Path(path)
    runs = path / RUNS if path.is_dir() else path
    if not runs.is_file():
        raise FileNotFoundError(f"{runs} is missing: run the ablation first")
    data = json.loads(runs.read_text())
    if isinstance(data, dict):
        return {"date": None, **data}
    meta = runs.parent / OLD_META
    if not meta.is_file():
        raise FileNotFoundError(f"{runs} has no command or duration ({meta} is missing): run the ablation again")
    return {**json.loads(meta.read_text()), "results": data}


def results_of(path: Path) -> list[dict]:
    """Only the per-run results of a record (scripts that read scores, not the header)."""
    path = Path(path)
    runs = path / RUNS if path.is_dir() else path
    data = json.loads(runs.read_text())
    return data["results"] if isinstance(data, dict) else data
