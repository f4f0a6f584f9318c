"""scripts/corpus_motion.py: frame-to-frame moves in units of the target's size, absent frames
skipped, sequences split by testing_set.txt."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from corpus_motion import corpus_motion, relative_moves  # noqa: E402


def test_moves_are_relative_to_size_and_skip_absent_frames():
    boxes = np.array([[0, 0, 10, 40], [10, 0, 10, 40], [10, 30, 10, 40], [0, 0, 0, 0], [50, 50, 10, 40]], float)
    # sqrt(10 x 40) = 20: moves 10 / 20 and 30 / 20; the pairs touching the empty box are skipped
    np.testing.assert_allclose(relative_moves(boxes), [0.5, 1.5])


def test_sequences_split_by_the_testing_set(tmp_path):
    for cat, name, step in (("vehicle", "car1", 12.0), ("animal", "cat1", 1.0)):
        seq = tmp_path / cat / name
        seq.mkdir(parents=True)
        boxes = np.array([[i * step, 0.0, 20.0, 20.0] for i in range(6)])
        np.savetxt(seq / "groundtruth.txt", boxes, delimiter=",")
    (tmp_path / "testing_set.txt").write_text("car1\n")
    out = corpus_motion(tmp_path, max_frames=4)
    assert set(out["val"]) == {"car1"} and set(out["train"]) == {"cat1"}
    np.testing.assert_allclose(out["val"]["car1"], [0.6, 0.6, 0.6])  # first 4 frames: 3 moves of 12 / 20
    assert np.all(out["train"]["cat1"] == 0.05)
