"""How far to trust a difference on a small validation split: bootstrap over sequences.

    python scripts/val_ci.py [--ablation runs/ablation/ablation.json] [--dataset real-val]
                             [--base A4] [--rows P,A4-syn] [--other runs/x/ablation.json:A4]

The sequences are resampled with replacement (langtrack_ros/evaluation/bootstrap.py: 10,000 draws,
fixed seed): each row gets a 95 % interval for its mean per-sequence AUC, and each row's difference
from ``--base`` a paired interval. An interval that holds 0 says the split cannot tell the two
apart; docs/RESULTS.md prints the same table for the real val split. ``--other FILE:ROW``
compares a row of another ablation run (another model) against ``--base`` of this one. The mean
here is over sequences; the AUC column of docs/RESULTS.md pools frames, so the two differ a little.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from langtrack_ros.evaluation.ablation_runs import results_of
from langtrack_ros.evaluation.bootstrap import interval, paired


def per_sequence(path: Path, dataset: str, row: str) -> dict[str, float]:
    """{sequence: AUC in %} of one row of one dataset section of an ablation.json."""
    for r in results_of(path):
        if r["dataset"] == dataset and r["row"] == row:
            return {s["name"]: 100.0 * s["auc"] for s in r["per_sequence"]}
    raise KeyError(f"{path}: no row {row!r} in dataset section {dataset!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ablation", type=Path, default=Path("runs/ablation/ablation.json"))
    ap.add_argument("--dataset", default="real-val")
    ap.add_argument("--base", default="A4")
    ap.add_argument("--rows", default="", help="comma-separated rows of the same file (default: all)")
    ap.add_argument("--other", action="append", default=[], help="FILE:ROW of another ablation run")
    args = ap.parse_args()
    rows = [r for r in results_of(args.ablation) if r["dataset"] == args.dataset]
    wanted = [r["row"] for r in rows if not args.rows or r["row"] in args.rows.split(",")]
    base = per_sequence(args.ablation, args.dataset, args.base)
    others = [(f"{p}:{row}", per_sequence(Path(p), args.dataset, row))
              for p, row in (spec.rsplit(":", 1) for spec in args.other)]
    print(f"{args.dataset}: mean per-sequence AUC, 95 % bootstrap interval over {len(base)} sequences")
    print(f"| row | AUC [95 %] | minus {args.base} [95 %, paired] |\n|---|---|---|")
    for name, scores in [(w, per_sequence(args.ablation, args.dataset, w)) for w in wanted] + others:
        m, lo, hi = interval(list(scores.values()))
        d, dlo, dhi = paired(scores, base)
        print(f"| {name} | {m:.1f} [{lo:.1f}, {hi:.1f}] | {d:+.1f} [{dlo:+.1f}, {dhi:+.1f}] |")


if __name__ == "__main__":
    main()
