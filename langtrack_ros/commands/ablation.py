"""``langtrack ablation``: A1..A4 of the MVLM paper, the real-world priors (each one removed in
turn) and baselines, written to docs/RESULTS.md.

Every (dataset, row) pair is one harness run; pairs run in parallel worker processes (one torch
thread each). Synth sequences are generated in memory from their split seeds, so the numbers are
reproducible from a fresh clone with the embedded models.
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from langtrack_ros.evaluation.ablation_runs import load_runs, save_runs


def add_ablation_args(p, config: str, out: str, results: str) -> None:
    """The options ``ablation`` and ``vlt-ablation`` share (their defaults differ)."""
    p.add_argument("--config", help=f"ablation config (default: {config})")
    p.add_argument("--out", default=out, help="folder for per-run predictions and reports")
    p.add_argument("--results", default=results, help="Markdown results file to write")
    p.add_argument("--jobs", type=int, default=2, help="parallel worker processes")
    p.add_argument("--count", type=int, help="override the number of synth sequences per split")
    p.add_argument("--root", action="append", default=[], metavar="KEY=PATH",
                   help="folder of dataset section KEY (e.g. real-val=/data/real_corpus); repeatable")
    p.add_argument("--rewrite", action="store_true",
                   help="only rewrite --results from the runs already in --out/ablation.json (no tracking)")


def register(sub) -> None:
    p = sub.add_parser("ablation", help="run the A1..A4 ablation and baselines, write docs/RESULTS.md")
    add_ablation_args(p, "config/ablation.yaml", "runs/ablation", "docs/RESULTS.md")
    p.add_argument("--sections", help="comma-separated dataset sections to run again (e.g. real-val); the "
                   "other sections' results are kept from the run recorded in --out, and the results file says so")
    p.set_defaults(func=run)


def available_datasets(datasets: list[dict], roots: list[str]) -> list[dict]:
    """The dataset sections to run: ``--root KEY=PATH`` overrides applied, and a section whose folder
    (or its ``marker`` file inside, e.g. the split file of a built corpus) is missing -- an optional
    corpus not built here -- skipped with one log line naming what builds it."""
    import logging

    overrides = dict(r.split("=", 1) for r in roots if "=" in r)
    unknown = set(overrides) - {d["key"] for d in datasets} | {r for r in roots if "=" not in r}
    if unknown:
        raise ValueError(f"--root expects KEY=PATH with KEY one of {[d['key'] for d in datasets]}, got {sorted(unknown)}")
    kept = []
    for d in datasets:
        if d["key"] in overrides:
            d = {**d, "root": overrides[d["key"]]}
        marker = Path(_resolve(d["root"])) / d.get("marker", "") if d["dataset"] != "synth" else None
        if marker is not None and not marker.exists():  # marker: a file only a built corpus has
            logging.getLogger("langtrack.ablation").warning(
                "dataset section %s skipped: %s is missing (build it with: %s)", d["key"], marker,
                d.get("build", "see the dataset's README"))
            continue
        kept.append(d)
    return kept


def _resolve(path: str) -> str:
    from langtrack_ros.paths import share_dir

    p = Path(path)
    return str(p if p.is_absolute() else share_dir() / p)


def _model_path(spec: str, out: str) -> str:
    """A model file, or ``git:REV:PATH``: a model as committed at REV (the previous default lives
    in the history rather than in models/, which stays under its size budget), written once to
    ``out/models/``."""
    if not spec.startswith("git:"):
        return _resolve(spec)
    import subprocess

    from langtrack_ros.paths import share_dir

    _, rev, path = spec.split(":", 2)
    target = Path(out) / "models" / f"{rev}-{Path(path).name}"
    if not target.is_file():
        try:
            data = subprocess.run(["git", "-C", str(share_dir()), "show", f"{rev}:{path}"], check=True,
                                  capture_output=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise FileNotFoundError(f"ablation model {spec}: cannot read it from git ({exc}); run from a git "
                                    "checkout with its history") from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return str(target)


def load_sequences(spec: dict, count: int | None = None):
    """The section's sequences, cut to its ``max_frames`` first frames where it names them."""
    from langtrack_ros.evaluation.harness import truncate

    if spec["dataset"] == "synth":
        from langtrack_ros.data.synth.generator import generate_sequence

        seqs = [generate_sequence(i, spec["split"]).to_sequence() for i in range(count or spec["count"])]
    else:
        from langtrack_ros.data.loaders import load_dataset

        seqs = load_dataset(spec["dataset"], _resolve(spec["root"]), split=spec.get("split"))
    return [truncate(s, spec.get("max_frames")) for s in seqs]


def section_jobs(datasets: list[dict], rows: list[dict], out: str, count: int | None) -> list[tuple]:
    """One (dataset, row) run per pair; a section with its own ``rows`` list runs only those (a long
    real corpus gets the rows that speak to it, so the whole ablation stays a coffee break)."""
    return [(d, r, out, count) for d in datasets for r in rows if r["key"] in d.get("rows", [r["key"]])]


def category(seq) -> str:
    """The class folder of a LaSOT-layout sequence (``<root>/<class>/<seq>/img/…``)."""
    return Path(seq.frames[0]).parent.parent.parent.name


def summary(data_spec: dict, row: dict, result: dict, seqs: list) -> dict:
    """What the results file needs from one harness run (per sequence, with its category where the
    dataset section asks for per-category scores)."""
    cats = {s.name: category(s) for s in seqs} if data_spec.get("per_category") else {}
    return {"dataset": data_spec["key"], "row": row["key"], "label": row["label"],
            "convention": result["convention"], "overall": result["overall"], "events": result["events"],
            "fps": result["fps"], "frames": result["frames"], "sequences": len(seqs),
            "aspect_error": result["aspect_error"],
            "per_sequence": [{"name": q["name"], "auc": q["honest"]["auc"], "pre": q["honest"]["pre"],
                              "aspect_error": q["aspect_error"], **({"category": cats[q["name"]]} if cats else {})}
                             for q in result["sequences"]]}


def _job(args: tuple) -> dict:
    """One (dataset, row) run in a worker process."""
    import torch

    torch.set_num_threads(1)
    from langtrack_ros.evaluation.harness import evaluate, load_settings
    from langtrack_ros.evaluation.registry import make_tracker

    data_spec, row, out, count = args
    settings = load_settings()
    seqs = load_sequences(data_spec, count)
    if row["tracker"] == "mvlm":
        tracker = make_tracker("mvlm", model_path=row["model_path"], search=row["search"], backend="torch",
                               priors=row.get("priors", "none"), **row.get("tracker_opts", {}))  # config/tracker.yaml keys
    else:
        tracker = make_tracker(row["tracker"])
    conv = settings.convention_for(data_spec["dataset"])
    result = evaluate(tracker, seqs, conv, "honest", Path(out) / data_spec["key"], dataset=data_spec["key"],
                      tracker_name=row["key"], settings=settings, progress=False)
    return summary(data_spec, row, result, seqs)


def plan(cfg: dict, out: str = "runs/ablation") -> list[dict]:
    rows = [{"key": b.upper(), "label": f"{b.upper()} (GT box init, reference)", "tracker": b} for b in cfg["baselines"]]
    for r in cfg["rows"]:
        rows.append({**r, "tracker": "mvlm", "model_path": _model_path(cfg["models"][r["model"]], out)})
    return rows


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from langtrack_ros.config import read_yaml
    from langtrack_ros.evaluation.results_md import write_results
    from langtrack_ros.paths import config_file

    cfg_path = args.config or config_file("ablation")
    cfg = read_yaml(cfg_path)
    rows = plan(cfg, args.out)
    for r in rows:
        if "model_path" in r and not Path(r["model_path"]).is_file():
            raise FileNotFoundError(f"ablation model for {r['key']} not found: {r['model_path']}")
    cfg["datasets"] = available_datasets(cfg["datasets"], args.root)
    if args.rewrite:
        return rewrite(args, rows, cfg)
    sections = _sections(args.sections, cfg["datasets"])
    earlier = load_runs(Path(args.out)) if sections else None  # before any run: a missing record stops here
    jobs = section_jobs([d for d in cfg["datasets"] if not sections or d["key"] in sections], rows, args.out, args.count)
    t0 = time.time()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(tqdm(pool.map(_job, jobs), total=len(jobs), desc="ablation runs"))
    command = "langtrack ablation" + "".join(f" --{k} {v}" for k, v in
                                              (("count", args.count), ("jobs", args.jobs), ("sections", args.sections))
                                              if v)
    command += "".join(f" --root {r}" for r in args.root)
    record = save_runs(Path(args.out), results, command, time.time() - t0, earlier=earlier, sections=sections)
    write_results(record["results"], rows, cfg, Path(args.results), record["command"], record["seconds"],
                  record["date"], record["reruns"], record.get("environment"))
    print(f"wrote {args.results} ({len(jobs)} runs in {time.time() - t0:.0f} s)")
    return 0


def _sections(arg: str | None, datasets: list[dict]) -> list[str]:
    """The section keys of ``--sections`` (empty: all), each one the config runs."""
    if not arg:
        return []
    keys = [k.strip() for k in arg.split(",") if k.strip()]
    unknown = sorted(set(keys) - {d["key"] for d in datasets})
    if unknown:
        raise ValueError(f"--sections: no dataset section {unknown} to run; the config runs {[d['key'] for d in datasets]}")
    return keys


def rewrite(args: argparse.Namespace, rows: list[dict], cfg: dict, write_results=None) -> int:
    """The results file again from the recorded runs (their command, duration and date included),
    so a change to the report needs no hour of reruns; the config must be the runs' own. Sections
    the record does not hold (a corpus missing when it ran) are left out, not printed empty."""
    if write_results is None:
        from langtrack_ros.evaluation.results_md import write_results

    record = load_runs(Path(args.out))
    cfg = {**cfg, "datasets": [d for d in cfg["datasets"] if any(r["dataset"] == d["key"] for r in record["results"])]}
    write_results(record["results"], rows, cfg, Path(args.results), record["command"], record["seconds"],
                  record["date"], record["reruns"], record.get("environment"))
    print(f"rewrote {args.results} from {Path(args.out) / 'ablation.json'}")
    return 0
