"""Write models/MODEL_CARD.md from what the model files and the ablation run record.

    python scripts/model_card.py [--ablation runs/ablation/ablation.json]

Nothing is typed by hand: config, data, steps and wall time come from each checkpoint's
safetensors metadata, scores from the ablation results.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from langtrack_ros.training.checkpoint import model_train_info, read_model_file

REPO = Path(__file__).resolve().parents[1]
MODELS = {  # file -> (role, command that reproduces it)
    "mvlm_default.safetensors": (
        "embedded default (trained with L_CM)",
        "langtrack train mvlm --run-dir runs/mvlm_default --set threads=1 --export models/mvlm_default.safetensors"),
    "mvlm_no_lcm.safetensors": (
        "ablation model (same recipe, L_CM weight 0)",
        "langtrack train mvlm --run-dir runs/mvlm_no_lcm --set threads=1 --set loss.cm=0 "
        "--export models/mvlm_no_lcm.safetensors"),
}


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def model_section(path: Path) -> list[str]:
    role, command = MODELS[path.name]
    info = model_train_info(path)
    _, meta = read_model_file(path)
    cfg = json.loads(meta["config"])
    tc = info.get("train_config", {})
    sha = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    sources = ", ".join(f"{s['kind']}:{s.get('split') or s.get('name')} x{s['weight']}" for s in tc["data"]["sources"])
    return [
        f"## `{path.name}`: {role}", "",
        f"- size {path.stat().st_size / 1e6:.1f} MB, sha256 {sha}…; network preset `{tc['model']['preset']}`: "
        f"search {cfg['search_size']} px (grid {cfg['search_size'] // cfg['patch']}), width {cfg['width']}, "
        f"depth {cfg['depth']}, tokenizer {cfg['tokenizer']} (ImageNet MobileNetV2 stem, frozen), "
        "text encoder MiniLM-L6 (frozen, not in this file)",
        f"- data: {sources} (LangTrack-Synth train split, generated on the fly); validation on synth val",
        f"- steps {info['steps']} x batch {tc['optim']['batch_size']}, AdamW lr {tc['optim']['lr']}, "
        f"{tc['optim']['schedule']} schedule; loss focal {tc['loss']['focal']} + L1 {tc['loss']['l1']} + "
        f"GIoU {tc['loss']['giou']} + L_CM {tc['loss']['cm']}; sampling ROI {tc['sampling']['p_roi']} / "
        f"letterboxed whole frame {tc['sampling']['p_whole']} / negatives {tc['sampling']['p_negative']}",
        f"- wall time {info['wall_s'] / 60:.1f} min on the 2-core CPU (threads={tc['threads']}, two trainings side by side)",
        f"- validation at the end: " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(info.get("val", {}).items())),
        f"- reproduce: `{command}`", "",
    ]


def scores_section(ablation: Path) -> list[str]:
    if not ablation.is_file():
        return ["Scores: run `langtrack ablation` first.", ""]
    runs = json.loads(ablation.read_text())
    lines = ["## Scores (from `langtrack ablation`, see docs/RESULTS.md)", "",
             "| dataset | config | AUC honest | PRE@20 honest | AUC toolkit | switches locked <5 fr |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        if r["row"] in ("A4", "A4-noCM", "A1"):
            ev = r["events"]
            lines.append(f"| {r['dataset']} | {r['label']} | {_pct(r['overall']['honest']['auc'])} | "
                         f"{_pct(r['overall']['honest']['pre'])} | {_pct(r['overall']['toolkit']['auc'])} | "
                         f"{_pct(ev.get('switches_locked_within_window'))} |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", default=str(REPO / "runs/ablation/ablation.json"))
    args = parser.parse_args()
    lines = ["# Model card: embedded MVLM models", "",
             "Template-free language tracking (MVLM). Trained on CPU in this repository, on synthetic data "
             "only: expect it to know colours, shapes and the object categories of LangTrack-Synth "
             "(ball, square, triangle, star, ring, diamond, cross, hexagon, cat, astronaut, cup, rocket, "
             "motorcycle, officer) and left/right/above/below relations; it has seen no real people, "
             "cars or animals other than those crops. Fine-tune with `langtrack train mvlm` on a real "
             "language-tracking dataset (LaSOT, TNL2K: loaders included) for real-world use.", ""]
    for name in MODELS:
        if (REPO / "models" / name).is_file():
            lines += model_section(REPO / "models" / name)
    lines += scores_section(Path(args.ablation))
    (REPO / "models" / "MODEL_CARD.md").write_text("\n".join(lines))
    print("wrote models/MODEL_CARD.md")


if __name__ == "__main__":
    main()
