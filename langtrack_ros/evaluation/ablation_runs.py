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

from langtrack_ros import environment
from langtrack_ros.files import atomic_write_text

RUNS = "ablation.json"
OLD_META = "ablation_meta.json"


def save_runs(out: Path, results: list[dict], command: str, seconds: float, earlier: dict | None = None,
              sections: list[str] | None = None) -> dict:
    """Write the record of a finished run into ``out`` and return it. With ``earlier`` and
    ``sections`` the run redid only those sections: their results replace the earlier record's, whose
    command, duration and date stay the record's own, and the rerun is listed under ``reruns``."""
    today = datetime.date.today().isoformat()
    env = environment.record()  # the scores depend on it (docs/EVALUATION.md "Reproducing the numbers")
    if earlier is None:
        record = {"command": command, "seconds": seconds, "date": today, "environment": env, "reruns": [],
                  "results": results}
    else:
        kept = [r for r in earlier["results"] if r["dataset"] not in sections]
        rerun = {"sections": list(sections), "command": command, "seconds": seconds, "date": today,
                 "environment": env}
        record = {**earlier, "reruns": [*earlier.get("reruns", []), rerun], "results": kept + results}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUNS, json.dumps(record, indent=1, default=float))
    return record


def provenance_note(reruns: list[dict], first: dict | None = None) -> str:
    """The results file's header sentences for sections run again after the recorded run ('' if none),
    then the recorded run's environment ``first`` (library versions and CPU; a rerun elsewhere says so)."""
    return "".join(f" Section{'s' if len(r['sections']) > 1 else ''} {', '.join(r['sections'])} run again by "
                   f"`{r['command']}` on {r['date']} ({r['seconds'] / 60:.1f} min); the others are that run's."
                   + (" Its environment differs from the run's." if r.get("environment") != first else "")
                   for r in reruns) + " " + environment.describe(first)


def load_runs(path: Path) -> dict:
    """The record in ``path`` (an ablation.json or the folder holding it): a dict with ``results``,
    ``command``, ``seconds``, ``date`` (None where an old record did not keep it) and ``reruns``. A missing
    record, or an old one without its meta, is a FileNotFoundError naming what to run."""
    runs, data = _read(path)
    if isinstance(data, dict):
        return {"date": None, "reruns": [], **data}
    meta = runs.parent / OLD_META
    if not meta.is_file():
        raise FileNotFoundError(f"{runs} has no command or duration ({meta} is missing): run the ablation again")
    return {"reruns": [], **json.loads(meta.read_text()), "results": data}


def results_of(path: Path) -> list[dict]:
    """Only the per-run results of a record (scripts that read scores, not the header; an old
    record needs no meta for that)."""
    data = _read(path)[1]
    return data["results"] if isinstance(data, dict) else data


def _read(path: Path) -> tuple[Path, dict | list]:
    """(the record's file, its JSON) for an ablation.json or the folder holding it."""
    path = Path(path)
    runs = path / RUNS if path.is_dir() else path
    if not runs.is_file():
        raise FileNotFoundError(f"{runs} is missing: run the ablation first")
    return runs, json.loads(runs.read_text())
