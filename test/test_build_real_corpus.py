"""scripts/build_real_corpus.py on a tiny git repository made here, and the priors' sentence words."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from langtrack_ros.config import read_yaml
from langtrack_ros.data.loaders.lasot import load_lasot
from langtrack_ros.tracking.priors.describe import dominant_colour, position_words, sentence
from langtrack_ros.tracking.priors.lexicon import Lexicon

ROOT = Path(__file__).resolve().parent.parent


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass looks its module up
    spec.loader.exec_module(module)
    return module


brc = script("build_real_corpus")
overlap = script("corpus_overlap")

ROWS = ["10,10,20,20", "NaN,NaN,NaN,NaN", "12\t11\t20\t20", "0,0,30,0,30,20,0,20", "14,12,20,20"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture()
def mirror(tmp_path: Path) -> tuple[Path, str]:
    """mirrors/own+clips/repo with seq/clip/000001..6.jpg and seq/clip.txt (rows for frames 2..6)."""
    repo = tmp_path / "mirrors" / "own+clips" / "repo"
    (repo / "seq" / "clip").mkdir(parents=True)
    for i in range(1, 7):
        img = np.full((48, 64, 3), 40 * i, np.uint8)
        (repo / "seq" / "clip" / f"{i:06d}.jpg").write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    (repo / "seq" / "clip.txt").write_text("\n".join(ROWS) + "\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clips")
    return tmp_path / "mirrors", git(repo, "rev-parse", "HEAD")


def manifest(path: Path, commit: str, **extra) -> Path:
    rec = {"name": "clip", "source_name": "clip", "category": "vehicle", "split": "val",
           "dataset": "test", "licence": "test", "repo": "own/clips", "commit": commit,
           "img_dir": "seq/clip", "first_frame": 2, "frame_count": 5,
           "annotations": [{"path": "seq/clip.txt", "first_frame": 2}],
           "sentence": "the grey square", "sentence_source": "human",
           "other_queries": [{"frame": 1, "box": [1, 2, 3, 4], "sentence": "the frame corner"}], **extra}
    path.write_text(yaml.safe_dump({"never_train": ["car1"], "sequences": [rec]}, sort_keys=False))
    return path


def test_build_records_then_rebuilds_and_verifies(mirror, tmp_path):
    mirrors, commit = mirror
    m = manifest(tmp_path / "m.yaml", commit)
    brc.build(m, tmp_path / "a", mirrors=mirrors, record=True)
    rec = yaml.safe_load(m.read_text())["sequences"][0]
    assert (rec["frame_count"], rec["frames_with_boxes"]) == (5, 4)
    stats = brc.build(m, tmp_path / "b", mirrors=mirrors)
    assert stats == {"built": 1, "verified": 0, "frames": 5, "with_boxes": 4}
    seq = tmp_path / "b" / "vehicle" / "clip"
    assert (seq / "groundtruth.txt").read_text().split() == [
        "10,10,20,20", "0,0,0,0", "12,11,20,20", "0,0,30,20", "14,12,20,20"]
    assert (seq / "out_of_view.txt").read_text().strip() == "0,1,0,0,0"
    assert (seq / "other_queries.txt").read_text() == "1,1,2,3,4,the frame corner\n"
    test = load_lasot(tmp_path / "b", split="test")
    assert [s.name for s in test] == ["clip"] and test[0].visible.tolist() == [True, False, True, True, True]
    assert test[0].sentence == "the grey square"
    frame_1 = cv2.imread(str(test[0].frames[0]))
    assert abs(int(frame_1.mean()) - 80) <= 2  # first_frame 2: the second image of the repository
    before = (seq / "img" / "00000001.jpg").stat().st_mtime_ns
    assert brc.build(m, tmp_path / "b", mirrors=mirrors)["verified"] == 1
    assert (seq / "img" / "00000001.jpg").stat().st_mtime_ns == before  # verified, not rewritten
    assert (tmp_path / "b" / "testing_set.txt").read_text() == "clip\n"


def test_clear_errors(mirror, tmp_path):
    mirrors, commit = mirror
    m = manifest(tmp_path / "m.yaml", commit, frame_count=5, frames_with_boxes=4, frames_sha256="0" * 64)
    with pytest.raises(brc.CorpusError, match="frames_sha256"):
        brc.build(m, tmp_path / "out", mirrors=mirrors)
    assert not (tmp_path / "out" / "vehicle").exists()  # nothing half-written
    with pytest.raises(brc.CorpusError, match="fetch github:own/clips"):
        brc.build(m, tmp_path / "out", mirrors=tmp_path / "nowhere")
    assert brc.main(["--manifest", str(m), "--out", str(tmp_path / "o"), "--mirrors", str(tmp_path)]) == 2
    with pytest.raises(brc.CorpusError, match="never-train"):
        brc.build(manifest(tmp_path / "n.yaml", commit, source_name="CAR1"), tmp_path / "o", mirrors=mirrors)
    with pytest.raises(brc.CorpusError, match="frames missing"):
        brc.build(manifest(tmp_path / "f.yaml", commit, frame_count=9), tmp_path / "o", mirrors=mirrors,
                  record=True)


def test_box_rows():
    assert brc.parse_box("1,2,3,4") == (1, 2, 3, 4)
    assert brc.parse_box("nan,nan,nan,nan") is None
    assert brc.parse_box("0 0 5 0 5 6 0 6") == (0, 0, 5, 6)
    with pytest.raises(ValueError):
        brc.parse_box("1,2,3")


def test_priors_sentence_words():
    assert position_words(np.array([0, 0, 10, 10]), 300, 300) == "at the top left"
    assert position_words(np.array([140, 140, 20, 20]), 300, 300) == "in the middle"
    assert position_words(np.array([280, 140, 10, 10]), 300, 300) == "on the right"
    assert sentence("person", "red", "on the left") == "the person in red on the left"
    assert sentence("car", None, "in the middle") == "the car in the middle"
    lexicon = Lexicon(read_yaml(ROOT / "config" / "priors.yaml"))
    image = np.zeros((60, 60, 3), np.uint8)
    image[10:40, 10:40] = (220, 20, 20)  # RGB red
    assert dominant_colour(image, np.array([10.0, 10, 30, 30]), lexicon, 0.2, 0.25) == "red"
    assert dominant_colour(np.full((60, 60, 3), 128, np.uint8), np.array([10.0, 10, 30, 30]),
                           lexicon, 0.2, 0.25) == "grey"


def test_overlap_finds_a_resized_copy_under_another_name(tmp_path):
    rng = np.random.default_rng(0)
    for name, scale in (("corpus/a/clip", 1.0), ("ref/Other", 0.5)):
        (tmp_path / name / "img").mkdir(parents=True)
        for i in range(4):
            img = cv2.resize(cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), np.uint8), (0, 0), 4 + i),
                             None, fx=scale, fy=scale)
            cv2.imwrite(str(tmp_path / name / "img" / f"{i:04d}.jpg"), img)
        rng = np.random.default_rng(0)  # the reference gets the same frames, half size
    lines = overlap.report(tmp_path / "corpus", tmp_path / "ref", 1, 0.3, 0.2)
    assert any("clip: 100% of frames match reference clip Other" in ln for ln in lines)
    (tmp_path / "other" / "x" / "img").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "other" / "x" / "img" / "0001.jpg"), np.tile(np.arange(128, dtype=np.uint8), (96, 1)))
    assert overlap.main(["--corpus", str(tmp_path / "corpus"), "--reference", str(tmp_path / "other"),
                         "--step", "1"]) == 0
