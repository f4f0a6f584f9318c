"""Dataset loaders on tiny fixture datasets built in tmp_path, one per layout, plus the real clips."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from langtrack_ros.data.loaders import DATASETS, load_dataset
from langtrack_ros.data.sequence import DatasetError, QuerySwitch

_IMAGE = np.full((8, 8, 3), 127, np.uint8)
_BYTES = {ext: cv2.imencode(ext, _IMAGE)[1].tobytes() for ext in (".jpg", ".png")}


def write_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(_BYTES[Path(name).suffix])


def write_boxes(path: Path, n: int, sep: str = ",", start: int = 0) -> np.ndarray:
    boxes = np.array([[start + i, 2 * i, 5, 6] for i in range(n)], dtype=float)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sep.join(f"{v:g}" for v in b) + "\n" for b in boxes))
    return boxes


def make_lasot_seq(root: Path, cls: str, idx: int, n: int = 4, occluded=(), out_of_view=()) -> Path:
    seq = root / cls / f"{cls}-{idx}"
    write_frames(seq / "img", [f"{i:08d}.jpg" for i in range(1, n + 1)])
    write_boxes(seq / "groundtruth.txt", n)
    (seq / "full_occlusion.txt").write_text(",".join("1" if i in occluded else "0" for i in range(n)))
    (seq / "out_of_view.txt").write_text(",".join("1" if i in out_of_view else "0" for i in range(n)))
    (seq / "nlp.txt").write_text(f"the {cls} number {idx}\n")
    return seq


# ---------------------------------------------------------------- LaSOT / synth

def test_lasot_loads_boxes_visibility_and_sentence(tmp_path):
    make_lasot_seq(tmp_path, "cat", 1, n=5, occluded={1}, out_of_view={3})
    make_lasot_seq(tmp_path, "dog", 2, n=3)
    seqs = load_dataset("lasot", tmp_path)
    assert [s.name for s in seqs] == ["cat-1", "dog-2"]
    cat = seqs[0]
    assert len(cat) == 5 and cat.dataset == "lasot"
    assert cat.visible.tolist() == [True, False, True, False, True]
    np.testing.assert_array_equal(cat.boxes[2], [2, 4, 5, 6])
    assert cat.sentence == "the cat number 1" and cat.switches == []
    assert cat.image(0).shape == (8, 8, 3)


def test_lasot_sequence_filter_and_testing_set(tmp_path):
    for i in (1, 2, 3):
        make_lasot_seq(tmp_path, "car", i)
    (tmp_path / "testing_set.txt").write_text("car-2\n")
    assert [s.name for s in load_dataset("lasot", tmp_path, split="test")] == ["car-2"]
    assert [s.name for s in load_dataset("lasot", tmp_path, split="train")] == ["car-1", "car-3"]
    assert [s.name for s in load_dataset("lasot", tmp_path, sequences=["car-3"])] == ["car-3"]
    with pytest.raises(DatasetError, match="car-9"):
        load_dataset("lasot", tmp_path, sequences=["car-9"])


def test_synth_reads_query_switches(tmp_path):
    seq = make_lasot_seq(tmp_path, "ball", 1, n=6)
    (seq / "query_switches.txt").write_text("3,the blue cube, left of the ball\n5,the red ball\n")
    (s,) = load_dataset("synth", tmp_path)
    assert s.dataset == "synth"
    assert s.switches == [QuerySwitch(2, "the blue cube, left of the ball"), QuerySwitch(4, "the red ball")]
    assert [s.query_at(i) for i in (1, 2, 4)] == ["the ball number 1", "the blue cube, left of the ball",
                                                  "the red ball"]


@pytest.mark.parametrize("line", ["x,the cube", "3 the cube", "99,the cube"])
def test_bad_query_switch_line_names_file_and_line(tmp_path, line):
    seq = make_lasot_seq(tmp_path, "ball", 1, n=6)
    (seq / "query_switches.txt").write_text("2,first\n" + line + "\n")
    with pytest.raises(DatasetError, match=r"query_switches\.txt:2"):
        load_dataset("synth", tmp_path)


@pytest.mark.parametrize("sep", [",", "\t", " "])
def test_groundtruth_separators(tmp_path, sep):
    seq = make_lasot_seq(tmp_path, "cat", 1, n=3)
    expected = write_boxes(seq / "groundtruth.txt", 3, sep=sep)
    (s,) = load_dataset("lasot", tmp_path)
    np.testing.assert_array_equal(s.boxes, expected)


def test_corrupt_groundtruth_names_file_and_line(tmp_path):
    seq = make_lasot_seq(tmp_path, "cat", 1, n=3)
    (seq / "groundtruth.txt").write_text("1,2,3,4\n1,2,abc,4\n1,2,3,4\n")
    with pytest.raises(DatasetError, match=r"groundtruth\.txt:2"):
        load_dataset("lasot", tmp_path)


def test_missing_nlp_names_file(tmp_path):
    seq = make_lasot_seq(tmp_path, "cat", 1)
    (seq / "nlp.txt").unlink()
    with pytest.raises(DatasetError, match=r"nlp\.txt"):
        load_dataset("lasot", tmp_path)


def test_frame_box_count_mismatch_names_file(tmp_path):
    seq = make_lasot_seq(tmp_path, "cat", 1, n=4)
    write_boxes(seq / "groundtruth.txt", 3)
    with pytest.raises(DatasetError, match=r"groundtruth\.txt: 3 boxes for 4 frames"):
        load_dataset("lasot", tmp_path)
    write_boxes(seq / "groundtruth.txt", 4)
    (seq / "out_of_view.txt").write_text("0,0,0")
    with pytest.raises(DatasetError, match=r"out_of_view\.txt: 3 flags for 4 frames"):
        load_dataset("lasot", tmp_path)


def test_empty_root_and_unknown_dataset_are_errors(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path)):
        load_dataset("lasot", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("got10k", tmp_path)
    assert set(DATASETS) == {"lasot", "tnl2k", "otb99lang", "mgit", "synth"}


# ---------------------------------------------------------------- TNL2K

def make_tnl2k_seq(split_dir: Path, name: str, frame_names: list[str]) -> Path:
    seq = split_dir / name
    write_frames(seq / "imgs", frame_names)
    write_boxes(seq / "groundtruth.txt", len(frame_names))
    (seq / "language.txt").write_text(f"the {name} target\n")
    return seq


def test_tnl2k_mixed_jpg_png_sorted_and_absent(tmp_path):
    names = ["00003.jpg", "00001.png", "00002.jpg", "00004.png"]
    make_tnl2k_seq(tmp_path / "test", "advSamp_Baseball", names)
    make_tnl2k_seq(tmp_path / "train", "Arrow_video", ["00001.jpg"])
    (tmp_path / "test" / "absent").mkdir()
    (tmp_path / "test" / "absent" / "advSamp_Baseball.txt").write_text("0\n1\n1\n0\n")
    (s,) = load_dataset("tnl2k", tmp_path, split="test")
    assert [f.name for f in s.frames] == ["00001.png", "00002.jpg", "00003.jpg", "00004.png"]
    assert s.visible.tolist() == [True, False, False, True]
    assert s.sentence == "the advSamp_Baseball target"
    assert [q.name for q in load_dataset("tnl2k", tmp_path)] == ["Arrow_video", "advSamp_Baseball"]
    assert [q.name for q in load_dataset("tnl2k", tmp_path / "train")] == ["Arrow_video"]


def test_tnl2k_missing_language_and_absent_files(tmp_path):
    seq = make_tnl2k_seq(tmp_path / "test", "Bike", ["1.jpg", "2.jpg"])
    (tmp_path / "absent").mkdir()
    with pytest.raises(DatasetError, match=r"absent.Bike\.txt"):
        load_dataset("tnl2k", tmp_path)
    (tmp_path / "absent" / "Bike.txt").write_text("0\n0\n")
    (seq / "language.txt").unlink()
    with pytest.raises(DatasetError, match=r"language\.txt"):
        load_dataset("tnl2k", tmp_path)


# ---------------------------------------------------------------- OTB99-LANG

def make_otb_seq(root: Path, name: str, numbers, digits: int = 4, n_boxes: int | None = None,
                 split: str = "test", gt_name: str = "groundtruth_rect.txt", sep: str = ",") -> Path:
    video = root / "OTB_videos" / name.split("-")[0]
    write_frames(video / "img", [f"{k:0{digits}d}.jpg" for k in numbers])
    write_boxes(video / gt_name, n_boxes if n_boxes is not None else len(numbers), sep=sep)
    (root / f"OTB_query_{split}").mkdir(parents=True, exist_ok=True)
    (root / f"OTB_query_{split}" / f"{name}.txt").write_text(f"the {name}\n")
    return video


def test_otb_five_digit_frames_and_whitespace_gt(tmp_path):
    make_otb_seq(tmp_path, "Board", range(1, 13), digits=5, sep="\t")
    (s,) = load_dataset("otb99lang", tmp_path)
    assert len(s) == 12 and s.frames[0].name == "00001.jpg" and s.dataset == "otb99lang"
    assert s.sentence == "the Board"


def test_otb_official_frame_ranges(tmp_path):
    make_otb_seq(tmp_path, "David", range(1, 800), n_boxes=471)  # annotated 300..770
    make_otb_seq(tmp_path, "Football1", range(1, 90), n_boxes=74)  # annotated 1..74
    make_otb_seq(tmp_path, "Tiger1", range(1, 355))  # first 5 frames omitted
    david, football, tiger = load_dataset("otb99lang", tmp_path)
    assert (len(david), david.frames[0].name, david.frames[-1].name) == (471, "0300.jpg", "0770.jpg")
    assert (len(football), football.frames[-1].name) == (74, "0074.jpg")
    assert (len(tiger), tiger.frames[0].name) == (349, "0006.jpg")
    np.testing.assert_array_equal(tiger.boxes[0], [5, 10, 5, 6])  # row 6 of the file


def test_otb_range_mismatch_names_groundtruth(tmp_path):
    make_otb_seq(tmp_path, "David", range(1, 800), n_boxes=470)
    with pytest.raises(DatasetError, match=r"groundtruth_rect\.txt: 470 boxes for 471 frames"):
        load_dataset("otb99lang", tmp_path)


def test_otb_multi_target_split_and_absent_boxes(tmp_path):
    make_otb_seq(tmp_path, "Jogging-2", range(1, 5), gt_name="groundtruth_rect.2.txt")
    video = make_otb_seq(tmp_path, "Skating2", range(1, 4), gt_name="groundtruth_rect.1.txt", split="train")
    (video / "groundtruth_rect.1.txt").write_text("1,1,4,4\n0,0,0,0\nNaN,NaN,NaN,NaN\n")
    jog, skating = load_dataset("otb99lang", tmp_path)
    assert jog.name == "Jogging-2" and len(jog) == 4
    assert skating.visible.tolist() == [True, False, False]
    assert [s.name for s in load_dataset("otb99lang", tmp_path, split="train")] == ["Skating2"]


def test_otb_missing_image_and_query_folder(tmp_path):
    video = make_otb_seq(tmp_path, "Crossing", range(1, 6))
    (video / "img" / "0003.jpg").unlink()
    with pytest.raises(DatasetError, match=r"frames \[3\]"):
        load_dataset("otb99lang", tmp_path)
    with pytest.raises(DatasetError, match="OTB_query_train"):
        load_dataset("otb99lang", tmp_path, split="train")


def test_real_otb_clips_load(real_data_root):
    seqs = load_dataset("otb99lang", real_data_root)
    lengths = {s.name: len(s) for s in seqs}
    assert lengths == {"Couple": 140, "Crossing": 120, "Dog1": 1350, "MotorRolling": 164}
    for s in seqs:
        assert s.sentence and s.visible.all() and np.isfinite(s.boxes).all()
    assert seqs[0].image(len(seqs[0]) - 1).ndim == 3


# ---------------------------------------------------------------- MGIT

def make_mgit_seq(root: Path, name: str, n: int, rows: list[list], split: str = "test") -> None:
    import openpyxl

    write_frames(root / "data" / split / name / f"frame_{name}", [f"{i:06d}.jpg" for i in range(n)])
    write_boxes(root / "attribute" / "groundtruth" / f"{name}.txt", n)
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    (root / "mgit_nlp").mkdir(parents=True, exist_ok=True)
    book.save(root / "mgit_nlp" / f"{name}.xlsx")


def test_mgit_timed_descriptions_become_switches(tmp_path):
    rows = [["start_frame", "end_frame", "description"],
            [4, 7, "the man picks up the bag"],
            [0, 3, "the man walks to the car"],
            [None, None, "a man leaves home and drives away"]]
    make_mgit_seq(tmp_path, "001", 8, rows)
    (tmp_path / "attribute" / "absent").mkdir()
    (tmp_path / "attribute" / "absent" / "001.txt").write_text("\n".join("01000000"))
    (s,) = load_dataset("mgit", tmp_path, split="test")
    assert s.sentence == "the man walks to the car"
    assert s.switches == [QuerySwitch(4, "the man picks up the bag")]
    assert s.visible.tolist() == [True, False] + [True] * 6


def test_mgit_without_frame_columns_uses_last_row_column_15(tmp_path):
    header = [f"c{i}" for i in range(15)]
    rows = [header, [None] * 14 + ["an action"], [None] * 14 + ["the whole story"]]
    make_mgit_seq(tmp_path, "002", 3, rows, split="val")
    (s,) = load_dataset("mgit", tmp_path)
    assert s.sentence == "the whole story" and s.switches == []


def test_mgit_bad_start_frame_and_missing_xlsx(tmp_path):
    make_mgit_seq(tmp_path, "003", 3, [["start", "description"], ["zero", "a dog"]])
    with pytest.raises(DatasetError, match=r"003\.xlsx:row 2"):
        load_dataset("mgit", tmp_path)
    (tmp_path / "mgit_nlp" / "003.xlsx").unlink()
    with pytest.raises(DatasetError, match=r"003\.xlsx"):
        load_dataset("mgit", tmp_path)


def test_tnl2k_unpadded_frame_names_sort_by_number_and_a_bom_is_dropped(tmp_path):
    seq = tmp_path / "test" / "Bom_seq"
    (seq / "imgs").mkdir(parents=True)
    for i in (1, 2, 10):
        cv2.imwrite(str(seq / "imgs" / f"{i}.jpg"), np.zeros((8, 8, 3), np.uint8))
    (seq / "groundtruth.txt").write_text("1,1,2,2\n1,1,2,2\n1,1,2,2\n")
    (seq / "language.txt").write_bytes("\ufeffthe dog".encode("utf-8"))
    (s,) = load_dataset("tnl2k", tmp_path, split="test")
    assert [p.name for p in s.frames] == ["1.jpg", "2.jpg", "10.jpg"]
    assert s.sentence == "the dog"


def test_lasot_reads_other_objects_as_extras(tmp_path):
    """other_queries.txt and detected_objects.txt: more training targets, one per line; a bad line
    names its file and line."""
    folder = make_lasot_seq(tmp_path, "car", 1, n=5)
    (folder / "other_queries.txt").write_text("1,10.5,20,30,40,the white car on the left of the road\n")
    (folder / "detected_objects.txt").write_text("3,1,2,3,4,the person in red, at the top\n\n")
    seq = load_dataset("lasot", tmp_path)[0]
    assert [(e.frame, e.box, e.sentence) for e in seq.extras] == [
        (0, (10.5, 20.0, 30.0, 40.0), "the white car on the left of the road"),
        (2, (1.0, 2.0, 3.0, 4.0), "the person in red, at the top")]  # the sentence may hold commas
    for bad in ("9,1,2,3,4,a car", "1,1,2,0,4,a car", "1,1,2,3,a car", "x,1,2,3,4,a car", "1,1,2,3,4,"):
        (folder / "detected_objects.txt").write_text(bad + "\n")
        with pytest.raises(DatasetError, match="detected_objects.txt:1"):
            load_dataset("lasot", tmp_path)
