"""Evaluation harness, baselines, registry and `langtrack eval` on tiny in-memory / on-disk sequences."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from langtrack_ros.data.sequence import QuerySwitch, Sequence
from langtrack_ros.evaluation import harness, registry, report
from langtrack_ros.evaluation.baselines import OracleTracker
from langtrack_ros.evaluation.metrics import CONVENTIONS
from langtrack_ros.tracking.result import TrackResult

SIZE = 96


def _boxes(n, start=(10.0, 20.0), speed=(2.0, 1.0), wh=(16.0, 16.0)):
    t = np.arange(n)[:, None]
    return np.c_[np.asarray(start) + t * np.asarray(speed), np.tile(wh, (n, 1))]


def _render(boxes_by_frame):
    """image_reader drawing textured squares (a moving target and a static second object)."""
    def read(path: Path) -> np.ndarray:
        i = int(path.stem)
        img = np.full((SIZE, SIZE, 3), 30, np.uint8)
        for box, colour in boxes_by_frame[i]:
            x, y, w, h = (int(round(v)) for v in box)
            img[y:y + h, x:x + w] = colour
            img[y + h // 4:y + h // 2, x + w // 4:x + w // 2] = 255 - np.asarray(colour)
        return img
    return read


def make_sequence(n=24, switch=None, invisible=()):
    """A moving red square; optionally a switch to a static green square at frame ``switch``."""
    red, green = _boxes(n), np.tile([60.0, 60.0, 20.0, 20.0], (n, 1))
    drawn = {i: [(red[i], (220, 40, 40)), (green[i], (40, 200, 60))] for i in range(n)}
    gt = red.copy()
    switches = []
    if switch is not None:
        gt[switch:] = green[switch:]
        switches = [QuerySwitch(switch, "the green square")]
    visible = np.ones(n, bool)
    for i in invisible:
        gt[i], visible[i] = np.nan, False
    frames = [Path(f"{i}.png") for i in range(n)]
    return Sequence("toy", frames, gt, visible, "the red square", switches, "synth", _render(drawn))


def test_oracle_scores_the_maximum_and_writes_outputs(tmp_path):
    seq = make_sequence(switch=12, invisible=(5, 6))
    result = harness.evaluate(OracleTracker(), [seq], "got10k", "honest", tmp_path, dataset="synth", progress=False)
    conv = CONVENTIONS["got10k"]
    assert result["headline"]["auc"] == pytest.approx(conv.max_auc) == pytest.approx(20 / 21)
    assert result["headline"]["pre"] == 1.0 and result["headline"]["npre"] == 1.0
    assert result["events"]["switches_locked_within_window"] == 1.0
    assert result["events"]["reentries"] == 1 and result["events"]["mean_reacquisition_delay"] == 0.0
    out = tmp_path / "oracle"
    lines = (out / "toy.txt").read_text().splitlines()
    assert len(lines) == len(seq) and lines[0].count(",") == 3
    assert (out / "toy_meta.csv").read_text().startswith("frame,kappa,mode,found,seconds,error")
    data = json.loads((out / "report.json").read_text())
    assert data["convention"] == "got10k" and data["mode"] == "honest"
    assert "got10k" in (out / "report.md").read_text()
    for name in ("success_plot.png", "precision_plot.png"):
        assert cv2.imread(str(out / name)) is not None
    line = report.summary_line(result)
    assert line.startswith("SUMMARY tracker=oracle dataset=synth convention=got10k mode=honest AUC=0.952 PRE@20=1.000")


class Recorder:
    """Box-initialised fake tracker: remembers its queries, returns its init box, fails on frame 3."""

    name = "recorder"
    needs_box = True

    def __init__(self):
        self.queries, self.frame, self.box = [], 0, None

    def set_query(self, text, init_box=None):
        self.queries.append((self.frame, text, np.array(init_box)))
        self.box = np.array(init_box)

    def step(self, image):
        self.frame += 1
        if self.frame == 4:
            raise RuntimeError("boom")
        return TrackResult(box=self.box, kappa=0.5)


def test_queries_switches_and_tracker_failures():
    seq = make_sequence(n=10, switch=6)
    trk = Recorder()
    run = harness.run_sequence(trk, seq)
    assert [(f, t) for f, t, _ in trk.queries] == [(0, "the red square"), (6, "the green square")]
    np.testing.assert_allclose(trk.queries[0][2], seq.boxes[0])
    np.testing.assert_allclose(trk.queries[1][2], seq.boxes[6])
    assert run.errors and run.errors[0][0] == 3 and "boom" in run.errors[0][1]
    assert np.isnan(run.boxes[3]).all() and np.isfinite(run.boxes[4]).all()
    scored = harness.score_run(run, seq, CONVENTIONS["pytracking"], harness.load_settings().events)
    assert scored["scores"]["honest"].n_counted == 10
    assert scored["events"]["lock_delays"] == [0]


def test_box_tracker_waits_for_a_ground_truth_box():
    seq = make_sequence(n=8, invisible=(0, 1))
    trk = Recorder()
    run = harness.run_sequence(trk, seq)
    assert [f for f, _, _ in trk.queries] == [0]  # set_query happened once, before the frame-2 step
    assert np.isnan(run.boxes[:2]).all() and np.allclose(run.boxes[2], seq.boxes[2])


def test_csrt_tracks_and_is_reinitialised_at_switches():
    seq = make_sequence(n=20, switch=10)
    result = harness.evaluate(registry.make_tracker("csrt"), [seq], "pytracking", "honest", None, progress=False)
    row = result["sequences"][0]
    assert 0.5 < result["headline"]["auc"] <= CONVENTIONS["pytracking"].max_auc
    assert row["events"]["lock_delays"] == [0]  # re-initialised on the GT box at the switch
    assert row["fps"] > 0 and result["tracker_errors"] == 0


def test_kcf_runs_and_max_frames_truncates():
    seq = make_sequence(n=20, switch=15)
    result = harness.evaluate(lambda: registry.make_tracker("kcf"), [seq], "lasot_matlab", "toolkit", None,
                              max_frames=12, progress=False)
    assert result["frames"] == 12 and result["sequences"][0]["switches"] == 0
    assert result["tracker"] == "kcf" and np.isfinite(result["headline"]["auc"])


def test_registry_and_options():
    with pytest.raises(ValueError, match="unknown tracker 'nope'"):
        registry.make_tracker("nope")
    with pytest.raises(ValueError, match="unknown csrt option"):
        registry.make_tracker("csrt", not_a_param=1)
    assert registry.parse_options(["use_segmentation=false", "padding=2.5", "name=abc"]) == {
        "use_segmentation": False, "padding": 2.5, "name": "abc"}
    with pytest.raises(ValueError, match="key=value"):
        registry.parse_options(["oops"])
    assert {"oracle", "csrt", "kcf"} <= set(registry.tracker_names())
    assert registry.make_tracker("csrt", use_segmentation=False).needs_box


def _write_lasot(root: Path, seq: Sequence):
    folder = root / "toy" / "toy-1"
    (folder / "img").mkdir(parents=True)
    for i, path in enumerate(seq.frames):
        cv2.imwrite(str(folder / "img" / f"{i + 1:08d}.jpg"), cv2.cvtColor(seq.image(i), cv2.COLOR_RGB2BGR))
    np.savetxt(folder / "groundtruth.txt", seq.boxes, fmt="%.2f", delimiter=",")
    zeros = ",".join("0" for _ in range(len(seq)))
    (folder / "full_occlusion.txt").write_text(zeros)
    (folder / "out_of_view.txt").write_text(zeros)
    (folder / "nlp.txt").write_text(seq.sentence)
    (folder / "query_switches.txt").write_text(f"{seq.switches[0].frame + 1},{seq.switches[0].sentence}\n")


def test_cli_eval_prints_summary(tmp_path, capsys):
    from langtrack_ros.cli import main

    _write_lasot(tmp_path / "data", make_sequence(n=10, switch=5))
    code = main(["eval", "--dataset", "lasot", "--root", str(tmp_path / "data"), "--tracker", "oracle",
                 "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "toy-1: AUC=0.952" in out
    assert "SUMMARY tracker=oracle dataset=lasot convention=got10k mode=honest AUC=0.952 PRE@20=1.000" in out
    assert (tmp_path / "out" / "oracle" / "toy-1.txt").is_file()


class RefusesGreen(Recorder):
    """Refuses the second sentence; stepping after that would track the previous target."""

    def set_query(self, text, init_box=None):
        if "green" in text:
            raise ValueError("unknown words")
        super().set_query(text, init_box)

    def step(self, image):
        self.frame += 1
        return TrackResult(box=self.box, kappa=0.5)


def test_a_refused_query_is_not_tracked_with_the_previous_targets_state():
    seq = make_sequence(n=10, switch=6)
    run = harness.run_sequence(RefusesGreen(), seq)
    assert np.isfinite(run.boxes[:6]).all() and np.isnan(run.boxes[6:]).all()
    assert [i for i, _ in run.errors] == [6, 7, 8, 9] and "unknown words" in run.errors[0][1]
