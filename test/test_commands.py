"""The user-facing commands end to end: demo, track (with a query typed at run time), ablation."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from langtrack_ros.cli import main
from langtrack_ros.environment import describe

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "models" / "mvlm_default.safetensors"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny untrained MVLM checkpoint: the commands' plumbing, not accuracy, is under test."""
    import torch

    from langtrack_ros.tracking.network import MVLM
    from langtrack_ros.training.checkpoint import save_model
    from packaged import mvlm_config

    torch.manual_seed(0)
    cfg = mvlm_config(search_size=64, width=32, depth=1, heads=2, tokenizer="patch", head_channels=8)
    return save_model(MVLM(cfg, pretrained_tokenizer=False), cfg, tmp_path_factory.mktemp("m") / "tiny.safetensors")


def _cli(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "langtrack_ros.cli", *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=240, cwd=REPO)


def test_demo_with_the_embedded_default_model(tmp_path):
    assert DEFAULT_MODEL.is_file(), "the embedded default model must ship in models/"
    proc = _cli("demo", "--out", tmp_path, "--backend", "torch")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "switch at frame" in proc.stdout and "AUC=" in proc.stdout and "lock delays" in proc.stdout
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and (tmp_path / "snapshot.png").is_file()
    cap = cv2.VideoCapture(str(videos[0]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 120


def _write_video(path: Path, n: int = 12) -> None:
    from langtrack_ros.adapters.overlay import VideoWriter

    with VideoWriter(path, 10) as video:
        for i in range(n):
            frame = np.full((96, 128, 3), 90, np.uint8)
            cv2.rectangle(frame, (10 + 3 * i, 30), (40 + 3 * i, 60), (220, 30, 30), -1)
            cv2.circle(frame, (100, 70), 12, (30, 30, 220), -1)
            video.write(frame)


def test_track_video_switches_query_typed_on_stdin_and_refuses_an_empty_one(tmp_path, tiny_model):
    video = tmp_path / "clip.mp4"
    _write_video(video)
    out = tmp_path / "out"
    proc = _cli("track", "--video", video, "--query", "the red square", "--out", out, "--model", tiny_model,
                "--backend", "torch", stdin="   \nthe blue ball\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(len(r["box"]) == 4 for r in rows)
    queries = [r["query"] for r in rows]
    assert queries[0] in ("the red square", "the blue ball") and queries[-1] == "the blue ball"
    switched = [r for r in rows if r["query"] == "the blue ball"][0]
    assert switched["mode"] == "GLOBAL", "a new query forces a global search"
    assert "query refused" in proc.stderr


def test_track_missing_video_is_a_clear_error(tmp_path, capsys):
    assert main(["track", "--video", str(tmp_path / "nope.mp4"), "--query", "x"]) == 2


def test_ablation_writes_results_with_every_row(tmp_path, tiny_model):
    cfg = tmp_path / "ablation.yaml"
    cfg.write_text(json.dumps({
        "models": {"with_cm": str(tiny_model), "without_cm": str(tiny_model)},
        "rows": [{"key": "A1", "label": "A1 global", "model": "without_cm", "search": "global"},
                 {"key": "A4", "label": "A4 gate", "model": "with_cm", "search": "gated"}],
        "baselines": ["kcf"],
        "datasets": [{"key": "synth-hard", "dataset": "synth", "split": "hard", "count": 1}],
    }))
    results = tmp_path / "RESULTS.md"
    code = main(["ablation", "--config", str(cfg), "--out", str(tmp_path / "runs"), "--results", str(results),
                 "--jobs", "1"])
    assert code == 0
    text = results.read_text()
    for label in ("A1 global", "A4 gate", "KCF"):
        assert f"| {label}" in text
    assert "A4 vs A1 on synth-hard" in text and (tmp_path / "img" / "ablation_auc.png").is_file()
    record = json.loads((tmp_path / "runs" / "ablation.json").read_text())
    assert {r["row"] for r in record["results"]} == {"A1", "A4", "KCF"}
    assert record["command"].startswith("langtrack ablation") and record["date"] and record["seconds"] > 0
    assert {"opencv", "torch", "numpy", "cpu"} <= set(record["environment"])  # what the scores depend on
    assert f"opencv {record['environment']['opencv']}" in text
    rewrite = ["ablation", "--config", str(cfg), "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "AGAIN.md"),
               "--rewrite"]
    assert main(rewrite) == 0  # --rewrite: the same file from the recorded runs, nothing tracked
    assert (tmp_path / "AGAIN.md").read_text() == text
    # a record of the older layout (bare list, meta beside it) still rewrites; without its meta: a clear error
    (tmp_path / "runs" / "ablation.json").write_text(json.dumps(record["results"]))
    meta = {k: record[k] for k in ("command", "seconds", "date")}
    (tmp_path / "runs" / "ablation_meta.json").write_text(json.dumps(meta))
    old_text = text.replace(describe(record["environment"]), describe(None))  # that layout kept no versions
    assert main(rewrite) == 0 and (tmp_path / "AGAIN.md").read_text() == old_text
    (tmp_path / "runs" / "ablation_meta.json").unlink()
    assert main(rewrite) == 2  # without the run's command and duration: a clear error, not a guess


def test_ablation_reruns_one_section_and_keeps_the_others(tmp_path, tiny_model):
    cfg = tmp_path / "ablation.yaml"
    cfg.write_text(json.dumps({
        "models": {"with_cm": str(tiny_model)},
        "rows": [{"key": "A4", "label": "A4 gate", "model": "with_cm", "search": "gated"}], "baselines": [],
        "datasets": [{"key": "synth-hard", "dataset": "synth", "split": "hard", "count": 1},
                     {"key": "synth-test", "dataset": "synth", "split": "test", "count": 1}],
    }))
    args = ["ablation", "--config", str(cfg), "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "R.md"),
            "--jobs", "1"]
    assert main([*args, "--sections", "synth-test"]) == 2  # nothing recorded yet: stop before tracking
    assert main([*args, "--sections", "synth-tset"]) == 2  # a typo names the sections there are
    assert main(args) == 0
    first = json.loads((tmp_path / "runs" / "ablation.json").read_text())
    assert main([*args, "--sections", "synth-test"]) == 0
    record = json.loads((tmp_path / "runs" / "ablation.json").read_text())
    assert (record["command"], record["seconds"], record["date"]) == (first["command"], first["seconds"], first["date"])
    kept = [r for r in record["results"] if r["dataset"] == "synth-hard"]
    assert kept == [r for r in first["results"] if r["dataset"] == "synth-hard"]
    assert [r["dataset"] for r in record["results"]].count("synth-test") == 1
    assert [x["sections"] for x in record["reruns"]] == [["synth-test"]]
    assert "Section synth-test run again by `langtrack ablation --jobs 1 --sections synth-test` on " in \
        (tmp_path / "R.md").read_text()


def test_ablation_missing_model_names_the_file(tmp_path):
    cfg = tmp_path / "ablation.yaml"
    cfg.write_text(json.dumps({"models": {"m": str(tmp_path / "missing.safetensors")},
                               "rows": [{"key": "A1", "label": "A1", "model": "m", "search": "global"}],
                               "baselines": [], "datasets": []}))
    assert main(["ablation", "--config", str(cfg), "--results", str(tmp_path / "R.md")]) == 2


def test_share_folder_is_found_in_a_colcon_install_layout(tmp_path):
    """colcon: package in <prefix>/lib/python3.X/site-packages, data in <prefix>/share/langtrack_ros,
    and <prefix> is neither sys.prefix nor on sys.path (found by the nodes and launch files)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    prefix = tmp_path / "install" / "langtrack_ros"
    site = prefix / "lib" / "python3.11" / "site-packages"
    shutil.copytree(root / "langtrack_ros", site / "langtrack_ros", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "config", prefix / "share" / "langtrack_ros" / "config")
    code = "from langtrack_ros.paths import config_file; print(config_file('trainer_node'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site)},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-1500:]
    assert Path(out.stdout.strip()) == prefix / "share" / "langtrack_ros" / "config" / "trainer_node.yaml"


def test_ablation_skips_a_missing_corpus_with_one_line_and_takes_root_overrides(tmp_path, caplog):
    from langtrack_ros.commands.ablation import available_datasets

    real = {"key": "real-val", "dataset": "lasot", "root": str(tmp_path / "absent"), "split": "test",
            "build": "python scripts/build_real_corpus.py"}
    synth = {"key": "synth-test", "dataset": "synth", "split": "test", "count": 1}
    with caplog.at_level("WARNING"):
        assert available_datasets([synth, real], []) == [synth]
    lines = [r.getMessage() for r in caplog.records if "real-val" in r.getMessage()]
    assert len(lines) == 1 and "absent is missing" in lines[0] and "build_real_corpus.py" in lines[0]
    (tmp_path / "elsewhere").mkdir()
    marked = {**real, "marker": "testing_set.txt"}  # only the manifest there: the corpus is not built
    assert available_datasets([marked], [f"real-val={tmp_path / 'elsewhere'}"]) == []
    (tmp_path / "elsewhere" / "testing_set.txt").write_text("seq\n")
    kept = available_datasets([synth, marked], [f"real-val={tmp_path / 'elsewhere'}"])
    assert [d["key"] for d in kept] == ["synth-test", "real-val"] and kept[1]["root"] == str(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="KEY=PATH"):
        available_datasets([synth, real], ["nokey=/x"])


def test_a_dataset_section_runs_its_own_rows_on_its_first_frames(tmp_path):
    from langtrack_ros.commands.ablation import load_sequences, section_jobs

    rows = [{"key": k} for k in ("CSRT", "A4", "P")]
    full = {"key": "synth-test", "dataset": "synth", "split": "test", "count": 1}
    short = {"key": "real-val", "dataset": "synth", "split": "val", "count": 1, "rows": ["CSRT", "P"], "max_frames": 7}
    pairs = [(d["key"], r["key"]) for d, r, *_ in section_jobs([full, short], rows, "out", None)]
    assert pairs == [("synth-test", "CSRT"), ("synth-test", "A4"), ("synth-test", "P"), ("real-val", "CSRT"), ("real-val", "P")]
    seqs = load_sequences(short)
    assert seqs and all(len(s) == 7 for s in seqs)


def test_results_give_mean_auc_per_category(tmp_path):
    from langtrack_ros.evaluation.results_md import dataset_sections

    def seq(name, cat, auc):
        return {"name": name, "category": cat, "auc": auc, "pre": auc, "aspect_error": 0.1}

    score = {"auc": 0.3, "pre": 0.3}
    results = [{"dataset": "real-val", "row": "A", "label": "row A", "convention": "got10k", "sequences": 3,
                "overall": {"honest": score, "toolkit": score}, "events": {}, "fps": 5.0, "aspect_error": 0.1,
                "per_sequence": [seq("p1", "person", 0.2), seq("p2", "person", 0.4), seq("c1", "vehicle", 0.9)]}]
    text = "\n".join(dataset_sections(results, [{"key": "A", "label": "row A"}],
                                      [{"key": "real-val", "per_category": True}]))
    assert "| config | person (2) | vehicle (1) |" in text and "| row A | 30.0 | 90.0 |" in text


def test_results_give_bootstrap_intervals_against_each_base_row():
    from langtrack_ros.evaluation.results_md import dataset_sections

    score = {"auc": 0.3, "pre": 0.3}

    def row(key, aucs):
        return {"dataset": "real-val", "row": key, "convention": "got10k", "sequences": len(aucs),
                "overall": {"honest": score, "toolkit": score}, "events": {}, "fps": 5.0, "aspect_error": 0.1,
                "per_sequence": [{"name": f"s{i}", "auc": a, "pre": a} for i, a in enumerate(aucs)]}

    base = [0.0, 0.1, 0.6, 0.3]
    results = [row("A4", base), row("P", [a + 0.05 for a in base])]
    rows = [{"key": "A4", "label": "network"}, {"key": "P", "label": "priors"}]
    text = "\n".join(dataset_sections(results, rows, [{"key": "real-val", "interval_bases": ["A4", "P"]}]))
    assert "| config | AUC [95 %] | minus A4 [95 %, paired] | minus P [95 %, paired] |" in text
    assert "| priors | 30.0 [" in text and "| +5.0 [+5.0, +5.0] | +0.0 [+0.0, +0.0] |" in text  # same shift: certain
    absent = dataset_sections(results, rows, [{"key": "real-val", "interval_bases": ["X"]}])
    assert not any("minus X" in line for line in absent)  # a base row the run lacks: no table
