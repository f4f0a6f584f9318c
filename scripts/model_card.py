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

from langtrack_ros.evaluation.ablation_runs import results_of
from langtrack_ros.model_files import model_train_info, read_model_file

REPO = Path(__file__).resolve().parents[1]
FINETUNE = ("--steps 1200 --set threads=1 --set optim.warmup_steps=50 --set optim.lr=2.5e-4 "
            "--set model.init={init}")
MODELS = {  # file -> (role, command that reproduces it)
    "mvlm_default.safetensors": (
        "embedded default (trained with L_CM): the v1 model fine-tuned with stretched ROI crops",
        "langtrack train mvlm --run-dir runs/ft_default " + FINETUNE.format(init="runs/mvlm_v1/model.safetensors")
        + " --export models/mvlm_default.safetensors"),
    "mvlm_no_lcm.safetensors": (
        "ablation model (same recipe, L_CM weight 0, fine-tuned from its own v1 twin)",
        "langtrack train mvlm --run-dir runs/ft_no_lcm --set loss.cm=0 " + FINETUNE.format(init="runs/mvlm_v1_no_lcm/model.safetensors")
        + " --export models/mvlm_no_lcm.safetensors`, after its v1 twin: `langtrack train mvlm --run-dir "
        "runs/mvlm_v1_no_lcm --set threads=1 --set sampling.p_stretch=0 --set loss.cm=0"),
}
REAL = (  # mvlm_default.safetensors once it is fine-tuned on real video (its metadata names a dataset source)
    "embedded default: the synthetic-only default (git:00bb263:models/mvlm_default.safetensors, made by the "
    "command under mvlm_no_lcm below without loss.cm=0) fine-tuned on real video + LangTrack-Synth",
    "git show 00bb263:models/mvlm_default.safetensors > runs/mvlm_synth_default.safetensors",
    "runs/mvlm_real", "")
REAL_NO_LCM = (  # mvlm_no_lcm.safetensors once it is fine-tuned on real video: the fair L_CM ablation twin
    "ablation model: the L_CM-free synthetic twin (git:07b6988:models/mvlm_no_lcm.safetensors) fine-tuned on real "
    "video + LangTrack-Synth exactly like the default, with L_CM weight 0",
    "git show 07b6988:models/mvlm_no_lcm.safetensors > runs/mvlm_synth_no_lcm.safetensors",
    "runs/mvlm_real_no_lcm", " --set loss.cm=0 --set model.init=runs/mvlm_synth_no_lcm.safetensors")
TRAIN = "nice -n 10 langtrack train mvlm --config config/train_mvlm_real.yaml --run-dir {run_dir}{args}"


def real_command(name: str, info: dict) -> tuple[str, str]:
    """(role, reproduce command) of a real-video model: one training run, or for a model soup
    (training/soup.py) one run per ingredient (its data.seed and other settings) and the soup."""
    role, prep, run_dir, args = REAL if name == "mvlm_default.safetensors" else REAL_NO_LCM
    out = f"models/{name}"
    soup = info.get("soup")
    if not soup:
        return role, f"{prep}; {TRAIN.format(run_dir=run_dir, args=args)} --export {out}"
    runs, dirs = [], []
    for k, i in enumerate(soup):
        sets = f" --set data.seed={i['data_seed']}" + "".join(f" --set {key}={v}" for key, v in i["differs_in"].items())
        runs.append(TRAIN.format(run_dir=f"{run_dir}_{k}", args=args + sets))
        dirs.append(f"{run_dir}_{k}/model.safetensors")
    return (f"{role}; a model soup: the uniform weight average of {len(soup)} such fine-tunes",
            "; ".join([prep, *runs, f"langtrack soup --out {out} {' '.join(dirs)}"]))


def soup_lines(info: dict) -> list[str]:
    """What a soup's summary says of its ingredients (none for a single training run)."""
    soup = info.get("soup")
    if not soup:
        return []
    rows = [f"data.seed {i['data_seed']}" + "".join(f", {k} {v}" for k, v in i["differs_in"].items())
            + f" (val loss {i['val'].get('loss_total', float('nan')):.3f})" for i in soup]
    return [f"- model soup (Wortsman et al., ICML 2022; `langtrack soup`, langtrack_ros/training/soup.py): the uniform "
            f"average of {len(soup)} fine-tunes of the recipe below from the same model, which differ in: "
            + "; ".join(rows) + ". The steps, settings and wall time below are per fine-tune / in all"]


V1 = ("git:840aa53:models/mvlm_default.safetensors", "previous default v1 (3500 steps from scratch, square "
      "synthetic targets only; not in models/, read from git history by `langtrack ablation`)",
      "langtrack train mvlm --run-dir runs/mvlm_v1 --set threads=1 --set sampling.p_stretch=0")


LICENCES = [  # data and weights a model file may contain knowledge of, with what use they allow
    "LangTrack-Synth (made by this repository's generator; no third-party content): any use",
    "the real tracking corpus (LaSOT layout, built by the corpus script from public git snapshots of OTB, "
    "UAV123, DTB70, VOT and similar benchmark clips; per-sequence repository, commit, path and licence in its "
    "manifest): those benchmarks are published for research use, so models trained on it are for research use; "
    "the real-video fine-tunes saw its train split as it was before the fourth survey (38 sequences; the "
    "manifest's four later train records, Gym, Singer1 and Skating2, were not used)",
    "ImageNet MobileNetV2 weights (torchvision, BSD-3-Clause; trained on ImageNet, whose terms are research / "
    "non-commercial)",
    "MiniLM-L6 text encoder (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0), not in these files",
]


def describe_source(s: dict) -> str:
    """One training source as the card names it (synth generator or a dataset folder)."""
    if s["kind"] == "synth":
        return f"LangTrack-Synth {s['split']} split x{s['weight']} (generated on the fly)"
    return f"{s['name']} dataset `{s['root']}` split {s['split']} x{s['weight']} (real video)"


def uses_real(tc: dict) -> bool:
    return any(s["kind"] == "dataset" for s in tc["data"]["sources"])


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def model_section(path: Path, name: str) -> list[str]:
    role, command = MODELS[name]
    info = model_train_info(path)
    _, meta = read_model_file(path)
    cfg = json.loads(meta["config"])
    tc = info.get("train_config", {})
    if uses_real(tc):
        role, command = real_command(name, info)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    init = tc["model"].get("init") or ""
    stretch = tc["sampling"].get("p_stretch", 0.0)
    sources = "; ".join(describe_source(s) for s in tc["data"]["sources"])
    val = "; ".join(describe_source(s) for s in tc["data"]["val_sources"])
    return [
        f"## `{name}`: {role}", "",
        *soup_lines(info),
        f"- size {path.stat().st_size / 1e6:.1f} MB, sha256 {sha}…; network preset `{tc['model']['preset']}`: "
        f"search {cfg['search_size']} px (grid {cfg['search_size'] // cfg['patch']}), width {cfg['width']}, "
        f"depth {cfg['depth']}, tokenizer {cfg['tokenizer']} (ImageNet MobileNetV2 stem, frozen), "
        "text encoder MiniLM-L6 (frozen, not in this file)",
        f"- data: {sources}; validation on {val}",
        f"- steps {info['steps']} x batch {tc['optim']['batch_size']}, AdamW lr {tc['optim']['lr']}, "
        f"{tc['optim']['schedule']} schedule; loss focal {tc['loss']['focal']} + L1 {tc['loss']['l1']} + "
        f"GIoU {tc['loss']['giou']} + L_CM {tc['loss']['cm']}; sampling ROI {tc['sampling']['p_roi']} / "
        f"letterboxed whole frame {tc['sampling']['p_whole']} / negatives {tc['sampling']['p_negative']}",
        (f"- fine-tuned from `{Path(init).name}` (its own steps not counted here); " if init else "- trained from scratch; ")
        + (f"ROI crops stretched with p {stretch} up to x{tc['sampling'].get('max_stretch')} in aspect "
           "(the size head learns non-square targets)" if stretch else "no stretch augmentation (square targets)"),
        f"- wall time {info['wall_s'] / 60:.1f} min on the 2-core CPU (threads={tc['threads']}, other jobs sharing the machine)",
        *(["- validation at the end: " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(info["val"].items()))]
          if info.get("val") else []),
        f"- reproduce: `{command}`", "",
    ]


def scores_section(ablation: Path) -> list[str]:
    if not ablation.is_file():
        return ["Scores: run `langtrack ablation` first.", ""]
    runs = results_of(ablation)
    lines = ["## Scores (from `langtrack ablation`, see docs/RESULTS.md)", "",
             "| dataset | config | AUC honest | PRE@20 honest | AUC toolkit | switches locked <5 fr | aspect err |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        if r["row"] in ("P", "A4", "A4-noCM", "A1", "v1", "A4-syn", "P-syn"):
            ev = r["events"]
            lines.append(f"| {r['dataset']} | {r['label']} | {_pct(r['overall']['honest']['auc'])} | "
                         f"{_pct(r['overall']['honest']['pre'])} | {_pct(r['overall']['toolkit']['auc'])} | "
                         f"{_pct(ev.get('switches_locked_within_window'))} | "
                         f"{'n/a' if r.get('aspect_error') is None else format(r['aspect_error'], '.2f')} |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", default=str(REPO / "runs/ablation/ablation.json"))
    args = parser.parse_args()
    default = REPO / "models" / "mvlm_default.safetensors"
    real = default.is_file() and uses_real(model_train_info(default).get("train_config", {"data": {"sources": []}}))
    lines = ["# Model card: embedded MVLM models", "", *(_real_intro() if real else _synth_intro()),
             "## Data sources and licences", "", *[f"- {item}" for item in LICENCES], ""]
    for name in MODELS:
        if (REPO / "models" / name).is_file():
            lines += model_section(REPO / "models" / name, name)
    spec, role, command = V1
    lines += [f"## previous default (`{spec}`)", "", f"- {role}", f"- reproduce: `{command}`; the two models "
              "above descend from it and from its L_CM-free twin (through their synthetic-only fine-tunes)", ""]
    lines += scores_section(Path(args.ablation))
    (REPO / "models" / "MODEL_CARD.md").write_text("\n".join(lines))
    print("wrote models/MODEL_CARD.md")


def _real_intro() -> list[str]:
    return ["Template-free language tracking (MVLM). Trained on CPU in this repository: first on synthetic data "
            "(LangTrack-Synth: colours, shapes, 14 object categories, left/right/above/below relations), then the "
            "default was fine-tuned on real video (the train split of the real tracking corpus: people, parts of "
            "people, vehicles, animals, small objects) mixed with the synthetic data. On real video the default "
            "tracker also adds the real-world priors of models/priors/ (docs/PRIORS.md) as gate candidates: the "
            "rows 'default: A4 + priors' below. Intended use: research (the real corpus's licences).", ""]


def _synth_intro() -> list[str]:
    return ["Template-free language tracking (MVLM). Trained on CPU in this repository, on synthetic data "
             "only: the network knows colours, shapes and the object categories of LangTrack-Synth "
             "(ball, square, triangle, star, ring, diamond, cross, hexagon, cat, astronaut, cup, rocket, "
             "motorcycle, officer) and left/right/above/below relations; it has seen no real people, "
             "cars or animals other than those crops. On real video the default tracker adds the "
             "real-world priors of models/priors/ (an Open Images detector and ImageNet class evidence, "
             "docs/PRIORS.md) as gate candidates: the rows 'default: A4 + priors' below. Fine-tune with "
             "`langtrack train mvlm` on a real language-tracking dataset (LaSOT, TNL2K: loaders included) "
             "for real-world use without the priors' category limits.", ""]


if __name__ == "__main__":
    main()
