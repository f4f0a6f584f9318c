"""scripts/vlt_confidence_check.py: tracked (IoU > 0.5) and lost (IoU < 0.05) frames are told apart
by their kappa from eval output files; frame 0 (the given box) is not counted."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from vlt_confidence_check import kappas_by_state  # noqa: E402


def test_kappa_split_by_tracked_and_lost_frames(tmp_path):
    gt = np.tile([10.0, 10.0, 20.0, 20.0], (5, 1))
    seq = tmp_path / "corpus" / "animal" / "cat1"
    seq.mkdir(parents=True)
    np.savetxt(seq / "groundtruth.txt", gt, delimiter=",")
    run = tmp_path / "run"
    run.mkdir()
    pred = gt.copy()
    pred[3:] = [200.0, 200.0, 20.0, 20.0]  # frames 3 and 4 lost
    np.savetxt(run / "cat1.txt", pred, delimiter=",")
    rows = ["frame,kappa,mode,found,seconds,error"] + [f"{i},{k},ROI,1,0.01," for i, k in
                                                        enumerate([1.0, 0.9, 0.8, 0.2, 0.3])]
    (run / "cat1_meta.csv").write_text("\n".join(rows) + "\n")
    tracked, lost = kappas_by_state(run, tmp_path / "corpus")
    assert np.allclose(tracked, [0.9, 0.8]) and np.allclose(lost, [0.2, 0.3])
