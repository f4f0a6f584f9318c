"""docs/RESULTS.md from ablation runs: one table per dataset, a plot, and the checks the issue asks for.

Every number here is read from the run results passed in; nothing is typed by hand.
"""
from __future__ import annotations

import datetime
import platform
from pathlib import Path

from langtrack_ros.evaluation.ablation_runs import provenance_note
from langtrack_ros.evaluation.report import _fmt
from langtrack_ros.files import atomic_write_text


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def _table(results: list[dict], rows: list[dict], dataset: str) -> list[str]:
    by_row = {r["row"]: r for r in results if r["dataset"] == dataset}
    out = ["| config | AUC honest | PRE@20 honest | AUC toolkit | PRE@20 toolkit | switches locked <5 fr | "
           "mean lock delay | re-acquired | aspect err | fps |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        r = by_row.get(row["key"])
        if r is None:
            continue
        h, t, ev = r["overall"]["honest"], r["overall"]["toolkit"], r["events"]
        out.append(f"| {row['label']} | {_pct(h['auc'])} | {_pct(h['pre'])} | {_pct(t['auc'])} | {_pct(t['pre'])} | "
                   f"{_pct(ev.get('switches_locked_within_window'))} ({ev.get('switches', 0)}) | "
                   f"{_fmt(ev.get('mean_lock_delay'), 1)} | {_pct(ev.get('reacquired_fraction'))} "
                   f"({ev.get('reentries', 0)}) | {_fmt(r.get('aspect_error'), 2)} | {_fmt(r['fps'], 1)} |")
    return out


def _per_sequence(results: list[dict], rows: list[dict], dataset: str) -> list[str]:
    """Honest AUC / PRE@20 per sequence and configuration (the real clips are few: show each)."""
    by_row = {r["row"]: r for r in results if r["dataset"] == dataset}
    present = [row for row in rows if row["key"] in by_row]
    if not present:
        return []
    names = [q["name"] for q in by_row[present[0]["key"]].get("per_sequence", [])]
    out = ["| config | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in present:
        seqs = {q["name"]: q for q in by_row[row["key"]].get("per_sequence", [])}
        cells = [f"{_pct(seqs[n]['auc'])} / {_pct(seqs[n]['pre'])}" if n in seqs else "n/a" for n in names]
        out.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return out


def _per_category(results: list[dict], rows: list[dict], dataset: str) -> list[str]:
    """Mean honest AUC over the sequences of each category (a many-sequence corpus: one column per class)."""
    by_row = {r["row"]: r for r in results if r["dataset"] == dataset}
    present = [row for row in rows if row["key"] in by_row]
    if not present:
        return []
    first = by_row[present[0]["key"]].get("per_sequence", [])
    cats = sorted({q.get("category", "?") for q in first})
    counts = {c: sum(q.get("category", "?") == c for q in first) for c in cats}
    out = ["| config | " + " | ".join(f"{c} ({counts[c]})" for c in cats) + " |", "|---|" + "---|" * len(cats)]
    for row in present:
        seqs = by_row[row["key"]].get("per_sequence", [])
        cells = []
        for c in cats:
            aucs = [q["auc"] for q in seqs if q.get("category", "?") == c]
            cells.append(_pct(sum(aucs) / len(aucs)) if aucs else "n/a")
        out.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return out


def _intervals(results: list[dict], rows: list[dict], dataset: str, bases: list[str]) -> list[str]:
    """Mean per-sequence honest AUC with its 95 % bootstrap interval, and each row minus each of
    ``bases`` (paired): which differences this split can tell from chance (evaluation/bootstrap.py)."""
    from langtrack_ros.evaluation.bootstrap import interval, paired

    by_row = {r["row"]: {q["name"]: 100 * q["auc"] for q in r.get("per_sequence", [])}
              for r in results if r["dataset"] == dataset}
    bases = [b for b in bases if by_row.get(b)]
    if not bases:
        return []
    out = ["| config | AUC [95 %] | " + " | ".join(f"minus {b} [95 %, paired]" for b in bases) + " |",
           "|---|---|" + "---|" * len(bases)]
    for row in rows:
        scores = by_row.get(row["key"])
        if not scores:
            continue
        m, lo, hi = interval(list(scores.values()))
        diffs = [paired(scores, by_row[b]) for b in bases]
        out.append(f"| {row['label']} | {m:.1f} [{lo:.1f}, {hi:.1f}] | "
                   + " | ".join(f"{d:+.1f} [{dlo:+.1f}, {dhi:+.1f}]" for d, dlo, dhi in diffs) + " |")
    return out


def _checks(results: list[dict]) -> list[str]:
    """A4 vs A1 on the hard split, and how many query switches A4 locks within the window."""
    idx = {(r["dataset"], r["row"]): r for r in results}
    lines = []
    a1, a4 = idx.get(("synth-hard", "A1")), idx.get(("synth-hard", "A4"))
    if a1 and a4:
        d_auc = a4["overall"]["honest"]["auc"] - a1["overall"]["honest"]["auc"]
        d_pre = a4["overall"]["honest"]["pre"] - a1["overall"]["honest"]["pre"]
        lines.append(f"- A4 vs A1 on synth-hard (honest): AUC {d_auc * 100:+.1f} points, PRE@20 {d_pre * 100:+.1f} points.")
    for ds in dict.fromkeys(d for d, _ in idx):
        new, old = idx.get((ds, "P")), idx.get((ds, "v1"))
        if new and old:
            h, o = new["overall"]["honest"], old["overall"]["honest"]
            lines.append(f"- New default (priors) vs previous default on {ds} (honest): AUC {_pct(h['auc'])} vs "
                         f"{_pct(o['auc'])} ({(h['auc'] - o['auc']) * 100:+.1f}), PRE@20 {_pct(h['pre'])} vs "
                         f"{_pct(o['pre'])} ({(h['pre'] - o['pre']) * 100:+.1f}).")
    for (ds, row), r in sorted(idx.items()):
        if row == "A4" and r["events"].get("switches"):
            ev = r["events"]
            lines.append(f"- A4 on {ds}: {ev['switches']} query switches, {_pct(ev['switches_locked_within_window'])}% "
                         f"locked within {ev['lock_window']} frames (mean delay {_fmt(ev.get('mean_lock_delay'), 1)}).")
    return lines


def _settings_line() -> str:
    from langtrack_ros.tracking.tracker import load_settings

    settings = load_settings()
    gate = ", ".join(f"{'lambda' if k == 'lam' else k} {v:g}" for k, v in vars(settings.gate).items())
    return f"{gate}; ROI factor {settings.search.roi_factor:g}, ROI window {settings.search.roi_window:g}"


def plot(results: list[dict], rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    datasets = list(dict.fromkeys(r["dataset"] for r in results))
    idx = {(r["dataset"], r["row"]): r for r in results}
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(rows)
    for k, row in enumerate(rows):
        vals = [100 * idx[(d, row["key"])]["overall"]["honest"]["auc"] if (d, row["key"]) in idx else 0 for d in datasets]
        ax.bar(np.arange(len(datasets)) + k * width, vals, width, label=row["key"])
    ax.set_xticks(np.arange(len(datasets)) + 0.4 - width / 2, datasets)
    ax.set_ylabel("success AUC (%), honest mode")
    ax.legend(ncol=4, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def dataset_sections(results: list[dict], rows: list[dict], datasets: list[dict]) -> list[str]:
    """One table per dataset (and per-sequence scores where the dataset asks for them)."""
    lines: list[str] = []
    for d in datasets:
        conv = next((r["convention"] for r in results if r["dataset"] == d["key"]), "?")
        n = next((r["sequences"] for r in results if r["dataset"] == d["key"]), 0)
        cut = f", first {d['max_frames']} frames of each" if d.get("max_frames") else ""
        lines += ["", f"## {d['key']} ({n} sequences{cut}, convention {conv})", "", *_table(results, rows, d["key"])]
        if d.get("per_category"):
            lines += ["", "Per category, mean honest AUC over its sequences (%; sequences per category in brackets):",
                      "", *_per_category(results, rows, d["key"])]
        table = _intervals(results, rows, d["key"], d.get("interval_bases") or [])
        if table:
            lines += ["", "Mean honest AUC over the sequences with its 95 % bootstrap interval (sequences resampled "
                      f"10,000 times), and each row minus {' and '.join(d['interval_bases'])} on the same draws: "
                      "an interval that holds 0 is a difference this split cannot tell from chance "
                      "(docs/EVALUATION.md):", "", *table]
        if d.get("per_sequence"):
            lines += ["", "Per sequence, honest AUC / PRE@20 (%):", "", *_per_sequence(results, rows, d["key"])]
    return lines


def write_results(results: list[dict], rows: list[dict], cfg: dict, path: Path, command: str, seconds: float,
                  date: str | None = None, reruns: list[dict] = (), environment: dict | None = None) -> None:
    img = path.parent / "img" / "ablation_auc.png"
    plot(results, rows, img)
    lines = [
        "# Results: MVLM ablation and real-world priors on LangTrack-Synth and real clips",
        "",
        f"Generated by `{command}` on {date or datetime.date.today()} ({platform.machine()}, {seconds / 60:.1f} min)."
        f"{provenance_note(reruns, environment)} Do not edit by hand: rerun the command.",
        "",
        "Models: " + ", ".join(f"`{k}` = {v}" for k, v in cfg["models"].items()) + ". Scores in %. "
        "Honest = nothing overwritten (the first frame is where language grounding happens); toolkit = frame 1 "
        "replaced by the ground truth as the common toolkits do. Under these conventions IoU must be strictly "
        "greater than each threshold, so a perfect tracker scores AUC 95.2. CSRT/KCF get the ground-truth box "
        "at frame 1 and at every query switch (box + vision reference, not language-only).",
        "",
        f"Gate and search settings (config/tracker.yaml): {_settings_line()}.",
        "",
        "Rows A1..A4 are the network alone (the paper's ablation, priors off); rows marked 'priors' add the "
        "real-world priors of config/priors.yaml (docs/PRIORS.md) as gate candidates, and each 'without' row "
        "removes one of them. 'aspect err' = median |ln(w/h predicted) - ln(w/h true)| on frames where the "
        "predicted centre is inside the true box (0 = right shape; 0.69 = off by a factor 2).",
        "",
        "## Checks",
        "",
        *_checks(results),
        "",
        f"![honest AUC per configuration]({img.relative_to(path.parent)})",
    ]
    lines += dataset_sections(results, rows, cfg["datasets"])
    atomic_write_text(path, "\n".join(lines) + "\n")
