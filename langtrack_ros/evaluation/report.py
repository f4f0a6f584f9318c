"""Evaluation outputs: prediction text files, JSON and Markdown reports, success/precision plots.

Predictions use the format every toolkit reads (``<seq>.txt``: one ``x,y,w,h`` line per frame);
what the toolkits cannot hold (kappa, search mode, found, step time, errors) goes beside it in
``<seq>_meta.csv``. Every report names the convention and the mode it was scored under.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from langtrack_ros.evaluation import events, metrics
from langtrack_ros.files import atomic_path, atomic_write_text


def write_predictions(folder: Path, run) -> tuple[Path, Path]:
    """``<seq>.txt`` (x,y,w,h per frame, NaN where the tracker gave nothing) and ``<seq>_meta.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    boxes_path, meta_path = folder / f"{run.name}.txt", folder / f"{run.name}_meta.csv"
    with atomic_path(boxes_path) as tmp:  # a result file is whole or absent, never cut
        np.savetxt(tmp, run.boxes, fmt="%.4f", delimiter=",")
    errors = dict(run.errors)
    with atomic_path(meta_path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["frame", "kappa", "mode", "found", "seconds", "error"])
        for i in range(len(run.boxes)):
            writer.writerow([i, f"{run.kappa[i]:.6f}", run.search_mode[i], int(run.found[i]),
                             f"{run.seconds[i]:.6f}", errors.get(i, "")])
    return boxes_path, meta_path


def build_report(per_seq: list, conv: metrics.Convention, mode: str, tracker: str, dataset: str,
                 settings) -> dict:
    """Overall scores in both modes, pooled events and per-sequence rows, as plain JSON-able data."""
    overall = {m: metrics.average_scores([s["scores"][m] for _, _, s in per_seq], conv) for m in metrics.MODES}
    frames = sum(len(run.boxes) for _, run, _ in per_seq)
    seconds = float(sum(np.nansum(run.seconds) for _, run, _ in per_seq))
    rows = [_sequence_row(seq, run, scored) for seq, run, scored in per_seq]
    return {
        "tracker": tracker,
        "dataset": dataset,
        "convention": conv.name,
        "mode": mode,
        "headline": {**{k: overall[mode].as_dict(curves=False)[k] for k in ("auc", "pre", "npre")},
                     "auc_max": conv.max_auc},
        "overall": {m: s.as_dict(curves=True) for m, s in overall.items()},
        "events": events.pool_events([s["events"] for _, _, s in per_seq]),
        "frames": frames,
        "fps": frames / seconds if seconds > 0 else None,
        "tracker_errors": sum(len(r["errors"]) for r in rows),
        "aspect_error": _pooled_median([r.pop("aspect_errors") for r in rows]),
        "sequences": rows,
        "convention_details": dataclasses.asdict(conv),
        "reference": settings.reference.get(dataset, {}),
    }


def aspect_errors(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """|ln(w/h predicted) - ln(w/h true)| on the frames where the tracker is on the target (its box
    centre inside the visible ground-truth box): the shape error, apart from losing the target."""
    p, g = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    ok = visible & np.all(np.isfinite(p), 1) & np.all(np.isfinite(g), 1) & (p[:, 2] > 0) & (p[:, 3] > 0) \
        & (g[:, 2] > 0) & (g[:, 3] > 0)
    cx, cy = p[:, 0] + p[:, 2] / 2, p[:, 1] + p[:, 3] / 2
    ok &= (cx >= g[:, 0]) & (cx <= g[:, 0] + g[:, 2]) & (cy >= g[:, 1]) & (cy <= g[:, 1] + g[:, 3])
    return np.abs(np.log(p[ok, 2] / p[ok, 3]) - np.log(g[ok, 2] / g[ok, 3]))


def _pooled_median(lists: list[list[float]]):
    values = [v for v in lists for v in v]
    return float(np.median(values)) if values else None


def _sequence_row(seq, run, scored) -> dict:
    aspect = aspect_errors(np.asarray(run.boxes), seq.boxes, seq.visible)
    row = {"name": seq.name, "frames": len(seq), "fps": run.fps, "errors": [list(e) for e in run.errors],
           "switches": len(seq.switches), "aspect_errors": aspect.tolist(),
           "aspect_error": float(np.median(aspect)) if len(aspect) else None}
    for m, s in scored["scores"].items():
        row[m] = {"auc": s.auc, "pre": s.pre, "npre": s.npre, "n_counted": s.n_counted}
    row["events"] = scored["events"]
    return row


def _clean(value):
    """JSON without NaN/inf (they become null) and without numpy scalars."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def summary_line(result: dict) -> str:
    h = result["headline"]
    return (f"SUMMARY tracker={result['tracker']} dataset={result['dataset'] or '-'} "
            f"convention={result['convention']} mode={result['mode']} AUC={_fmt(h['auc'])} "
            f"PRE@20={_fmt(h['pre'])} NPRE={_fmt(h['npre'])} AUC_MAX={_fmt(h['auc_max'])}")


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    """A human-readable report: overall table (both modes), events, per-sequence table, references."""
    conv, mode = result["convention"], result["mode"]
    lines = [
        f"# {result['tracker']} on {result['dataset'] or 'sequences'}",
        "",
        f"Convention: **{conv}**; headline mode: **{mode}** (honest = nothing overwritten; toolkit = frame 1"
        " replaced by the ground truth where the convention does so).",
        f"A perfect tracker scores AUC {_fmt(result['headline']['auc_max'])} under this convention"
        " (IoU 1 does not pass the last threshold).",
        f"Frames: {result['frames']}, speed: {_fmt(result['fps'], 1)} fps, tracker errors: {result['tracker_errors']}.",
        "",
        "| mode | AUC | PRE@20 | NPRE | sequences |",
        "|---|---|---|---|---|",
    ]
    for m, s in result["overall"].items():
        lines.append(f"| {m} | {_fmt(s['auc'])} | {_fmt(s['pre'])} | {_fmt(s['npre'])} | {s['n_sequences']} |")
    lines += ["", "## Events", "", *_event_lines(result["events"]), "", "## Sequences", "",
              "| sequence | frames | AUC | PRE@20 | NPRE | AUC (other mode) | fps | errors |",
              "|---|---|---|---|---|---|---|---|"]
    other = "toolkit" if mode == "honest" else "honest"
    for r in result["sequences"]:
        h = r[mode]
        lines.append(f"| {r['name']} | {r['frames']} | {_fmt(h['auc'])} | {_fmt(h['pre'])} | {_fmt(h['npre'])} | "
                     f"{_fmt(r[other]['auc'])} | {_fmt(r['fps'], 1)} | {len(r['errors'])} |")
    if result["reference"]:
        lines += ["", "## Published reference numbers (language-only, PRE / AUC, %)", ""]
        lines += [f"- {name}: {' / '.join(str(v) for v in vals)}" for name, vals in result["reference"].items()]
    return "\n".join(lines) + "\n"


def _event_lines(ev: dict) -> list[str]:
    if not ev:
        return ["No events."]
    return [
        f"- IoU threshold {ev['iou_threshold']}; re-entries: {ev['reentries']}, re-acquired: "
        f"{_fmt(ev['reacquired_fraction'])}, mean frames to re-acquire: {_fmt(ev['mean_reacquisition_delay'], 1)}",
        f"- query switches: {ev['switches']}, locked within {ev['lock_window']} frames: "
        f"{_fmt(ev['switches_locked_within_window'])}, mean frames to lock: {_fmt(ev['mean_lock_delay'], 1)}",
    ]


def plot_curves(result: dict, folder: Path) -> list[Path]:
    """Success and precision plots (PNG) of the overall curves, both modes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    details = result["convention_details"]
    specs = [("success", "iou_thresholds", "success_curve", "auc", "Overlap threshold", "Success rate"),
             ("precision", "pixel_thresholds", "precision_curve", "pre", "Location error threshold (px)",
              "Precision")]
    paths = []
    for kind, thr_key, curve_key, score_key, xlabel, ylabel in specs:
        fig, ax = plt.subplots(figsize=(5, 4))
        x = np.asarray(details[thr_key], float)
        for m, style in (("honest", "-"), ("toolkit", "--")):
            s = result["overall"][m]
            y = np.asarray([np.nan if v is None else v for v in s[curve_key]], float)
            ax.plot(x, y, style, label=f"{result['tracker']} {m} [{_fmt(s[score_key])}]")
        if kind == "precision":
            ax.set_xlim(0, min(x.max(), 50))
        ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02),
               title=f"{kind.capitalize()} — {result['dataset'] or 'sequences'} ({result['convention']})")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left" if kind == "success" else "lower right", fontsize=8)
        path = folder / f"{kind}_plot.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_reports(result: dict, folder: Path, plots: bool = True) -> list[Path]:
    """``report.json``, ``report.md`` and (optionally) the two plot PNGs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    clean = _clean(result)
    json_path, md_path = folder / "report.json", folder / "report.md"
    atomic_write_text(json_path, json.dumps(clean, indent=2, allow_nan=False))
    atomic_write_text(md_path, markdown(clean))
    written = [json_path, md_path]
    if plots:
        written += plot_curves(clean, folder)
    return written
